#include "runtime/attach_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/protocol.hpp"

namespace baton::runtime {

namespace proto = protocol;

namespace {

// A daemon that dies again this soon after a reattach is not reattached to: it would die
// the same way each time.
constexpr auto kMinReattachedLife = std::chrono::seconds(5);

int g_signal_pipe[2] = {-1, -1};
termios g_saved{};
bool g_is_raw = false;

// Leaves the modes a TUI set (alternate screen, mouse, bracketed paste, cursor keys) so
// the user's shell is usable after a detach, as tmux does.
constexpr const char kResetModes[] =
    "\x1b[0m\x1b[?1049l\x1b[?25h\x1b[?1l\x1b>\x1b[?2004l\x1b[?1000l\x1b[?1002l\x1b[?1003l"
    "\x1b[?1006l\x1b[?1004l";

void restore_terminal() {
  if (!g_is_raw) return;
  g_is_raw = false;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved);
  ssize_t n = write(STDOUT_FILENO, kResetModes, sizeof kResetModes - 1);
  (void)n;
}

void on_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  ssize_t n = write(g_signal_pipe[1], &b, 1);
  (void)n;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = fd == STDOUT_FILENO ? write(fd, data.data(), data.size())
                                          : send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 1000);
      }
      continue;
    }
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Writes every chunk to stdout, as few writev calls as it takes, then clears chunks.
bool write_chunks(std::vector<std::string>& chunks) {
  std::size_t first = 0;   // the chunk being written
  std::size_t offset = 0;  // bytes of it already written
  while (first < chunks.size()) {
    iovec iov[64];
    int n_iov = 0;
    for (std::size_t i = first; i < chunks.size() && n_iov < 64; ++i) {
      const std::size_t skip = i == first ? offset : 0;
      iov[n_iov].iov_base = chunks[i].data() + skip;
      iov[n_iov].iov_len = chunks[i].size() - skip;
      ++n_iov;
    }
    ssize_t n = writev(STDOUT_FILENO, iov, n_iov);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      if (errno == EAGAIN) {
        pollfd p{STDOUT_FILENO, POLLOUT, 0};
        poll(&p, 1, 1000);
      }
      continue;
    }
    if (n <= 0) return false;
    while (n > 0 && first < chunks.size()) {
      const std::size_t left = chunks[first].size() - offset;
      if (static_cast<std::size_t>(n) < left) {
        offset += static_cast<std::size_t>(n);
        n = 0;
      } else {
        n -= static_cast<ssize_t>(left);
        ++first;
        offset = 0;
      }
    }
  }
  chunks.clear();
  return true;
}

void send_resize(int sock) {
  const TermSize ts = terminal_size();
  if (ts.rows > 0 && ts.cols > 0)
    write_all(sock, proto::encode_resize(static_cast<std::uint16_t>(ts.rows),
                                         static_cast<std::uint16_t>(ts.cols)));
}

}  // namespace

TermSize terminal_size() {
  winsize ws{};
  for (int fd : {STDOUT_FILENO, STDIN_FILENO}) {
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
      return TermSize{ws.ws_row, ws.ws_col};
  }
  return {};
}

int run_attach(int sock_fd, const std::string& buffered, const AttachOptions& opts) {
  int sock = sock_fd;
  const bool is_tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::fprintf(stderr, "baton: pipe: %s\n", std::strerror(errno));
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT}) sigaction(s, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (is_tty && tcgetattr(STDIN_FILENO, &g_saved) == 0) {
    termios raw = g_saved;
    cfmakeraw(&raw);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0) {
      g_is_raw = true;
      std::atexit(restore_terminal);
    }
  }

  proto::FrameDecoder frames;
  frames.feed(buffered);
  bool has_hello = false;
  bool stdin_open = true;
  int result = -1;
  std::string lost;
  // The DATA payloads of one recv, written with one writev (a recv carries ~8 frames).
  std::vector<std::string> output;

  auto handle_frames = [&]() -> bool {
    const auto flush = [&]() -> bool {
      if (write_chunks(output)) return true;
      lost = "cannot write to the terminal";
      return false;
    };
    while (auto f = frames.next()) {
      if (!has_hello) {
        if (!proto::is_hello_of_this_version(*f)) {
          lost = "the daemon speaks another attach protocol — run 'baton shutdown'";
          return false;
        }
        has_hello = true;
        continue;
      }
      switch (f->type) {
        case proto::FrameType::kData:
          if (!f->payload.empty()) output.push_back(std::move(f->payload));
          break;
        case proto::FrameType::kExit:
          if (!flush()) return false;
          result = proto::decode_exit(f->payload).value_or(1);
          return false;
        default:
          break;
      }
    }
    if (!flush()) return false;
    if (!frames.error().empty()) {
      lost = "bad frame from the daemon: " + frames.error();
      return false;
    }
    return true;
  };

  bool running = handle_frames();
  bool has_reattached = false;
  std::chrono::steady_clock::time_point reattached_at;
  if (running && is_tty) send_resize(sock);
  char buf[65536];
  while (running) {
    pollfd fds[3] = {{sock, POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    const nfds_t n = stdin_open ? 3 : 2;
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      lost = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (fds[1].revents & POLLIN) {
      unsigned char sig;
      while (read(g_signal_pipe[0], &sig, 1) == 1) {
        if (sig == SIGWINCH) {
          send_resize(sock);
        } else {
          write_all(sock, proto::encode_frame(proto::FrameType::kDetach, {}));
          restore_terminal();
          return 128 + sig;
        }
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t r = recv(sock, buf, sizeof buf, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        lost = "lost the connection to the daemon";
        const auto now = std::chrono::steady_clock::now();
        if (!opts.reattach || (has_reattached && now - reattached_at < kMinReattachedLife)) break;
        Reattached again = opts.reattach();
        if (again.fd < 0) {
          lost += " (" + again.error + ")";
          break;
        }
        has_reattached = true;
        reattached_at = now;
        sock = again.fd;
        // The new daemon says hello and sends the agent's screen as the first attach did.
        frames = proto::FrameDecoder();
        frames.feed(again.buffered);
        has_hello = false;
        running = handle_frames();
        if (running && is_tty) send_resize(sock);
        continue;
      }
      frames.feed(std::string_view(buf, static_cast<std::size_t>(r)));
      running = handle_frames();
      if (!running) break;
    }
    if (stdin_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        // stdin at EOF (a pipe or /dev/null): keep streaming output.
        stdin_open = false;
        continue;
      }
      std::string_view in(buf, static_cast<std::size_t>(r));
      const auto key =
          is_tty ? in.find(static_cast<char>(opts.detach_key)) : std::string_view::npos;
      const std::string_view before = in.substr(0, key);
      if (!opts.is_read_only && !before.empty())
        write_all(sock, proto::encode_frame(proto::FrameType::kData, before));
      if (key != std::string_view::npos) {
        write_all(sock, proto::encode_frame(proto::FrameType::kDetach, {}));
        restore_terminal();
        std::fprintf(stderr, "[detached (from session %s)]\n", opts.session_id.c_str());
        return 0;
      }
    }
  }
  restore_terminal();
  if (result >= 0) return result;
  std::fprintf(stderr, "baton: %s\n", lost.c_str());
  return 1;
}

}  // namespace baton::runtime
