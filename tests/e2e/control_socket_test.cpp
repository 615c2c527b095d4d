// The control socket against bad input and other users: every case gets an error reply or
// a closed connection, and the daemon goes on answering.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/protocol.hpp"
#include "runtime/screen.hpp"
#include "tests/e2e/harness.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace proto = runtime::protocol;

class ControlSocket : public BatonTest {
 protected:
  void SetUp() override {
    BatonTest::SetUp();
    baton_ok({"sessions"});  // starts the daemon
  }

  int connect_raw() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = home_ + "/run/control.sock";
    std::strcpy(addr.sun_path, path.c_str());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  static void send_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      off += static_cast<std::size_t>(n);
    }
  }

  // Reads one line; "" on EOF or after timeout_ms.
  static std::string read_line(int fd, std::string& buf, int timeout_ms = 5000) {
    for (;;) {
      const auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return "";
      char tmp[65536];
      const ssize_t n = recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return "";
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }

  static std::string error_code(const std::string& line) {
    auto j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return "";
    return j["error"]["code"];
  }

  void expect_daemon_answers() {
    auto r = baton({"sessions", "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
  }
};

TEST_F(ControlSocket, GarbageGetsAnErrorAndTheConnectionGoesOn) {
  const int fd = connect_raw();
  ASSERT_GE(fd, 0);
  std::string buf;
  send_all(fd, "this is not json\n");
  EXPECT_EQ(error_code(read_line(fd, buf)), "bad_json");
  send_all(fd, "[1,2,3]\n");
  EXPECT_EQ(error_code(read_line(fd, buf)), "bad_request");
  send_all(fd, std::string("\x00\xff\xfe garbage\n", 12));
  EXPECT_EQ(error_code(read_line(fd, buf)), "bad_json");
  send_all(fd, R"({"id":7,"version":1,"method":"ping"})"
               "\n");
  auto reply = Json::parse(read_line(fd, buf));
  EXPECT_EQ(reply["id"], 7);
  EXPECT_EQ(reply["result"]["version"], proto::kVersion);
  close(fd);
  expect_daemon_answers();
}

TEST_F(ControlSocket, UnknownMethodAndBadParamsGetErrors) {
  const int fd = connect_raw();
  std::string buf;
  send_all(fd, R"({"id":1,"version":1,"method":"frobnicate"})"
               "\n");
  EXPECT_EQ(error_code(read_line(fd, buf)), "unknown_method");
  send_all(fd, R"({"id":2,"method":"new","params":{"command":"not-an-array"}})"
               "\n");
  EXPECT_EQ(error_code(read_line(fd, buf)), "bad_params");
  send_all(fd, R"({"id":3,"method":"new","params":{"command":[]}})"
               "\n");
  EXPECT_EQ(error_code(read_line(fd, buf)), "bad_params");
  send_all(fd, R"({"id":4,"method":"sessions","params":[]})"
               "\n");
  EXPECT_EQ(error_code(read_line(fd, buf)), "bad_params");
  close(fd);
  expect_daemon_answers();
}

TEST_F(ControlSocket, TheFirstRequestMustCarryTheVersion) {
  const int fd = connect_raw();
  std::string buf;
  send_all(fd, R"({"id":1,"method":"ping"})"
               "\n");
  EXPECT_EQ(error_code(read_line(fd, buf)), "bad_request");
  close(fd);
}

TEST_F(ControlSocket, AFiveMebibyteLineIsDiscardedAndAnswered) {
  const int fd = connect_raw();
  std::string buf;
  send_all(fd, std::string(5u << 20, 'x') + "\n");
  EXPECT_EQ(error_code(read_line(fd, buf)), "line_too_long");
  send_all(fd, R"({"id":2,"version":1,"method":"ping"})"
               "\n");
  auto reply = Json::parse(read_line(fd, buf));
  EXPECT_EQ(reply["id"], 2);
  EXPECT_TRUE(reply.contains("result"));
  close(fd);
  expect_daemon_answers();
}

TEST_F(ControlSocket, HalfAFrameThenDisconnectLeavesTheSessionAndDaemonRunning) {
  baton_ok({"new", "--name", "s", "--", "sleep", "100"});
  const int fd = connect_raw();
  std::string buf;
  send_all(fd, R"({"id":1,"version":1,"method":"attach","params":{"target":"s"}})"
               "\n");
  auto reply = Json::parse(read_line(fd, buf));
  ASSERT_TRUE(reply.contains("result")) << reply.dump();
  // A DATA header announcing 100 bytes, then 3 of them, then gone.
  send_all(fd, proto::encode_frame_header(proto::FrameType::kData, 100) + "abc");
  close(fd);
  // An oversized header is refused before anything is allocated.
  const int fd2 = connect_raw();
  std::string buf2;
  send_all(fd2, R"({"id":1,"version":1,"method":"attach","params":{"target":"s"}})"
                "\n");
  read_line(fd2, buf2);
  send_all(fd2, proto::encode_frame_header(proto::FrameType::kData, 0xFFFFFFFFu));
  char tmp[4096];
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    pollfd p{fd2, POLLIN, 0};
    if (poll(&p, 1, 100) > 0 && recv(fd2, tmp, sizeof tmp, 0) <= 0) closed = true;
  }
  EXPECT_TRUE(closed) << "daemon kept a connection that announced a 4 GiB frame";
  close(fd2);
  auto j = Json::parse(baton_ok({"sessions", "--json"}));
  ASSERT_EQ(j["sessions"].size(), 1u);
  EXPECT_EQ(j["sessions"][0]["state"], "running");
}

TEST_F(ControlSocket, AStalledClientNeverHoldsBackAnotherAndRecoversWithTheRightScreen) {
  constexpr int kLines = 3000000;  // ~21 MB, far beyond any socket buffer
  baton_ok({"new", "--name", "flood", "--", "sh", "-c",
            "stty -echo -onlcr; read go; seq 1 " + std::to_string(kLines) +
                "; printf '\\033[2J\\033[HFINAL-SCREEN\\r\\nsecond row'; sleep 0.5"});
  // The stalled client attaches first and then reads nothing.
  const int stalled = connect_raw();
  ASSERT_GE(stalled, 0);
  std::string buf;
  send_all(
      stalled,
      R"({"id":1,"version":1,"method":"attach","params":{"target":"flood","rows":40,"cols":120}})"
      "\n");
  ASSERT_TRUE(Json::parse(read_line(stalled, buf)).contains("result"));

  auto healthy = baton({"attach", "flood"}, RunOptions{.input = "go\n", .timeout_ms = 120000});
  ASSERT_EQ(healthy.status, 0) << healthy.err;
  std::string expected;
  for (int i = 1; i <= kLines; ++i) expected += std::to_string(i) + "\n";
  ASSERT_NE(healthy.out.find(expected), std::string::npos) << "the healthy client missed output";

  // Now the stalled client reads: its backlog was dropped, and it gets a repaint of the
  // final screen, then the exit status.
  proto::FrameDecoder frames;
  frames.feed(buf);
  runtime::Screen screen(40, 120);
  std::size_t data_bytes = 0;
  int exit_status = -1;
  char tmp[65536];
  while (exit_status < 0) {
    while (auto f = frames.next()) {
      if (f->type == proto::FrameType::kData) {
        data_bytes += f->payload.size();
        screen.push(f->payload);
      }
      if (f->type == proto::FrameType::kExit)
        exit_status = static_cast<int>(proto::read_u32(f->payload.data()));
    }
    if (exit_status >= 0) break;
    pollfd p{stalled, POLLIN, 0};
    ASSERT_GT(poll(&p, 1, 10000), 0) << "no exit frame";
    const ssize_t n = recv(stalled, tmp, sizeof tmp, 0);
    ASSERT_GT(n, 0);
    frames.feed(std::string_view(tmp, static_cast<std::size_t>(n)));
  }
  close(stalled);
  EXPECT_EQ(exit_status, 0);
  EXPECT_LT(data_bytes, expected.size() / 2) << "the stalled client's backlog was not dropped";
  screen.catch_up();
  const auto lines = screen.capture(true);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "FINAL-SCREEN");
  EXPECT_EQ(lines[1], "second row");
}

