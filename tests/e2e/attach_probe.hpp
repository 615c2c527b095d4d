// A raw attach client for end-to-end tests: speaks the control protocol on the daemon's
// socket, switches to frames, and keeps what it receives in a libvterm screen, so a test
// sees exactly what a terminal attached through `baton attach` would show.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/protocol.hpp"
#include "runtime/screen.hpp"

namespace baton::test {

class AttachProbe {
 public:
  AttachProbe(int rows, int cols) : rows_(rows), cols_(cols), screen_(rows, cols) {}
  ~AttachProbe() {
    if (fd_ >= 0) close(fd_);
  }
  AttachProbe(const AttachProbe&) = delete;
  AttachProbe& operator=(const AttachProbe&) = delete;

  // Connects to BATON_HOME's socket and attaches to `target`; returns the reply line's
  // "result" (or its "error") as JSON, null when the daemon did not answer.
  nlohmann::json attach(const std::string& baton_home, const std::string& target) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = baton_home + "/run/control.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return nullptr;
    nlohmann::json req = {{"id", 1},
                          {"version", runtime::protocol::kVersion},
                          {"method", "attach"},
                          {"params", {{"target", target}, {"rows", rows_}, {"cols", cols_}}}};
    const std::string line = req.dump() + "\n";
    if (send(fd_, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
      return nullptr;
    for (;;) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        auto reply = nlohmann::json::parse(buf_.substr(0, nl), nullptr, false);
        frames_.feed(std::string_view(buf_).substr(nl + 1));
        buf_.clear();
        is_framed_ = true;
        if (reply.is_discarded()) return nullptr;
        return reply.contains("result") ? reply["result"] : reply["error"];
      }
      if (!read_some(10000)) return nullptr;
    }
  }

  // Reads frames until `done` holds for the screen, an EXIT arrives, or timeout_ms passes.
  bool pump_until(const std::function<bool(const std::string& screen)>& done,
                  int timeout_ms = 15000) {
    for (int waited = 0; waited < timeout_ms; waited += 100) {
      drain();
      if (done(text())) return true;
      if (exit_status_ >= 0) return false;
      read_some(100);
    }
    drain();
    return done(text());
  }

  std::string text() {
    screen_.catch_up();
    std::string all;
    for (const auto& l : screen_.capture(true)) all += l + "\n";
    return all;
  }
  // Types `bytes` as the attached client's keystrokes, as `baton attach` sends them: one DATA
  // frame.
  bool type(std::string_view bytes) {
    const std::string frame =
        runtime::protocol::encode_frame(runtime::protocol::FrameType::kData, bytes);
    return send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(frame.size());
  }

  // Every data byte received, escapes included (the notice line is drawn with escapes).
  const std::string& raw() const { return raw_; }
  int exit_status() const { return exit_status_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[65536];
    const ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      if (exit_status_ < 0) exit_status_ = 255;  // closed without an EXIT frame
      return false;
    }
    if (is_framed_) {
      frames_.feed(std::string_view(tmp, static_cast<std::size_t>(n)));
    } else {
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
    return true;
  }
  void drain() {
    while (auto f = frames_.next()) {
      if (f->type == runtime::protocol::FrameType::kData) {
        raw_ += f->payload;
        screen_.push(f->payload);
      } else if (f->type == runtime::protocol::FrameType::kExit && f->payload.size() >= 4) {
        exit_status_ = static_cast<int>(runtime::protocol::read_u32(f->payload.data()));
      }
    }
  }

  int rows_;
  int cols_;
  int fd_ = -1;
  bool is_framed_ = false;  // after the attach reply line
  std::string buf_;
  std::string raw_;
  int exit_status_ = -1;
  runtime::protocol::FrameDecoder frames_;
  runtime::Screen screen_;
};

}  // namespace baton::test
