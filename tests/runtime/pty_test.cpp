// pty_spawn and the session environment, against real PTYs and real children: exec errors
// come back as one line, and the child starts as a clean session leader whatever the parent's
// signal state is.
#include "runtime/pty.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace baton::runtime {
namespace {

// A spawned child that is killed, reaped and has its master closed when the test ends,
// whatever it asserted first.
class SpawnedChild {
 public:
  explicit SpawnedChild(PtyProcess proc) : proc_(proc) {}
  ~SpawnedChild() {
    if (proc_.pid > 0) {
      kill(proc_.pid, SIGKILL);
      wait_status();
    }
    if (proc_.master_fd >= 0) ::close(proc_.master_fd);
  }
  SpawnedChild(const SpawnedChild&) = delete;
  SpawnedChild& operator=(const SpawnedChild&) = delete;

  pid_t pid() const { return proc_.pid; }
  int master_fd() const { return proc_.master_fd; }

  // Waits for the child and returns its raw wait status; the child is then gone.
  int wait_status() {
    int status = 0;
    while (waitpid(proc_.pid, &status, 0) < 0 && errno == EINTR) {
    }
    proc_.pid = -1;
    return status;
  }

 private:
  PtyProcess proc_;
};

using baton::test::TempDir;

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text,
                       mode_t mode) {
  std::string file = dir.str() + "/" + name;
  std::ofstream(file) << text;
  chmod(file.c_str(), mode);
  return file;
}

PtySpawnOptions options(std::vector<std::string> argv) {
  PtySpawnOptions opts;
  opts.argv = std::move(argv);
  opts.env = session_environment(environ, {});
  return opts;
}

// The fields of /proc/<pid>/status, e.g. "SigBlk".
std::string proc_status_field(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string value = line.substr(field.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return {};
}

// The fields of /proc/<pid>/stat after "(comm)": state is [0], tty_nr [4], tpgid [5].
std::vector<long long> proc_stat_fields(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(all.substr(all.rfind(')') + 2));
  std::string state;
  rest >> state;
  std::vector<long long> fields{0};
  long long v;
  while (rest >> v) fields.push_back(v);
  return fields;
}

std::string value_of(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& kv : env) {
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
  }
  return "<unset>";
}

// A base environment as execve gets it.
class Environ {
 public:
  explicit Environ(std::vector<std::string> vars) : vars_(std::move(vars)) {
    for (auto& v : vars_) ptrs_.push_back(v.data());
    ptrs_.push_back(nullptr);
  }
  char** get() { return ptrs_.data(); }

 private:
  std::vector<std::string> vars_;
  std::vector<char*> ptrs_;
};

TEST(PtySpawn, MissingCommandIsReportedAsNoSuchFile) {
  auto proc = pty_spawn(options({"nosuchcmd"}));
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error(), "cannot start 'nosuchcmd': No such file or directory");
}

TEST(PtySpawn, ExecFailureInTheChildIsReportedThroughThePipe) {
  // The file exists and is executable, so only execve in the child can find out that its
  // interpreter is missing.
  TempDir dir;
  const std::string script =
      write_file(dir, "no-interpreter", "#!/nonexistent/interpreter\n", 0755);
  auto proc = pty_spawn(options({script}));
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error(), "cannot start '" + script + "': No such file or directory");
}

TEST(PtySpawn, NonExecutableFileIsReportedAsPermissionDenied) {
  TempDir dir;
  const std::string file = write_file(dir, "not-executable", "#!/bin/sh\nexit 0\n", 0644);
  auto proc = pty_spawn(options({file}));
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error(), "cannot start '" + file + "': Permission denied");
}

TEST(PtySpawn, NonExecutableFileFoundOnPathIsReportedAsPermissionDenied) {
  TempDir dir;
  write_file(dir, "baton-not-executable", "#!/bin/sh\nexit 0\n", 0644);
  PtySpawnOptions opts = options({"baton-not-executable"});
  opts.env = session_environment(environ, {"PATH=" + dir.str()});
  auto proc = pty_spawn(opts);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error(), "cannot start 'baton-not-executable': Permission denied");
}

TEST(PtySpawn, MissingWorkingDirectoryIsReported) {
  PtySpawnOptions opts = options({"true"});
  opts.cwd = "/nonexistent/baton-cwd";
  auto proc = pty_spawn(opts);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error(),
            "cannot start 'true' in '/nonexistent/baton-cwd': No such file or directory");
}

TEST(PtySpawn, WorkingDirectoryThatIsAFileIsReported) {
  TempDir dir;
  const std::string file = write_file(dir, "plain", "", 0644);
  PtySpawnOptions opts = options({"true"});
  opts.cwd = file;
  auto proc = pty_spawn(opts);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error(), "cannot start 'true' in '" + file + "': Not a directory");
}

