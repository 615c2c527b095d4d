#include "runtime/holder.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "runtime/holder_protocol.hpp"
#include "runtime/paths.hpp"
#include "runtime/terminal_modes.hpp"

namespace baton::runtime {

namespace {

constexpr std::size_t kReadBytes = 16u << 10;
constexpr int kListenBacklog = 4;
// A daemon that stops reading mid-greeting (stopped, wedged) is let go after this long, so the
// holder goes back to reading its agent instead of blocking on a full socket.
constexpr int kSendTimeoutSec = 5;

void set_send_timeout(int sock) {
  timeval tv{kSendTimeoutSec, 0};
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Output kept while no daemon reads: the newest `capacity` bytes, the oldest dropped (and
// counted). Allocated on first use and freed once a daemon took it, so an idle holder whose
// daemon runs costs no buffer at all.
class OutputRing {
 public:
  explicit OutputRing(std::size_t capacity) : capacity_(capacity) {}

  void append(const char* data, std::size_t n) {
    if (buf_.empty()) buf_.resize(capacity_);
    if (n >= capacity_) {
      dropped_ += size_ + (n - capacity_);
      data += n - capacity_;
      n = capacity_;
      head_ = 0;
      size_ = 0;
    }
    const std::size_t overflow = size_ + n > capacity_ ? size_ + n - capacity_ : 0;
    head_ = (head_ + overflow) % capacity_;
    size_ -= overflow;
    dropped_ += overflow;
    std::size_t tail = (head_ + size_) % capacity_;
    while (n > 0) {
      const std::size_t run = std::min(n, capacity_ - tail);
      std::memcpy(buf_.data() + tail, data, run);
      data += run;
      n -= run;
      size_ += run;
      tail = (tail + run) % capacity_;
    }
  }

  // Calls fn(ptr, len) for the kept bytes, oldest first, in pieces of at most `chunk`.
  template <typename Fn>
  bool for_each_chunk(std::size_t chunk, Fn fn) const {
    std::size_t done = 0;
    while (done < size_) {
      const std::size_t at = (head_ + done) % capacity_;
      const std::size_t run = std::min({chunk, size_ - done, capacity_ - at});
      if (!fn(buf_.data() + at, run)) return false;
      done += run;
    }
    return true;
  }

  void clear() {
    std::vector<char>().swap(buf_);
    head_ = size_ = 0;
    dropped_ = 0;
  }
  std::uint64_t dropped() const { return dropped_; }

 private:
  std::size_t capacity_;
  std::vector<char> buf_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::uint64_t dropped_ = 0;
};

// What the screen model answers (libvterm's replies), so an agent sees the same terminal with
// or without a daemon. The holder keeps no screen: the cursor is reported at the top left,
// and the redraw an adopting daemon asks for puts the agent's screen right.
std::string answer(TerminalQuery q) {
  switch (q) {
    case TerminalQuery::kPrimaryAttributes:
      return "\x1b[?1;2c";
    case TerminalQuery::kSecondaryAttributes:
      return "\x1b[>0;100;0c";
    case TerminalQuery::kStatus:
      return "\x1b[0n";
    case TerminalQuery::kCursor:
      return "\x1b[1;1R";
    case TerminalQuery::kExtendedCursor:
      return "\x1b[?1;1R";
  }
  return "";
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 1000) > 0) continue;
    }
    return;  // the terminal is gone or wedged: an answer is not worth hanging for
  }
}

