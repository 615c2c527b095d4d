#include "runtime/client.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace baton::runtime {

namespace proto = protocol;

namespace {

constexpr int kStartWaitMs = 10000;
// How long a request that a dying daemon left unanswered is tried again.
constexpr int kDyingWaitMs = 2000;

int connect_socket(const std::string& path, int& err) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    err = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

void sleep_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::string daemon_executable() {
  if (const char* d = std::getenv("BATON_DAEMON"); d && *d) return d;
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "baton-daemon";
  std::string self(buf, static_cast<std::size_t>(n));
  return self.substr(0, self.rfind('/') + 1) + "baton-daemon";
}

tl::expected<void, ClientError> start_daemon(bool foreground) {
  const std::string exe = daemon_executable();
  const pid_t pid = fork();
  if (pid < 0)
    return tl::make_unexpected(
        ClientError{"connect", std::string("fork: ") + std::strerror(errno)});
  if (pid == 0) {
    if (foreground) {
      execl(exe.c_str(), exe.c_str(), "--foreground", static_cast<char*>(nullptr));
    } else {
      execl(exe.c_str(), exe.c_str(), static_cast<char*>(nullptr));
    }
    std::fprintf(stderr, "baton: cannot start '%s': %s\n", exe.c_str(), std::strerror(errno));
    _exit(127);
  }
  if (foreground) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    return tl::make_unexpected(ClientError{"connect", "the daemon exited with an error"});
  }
  // baton-daemon forks into the background and exits once the daemon listens.
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return tl::make_unexpected(
        ClientError{"connect", "cannot start the daemon (" + exe + "); see its message above"});
  return {};
}

tl::expected<ControlClient, ClientError> ControlClient::connect(const Paths& paths,
                                                                bool autostart) {
  // A socket in a directory someone else controls may be theirs, not our daemon.
  if (access(paths.run_dir.c_str(), F_OK) == 0 || errno != ENOENT) {
    if (auto safe = check_run_dir(paths.run_dir); !safe)
      return tl::make_unexpected(ClientError{"connect", safe.error()});
  }
  int err = 0;
  int fd = connect_socket(paths.socket, err);
  if (fd >= 0) return ControlClient(fd);
  if (!autostart || (err != ENOENT && err != ECONNREFUSED))
    return tl::make_unexpected(ClientError{
        "connect", "cannot reach the daemon at " + paths.socket + ": " + std::strerror(err)});
  if (auto r = start_daemon(false); !r) return tl::make_unexpected(r.error());
  // Another client may have started it at the same moment; its daemon may still be binding.
  for (int waited = 0; waited < kStartWaitMs; waited += 10) {
    fd = connect_socket(paths.socket, err);
    if (fd >= 0) return ControlClient(fd);
    // A daemon that was shutting down held the lock a moment ago: try again.
    if (waited % 500 == 490) (void)start_daemon(false);
    sleep_ms(10);
  }
  return tl::make_unexpected(ClientError{"connect", "the daemon did not start listening on " +
                                                        paths.socket + ": " + std::strerror(err)});
}

ControlClient::ControlClient(ControlClient&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      next_id_(o.next_id_),
      sent_version_(o.sent_version_),
      buf_(std::move(o.buf_)) {}

ControlClient::~ControlClient() {
  if (fd_ >= 0) close(fd_);
}

tl::expected<std::string, ClientError> ControlClient::read_line() {
  for (;;) {
    const auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    char tmp[65536];
    const ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return tl::make_unexpected(ClientError{has_received_ ? "io" : std::string(kUnanswered),
                                             "the daemon closed the connection"});
    has_received_ = true;
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

tl::expected<proto::Json, ClientError> ControlClient::call(const std::string& method,
                                                           proto::Json params,
                                                           const EventFn& on_event) {
  const std::int64_t id = next_id_++;
  proto::Json req = proto::make_request(id, method, std::move(params));
  if (!sent_version_) {
    // BATON_TEST_PROTOCOL_VERSION lets a test drive the mismatch path with the real binary.
    const char* v = std::getenv("BATON_TEST_PROTOCOL_VERSION");
    req["version"] = v && *v ? std::atoi(v) : proto::kVersion;
  }
  sent_version_ = true;
  if (!write_all(fd_, req.dump() + "\n"))
    return tl::make_unexpected(
        ClientError{has_received_ ? "io" : std::string(kUnanswered), "cannot write to the daemon"});
  for (;;) {
    auto line = read_line();
    if (!line) return tl::make_unexpected(line.error());
    proto::Json msg = proto::Json::parse(*line, nullptr, false);
    if (msg.is_discarded() || !msg.is_object())
      return tl::make_unexpected(
          ClientError{"protocol", "the daemon sent a line that is not JSON"});
    if (msg.contains("event")) {
      if (on_event) on_event(msg);
      continue;
    }
    if (msg.value("id", proto::Json()) != proto::Json(id)) continue;
    if (msg.contains("error")) {
      const auto& e = msg["error"];
      return tl::make_unexpected(
          ClientError{e.value("code", std::string("failed")), e.value("message", std::string())});
    }
    return msg.value("result", proto::Json::object());
  }
}

// params by value: callers hand it over with std::move, and each attempt sends its own copy.
tl::expected<proto::Json, ClientError> ControlClient::request(
    const Paths& paths, bool autostart, const std::string& method,
    proto::Json params,  // NOLINT(performance-unnecessary-value-param)
    const EventFn& on_event) {
  for (int waited = 0;; waited += 20) {
    auto client = connect(paths, autostart);
    if (!client) return tl::make_unexpected(client.error());
    auto r = client->call(method, params, on_event);
    if (r || r.error().code != kUnanswered) return r;
    // A dying daemon's socket takes connections until its last descriptor is closed; then
    // the next connect starts a new daemon.
    if (!autostart || waited >= kDyingWaitMs) {
      r.error().code = "io";
      return r;
    }
    sleep_ms(20);
  }
}

void ControlClient::wait_closed() {
  char tmp[4096];
  for (;;) {
    const ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
  }
}

}  // namespace baton::runtime