TEST(PtySpawn, ChildRunsInTheWorkingDirectory) {
  TempDir dir;
  PtySpawnOptions opts = options({"sleep", "100"});
  opts.cwd = dir.str();
  auto proc = pty_spawn(opts);
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);
  char target[4096] = {};
  const std::string link = "/proc/" + std::to_string(child.pid()) + "/cwd";
  ASSERT_GT(readlink(link.c_str(), target, sizeof target - 1), 0);
  EXPECT_EQ(std::string(target), dir.str());
}

// tmux closes everything but the terminal before it execs a pane's command: an agent must
// not hold the daemon's log file, its lock or a socket that a plain open() left inheritable.
TEST(PtySpawn, ChildInheritsNoDescriptorButItsTerminal) {
  TempDir dir;
  const int inheritable = open((dir.str() + "/daemon.log").c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(inheritable, 3);
  auto proc = pty_spawn(options({"sleep", "100"}));
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);
  const std::string fd_dir = "/proc/" + std::to_string(child.pid()) + "/fd";
  // sleep's dynamic loader opens its libraries for a moment after exec; an inherited
  // descriptor would stay for good. So: wait until only the terminal is left.
  auto open_fds = [&] {
    std::vector<std::string> fds;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(fd_dir, ec))
      fds.push_back(e.path().filename().string());
    std::sort(fds.begin(), fds.end());
    return fds;
  };
  const std::vector<std::string> terminal_only{"0", "1", "2"};
  for (int i = 0; i < 2500 && open_fds() != terminal_only; ++i) usleep(2000);
  EXPECT_EQ(open_fds(), terminal_only);
  ::close(inheritable);
}

TEST(PtySpawn, ChildLeadsItsOwnSessionAndProcessGroup) {
  auto proc = pty_spawn(options({"sleep", "100"}));
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);
  EXPECT_EQ(getsid(child.pid()), child.pid());
  EXPECT_EQ(getpgid(child.pid()), child.pid());
  EXPECT_NE(getsid(child.pid()), getsid(0));
}

TEST(PtySpawn, ChildHasThePtySlaveAsItsControllingTerminal) {
  auto proc = pty_spawn(options({"sleep", "100"}));
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);
  char slave_name[256] = {};
  ASSERT_EQ(ptsname_r(child.master_fd(), slave_name, sizeof slave_name), 0);
  struct stat slave {};
  ASSERT_EQ(stat(slave_name, &slave), 0);

  const auto stat_fields = proc_stat_fields(child.pid());
  ASSERT_GT(stat_fields.size(), 5u);
  const auto tty_nr = static_cast<unsigned long long>(stat_fields[4]);
  // The kernel's encoding of a dev_t in /proc/<pid>/stat.
  const unsigned tty_major = (tty_nr >> 8) & 0xfff;
  const unsigned tty_minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
  EXPECT_EQ(tty_major, major(slave.st_rdev));
  EXPECT_EQ(tty_minor, minor(slave.st_rdev));
  // ...and its process group is the terminal's foreground group.
  EXPECT_EQ(stat_fields[5], child.pid());
}

TEST(PtySpawn, ChildDiesOfSighupEvenWhenTheParentIgnoresIt) {
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ASSERT_EQ(sigaction(SIGHUP, &ignore, &old), 0);
  auto proc = pty_spawn(options({"sleep", "100"}));
  sigaction(SIGHUP, &old, nullptr);
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);

  ASSERT_EQ(kill(child.pid(), SIGHUP), 0);
  const int status = child.wait_status();
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGHUP);
}

TEST(PtySpawn, ChildStartsWithAnEmptySignalMask) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  auto proc = pty_spawn(options({"sleep", "100"}));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);

  // pty_spawn returns once exec succeeded, so this is the mask `sleep` runs with.
  EXPECT_EQ(proc_status_field(child.pid(), "SigBlk"), "0000000000000000");
}

TEST(PtySpawn, ChildIgnoresNoSignalsTheParentIgnores) {
  struct sigaction ignore {
  }, old_pipe{}, old_int{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  ASSERT_EQ(sigaction(SIGINT, &ignore, &old_int), 0);
  auto proc = pty_spawn(options({"sleep", "100"}));
  sigaction(SIGPIPE, &old_pipe, nullptr);
  sigaction(SIGINT, &old_int, nullptr);
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);

  EXPECT_EQ(proc_status_field(child.pid(), "SigIgn"), "0000000000000000");
}