TEST_F(ControlSocket, AThousandConnectionsOpenedAndDroppedLeaveNoTrace) {
  std::vector<int> fds;
  for (int i = 0; i < 1000; ++i) {
    const int fd = connect_raw();
    if (fd >= 0) fds.push_back(fd);
    if (fds.size() == 100) {
      for (int f : fds) close(f);
      fds.clear();
    }
  }
  for (int f : fds) close(f);
  expect_daemon_answers();
  const pid_t pid = daemon_pid();
  // Connections are closed on the daemon side too: only a handful of fds remain open.
  std::size_t open_fds = 0;
  EXPECT_TRUE(eventually([&] {
    open_fds = 0;
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    if (auto* d = opendir(dir.c_str())) {
      while (readdir(d)) ++open_fds;
      closedir(d);
    }
    return open_fds < 40;
  })) << open_fds
      << " fds open in the daemon";
}

TEST_F(ControlSocket, AnotherUserIsRefused) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  const std::string path = home_ + "/run/control.sock";
  // First the permissions keep them out...
  auto try_as_nobody = [&](bool expect_connect) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strcpy(addr.sun_path, path.c_str());
      const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        _exit(expect_connect ? 11 : 0);
      if (!expect_connect) _exit(12);
      const std::string req = R"({"id":1,"version":1,"method":"ping"})"
                              "\n";
      if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) < 0) _exit(0);
      char tmp[256];
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) _exit(13);
      // ...and SO_PEERCRED does even when they are loosened: closed without a reply.
      _exit(recv(fd, tmp, sizeof tmp, 0) <= 0 ? 0 : 14);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(try_as_nobody(false), 0);
  chmod(home_.c_str(), 0755);
  chmod((home_ + "/run").c_str(), 0755);
  chmod(path.c_str(), 0777);
  chmod(tmp_.c_str(), 0755);
  EXPECT_EQ(try_as_nobody(true), 0);
  expect_daemon_answers();
}

}  // namespace
}  // namespace baton::test
