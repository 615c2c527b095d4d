// The hook runner on a real libuv loop with real processes: environment, argv and cwd, exit
// status and output tail, timeout with SIGTERM then SIGKILL of the whole group, bounded log
// and memory, spawn errors, grandchildren holding the pipe, and a loop that keeps turning.
#include "hooks/runner.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <thread>

#include "tests/support/temp_dir.hpp"

namespace baton::hooks {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

long elapsed_ms(Clock::time_point since) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

// '?' when the process is gone; 'Z' for a zombie nobody reaped (as good as gone).
char proc_state(pid_t pid) {
  const std::string all = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = all.rfind(')');
  return paren == std::string::npos || paren + 2 >= all.size() ? '?' : all[paren + 2];
}

bool is_gone(pid_t pid) {
  const char state = proc_state(pid);
  return state == '?' || state == 'Z' || state == 'X';
}

// Peak resident set of this process, in KiB.
long peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Shell words that wait for `file` to appear, giving up (exit 1) after 1000 polls: a
// condition that never comes fails the hook instead of hanging the test.
std::string wait_for_file(const fs::path& file) {
  return "n=0; while [ ! -e '" + file.string() +
         "' ]; do n=$((n+1)); [ $n -gt 1000 ] && exit 1; sleep 0.01; done; ";
}

HookRequest shell(const std::string& script) {
  HookRequest req;
  req.event = "before_retire";
  req.argv = {"/bin/sh", "-c", script};
  req.cwd = "/";
  req.timeout_ms = 10000;
  req.kill_grace_ms = 1000;
  return req;
}

class HookRunnerTest : public ::testing::Test {
 protected:
  struct Outcome {
    int calls = 0;
    bool is_called_inside_run_hook = false;
    HookResult result;
    long elapsed_ms = -1;
  };

  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    dir_ = tmp_.path();
  }

  void TearDown() override { EXPECT_EQ(uv_loop_close(&loop_), 0); }

  // Runs the loop until it has nothing left to do: the run must close every handle of its own.
  // An unreferenced watchdog ends a run that hangs, so a bug fails the test instead of ctest.
  Outcome run(HookRequest req) {
    Outcome out;
    // The runner's timers count from the loop's clock: brought up to now, it is not behind
    // `start`, so a lower bound on elapsed_ms holds however slowly SetUp ran.
    uv_update_time(&loop_);
    const auto start = Clock::now();
    run_hook(&loop_, std::move(req), [&out, start](HookResult r) {
      ++out.calls;
      out.result = std::move(r);
      out.elapsed_ms = elapsed_ms(start);
    });
    out.is_called_inside_run_hook = out.calls > 0;
    run_loop_to_completion();
    return out;
  }

  void run_loop_to_completion() {
    uv_timer_t watchdog{};
    uv_timer_init(&loop_, &watchdog);
    uv_timer_start(
        &watchdog, [](uv_timer_t* t) { uv_stop(t->loop); }, kWatchdogMs, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog));
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }

  static constexpr uint64_t kWatchdogMs = 30000;
  uv_loop_t loop_{};
  test::TempDir tmp_{"baton-hooks-test"};
  fs::path dir_;
};

TEST_F(HookRunnerTest, HookSeesTheBatonVariables) {
  HookRequest req = shell(R"(echo "$BATON_EVENT|$BATON_PROJECT|$BATON_SESSION|$BATON_BRANCH")");
  req.env = {{"BATON_EVENT", "before_retire"},
             {"BATON_PROJECT", "shop"},
             {"BATON_SESSION", "shop-3"},
             {"BATON_BRANCH", "baton/shop-orchestrator"}};
  const Outcome out = run(req);
  ASSERT_EQ(out.calls, 1);
  EXPECT_TRUE(out.result.ok());
  EXPECT_EQ(out.result.exit_status, 0);
  EXPECT_EQ(out.result.output_tail, "before_retire|shop|shop-3|baton/shop-orchestrator\n");
}

