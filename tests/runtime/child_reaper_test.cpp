// ChildReaper on a real loop with real children: it reaps the pids it watches, from SIGCHLD or
// at once when the child had already exited, and never anyone else's (no waitpid(-1)).
#include "runtime/child_reaper.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "tests/runtime/test_loop.hpp"

namespace baton::runtime {
namespace {

using test::TestLoop;

pid_t fork_exiting(int code) {
  const pid_t pid = fork();
  if (pid == 0) _exit(code);
  return pid;
}

// Blocks until the child has exited, leaving it unreaped.
void wait_exited_unreaped(pid_t pid) {
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
}

char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = all.rfind(')');
  return paren == std::string::npos || paren + 2 >= all.size() ? '?' : all[paren + 2];
}

int reap_now(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// A child that exits with `code` once the test closes its end of the pipe.
class GatedChild {
 public:
  explicit GatedChild(int code) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      ::close(fds[1]);
      char c;
      while (read(fds[0], &c, 1) > 0) {
      }
      _exit(code);
    }
    ::close(fds[0]);
    gate_ = fds[1];
  }
  ~GatedChild() { release(); }
  GatedChild(const GatedChild&) = delete;
  GatedChild& operator=(const GatedChild&) = delete;

  pid_t pid() const { return pid_; }
  void release() {
    if (gate_ >= 0) ::close(gate_);
    gate_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int gate_ = -1;
};

TEST(ExitStatusFromWait, IsTheExitCodeOfAChildThatExited) {
  const pid_t pid = fork_exiting(42);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(exit_status_from_wait(reap_now(pid)), 42);
}

TEST(ExitStatusFromWait, IsZeroForASuccessfulChild) {
  const pid_t pid = fork_exiting(0);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(exit_status_from_wait(reap_now(pid)), 0);
}

TEST(ExitStatusFromWait, IsOneTwentyEightPlusTheSignalOfAKilledChild) {
  GatedChild child(0);
  ASSERT_GT(child.pid(), 0);
  ASSERT_EQ(kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(exit_status_from_wait(reap_now(child.pid())), 128 + SIGTERM);
}

TEST(ChildReaper, ReportsAWatchedChildsExitOnSigchld) {
  TestLoop loop;
  {
    ChildReaper reaper(loop.get());
    GatedChild child(9);
    ASSERT_GT(child.pid(), 0);
    int calls = 0;
    pid_t reported_pid = -1;
    int reported_status = -1;
    reaper.watch(child.pid(), [&](pid_t pid, int status) {
      ++calls;
      reported_pid = pid;
      reported_status = status;
    });
    loop.run_for(50);
    EXPECT_EQ(calls, 0) << "reported before the child exited";

    child.release();
    ASSERT_TRUE(loop.run_until([&] { return calls > 0; }));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(reported_pid, child.pid());
    ASSERT_TRUE(WIFEXITED(reported_status));
    EXPECT_EQ(WEXITSTATUS(reported_status), 9);
    // Reaped: the pid is no longer this process's child.
    EXPECT_EQ(waitpid(child.pid(), nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ChildReaper, ReportsAChildThatExitedBeforeItWasWatched) {
  TestLoop loop;
  {
    ChildReaper reaper(loop.get());
    const pid_t pid = fork_exiting(3);
    ASSERT_GT(pid, 0);
    wait_exited_unreaped(pid);
    // Its SIGCHLD arrived before watch(): the loop must still report it once it runs.
    int calls = 0;
    int reported_status = -1;
    reaper.watch(pid, [&](pid_t, int status) {
      ++calls;
      reported_status = status;
    });
    loop.run_until([&] { return calls > 0; }, 2000);
    EXPECT_EQ(calls, 1);
    ASSERT_TRUE(WIFEXITED(reported_status));
    EXPECT_EQ(WEXITSTATUS(reported_status), 3);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ChildReaper, WatchNeverCallsBackBeforeItReturns) {
  // The caller is still setting up when watch() returns (Session's constructor watches its
  // child before Session::start's caller can add on_exit): an exit must be reported from the
  // loop, never from inside watch().
  TestLoop loop;
  {
    ChildReaper reaper(loop.get());
    const pid_t pid = fork_exiting(0);
    ASSERT_GT(pid, 0);
    wait_exited_unreaped(pid);
    bool is_reported = false;
    reaper.watch(pid, [&](pid_t, int) { is_reported = true; });
    EXPECT_FALSE(is_reported) << "called back from inside watch()";
    EXPECT_TRUE(loop.run_until([&] { return is_reported; }, 2000));
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ChildReaper, LeavesAnUnwatchedChildUnreaped) {
  TestLoop loop;
  {
    ChildReaper reaper(loop.get());
    const pid_t unwatched = fork_exiting(5);
    ASSERT_GT(unwatched, 0);
    wait_exited_unreaped(unwatched);

    GatedChild watched(0);
    ASSERT_GT(watched.pid(), 0);
    bool is_reported = false;
    reaper.watch(watched.pid(), [&](pid_t, int) { is_reported = true; });
    watched.release();
    ASSERT_TRUE(loop.run_until([&] { return is_reported; }));
    reaper.reap();

    // A waitpid(-1) anywhere would have taken it.
    EXPECT_EQ(proc_state(unwatched), 'Z');
    int status = 0;
    EXPECT_EQ(waitpid(unwatched, &status, WNOHANG), unwatched);
    EXPECT_EQ(WEXITSTATUS(status), 5);
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ChildReaper, ForgottenChildIsNotReaped) {
  TestLoop loop;
  {
    ChildReaper reaper(loop.get());
    GatedChild child(0);
    ASSERT_GT(child.pid(), 0);
    bool is_reported = false;
    reaper.watch(child.pid(), [&](pid_t, int) { is_reported = true; });
    reaper.forget(child.pid());
    child.release();
    wait_exited_unreaped(child.pid());
    loop.run_for(50);
    reaper.reap();

    EXPECT_FALSE(is_reported);
    EXPECT_EQ(waitpid(child.pid(), nullptr, WNOHANG), child.pid());
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ChildReaper, ReportsEachOfSeveralChildrenOnce) {
  TestLoop loop;
  {
    ChildReaper reaper(loop.get());
    std::map<pid_t, int> codes;
    std::map<pid_t, int> calls;
    for (int code = 1; code <= 5; ++code) {
      const pid_t pid = fork_exiting(code);
      ASSERT_GT(pid, 0);
      codes[pid] = code;
      reaper.watch(pid, [&](pid_t p, int status) {
        ++calls[p];
        EXPECT_EQ(exit_status_from_wait(status), codes[p]);
      });
    }
    ASSERT_TRUE(loop.run_until([&] { return calls.size() == codes.size(); }));
    loop.run_for(20);
    for (const auto& [pid, n] : calls) EXPECT_EQ(n, 1) << "pid " << pid;
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(ChildReaper, ClosedReaperLeavesTheLoopClosable) {
  TestLoop loop;
  {
    ChildReaper reaper(loop.get());
    reaper.close();
    reaper.close();
  }
  EXPECT_EQ(loop.close(), 0);
}

}  // namespace
}  // namespace baton::runtime