TEST(PtySpawn, MasterIsNonBlockingAndCloseOnExec) {
  auto proc = pty_spawn(options({"sleep", "100"}));
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);
  const int status_flags = fcntl(child.master_fd(), F_GETFL);
  const int fd_flags = fcntl(child.master_fd(), F_GETFD);
  ASSERT_GE(status_flags, 0);
  ASSERT_GE(fd_flags, 0);
  EXPECT_TRUE(status_flags & O_NONBLOCK);
  EXPECT_TRUE(fd_flags & FD_CLOEXEC);
}

TEST(PtySpawn, ChildGetsTheRequestedWindowSize) {
  PtySpawnOptions opts = options({"sleep", "100"});
  opts.rows = 33;
  opts.cols = 91;
  auto proc = pty_spawn(opts);
  ASSERT_TRUE(proc) << proc.error();
  SpawnedChild child(*proc);
  struct winsize ws {};
  ASSERT_EQ(ioctl(child.master_fd(), TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_row, 33);
  EXPECT_EQ(ws.ws_col, 91);
}

TEST(SessionEnvironment, SetsTermAndColorterm) {
  Environ base({"TERM=dumb", "COLORTERM=no", "HOME=/home/x"});
  const auto env = session_environment(base.get(), {});
  EXPECT_EQ(value_of(env, "TERM"), "xterm-256color");
  EXPECT_EQ(value_of(env, "COLORTERM"), "truecolor");
  EXPECT_EQ(value_of(env, "HOME"), "/home/x");
}

TEST(SessionEnvironment, NonUtf8LangBecomesCUtf8) {
  Environ base({"LANG=POSIX"});
  EXPECT_EQ(value_of(session_environment(base.get(), {}), "LANG"), "C.UTF-8");
}

TEST(SessionEnvironment, MissingLangBecomesCUtf8) {
  Environ base({"HOME=/home/x"});
  EXPECT_EQ(value_of(session_environment(base.get(), {}), "LANG"), "C.UTF-8");
}

TEST(SessionEnvironment, Utf8LangIsKept) {
  Environ base({"LANG=en_US.UTF-8"});
  EXPECT_EQ(value_of(session_environment(base.get(), {}), "LANG"), "en_US.UTF-8");
}

TEST(SessionEnvironment, NonUtf8LcAllIsRemoved) {
  Environ base({"LANG=en_US.UTF-8", "LC_ALL=C"});
  EXPECT_EQ(value_of(session_environment(base.get(), {}), "LC_ALL"), "<unset>");
}

TEST(SessionEnvironment, ExtrasWinOverTheBase) {
  Environ base({"FOO=base", "BAR=base"});
  const auto env = session_environment(base.get(), {"FOO=extra", "NEW=1"});
  EXPECT_EQ(value_of(env, "FOO"), "extra");
  EXPECT_EQ(value_of(env, "BAR"), "base");
  EXPECT_EQ(value_of(env, "NEW"), "1");
}

TEST(SessionEnvironment, ExtrasDoNotOverrideTerm) {
  Environ base({"HOME=/home/x"});
  const auto env = session_environment(base.get(), {"TERM=vt100", "COLORTERM=no"});
  EXPECT_EQ(value_of(env, "TERM"), "xterm-256color");
  EXPECT_EQ(value_of(env, "COLORTERM"), "truecolor");
}

TEST(SessionEnvironment, EachVariableAppearsOnce) {
  Environ base({"FOO=base", "TERM=dumb"});
  const auto env = session_environment(base.get(), {"FOO=extra"});
  int foo = 0;
  int term = 0;
  for (const auto& kv : env) {
    foo += kv.rfind("FOO=", 0) == 0;
    term += kv.rfind("TERM=", 0) == 0;
  }
  EXPECT_EQ(foo, 1);
  EXPECT_EQ(term, 1);
}

}  // namespace
}  // namespace baton::runtime

namespace baton::runtime {
namespace {

TEST(ExitStatusFromWait, IsTheExitCodeOrOneTwentyEightPlusTheSignal) {
  const pid_t exited = fork();
  if (exited == 0) _exit(42);
  int status = 0;
  ASSERT_EQ(waitpid(exited, &status, 0), exited);
  EXPECT_EQ(exit_status_from_wait(status), 42);
  const pid_t killed = fork();
  if (killed == 0) {
    pause();
    _exit(0);
  }
  kill(killed, SIGTERM);
  ASSERT_EQ(waitpid(killed, &status, 0), killed);
  EXPECT_EQ(exit_status_from_wait(status), 128 + SIGTERM);
}

}  // namespace
}  // namespace baton::runtime