TEST_F(HookRunnerTest, HookInheritsTheDaemonEnvironment) {
  ASSERT_EQ(setenv("BATON_HOOKS_TEST_INHERITED", "from-daemon", 1), 0);
  const Outcome out = run(shell(R"(echo "$BATON_HOOKS_TEST_INHERITED")"));
  unsetenv("BATON_HOOKS_TEST_INHERITED");
  EXPECT_EQ(out.result.output_tail, "from-daemon\n");
}

TEST_F(HookRunnerTest, RequestEnvWinsOverTheDaemonEnvironment) {
  ASSERT_EQ(setenv("BATON_PROJECT", "from-daemon", 1), 0);
  HookRequest req = shell(R"(echo "$BATON_PROJECT"; env | grep -c '^BATON_PROJECT=')");
  req.env = {{"BATON_PROJECT", "shop"}};
  const Outcome out = run(req);
  unsetenv("BATON_PROJECT");
  EXPECT_EQ(out.result.output_tail, "shop\n1\n");
}

TEST_F(HookRunnerTest, NonZeroExitIsDescribedWithTheStatusAndTheLastOutputLine) {
  const Outcome out = run(shell("echo first; echo '  last words  '; echo; exit 3"));
  ASSERT_EQ(out.calls, 1);
  EXPECT_FALSE(out.result.ok());
  EXPECT_EQ(out.result.exit_status, 3);
  EXPECT_FALSE(out.result.timed_out);
  EXPECT_EQ(out.result.describe("before_retire"),
            "before_retire hook exited with status 3: last words");
}

TEST_F(HookRunnerTest, NonZeroExitWithoutOutputIsDescribedWithTheStatusAlone) {
  const Outcome out = run(shell("exit 7"));
  EXPECT_EQ(out.result.describe("before_spawn"), "before_spawn hook exited with status 7");
}

TEST_F(HookRunnerTest, ArgvArrayIsPassedWithoutAShell) {
  HookRequest req;
  req.event = "after_spawn";
  req.argv = {"printf", "%s|", "a b", "$HOME", "*", "`id`"};
  const Outcome out = run(req);
  EXPECT_TRUE(out.result.ok()) << out.result.describe("after_spawn");
  EXPECT_EQ(out.result.output_tail, "a b|$HOME|*|`id`|");
}

TEST_F(HookRunnerTest, StringCommandRunsThroughShC) {
  ASSERT_EQ(setenv("BATON_HOOKS_TEST_WORDS", "x y", 1), 0);
  const Outcome out = run(shell("printf '%s|' $BATON_HOOKS_TEST_WORDS z | tr a-z A-Z"));
  unsetenv("BATON_HOOKS_TEST_WORDS");
  EXPECT_TRUE(out.result.ok());
  EXPECT_EQ(out.result.output_tail, "X|Y|Z|");
}

TEST_F(HookRunnerTest, HookRunsInTheRequestedDirectory) {
  fs::create_directory(dir_ / "work tree");
  HookRequest req = shell("pwd -P");
  req.cwd = (dir_ / "work tree").string();
  const Outcome out = run(req);
  EXPECT_EQ(out.result.output_tail, fs::canonical(dir_ / "work tree").string() + "\n");
}

TEST_F(HookRunnerTest, StdinIsAtEndOfFileAtOnce) {
  // A stdin left open would keep `cat` reading until the hook's timeout stops it.
  const Outcome out = run(shell("cat; echo read-all"));
  EXPECT_FALSE(out.result.timed_out);
  EXPECT_TRUE(out.result.ok());
  EXPECT_EQ(out.result.output_tail, "read-all\n");
}

TEST_F(HookRunnerTest, StdoutAndStderrShareTheTailInOrder) {
  const Outcome out = run(shell("echo one; echo two >&2; echo three"));
  EXPECT_EQ(out.result.output_tail, "one\ntwo\nthree\n");
}

TEST_F(HookRunnerTest, OutputTailKeepsTheLastTwentyLines) {
  const Outcome out = run(shell("seq 1 100"));
  std::string expected;
  for (int i = 81; i <= 100; ++i) expected += std::to_string(i) + "\n";
  EXPECT_EQ(out.result.output_tail, expected);
}

