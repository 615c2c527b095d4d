// The bad-input catalogue (issue 6, point 3; docs/errors.md): each case gives the one line the
// user reads, keeps the running orchestrator and its uncommitted work, and leaves the daemon
// answering. The control-socket cases (garbage, a 5 MiB line, half a frame, 1,000 dropped
// connections) live in control_socket_test.cpp.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

namespace fs = std::filesystem;

class BadInput : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
    auto s = status();
    id_ = s["orchestrator"]["id"];
    pid_ = s["orchestrator"]["pid"];
    write(stable() + "/wip.txt", "work in progress\n");
  }

  // The command failed with exactly `message` as its last line; the orchestrator that ran
  // before still runs with its uncommitted work; the daemon answers.
  void expect_refused_and_nothing_lost(const RunResult& r, const std::string& message) {
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(last_line(r.err), message) << r.err;
    expect_nothing_lost();
  }

  void expect_nothing_lost() {
    auto s = status();
    EXPECT_EQ(s["orchestrator"]["id"], id_);
    EXPECT_EQ(s["orchestrator"]["pid"], pid_);
    EXPECT_EQ(s["active_count"], 1);
    EXPECT_TRUE(process_exists(static_cast<pid_t>(pid_)));
    EXPECT_EQ(read_file(stable() + "/wip.txt"), "work in progress\n");
    expect_daemon_answers();
  }

  void expect_daemon_answers() {
    auto r = baton({"ls", "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
  }

  // After a replace that went through: one orchestrator, and the work carried over.
  void expect_converged_with_work() {
    std::string problem;
    EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
        << problem;
    EXPECT_EQ(read_file(stable() + "/wip.txt"), "work in progress\n");
    expect_daemon_answers();
  }

  std::string toml() { return repo_ + "/baton.toml"; }

  std::string id_;
  long pid_ = 0;
};

TEST_F(BadInput, MalformedTomlNamesFileLineAndColumn) {
  config("[orchestrator\nagent = \"ok\"\n");
  expect_refused_and_nothing_lost(
      b({"replace", repo_}),
      "baton: " + toml() + ":1:14: Error while parsing table header: expected ']', saw '\\n'\n");
  // status says it too, and the last good config stays in force.
  EXPECT_EQ(status()["error"],
            toml() + ":1:14: Error while parsing table header: expected ']', saw '\\n'");
}

TEST_F(BadInput, AWrongTypeNamesTheKeyAndTheTypeWanted) {
  config("[orchestrator]\nagent = 5\n");
  expect_refused_and_nothing_lost(
      b({"replace", repo_}), "baton: " + toml() + ":2:9: [orchestrator] agent must be a string\n");
}

TEST_F(BadInput, AnUnknownKeyIsNamedWithItsPosition) {
  config("[orchestrator]\nagnet = \"ok\"\n");
  expect_refused_and_nothing_lost(
      b({"replace", repo_}), "baton: " + toml() + ":2:1: unknown key 'agnet' in [orchestrator]\n");
}

TEST_F(BadInput, AnAgentThatDoesNotExistListsTheDefinedOnes) {
  expect_refused_and_nothing_lost(
      b({"replace", repo_, "--agent", "nosuch"}),
      "baton: agent 'nosuch' is not defined: use claude-code, codex, fail, ok, shell, stubborn\n");
}

TEST_F(BadInput, ACommandThatIsNotExecutableIsNamed) {
  write(bin_ + "/not-exec", "#!/bin/sh\nexit 0\n");  // no x bit
  config("[orchestrator]\nagent = \"ne\"\n[agents.ne]\ncommand = [\"not-exec\"]\n");
  baton_ok({"allow", repo_});
  expect_refused_and_nothing_lost(b({"replace", repo_}),
                                  "baton: agent 'ne' runs 'not-exec', which is not on PATH\n");
}

TEST_F(BadInput, ASymlinkEscapingTheRepositoryIsNamed) {
  config(
      "[orchestrator]\nagent = \"ok\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[workspace]\nsymlinks = [\"../outside\"]\n");
  baton_ok({"allow", repo_});
  expect_refused_and_nothing_lost(b({"replace", repo_}),
                                  "baton: " + toml() +
                                      ":6:13: [workspace] symlinks: '../outside' "
                                      "leaves the repository ('..')\n");
}

TEST_F(BadInput, ABranchTemplateGivingAnInvalidRefNameIsNamed) {
  config("[orchestrator]\nagent = \"ok\"\nbranch = \"baton/{prefix}..x\"\n");
  expect_refused_and_nothing_lost(
      b({"replace", repo_}),
      "baton: " + toml() +
          ":3:10: [orchestrator] branch 'baton/shop..x' is not a valid branch name: it contains "
          "'..'\n");
}

TEST_F(BadInput, APathThatIsNotARepositoryIsNamed) {
  const std::string plain = tmp_ + "/plain";
  fs::create_directories(plain);
  auto r = b({"up", plain, "--detach"});
  expect_refused_and_nothing_lost(r, "baton: open repository " + plain +
                                         ": not a git repository (or any parent up to the root)\n");
  EXPECT_TRUE(fs::is_empty(plain));
}

TEST_F(BadInput, ABareRepositoryIsRefused) {
  const std::string bare = tmp_ + "/bare.git";
  ASSERT_EQ(run_process({"git", "init", "-q", "--bare", bare}).status, 0);
  expect_refused_and_nothing_lost(b({"up", bare, "--detach"}),
                                  "baton: open repository " + bare +
                                      ": bare repository (baton needs a main worktree to read "
                                      "baton.toml from); use a clone with a working tree\n");
}

TEST_F(BadInput, ARepositoryWithoutCommitsIsRefused) {
  const std::string empty = tmp_ + "/empty";
  ASSERT_EQ(run_process({"git", "init", "-q", "-b", "main", empty}).status, 0);
  expect_refused_and_nothing_lost(
      b({"up", empty, "--detach"}),
      "baton: open repository " + empty +
          ": no commits yet, so there is nothing to start the orchestrator branch from; make a "
          "first commit (for example `git -C " +
          empty + " commit --allow-empty -m \"Initial commit\"`) and try again\n");
}

TEST_F(BadInput, AWorktreeRootThatIsNotWritableIsNamed) {
  // Root ignores mode bits: a read-only mount is what stops it.
  const std::string ro = tmp_ + "/ro";
  fs::create_directories(ro);
  if (mount("tmpfs", ro.c_str(), "tmpfs", MS_RDONLY, "size=64k") != 0)
    GTEST_SKIP() << "cannot mount a read-only tmpfs here";
  config(
      "[orchestrator]\nagent = \"ok\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[workspace]\nroot = \"" +
      ro + "\"\n");
  baton_ok({"allow", repo_});
  auto r = b({"replace", repo_});
  umount2(ro.c_str(), MNT_DETACH);
  expect_refused_and_nothing_lost(r,
                                  "baton: cannot create " + ro + "/shop: Read-only file system\n");
}

TEST_F(BadInput, TheCanonicalBranchCheckedOutInTheMainWorktreeIsRefusedBeforeAnythingStops) {
  ASSERT_EQ(git({"switch", "-q", "--ignore-other-worktrees", "baton/shop-orchestrator"}).status, 0);
  expect_refused_and_nothing_lost(
      b({"replace", repo_}),
      "baton: branch baton/shop-orchestrator is checked out at " + repo_ +
          ": switch that worktree to another branch (git switch main), then run 'baton replace'\n");
  ASSERT_EQ(git({"switch", "-q", "main"}).status, 0);
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  expect_converged_with_work();
}

TEST_F(BadInput, AnOldWorktreeDeletedByHandIsReplaced) {
  fs::remove_all(stable());
  auto r = b({"replace", repo_});
  EXPECT_EQ(r.status, 0) << r.err;
  std::string problem;
  EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
      << problem;
}

TEST_F(BadInput, AFileWhereTheOldWorktreeWasIsRefusedBeforeAnythingStops) {
  fs::remove_all(stable());
  write(stable(), "a file where the worktree was\n");
  auto r = b({"replace", repo_});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(last_line(r.err), "baton: " + stable() +
                                  " is in the way: a file, not the orchestrator's worktree; move "
                                  "it away, then run 'baton replace'\n");
  auto s = status();
  EXPECT_EQ(s["orchestrator"]["pid"], pid_);
  EXPECT_EQ(s["active_count"], 1);
  EXPECT_EQ(read_file(stable()), "a file where the worktree was\n");
  fs::rename(stable(), tmp_ + "/moved-away");
  auto again = b({"replace", repo_});
  EXPECT_EQ(again.status, 0) << again.err;
  std::string problem;
  EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
      << problem;
}

TEST_F(BadInput, ALockedWorktreeIsReplacedAndItsWorkCarried) {
  // baton locks its worktrees itself; here the user's own lock replaced baton's.
  ASSERT_EQ(git({"worktree", "unlock", stable()}).status, 0);
  ASSERT_EQ(git({"worktree", "lock", "--reason", "user lock", stable()}).status, 0);
  auto r = b({"replace", repo_});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_converged_with_work();
}

TEST_F(BadInput, AHookThatHangsIsStoppedAtItsTimeout) {
  config(
      "[orchestrator]\nagent = \"ok\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[hooks]\nbefore_retire = [\"sleep\", \"1000\"]\ntimeout = \"1s\"\n");
  baton_ok({"allow", repo_});
  expect_refused_and_nothing_lost(b({"replace", repo_}),
                                  "baton: before_retire hook timed out after 1s\n");
}

TEST_F(BadInput, AHookPrintingAHundredMegabytesIsCutShort) {
  config(
      "[orchestrator]\nagent = \"ok\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[hooks]\nbefore_retire = \"head -c 100000000 /dev/zero | tr '\\\\0' x; echo; "
      "echo last words; exit 3\"\n");
  baton_ok({"allow", repo_});
  expect_refused_and_nothing_lost(b({"replace", repo_}),
                                  "baton: before_retire hook exited with status 3: last words\n");
  EXPECT_LT(fs::file_size(home_ + "/logs/hooks.log"), 4u << 20);
}

TEST_F(BadInput, AnAgentIgnoringHangupAndTermIsKilledAndReplaced) {
  ASSERT_EQ(b({"replace", repo_, "--agent", "stubborn"}).status, 0);
  const long stubborn = status()["orchestrator"]["pid"];
  write(stable() + "/wip.txt", "work in progress\n");
  auto r = b({"replace", repo_, "--agent", "ok"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(process_exists(static_cast<pid_t>(stubborn)));
  expect_converged_with_work();
}

// The crash loop after launch_grace (relaunch with back-off, at most 5 times in 10 minutes)
// is ACrashedOrchestratorIsRelaunchedWithItsResumeCommand in orchestrator_e2e_test.cpp.
TEST_F(BadInput, AnAgentExitingAtOnceGivesTheBranchBackToThePreviousAgent) {
  config(
      "[orchestrator]\nagent = \"fail\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n[agents.fail]\ncommand = [\"agent-fail\"]\n");
  baton_ok({"allow", repo_});
  auto r = b({"replace", repo_, "--wait"});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(last_line(r.err),
            "baton: fail exited with status 1 within 1 s (agent-fail: no network); relaunched ok\n")
      << r.err;
  // The previous agent came back; the branch was never left without an orchestrator.
  nlohmann::json s;
  EXPECT_TRUE(eventually([&] {
    s = status();
    // restart_needed: the configured agent is not the one running.
    return s["active_count"] == 1 && s["orchestrator"]["agent"] == "ok" &&
           s["health"] == "restart_needed";
  })) << s.dump();
  EXPECT_EQ(read_file(stable() + "/wip.txt"), "work in progress\n");
  expect_daemon_answers();
}

TEST_F(BadInput, AFullStateDiskSaysNoSpaceAndTouchesNothing) {
  const std::string state = home_ + "/state";
  const std::string saved = tmp_ + "/state-saved";
  fs::copy(state, saved, fs::copy_options::recursive);
  if (mount("tmpfs", state.c_str(), "tmpfs", 0, "size=64k,mode=0700") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here";
  fs::copy(saved, state, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  // Fill it up.
  run_process({"sh", "-c", "cat /dev/zero > " + state + "/filler 2>/dev/null; true"});
  auto r = b({"replace", repo_});
  fs::remove(state + "/filler");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(last_line(r.err),
            "baton: cannot write " + state + "/store.json: No space left on device\n");
  expect_nothing_lost();
  // With room again, the same replace goes through.
  auto again = b({"replace", repo_});
  EXPECT_EQ(again.status, 0) << again.err;
  expect_converged_with_work();
  baton_ok({"shutdown"});
  eventually([&] { return !process_exists(daemon_pid()); });
  umount2(state.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace baton::test
