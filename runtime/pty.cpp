#include "runtime/pty.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "runtime/search_path.hpp"

namespace baton::runtime {

namespace {

// Where the fallback for kernels without close_range (before 5.11) stops; the daemon opens
// far fewer descriptors than this.
constexpr int kMaxInheritedFd = 4096;

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// Resolved before fork, with the session's own PATH, so the child does not allocate and a
// missing command is reported without forking at all.
tl::expected<std::string, int> resolve_command(const std::string& cmd,
                                               const std::vector<std::string>& env) {
  if (cmd.empty()) return tl::make_unexpected(ENOENT);
  if (cmd.find('/') != std::string::npos) {
    if (access(cmd.c_str(), F_OK) != 0) return tl::make_unexpected(errno);
    return cmd;
  }
  const std::string path = search_path(env);
  int err = ENOENT;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    // An empty entry is the current directory. Built, not assigned: GCC 12 gives a false
    // -Wrestrict at -O3 on assigning a literal to the string (DESIGN.md §8).
    std::string candidate = end > start ? path.substr(start, end - start) : std::string(".");
    candidate += '/';
    candidate += cmd;
    if (is_executable_file(candidate)) return candidate;
    if (access(candidate.c_str(), F_OK) == 0) err = EACCES;
    start = end + 1;
  }
  return tl::make_unexpected(err);
}

std::string spawn_error(const std::string& cmd, int err) {
  return "cannot start '" + cmd + "': " + std::strerror(err);
}

[[noreturn]] void child_fail(int pipe_fd, int err) {
  // write(2) is async-signal-safe; nothing else is needed to report the failure.
  ssize_t n = write(pipe_fd, &err, sizeof err);
  (void)n;
  _exit(127);
}

}  // namespace

std::vector<std::string> session_environment(char** base, const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = base; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    vars[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& kv : extra) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // What the screen model and attach emulate, whatever the client's terminal is.
  vars["TERM"] = "xterm-256color";
  vars["COLORTERM"] = "truecolor";
  auto is_utf8 = [](const std::string& v) {
    return v.find("UTF-8") != std::string::npos || v.find("utf8") != std::string::npos ||
           v.find("utf-8") != std::string::npos || v.find("UTF8") != std::string::npos;
  };
  if (!is_utf8(vars["LANG"])) vars["LANG"] = "C.UTF-8";
  if (auto it = vars.find("LC_ALL"); it != vars.end() && !is_utf8(it->second)) vars.erase(it);
  // The daemon's own markers must not leak into a session started from inside another one.
  vars.erase("TMUX_PANE");
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

int exit_status_from_wait(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

int pty_resize(int master_fd, unsigned short rows, unsigned short cols) {
  struct winsize ws {};
  ws.ws_row = rows;
  ws.ws_col = cols;
  return ioctl(master_fd, TIOCSWINSZ, &ws);
}

tl::expected<PtyProcess, std::string> pty_spawn(const PtySpawnOptions& opts) {
  if (opts.argv.empty()) return tl::make_unexpected(std::string("cannot start: empty command"));
  const std::string& cmd = opts.argv[0];
  auto resolved = resolve_command(cmd, opts.env);
  if (!resolved) return tl::make_unexpected(spawn_error(cmd, resolved.error()));
  if (!opts.cwd.empty()) {
    struct stat st {};
    if (stat(opts.cwd.c_str(), &st) != 0)
      return tl::make_unexpected("cannot start '" + cmd + "' in '" + opts.cwd +
                                 "': " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode))
      return tl::make_unexpected("cannot start '" + cmd + "' in '" + opts.cwd +
                                 "': Not a directory");
  }

  // Everything the child needs is built before fork: a multithreaded parent must not
  // allocate in the child.
  std::vector<char*> argv;
  for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : opts.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* path = resolved->c_str();
  const char* cwd = opts.cwd.empty() ? nullptr : opts.cwd.c_str();
  const pid_t parent = getpid();

  int master = -1;
  int slave = -1;
  struct winsize ws {};
  ws.ws_row = opts.rows;
  ws.ws_col = opts.cols;
  if (openpty(&master, &slave, nullptr, nullptr, &ws) != 0)
    return tl::make_unexpected("cannot open a pseudo-terminal: " +
                               std::string(std::strerror(errno)));
  fcntl(master, F_SETFD, FD_CLOEXEC);
  fcntl(slave, F_SETFD, FD_CLOEXEC);

  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    int err = errno;
    close(master);
    close(slave);
    return tl::make_unexpected("cannot create a pipe: " + std::string(std::strerror(err)));
  }

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = fork();
  if (pid == 0) {
    // Child: signals stay blocked until the dispositions are reset, so no handler of the
    // daemon's (libuv's signal pipe) can run here.
    for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    close(errpipe[0]);
    close(master);
    // Checked after the prctl: a parent that died before it would never signal the child.
    if (opts.dies_with_parent && (prctl(PR_SET_PDEATHSIG, SIGHUP) != 0 || getppid() != parent))
      child_fail(errpipe[1], ESRCH);
    if (setsid() < 0) child_fail(errpipe[1], errno);
    if (ioctl(slave, TIOCSCTTY, 0) < 0) child_fail(errpipe[1], errno);
    if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
      child_fail(errpipe[1], errno);
    if (slave > 2) close(slave);
    // Nothing but the terminal goes to the agent, as tmux does it: a descriptor the daemon
    // (or a library, or whoever started it) left inheritable would otherwise outlive the
    // daemon in every agent. Marked close-on-exec rather than closed, so the error pipe still
    // reports a failed exec.
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < kMaxInheritedFd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (cwd && chdir(cwd) != 0) child_fail(errpipe[1], errno);
    execve(path, argv.data(), envp.data());
    child_fail(errpipe[1], errno);
  }
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(slave);
  close(errpipe[1]);
  if (pid < 0) {
    close(errpipe[0]);
    close(master);
    return tl::make_unexpected("cannot fork: " + std::string(std::strerror(fork_errno)));
  }

  // Zero bytes: exec succeeded and closed the pipe. Four: the child's errno.
  int child_err = 0;
  ssize_t n;
  do {
    n = read(errpipe[0], &child_err, sizeof child_err);
  } while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_err)) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    close(master);
    return tl::make_unexpected(spawn_error(cmd, child_err));
  }

  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  return PtyProcess{pid, master};
}

}  // namespace baton::runtime