TEST_F(HookRunnerTest, OutputTailKeepsAtMostFourKibOfALongLine) {
  const Outcome out = run(shell("head -c 10000 /dev/zero | tr '\\0' y; echo; echo end"));
  EXPECT_LE(out.result.output_tail.size(), 4096u);
  EXPECT_EQ(out.result.output_tail.substr(out.result.output_tail.size() - 5), "\nend\n");
}

TEST_F(HookRunnerTest, HookIsStoppedWithSigtermAtTheTimeout) {
  HookRequest req = shell("echo waiting for the lock; sleep 100");
  req.timeout_ms = 300;
  req.kill_grace_ms = 5000;
  const Outcome out = run(req);
  ASSERT_EQ(out.calls, 1);
  EXPECT_TRUE(out.result.timed_out);
  EXPECT_FALSE(out.result.ok());
  // SIGTERM ended it: a runner that waited out the grace would report SIGKILL.
  EXPECT_EQ(out.result.exit_status, 128 + SIGTERM);
  EXPECT_EQ(out.result.describe("before_retire"),
            "before_retire hook timed out after 300ms: waiting for the lock");
}

TEST_F(HookRunnerTest, HookIgnoringSigtermIsKilledAfterTheGrace) {
  // The shell says when SIGTERM reached it and goes on; its sleeps ignore nothing.
  HookRequest req = shell("trap 'echo got TERM' TERM; while :; do sleep 0.05; done");
  req.timeout_ms = 300;
  req.kill_grace_ms = 300;
  const Outcome out = run(req);
  // Called at all (before the watchdog): the runner did not wait for the loop to end.
  ASSERT_EQ(out.calls, 1);
  EXPECT_TRUE(out.result.timed_out);
  EXPECT_EQ(out.result.exit_status, 128 + SIGKILL);
  EXPECT_NE(out.result.output_tail.find("got TERM"), std::string::npos) << out.result.output_tail;
  // A lower bound only: a loaded machine makes a run longer, never shorter.
  EXPECT_GE(out.elapsed_ms, 600 - 50);
}