// The socket a later daemon finds the holder by. The directory was checked by the daemon that
// started the holder and is checked again here (a holder never binds through a symlink); a
// path left by a dead process is replaced only when it is this user's own socket.
int listen_at(const std::string& dir, const std::string& path, std::string* error) {
  if (auto ok = check_run_dir(dir); !ok) {
    *error = ok.error();
    return -1;
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      *error = "refusing " + path + ": it is a symlink";
      return -1;
    }
    if (st.st_uid != getuid()) {
      *error = "refusing " + path + ": it belongs to uid " + std::to_string(st.st_uid);
      return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
      *error = "refusing " + path + ": it is not a socket";
      return -1;
    }
    unlink(path.c_str());
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = "cannot listen on " + path + ": the path is too long";
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = "cannot create a socket: " + std::string(std::strerror(errno));
    return -1;
  }
  const mode_t old = umask(0177);
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0 || ::listen(fd, kListenBacklog) != 0) {
    *error = "cannot listen on " + path + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

// The daemon at the other end is gone (its hang-up may not have been read yet).
bool is_hung_up(int sock) {
  pollfd p{sock, POLLIN, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

class Holder {
 public:
  explicit Holder(const HolderOptions& opts)
      : opts_(opts), ring_(opts.buffer_bytes), link_(opts.link_fd) {}

  int run() {
    signal(SIGPIPE, SIG_IGN);
    // Its own session already (the daemon double-forked it); a hang-up of the terminal the
    // daemon was started from must not end it, and Ctrl-C there must not either.
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, nullptr);
    sigfd_ = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

    std::string error;
    path_ = holder_socket_path(opts_.holders_dir, getpid());
    listener_ = listen_at(opts_.holders_dir, path_, &error);
    if (listener_ < 0) return fail(error);
    set_send_timeout(link_);
    auto spawn = opts_.spawn;
    spawn.dies_with_parent = true;
    auto proc = pty_spawn(spawn);
    if (!proc) {
      unlink(path_.c_str());
      return fail(proc.error());
    }
    pid_ = proc->pid;
    master_ = proc->master_fd;
    if (!greet(link_)) drop_link();
    loop();
    unlink(path_.c_str());
    return 0;
  }

 private:
  int fail(const std::string& error) {
    send_holder_message(link_, HolderMessage::kError, error);
    return 1;
  }

  // Hello, the kept output, then the master: the daemon reads the master only after it has
  // everything the holder read from it, so no byte changes place.
  bool greet(int sock) {
    HolderHello hello;
    hello.id = opts_.id;
    hello.pid = pid_;
    hello.holder_pid = getpid();
    hello.created_at = opts_.created_at;
    hello.cwd = opts_.spawn.cwd;
    hello.argv = opts_.spawn.argv;
    hello.dropped = ring_.dropped();
    hello.has_exited = has_exited_;
    if (send_holder_message(sock, HolderMessage::kHello, encode_hello(hello)) != 0) return false;
    const bool sent = ring_.for_each_chunk(kHolderMaxChunk, [sock](const char* p, std::size_t n) {
      return send_holder_message(sock, HolderMessage::kOutput, std::string_view(p, n)) == 0;
    });
    if (!sent) return false;
    if (send_holder_message(sock, HolderMessage::kReady, "", master_) != 0) return false;
    if (has_exited_ && !send_exit(sock)) return false;
    return true;
  }

  bool send_exit(int sock) {
    return send_holder_message(sock, HolderMessage::kExit, std::to_string(wait_status_)) == 0;
  }

  void drop_link() {
    if (link_ >= 0) close(link_);
    link_ = -1;
  }

  void loop() {
    for (;;) {
      pollfd fds[4];
      nfds_t n = 0;
      const bool reads_master = link_ < 0 && !is_master_done_;
      fds[n++] = {sigfd_, POLLIN, 0};
      fds[n++] = {listener_, POLLIN, 0};
      if (link_ >= 0) fds[n++] = {link_, POLLIN, 0};
      if (reads_master) fds[n++] = {master_, POLLIN, 0};
      if (poll(fds, n, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      // The link before the agent's exit: a daemon that says kill and hangs up kills the
      // agent itself too, and on a loaded machine both reach the holder in one wakeup. The
      // kill, read first, ends the holder; the exit, seen first, would find nobody to tell
      // and wait forever for a daemon to collect it. The old link before a new daemon: one
      // that died just before the next connected has its hang-up seen first, so the
      // newcomer is not told "busy".
      for (nfds_t i = 2; i < n; ++i) {
        if (!fds[i].revents) continue;
        if (fds[i].fd == link_ && !on_link()) return;
        if (fds[i].fd == master_ && reads_master) read_master();
      }
      if (fds[0].revents) reap();
      if (fds[1].revents) accept_daemon();
    }
  }

  void reap() {
    signalfd_siginfo info;
    while (read(sigfd_, &info, sizeof info) > 0) {
    }
    if (has_exited_) return;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r != pid_) return;
    has_exited_ = true;
    wait_status_ = status;
    // A daemon that hung up may have said its last word (kill, collected) before: the link
    // stays until on_link has read everything up to the hang-up.
    if (link_ >= 0 && !send_exit(link_) && !is_hung_up(link_)) drop_link();
  }

  // A daemon that connects while another holds the holder is told so and let go: only one
  // reads the master.
  void accept_daemon() {
    const int sock = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (sock < 0) return;
    if (holder_peer_uid(sock) != static_cast<long>(getuid())) {
      close(sock);
      return;
    }
    if (link_ >= 0 && is_hung_up(link_)) drop_link();
    if (link_ >= 0) {
      send_holder_message(sock, HolderMessage::kBusy, "");
      close(sock);
      return;
    }
    set_send_timeout(sock);
    link_ = sock;
    if (!greet(link_)) drop_link();
  }

  // False when the holder is done.
  bool on_link() {
    int err = 0;
    auto msg = receive_holder_message(link_, &err);
    if (!msg) {
      if (err == EAGAIN) return true;
      // The daemon died (or closed): read the master from now on. The ring still holds what
      // was sent but not confirmed with kAdopted, so a daemon killed mid-adoption loses none.
      drop_link();
      return true;
    }
    switch (msg->type) {
      case HolderMessage::kAdopted:
        ring_.clear();
        return true;
      case HolderMessage::kCollected:
        return !has_exited_;
      case HolderMessage::kKill:
        if (!has_exited_) {
          kill(-pid_, SIGKILL);
          kill(pid_, SIGKILL);
          int status;
          while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
          }
        }
        return false;
      default:
        return true;
    }
  }

  void read_master() {
    char buf[kReadBytes];
    const ssize_t n = read(master_, buf, sizeof buf);
    if (n > 0) {
      ring_.append(buf, static_cast<std::size_t>(n));
      queries_found_.clear();
      if (queries_.scan(std::string_view(buf, static_cast<std::size_t>(n)), &queries_found_)) {
        for (const TerminalQuery q : queries_found_) write_all(master_, answer(q));
      }
      return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    // EIO: every slave is closed. The master stays open for the next daemon to drain.
    is_master_done_ = true;
  }

  const HolderOptions& opts_;
  OutputRing ring_;
  int link_;
  int listener_ = -1;
  int sigfd_ = -1;
  int master_ = -1;
  pid_t pid_ = -1;
  bool has_exited_ = false;
  bool is_master_done_ = false;
  int wait_status_ = 0;
  std::string path_;
  QueryScanner queries_;
  std::vector<TerminalQuery> queries_found_;
};

}  // namespace

int run_holder(const HolderOptions& opts) {
  Holder holder(opts);
  return holder.run();
}

}  // namespace baton::runtime
