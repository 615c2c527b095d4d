#include "runtime/holder_client.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace baton::runtime {

namespace {

// A holder answers at once; these bound a wedged one (stopped, or not a holder at all).
constexpr int kSpawnTimeoutMs = 10000;
constexpr int kAdoptTimeoutMs = 2000;
constexpr int kHolderLinkFd = 3;

bool is_file(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Waits for one packet; false on a timeout.
bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

std::string errno_text(int err) {
  return std::strerror(err);
}

}  // namespace

std::string find_holder_binary() {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  std::string dir(self, static_cast<std::size_t>(n));
  dir.erase(dir.rfind('/'));
  for (const char* rel : {"/baton-holder", "/../libexec/baton/baton-holder"}) {
    std::string candidate = dir;
    candidate += rel;
    if (is_file(candidate)) return candidate;
  }
  return "";
}

tl::expected<HeldProcess, std::string> spawn_held(const HolderSite& site, const std::string& id,
                                                  const std::string& created_at,
                                                  const PtySpawnOptions& spawn) {
  if (spawn.argv.empty()) return tl::make_unexpected(std::string("cannot start: empty command"));
  if (site.binary.empty())
    return tl::make_unexpected(
        std::string("cannot start '") + spawn.argv[0] +
        "': baton-holder is neither beside baton-daemon nor in ../libexec/baton");
  std::vector<std::string> args{site.binary,
                                "--id",
                                id,
                                "--dir",
                                site.holders_dir,
                                "--buffer",
                                std::to_string(site.buffer_bytes),
                                "--rows",
                                std::to_string(spawn.rows),
                                "--cols",
                                std::to_string(spawn.cols),
                                "--cwd",
                                spawn.cwd,
                                "--created-at",
                                created_at,
                                "--"};
  args.insert(args.end(), spawn.argv.begin(), spawn.argv.end());
  // Built before fork: a multithreaded parent must not allocate in the child.
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spawn.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return tl::make_unexpected("cannot create a socket pair: " + errno_text(errno));
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    const int err = errno;
    close(sv[0]);
    close(sv[1]);
    return tl::make_unexpected("cannot create a pipe: " + errno_text(err));
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t child = fork();
  if (child == 0) {
    for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    // Its own session, and then not a session leader: the holder can never get a
    // controlling terminal, and no signal to the daemon's group or session reaches it.
    setsid();
    const pid_t holder = fork();
    if (holder != 0) _exit(holder < 0 ? 1 : 0);
    const int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    // dup2 clears close-on-exec on the copy: only the link (fd 3) and stdio cross the exec.
    if (dup2(sv[1], kHolderLinkFd) < 0) _exit(127);
    close_range(kHolderLinkFd + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    // Never pins a directory (a worktree the handoff renames or deletes); the agent gets its
    // own cwd from the holder.
    if (chdir("/") != 0) _exit(127);
    execve(argv[0], argv.data(), envp.data());
    const int err = errno;
    ssize_t w = write(errpipe[1], &err, sizeof err);
    (void)w;
    _exit(127);
  }
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(sv[1]);
  close(errpipe[1]);
  if (child < 0) {
    close(sv[0]);
    close(errpipe[0]);
    return tl::make_unexpected("cannot fork: " + errno_text(fork_errno));
  }
  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int exec_err = 0;
  ssize_t n;
  do {
    n = read(errpipe[0], &exec_err, sizeof exec_err);
  } while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  auto fail = [&](std::string message) -> tl::expected<HeldProcess, std::string> {
    close(sv[0]);
    return tl::make_unexpected(std::move(message));
  };
  if (n == static_cast<ssize_t>(sizeof exec_err))
    return fail("cannot start " + site.binary + ": " + errno_text(exec_err));

  HeldProcess held;
  held.link_fd = sv[0];
  std::optional<HolderHello> hello;
  for (;;) {
    if (!wait_readable(sv[0], kSpawnTimeoutMs))
      return fail("cannot start '" + spawn.argv[0] + "': its holder did not answer");
    int err = 0;
    auto msg = receive_holder_message(sv[0], &err);
    if (!msg)
      return fail("cannot start '" + spawn.argv[0] + "': its holder " +
                  (err ? "failed: " + errno_text(err) : std::string("exited")));
    if (msg->type == HolderMessage::kError) return fail(msg->payload);
    if (msg->type == HolderMessage::kHello) {
      hello = decode_hello(msg->payload);
      if (!hello) return fail("cannot start '" + spawn.argv[0] + "': its holder said no hello");
      continue;
    }
    if (msg->type == HolderMessage::kReady) {
      if (!hello) {
        close(msg->fd);
        return fail("cannot start '" + spawn.argv[0] + "': its holder skipped its hello");
      }
      held.master_fd = msg->fd;
      break;
    }
  }
  held.pid = hello->pid;
  held.holder_pid = hello->holder_pid;
  held.socket_path = holder_socket_path(site.holders_dir, held.holder_pid);
  fcntl(held.master_fd, F_SETFL, fcntl(held.master_fd, F_GETFL) | O_NONBLOCK);
  return held;
}

tl::expected<AdoptedHolder, AdoptFailure> adopt_holder(const std::string& path) {
  auto skip = [&path](AdoptSkip reason, std::string why) {
    return tl::make_unexpected(AdoptFailure{reason, "holder " + path + ": " + std::move(why)});
  };
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return skip(AdoptSkip::kGone, "gone");
  if (S_ISLNK(st.st_mode)) return skip(AdoptSkip::kUnsafe, "ignored, it is a symlink");
  if (!S_ISSOCK(st.st_mode)) return skip(AdoptSkip::kUnsafe, "ignored, it is not a socket");
  if (st.st_uid != getuid())
    return skip(AdoptSkip::kUnsafe, "ignored, it belongs to uid " + std::to_string(st.st_uid));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return skip(AdoptSkip::kUnsafe, "path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (sock < 0) return skip(AdoptSkip::kBroken, "cannot create a socket: " + errno_text(errno));
  if (connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    close(sock);
    // Nobody listens: its holder died (with its agent). The file is only a leftover.
    if (err == ECONNREFUSED || err == ENOENT) {
      unlink(path.c_str());
      return skip(AdoptSkip::kGone, "no holder listens (removed)");
    }
    return skip(AdoptSkip::kBroken, "cannot connect: " + errno_text(err));
  }
  auto fail = [&](AdoptSkip reason, std::string why) {
    close(sock);
    return skip(reason, std::move(why));
  };
  if (holder_peer_uid(sock) != static_cast<long>(getuid()))
    return fail(AdoptSkip::kUnsafe, "ignored, its process belongs to another user");
  AdoptedHolder adopted;
  std::optional<HolderHello> hello;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kAdoptTimeoutMs);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0 || !wait_readable(sock, static_cast<int>(left)))
      return fail(AdoptSkip::kBroken, "did not answer in time");
    int err = 0;
    auto msg = receive_holder_message(sock, &err);
    if (!msg)
      return fail(AdoptSkip::kBroken,
                  err ? "cannot read it: " + errno_text(err) : std::string("hung up"));
    switch (msg->type) {
      case HolderMessage::kBusy:
        return fail(AdoptSkip::kBusy, "another daemon holds it");
      case HolderMessage::kHello:
        hello = decode_hello(msg->payload);
        if (!hello) return fail(AdoptSkip::kBroken, "its hello is not the holder protocol");
        if (hello->version > kHolderProtocolVersion || hello->version < kHolderOldestVersion) {
          close(sock);
          return tl::make_unexpected(
              AdoptFailure{AdoptSkip::kNewer,
                           "holder " + path + ": session " + hello->id + " (pid " +
                               std::to_string(hello->pid) + ") is held with protocol " +
                               std::to_string(hello->version) + ", this daemon speaks " +
                               std::to_string(kHolderProtocolVersion) + "; left running",
                           hello->id});
        }
        break;
      case HolderMessage::kOutput:
        if (!hello) return fail(AdoptSkip::kBroken, "output before its hello");
        adopted.output += msg->payload;
        break;
      case HolderMessage::kReady:
        if (!hello) {
          close(msg->fd);
          return fail(AdoptSkip::kBroken, "its terminal before its hello");
        }
        adopted.hello = std::move(*hello);
        adopted.process.pid = adopted.hello.pid;
        adopted.process.holder_pid = adopted.hello.holder_pid;
        adopted.process.master_fd = msg->fd;
        adopted.process.link_fd = sock;
        adopted.process.socket_path = path;
        fcntl(msg->fd, F_SETFL, fcntl(msg->fd, F_GETFL) | O_NONBLOCK);
        return adopted;
      default:
        return fail(AdoptSkip::kBroken,
                    "unexpected message " + std::to_string(static_cast<int>(msg->type)));
    }
  }
}

}  // namespace baton::runtime