TEST_F(HookRunnerTest, TimeoutStopsTheWholeProcessGroup) {
  const fs::path pid_file = dir_ / "grandchild.pid";
  HookRequest req = shell("sleep 100 & echo $! > '" + pid_file.string() + "'; wait");
  req.timeout_ms = 300;
  req.kill_grace_ms = 300;
  const Outcome out = run(req);
  EXPECT_TRUE(out.result.timed_out);
  const pid_t grandchild = std::stoi(read_file(pid_file));
  // The signal is sent; how soon the grandchild is gone is up to the machine's load.
  const auto start = Clock::now();
  while (!is_gone(grandchild) && elapsed_ms(start) < 20000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(is_gone(grandchild));
}

TEST_F(HookRunnerTest, HugeOutputKeepsTheLogTheTailAndMemoryBounded) {
  const fs::path log = dir_ / "hooks.log";
  HookRequest req = shell("head -c 100000000 /dev/zero | tr '\\0' x; echo; echo done");
  req.timeout_ms = 60000;
  req.log_path = log.string();
  req.log_limit_bytes = 64 * 1024;
  const long rss_before_kib = peak_rss_kib();
  const Outcome out = run(req);
  ASSERT_EQ(out.calls, 1);
  EXPECT_TRUE(out.result.ok()) << out.result.describe("before_retire");
  EXPECT_LE(out.result.output_tail.size(), 4096u);
  EXPECT_EQ(out.result.output_tail.substr(out.result.output_tail.size() - 6), "\ndone\n");
  const auto log_size = fs::file_size(log);
  EXPECT_GE(log_size, 64u * 1024);
  EXPECT_LE(log_size, 64u * 1024 + 1024);  // header, truncation note and footer
  EXPECT_LT(peak_rss_kib() - rss_before_kib, 32 * 1024);
  const std::string text = read_file(log);
  EXPECT_NE(text.find("[" + std::to_string(100000000 + 6 - 64 * 1024) +
                      " more bytes of output not logged]\n"),
            std::string::npos);
}

TEST_F(HookRunnerTest, LogHasAHeaderTheOutputAndAFooter) {
  const fs::path log = dir_ / "hooks.log";
  { std::ofstream(log) << "earlier run\n"; }
  HookRequest req = shell("echo hello; echo world >&2; exit 2");
  req.event = "after_spawn";
  req.log_path = log.string();
  const Outcome out = run(req);
  const std::string text = read_file(log);
  const std::regex expected(
      "earlier run\n"
      "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3} after_spawn /bin/sh -c echo hello; "
      "echo world >&2; exit 2 \\(pid \\d+\\)\n"
      "hello\nworld\n"
      "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3} after_spawn exit 2 \\(pid \\d+\\)\n");
  EXPECT_TRUE(std::regex_match(text, expected)) << text;
}

TEST_F(HookRunnerTest, LogFooterSaysTimedOut) {
  const fs::path log = dir_ / "hooks.log";
  HookRequest req = shell("printf 'no newline'; sleep 100");
  req.timeout_ms = 200;
  req.log_path = log.string();
  run(req);
  const std::string text = read_file(log);
  EXPECT_NE(text.find("no newline\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" before_retire timed out after 200ms, exit 143 (pid "), std::string::npos)
      << text;
}

TEST_F(HookRunnerTest, UnwritableLogDoesNotStopTheHook) {
  HookRequest req = shell("echo fine");
  req.log_path = (dir_ / "no-such-dir" / "hooks.log").string();
  const Outcome out = run(req);
  EXPECT_TRUE(out.result.ok());
  EXPECT_EQ(out.result.output_tail, "fine\n");
}

TEST_F(HookRunnerTest, MissingCommandReportsTheSpawnErrorOnALaterLoopTurn) {
  HookRequest req;
  req.event = "before_spawn";
  req.argv = {"baton-no-such-command-for-tests", "--flag"};
  req.log_path = (dir_ / "hooks.log").string();
  const Outcome out = run(req);
  ASSERT_EQ(out.calls, 1);
  EXPECT_FALSE(out.is_called_inside_run_hook);
  EXPECT_FALSE(out.result.ok());
  EXPECT_EQ(out.result.exit_status, -1);
  EXPECT_EQ(out.result.spawn_error,
            "cannot start 'baton-no-such-command-for-tests': No such file or directory");
  EXPECT_EQ(out.result.describe("before_spawn"),
            "before_spawn hook could not start: cannot start 'baton-no-such-command-for-tests': "
            "No such file or directory");
  EXPECT_NE(read_file(dir_ / "hooks.log").find("cannot start 'baton-no-such-command-for-tests'"),
            std::string::npos);
}

TEST_F(HookRunnerTest, CommandThatIsNotExecutableReportsPermissionDenied) {
  const fs::path script = dir_ / "hook.sh";
  std::ofstream(script) << "#!/bin/sh\necho hi\n";
  chmod(script.c_str(), 0644);
  HookRequest req;
  req.event = "after_retire";
  req.argv = {script.string()};
  const Outcome out = run(req);
  EXPECT_EQ(out.result.exit_status, -1);
  EXPECT_EQ(out.result.spawn_error, "cannot start '" + script.string() + "': Permission denied");
}

TEST_F(HookRunnerTest, EmptyArgvReportsASpawnError) {
  HookRequest req;
  req.event = "on_exit";
  const Outcome out = run(req);
  ASSERT_EQ(out.calls, 1);
  EXPECT_FALSE(out.is_called_inside_run_hook);
  EXPECT_EQ(out.result.exit_status, -1);
  EXPECT_EQ(out.result.spawn_error, "cannot start hook: empty command");
}

TEST_F(HookRunnerTest, GrandchildHoldingTheOutputDoesNotHoldTheResult) {
  const fs::path pid_file = dir_ / "grandchild.pid";
  int calls = 0;
  HookResult result;
  pid_t grandchild = -1;
  bool is_grandchild_running_at_result = false;
  run_hook(&loop_, shell("sleep 30 & echo $! > '" + pid_file.string() + "'; echo started; exit 0"),
           [&](HookResult r) {
             ++calls;
             result = std::move(r);
             grandchild = std::stoi(read_file(pid_file));
             is_grandchild_running_at_result = !is_gone(grandchild);
           });
  run_loop_to_completion();
  ASSERT_EQ(calls, 1);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.output_tail, "started\n");
  // The result came while the grandchild still held the output pipe open.
  EXPECT_TRUE(is_grandchild_running_at_result);
  kill(grandchild, SIGKILL);
}

TEST_F(HookRunnerTest, LoopKeepsTurningWhileAHookRuns) {
  // The hook waits for a file that only a timer on the loop creates once the hook has
  // started: under a runner that blocked the loop while its hook ran, the hook gives up.
  struct Release {
    fs::path started;
    fs::path go;
    int ticks_while_running = 0;
  } release{dir_ / "started", dir_ / "go"};
  uv_timer_t ticker{};
  uv_timer_init(&loop_, &ticker);
  ticker.data = &release;
  uv_timer_start(
      &ticker,
      [](uv_timer_t* t) {
        auto* r = static_cast<Release*>(t->data);
        if (!fs::exists(r->started) || fs::exists(r->go)) return;
        if (++r->ticks_while_running == 3) std::ofstream(r->go) << "go\n";
      },
      10, 10);

  int calls = 0;
  HookResult result;
  HookRequest req = shell("touch '" + release.started.string() + "'; " + wait_for_file(release.go) +
                          "echo released");
  req.timeout_ms = 20000;
  run_hook(&loop_, req, [&](HookResult r) {
    ++calls;
    result = std::move(r);
    uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);
  });
  run_loop_to_completion();

  ASSERT_EQ(calls, 1);
  EXPECT_FALSE(result.timed_out);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.output_tail, "released\n");
  EXPECT_EQ(release.ticks_while_running, 3);
}

TEST_F(HookRunnerTest, TwoHooksRunSideBySide) {
  // Each hook waits until the other one has started: run one after the other, the first
  // would give up.
  int calls = 0;
  int oks = 0;
  std::string tails;
  for (const auto& [me, other] : {std::pair{"a", "b"}, std::pair{"b", "a"}}) {
    HookRequest req = shell("touch '" + (dir_ / me).string() + "'; " + wait_for_file(dir_ / other) +
                            "echo " + me);
    req.timeout_ms = 20000;
    run_hook(&loop_, req, [&](const HookResult& r) {
      ++calls;
      oks += r.ok() ? 1 : 0;
      tails += r.output_tail;
    });
  }
  run_loop_to_completion();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(oks, 2);
  EXPECT_EQ(tails.size(), 4u);
}

TEST(HookResultDescribe, TimedOutNamesTheTimeoutInSeconds) {
  HookResult r;
  r.exit_status = 128 + SIGKILL;
  r.timed_out = true;
  r.timeout_ms = 30000;
  EXPECT_EQ(r.describe("before_retire"), "before_retire hook timed out after 30s");
}

TEST(HookResultDescribe, UsesTheLastNonEmptyLineTrimmed) {
  HookResult r;
  r.exit_status = 1;
  r.output_tail = "first\n\tnpm ERR! missing script\r\n\n   \n";
  EXPECT_EQ(r.describe("post_create"),
            "post_create hook exited with status 1: npm ERR! missing script");
}

TEST(HookResultDescribe, ShortensAVeryLongLastLine) {
  HookResult r;
  r.exit_status = 1;
  r.output_tail = std::string(1000, 'z') + "\n";
  const std::string text = r.describe("after_spawn");
  EXPECT_LT(text.size(), 300u);
  EXPECT_EQ(text.substr(text.size() - 3), "...");
}

}  // namespace
}  // namespace baton::hooks
