// The orchestrator plugin through the real binaries, against real repositories and small
// fake agents (shell scripts that print their cwd and branch, ignore SIGHUP, or exit at once).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

TEST_F(OrchestratorE2E, UpStartsTheConfiguredAgentInItsWorktreeOnTheCanonicalBranch) {
  auto r = b({"up", repo_, "--detach"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "shop-1\n");
  const std::string screen = screen_of("shop-1");
  EXPECT_NE(screen.find("cwd=" + stable() + " branch=baton/shop-orchestrator session=shop-1"),
            std::string::npos)
      << screen;
  auto s = status();
  EXPECT_EQ(s["health"], "ok");
  EXPECT_EQ(s["configured_agent"], "ok");
  EXPECT_EQ(s["orchestrator"]["id"], "shop-1");
  EXPECT_EQ(s["orchestrator"]["branch"], "baton/shop-orchestrator");
  // A second up reuses it.
  EXPECT_EQ(b({"up", repo_, "--detach"}).out, "shop-1\n");
  // attach, capture and send take the project as TARGET and reach the newest active session.
  EXPECT_NE(capture(repo_).find("session=shop-1"), std::string::npos);
  // Without TARGET the current directory picks the project, even with a newer plain session.
  baton_ok({"new", "--name", "plain", "--", "sh", "-c", "echo PLAIN; sleep 100"}, opts());
  std::string here;
  EXPECT_TRUE(eventually([&] {
    here = baton_ok({"capture"}, opts());
    return here.find("session=shop-1") != std::string::npos;
  })) << here;
  // Outside any project it is the newest session; its echo may still be on its way.
  EXPECT_TRUE(eventually([&] {
    here = baton_ok({"capture"}, RunOptions{.cwd = tmp_});
    return here.find("PLAIN") != std::string::npos;
  })) << here;
  // `send .` inside the project reaches its orchestrator as `capture .` does (the agent
  // echoes nothing, but the terminal echoes what it is given).
  EXPECT_EQ(b({"send", ".", "sent-to-dot"}).status, 0);
  EXPECT_TRUE(eventually([&] { return capture(repo_).find("sent-to-dot") != std::string::npos; }))
      << capture(repo_);
}

TEST_F(OrchestratorE2E, ReplaceCarriesUncommittedWorkAndTheGitCliAgrees) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/app.txt", "v2 uncommitted\n");
  write(stable() + "/notes.md", "untracked work\n");
  auto r = b({"replace", repo_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = Json::parse(r.out);
  EXPECT_EQ(j["project"], "shop");
  EXPECT_EQ(j["session"]["id"], "shop-2");
  EXPECT_EQ(j["retired"], Json::array({"shop-1"}));
  ASSERT_EQ(j["preserved"].size(), 1u);
  EXPECT_EQ(j["preserved"][0]["ref"], "refs/baton/preserved/shop-1");
  EXPECT_FALSE(j["joined"].get<bool>());
  EXPECT_GE(j["gap_ms"].get<long>(), 0);
  // The gap split by step covers the whole gap, each step once.
  double steps_ms = 0;
  for (const char* step : {"stop", "preserve", "release", "persist", "adopt", "spawn"}) {
    ASSERT_TRUE(j["gap_steps_ms"].contains(step)) << j.dump();
    EXPECT_GE(j["gap_steps_ms"][step].get<double>(), 0.0);
    steps_ms += j["gap_steps_ms"][step].get<double>();
  }
  EXPECT_EQ(j["gap_steps_ms"].size(), 6u) << j.dump();
  EXPECT_NEAR(steps_ms, static_cast<double>(j["gap_ms"].get<long>()), 1.5) << j.dump();
  // The work is back, uncommitted, in the new orchestrator's tree at the same path.
  EXPECT_EQ(read_file(stable() + "/app.txt"), "v2 uncommitted\n");
  EXPECT_EQ(read_file(stable() + "/notes.md"), "untracked work\n");
  auto st = git({"status", "--porcelain"}, stable());
  EXPECT_EQ(st.out, " M app.txt\n?? notes.md\n");
  auto wl = git({"worktree", "list", "--porcelain"});
  std::size_t count = 0;
  for (std::size_t p = wl.out.find("branch refs/heads/baton/shop-orchestrator");
       p != std::string::npos; p = wl.out.find("branch refs/heads/baton/shop-orchestrator", p + 1))
    ++count;
  EXPECT_EQ(count, 1u) << wl.out;
  EXPECT_NE(wl.out.find("worktree " + stable() + "\n"), std::string::npos) << wl.out;
  // The old tree is deleted after the reply, then its session is retired.
  EXPECT_TRUE(eventually([&] { return session_state("shop-1") == "retired"; }))
      << session_state("shop-1");
  // The preserved commit is recorded on the old session and pinned by its ref.
  auto sessions = Json::parse(baton_ok({"sessions", repo_, "--all", "--json"}, opts()));
  bool found = false;
  for (const auto& s : sessions["sessions"]) {
    if (s["id"] == "shop-1") {
      found = true;
      EXPECT_EQ(s["state"], "retired");
      EXPECT_EQ(s["preserved_ref"], "refs/baton/preserved/shop-1");
      EXPECT_EQ(git({"rev-parse", "refs/baton/preserved/shop-1"}).out,
                s["preserved_commit"].get<std::string>() + "\n");
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(active_count(), 1);
  EXPECT_FALSE(fs::exists(home_ + "/worktrees/shop/.trash-shop-1"));
  EXPECT_NE(screen_of("shop-2").find("session=shop-2"), std::string::npos);
}

// Issue 15: nothing is deleted that is not carried. Each case puts into the running
// orchestrator's tree something a status scan of tracked and untracked files cannot commit,
// replaces it, and finds it whole in the new orchestrator's tree.
class CarryE2E : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    write(repo_ + "/.gitignore", ".env\nnode_modules/\n");
    git({"add", ".gitignore"});
    git({"commit", "-q", "-m", "ignore"});
  }

  // A submodule from a local repository, added and committed by the running orchestrator
  // in its own tree (its git dir then lives in that worktree's admin dir).
  void add_submodule() {
    const std::string lib = tmp_ + "/lib";
    fs::create_directories(lib);
    git({"init", "-q", "-b", "main"}, lib);
    write(lib + "/lib.txt", "lib v1\n");
    git({"add", "."}, lib);
    git({"commit", "-q", "-m", "lib"}, lib);
    auto add =
        git({"-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "sub"}, stable());
    ASSERT_EQ(add.status, 0) << add.err;
    ASSERT_EQ(git({"commit", "-q", "-m", "sub"}, stable()).status, 0);
  }

  RunResult replace() {
    auto r = b({"replace", repo_, "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(active_count(), 1);
    // Deleted after the reply: what was not carried would be gone with it.
    EXPECT_TRUE(eventually([&] { return !fs::exists(home_ + "/worktrees/shop/.trash-shop-1"); }));
    return r;
  }
};

TEST_F(CarryE2E, AReplaceCarriesADirtySubmodule) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  add_submodule();
  write(stable() + "/sub/lib.txt", "lib edited\n");
  replace();
  EXPECT_EQ(read_file(stable() + "/sub/lib.txt"), "lib edited\n");
  EXPECT_EQ(git({"status", "--porcelain"}, stable() + "/sub").out, " M lib.txt\n");
  EXPECT_EQ(git({"status", "--porcelain"}, stable()).out, " M sub\n");
}

TEST_F(CarryE2E, AReplaceCarriesANewFileInASubmodule) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  add_submodule();
  write(stable() + "/sub/new.txt", "new in sub\n");
  replace();
  EXPECT_EQ(read_file(stable() + "/sub/new.txt"), "new in sub\n");
  EXPECT_EQ(git({"status", "--porcelain"}, stable() + "/sub").out, "?? new.txt\n");
}

TEST_F(CarryE2E, SubmodulesAreInitializedAsInTheUsersCheckoutAndCarriedDirty) {
  // The user's own checkout has the submodule initialized; the orchestrator's tree gets it too.
  const std::string lib = tmp_ + "/lib";
  fs::create_directories(lib);
  git({"init", "-q", "-b", "main"}, lib);
  write(lib + "/lib.txt", "lib v1\n");
  git({"add", "."}, lib);
  git({"commit", "-q", "-m", "lib"}, lib);
  ASSERT_EQ(git({"-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "sub"}).status,
            0);
  ASSERT_EQ(git({"commit", "-q", "-m", "sub"}).status, 0);
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  EXPECT_EQ(read_file(stable() + "/sub/lib.txt"), "lib v1\n");
  EXPECT_EQ(git({"status", "--porcelain"}, stable()).out, "");
  write(stable() + "/sub/lib.txt", "lib edited\n");
  replace();
  EXPECT_EQ(read_file(stable() + "/sub/lib.txt"), "lib edited\n");
  EXPECT_EQ(git({"status", "--porcelain"}, stable() + "/sub").out, " M lib.txt\n");
  EXPECT_EQ(git({"status", "--porcelain"}, stable()).out, " M sub\n");
  // The copy the prepare made went with the old tree; nothing of it is left behind.
  EXPECT_EQ(git({"worktree", "list", "--porcelain"}).out.find("prunable"), std::string::npos);
}

TEST_F(CarryE2E, AReplaceCarriesAnUntrackedNestedRepository) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const std::string tool = stable() + "/vendor/tool";
  fs::create_directories(tool);
  git({"init", "-q", "-b", "main"}, tool);
  write(tool + "/tool.txt", "committed\n");
  git({"add", "."}, tool);
  git({"commit", "-q", "-m", "tool"}, tool);
  write(tool + "/wip.txt", "not committed\n");
  auto r = replace();
  EXPECT_EQ(r.err.find("not preserved"), std::string::npos) << r.err;
  EXPECT_EQ(git({"log", "--format=%s"}, tool).out, "tool\n");
  EXPECT_EQ(read_file(tool + "/wip.txt"), "not committed\n");
  EXPECT_EQ(git({"status", "--porcelain"}, tool).out, "?? wip.txt\n");
}

TEST_F(CarryE2E, AReplaceCarriesAnIgnoredEnvFile) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/.env", "TOKEN=secret\n");
  replace();
  EXPECT_EQ(read_file(stable() + "/.env"), "TOKEN=secret\n");
  EXPECT_EQ(git({"status", "--porcelain", "--ignored"}, stable()).out, "!! .env\n");
}

TEST_F(CarryE2E, AReplaceCarriesAnIgnoredNodeModulesDirectoryByRenameNotCopy) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const std::string file = stable() + "/node_modules/left-pad/index.js";
  fs::create_directories(fs::path(file).parent_path());
  write(file, "module.exports = pad;\n");
  struct stat before {};
  ASSERT_EQ(lstat(file.c_str(), &before), 0);
  replace();
  EXPECT_EQ(read_file(file), "module.exports = pad;\n");
  // The same inode: moved inside the gap, never copied (the gap does not grow with it).
  struct stat after {};
  ASSERT_EQ(lstat(file.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(git({"status", "--porcelain", "--ignored"}, stable()).out, "!! node_modules/\n");
}

TEST_F(CarryE2E, AReplaceKeepsAPartialStagingAndAStagedNewFile) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/app.txt", "v2 staged\n");
  git({"add", "app.txt"}, stable());
  write(stable() + "/app.txt", "v3 changed after staging\n");
  write(stable() + "/added.txt", "new and staged\n");
  git({"add", "added.txt"}, stable());
  ASSERT_EQ(git({"status", "--porcelain"}, stable()).out, "A  added.txt\nMM app.txt\n");
  replace();
  EXPECT_EQ(git({"status", "--porcelain"}, stable()).out, "A  added.txt\nMM app.txt\n");
  EXPECT_EQ(git({"show", ":app.txt"}, stable()).out, "v2 staged\n");
  EXPECT_EQ(read_file(stable() + "/app.txt"), "v3 changed after staging\n");
  EXPECT_EQ(git({"show", ":added.txt"}, stable()).out, "new and staged\n");
}

// `down` starts no new tree: what no commit holds is kept whole beside it, never deleted.
TEST_F(CarryE2E, DownKeepsIgnoredFilesAndNestedRepositoriesWholeAndListed) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/.env", "TOKEN=secret\n");
  const std::string tool = stable() + "/vendor/tool";
  fs::create_directories(tool);
  git({"init", "-q", "-b", "main"}, tool);
  write(tool + "/tool.txt", "committed\n");
  git({"add", "."}, tool);
  git({"commit", "-q", "-m", "tool"}, tool);
  write(tool + "/wip.txt", "not committed\n");
  auto r = b({"down", repo_});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string kept = home_ + "/worktrees/shop/.kept-shop-1";
  EXPECT_TRUE(eventually([&] { return !fs::exists(home_ + "/worktrees/shop/.trash-shop-1"); }));
  EXPECT_EQ(read_file(kept + "/.env"), "TOKEN=secret\n");
  EXPECT_EQ(read_file(kept + "/vendor/tool/wip.txt"), "not committed\n");
  EXPECT_EQ(git({"log", "--format=%s"}, kept + "/vendor/tool").out, "tool\n");
  const std::string ls = baton_ok({"preserved", repo_, "ls"}, opts());
  EXPECT_NE(ls.find("kept in " + kept), std::string::npos) << ls;
  EXPECT_NE(ls.find(".env"), std::string::npos) << ls;
}

TEST_F(CarryE2E, WhatTheNewTreeHasItsOwnOfIsKeptWholeAndListed) {
  // The new tree makes its own .env (a post_create command), so the old one has no place.
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[workspace]\npost_create = [\"echo fresh > .env\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/.env", "TOKEN=old\n");
  auto r = b({"replace", repo_});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string kept = home_ + "/worktrees/shop/.kept-shop-1";
  EXPECT_NE(r.err.find("kept .env (the new tree has its own) in " + kept), std::string::npos)
      << r.err;
  EXPECT_EQ(read_file(kept + "/.env"), "TOKEN=old\n");
  EXPECT_EQ(read_file(stable() + "/.env"), "fresh\n");
  EXPECT_TRUE(eventually([&] { return !fs::exists(home_ + "/worktrees/shop/.trash-shop-1"); }));
  const std::string ls = baton_ok({"preserved", repo_, "ls"}, opts());
  EXPECT_NE(ls.find("kept in " + kept + ": .env"), std::string::npos) << ls;
  // The same bytes on both sides are nothing to keep.
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  EXPECT_FALSE(fs::exists(home_ + "/worktrees/shop/.kept-shop-2"));
}

TEST_F(CarryE2E, AReplaceThatCannotCarrySomethingKeepsTheOldTreeAndFails) {
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[workspace]\npost_create = [\"echo fresh > .env\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/.env", "TOKEN=old\n");
  // Nowhere to keep it either: a file where the kept directory would go.
  const std::string blocker = home_ + "/worktrees/shop/.kept-shop-1";
  write(blocker, "in the way\n");
  // The tree is kept by the deletion after the reply: `--wait` waits for it and fails.
  auto r = b({"replace", repo_, "--wait"});
  EXPECT_EQ(r.status, 1) << r.err;
  const std::string trash = home_ + "/worktrees/shop/.trash-shop-1";
  EXPECT_EQ(last_line(r.err),
            "baton: kept " + trash +
                ": it holds .env, which the new tree could not take; move them where you want "
                "them (or delete them), then run 'baton replace'\n")
      << r.err;
  EXPECT_EQ(read_file(trash + "/.env"), "TOKEN=old\n");
  EXPECT_EQ(active_count(), 1);
  EXPECT_EQ(status()["health"], "stuck");
  // With the way cleared, the next replace finishes it and nothing was lost.
  fs::remove(blocker);
  auto again = b({"replace", repo_, "--wait"});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_FALSE(fs::exists(trash));
  EXPECT_EQ(read_file(blocker + "/.env"), "TOKEN=old\n");
  EXPECT_EQ(status()["health"], "ok");
}

TEST_F(OrchestratorE2E, PreflightFailuresLeaveTheOldOrchestratorRunning) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const long pid = status()["orchestrator"]["pid"].get<long>();

  auto unknown = b({"replace", repo_, "--agent", "nosuch"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.err.find("agent 'nosuch' is not defined"), std::string::npos) << unknown.err;

  config("[orchestrator]\nagent = \"gone\"\n[agents.gone]\ncommand = [\"no-such-binary\"]\n");
  baton_ok({"allow", repo_});
  auto missing = b({"replace", repo_});
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err, "baton: agent 'gone' runs 'no-such-binary', which is not on PATH\n");

  config("[orchestrator\nagent = \"ok\"\n");
  auto bad = b({"replace", repo_});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find(repo_ + "/baton.toml:1:"), std::string::npos) << bad.err;
  EXPECT_NE(status()["error"].get<std::string>().find("baton.toml:1:"), std::string::npos);

  auto s = status();
  EXPECT_EQ(s["orchestrator"]["pid"].get<long>(), pid);
  EXPECT_EQ(s["orchestrator"]["state"], "active");
  EXPECT_TRUE(process_exists(static_cast<pid_t>(pid)));
  EXPECT_EQ(active_count(), 1);
}

TEST_F(OrchestratorE2E, AnUnallowedConfigRunsNothing) {
  config(
      "[orchestrator]\nagent = \"ok\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[hooks]\nbefore_spawn = \"touch " +
      tmp_ + "/hook-ran\"\n");
  auto r = b({"up", repo_, "--detach"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "baton: the settings [agents.ok] command, [hooks] before_spawn, "
            "[orchestrator] agent in " +
                repo_ + "/baton.toml are not allowed yet: review them, then run 'baton allow " +
                repo_ + "'\n");
  EXPECT_FALSE(fs::exists(tmp_ + "/hook-ran"));
  EXPECT_FALSE(fs::exists(stable()));
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  EXPECT_TRUE(fs::exists(tmp_ + "/hook-ran"));
}

TEST_F(OrchestratorE2E, ConcurrentReplacesMakeOneHandoff) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  std::vector<std::thread> threads;
  std::vector<RunResult> results(10);
  threads.reserve(results.size());
  for (int i = 0; i < 10; ++i)
    threads.emplace_back([&, i] { results[i] = b({"replace", repo_, "--json"}); });
  for (auto& t : threads) t.join();
  std::set<std::string> sessions;
  int joined = 0;
  for (auto& r : results) {
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = Json::parse(r.out);
    sessions.insert(j["session"]["id"].get<std::string>());
    joined += j["joined"].get<bool>();
  }
  // Requests that arrive after one handoff ended start the next; never two at once.
  EXPECT_GE(joined, 1);
  EXPECT_EQ(active_count(), 1);
  EXPECT_EQ(status()["health"], "ok");
}

// A terminal attached to the project when the daemon is killed mid-handoff: the client starts
// the next daemon, waits while it converges (no orchestrator runs meanwhile), and shows the
// orchestrator that comes out of it.
TEST_F(OrchestratorE2E, AnAttachedTerminalFollowsTheProjectThroughADaemonKilledMidHandoff) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const std::string out = tmp_ + "/attach.out";
  const std::string err = tmp_ + "/attach.err";
  const pid_t client = attach_in_background(repo_, out, err, opts());
  ASSERT_TRUE(eventually([&] {
    return read_file(out).find("session=shop-1") != std::string::npos;
  })) << read_file(out)
      << read_file(err);
  const pid_t daemon = daemon_pid();
  auto o = opts();
  o.env["BATON_FAULT"] = "retire.stopped:kill";
  EXPECT_NE(baton({"replace", repo_}, o).status, 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
  std::string id;
  EXPECT_TRUE(eventually(
      [&] {
        const Json s = status();
        if (s["health"] != "ok" || !s["orchestrator"].is_object()) return false;
        id = s["orchestrator"]["id"].get<std::string>();
        return id != "shop-1" && read_file(out).find("session=" + id) != std::string::npos;
      },
      20000))
      << id << "\n"
      << read_file(out) << read_file(err);
  EXPECT_EQ(exit_of(client), -1) << read_file(err);
  kill(client, SIGTERM);
  EXPECT_TRUE(eventually([&] { return exit_of(client) >= 0; }));
}

TEST_F(OrchestratorE2E, AFailedLaunchBringsThePreviousAgentBack) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto r = b({"replace", repo_, "--agent", "fail", "--wait"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(
      r.err.find("fail exited with status 1 within 1 s (agent-fail: no network); relaunched ok"),
      std::string::npos)
      << r.err;
  Json s;
  ASSERT_TRUE(eventually([&] {
    s = status();
    return s["health"] == "restart_needed" && s["orchestrator"]["agent"] == "ok";
  })) << s.dump();
  EXPECT_EQ(s["active_count"], 1);
  EXPECT_NE(s["error"].get<std::string>().find("relaunched ok"), std::string::npos);
}

// Issue 15: the launch-grace watch ended with the grace; a later crash of the new agent is a
// crash (relaunched with its resume command), not a failed launch that brings back the old one.
TEST_F(OrchestratorE2E, ACrashAfterTheLaunchGraceRelaunchesTheNewAgentNotThePreviousOne) {
  agent("agent-b", "echo \"AGENT-B $*\"; while :; do sleep 1; done\n");
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[agents.b]\ncommand = [\"agent-b\"]\nresume = [\"agent-b\", \"resume\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto r = b({"replace", repo_, "--agent", "b", "--wait"});
  ASSERT_EQ(r.status, 0) << r.err;
  const long pid = status()["orchestrator"]["pid"].get<long>();
  ASSERT_EQ(kill(static_cast<pid_t>(pid), SIGKILL), 0);
  Json s;
  ASSERT_TRUE(runs_again(pid, s)) << s.dump();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-2") << s.dump();
  EXPECT_EQ(s["orchestrator"]["agent"], "b") << s.dump();
  EXPECT_TRUE(s["error"].is_null()) << s.dump();
  EXPECT_EQ(s["active_count"], 1);
  EXPECT_TRUE(eventually([&] {
    return capture("shop-2").find("AGENT-B resume") != std::string::npos;
  })) << capture("shop-2");
}

// Nothing the handoff registered acts during `baton shutdown`: the new agent, stopped inside its
// grace, is no failed launch; it comes back with the daemon, which leaves at once.
TEST_F(OrchestratorE2E, AShutdownInsideTheLaunchGraceFallsBackToNothing) {
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"60s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[agents.other]\ncommand = [\"agent-ok\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(b({"replace", repo_, "--agent", "other"}).status, 0);
  const pid_t daemon = daemon_pid();
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_EQ(b({"shutdown"}).status, 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }, 30000));
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(20))
      << "the grace timer kept the daemon alive";
  Json s;
  EXPECT_TRUE(eventually([&] {
    s = status();
    return s["orchestrator"]["state"] == "active" && s["health"] != "replacing";
  })) << s.dump();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-2") << s.dump();
  EXPECT_EQ(s["orchestrator"]["agent"], "other") << s.dump();
  EXPECT_TRUE(s["error"].is_null()) << s.dump();
  EXPECT_EQ(s["active_count"], 1);
}

// Issue 15: "newest" has one order everywhere (created_at, updated_at, then the id's number):
// start-up recovery of two actives and the fallback after a failed launch pick by it, never by
// the store's id order (shop-9 sorts after shop-10) or by created_at alone.
TEST_F(OrchestratorE2E, RecoveryAndFallbackPickTheNewestByOneOrderAmongTenSessions) {
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[agents.other]\ncommand = [\"agent-ok\"]\n"
      "[agents.fail]\ncommand = [\"agent-fail\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  for (int i = 2; i <= 9; ++i) ASSERT_EQ(b({"replace", repo_}).status, 0) << i;
  ASSERT_EQ(b({"replace", repo_, "--agent", "other"}).status, 0);
  ASSERT_EQ(status()["orchestrator"]["id"], "shop-10");
  const std::string store_path = home_ + "/state/store.json";
  // The daemon is killed and the store edited: first shop-9 active beside shop-10 (a
  // duplicate), then every session created in the same millisecond (a clock step).
  auto edit_store = [&](const std::function<void(Json&)>& edit) {
    const pid_t daemon = daemon_pid();
    kill(daemon, SIGKILL);
    ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
    auto store = Json::parse(read_file(store_path));
    edit(store["sessions"]);
    write(store_path, store.dump());
  };
  edit_store([](Json& sessions) {
    sessions["shop-9"]["state"] = "active";
    sessions["shop-9"]["restore_marker"] = true;
  });
  // Recovery finishes the duplicate with the newest active's agent: shop-10's.
  Json s;
  ASSERT_TRUE(eventually(
      [&] {
        s = status();
        return s["health"] != "replacing" && s["orchestrator"]["id"] == "shop-11";
      },
      20000))
      << s.dump();
  EXPECT_EQ(s["orchestrator"]["agent"], "other") << s.dump();
  EXPECT_EQ(s["active_count"], 1);
  edit_store([](Json& sessions) {
    for (auto& [id, rec] : sessions.items()) rec["created_at"] = "2026-01-01T00:00:00.000Z";
  });
  ASSERT_TRUE(eventually([&] {
    s = status();
    return s["orchestrator"]["state"] == "active" && s["health"] != "replacing";
  })) << s.dump();
  // A failed launch falls back to the newest retired: shop-11 (other), not shop-1 (ok), which
  // comes first in the store among sessions created in the same millisecond.
  auto r = b({"replace", repo_, "--agent", "fail", "--wait"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("relaunched other"), std::string::npos) << r.err;
  ASSERT_TRUE(eventually([&] {
    s = status();
    return s["health"] != "replacing" && s["orchestrator"]["state"] == "active";
  })) << s.dump();
  EXPECT_EQ(s["orchestrator"]["agent"], "other") << s.dump();
}

// Issue 15: a launch writes claude's settings and reads and rewrites ~/.claude.json off the
// loop. A config file that blocks (here a FIFO nobody writes yet) holds up that launch only:
// the daemon goes on answering, and the launch finishes once the file can be read.
TEST_F(OrchestratorE2E, ALaunchThatBlocksOnClaudesConfigLeavesTheDaemonAnswering) {
  config(
      "[orchestrator]\nagent = \"claude-code\"\n"
      "[agents.claude-code]\ncommand = [\"agent-ok\"]\n");
  baton_ok({"allow", repo_});
  const std::string claude_dir = tmp_ + "/claude";
  fs::create_directories(claude_dir);
  const std::string claude_json = claude_dir + "/.claude.json";
  ASSERT_EQ(mkfifo(claude_json.c_str(), 0600), 0);
  auto o = opts();
  o.env["CLAUDE_CONFIG_DIR"] = claude_dir;
  RunResult up;
  std::thread starter([&] { up = baton({"up", repo_, "--detach"}, o); });
  // The daemon holds the FIFO open for reading: the launch is waiting on it.
  int fd = -1;
  const bool is_reading = eventually([&] {
    fd = open(claude_json.c_str(), O_WRONLY | O_NONBLOCK);
    return fd >= 0;
  });
  EXPECT_TRUE(is_reading);
  RunOptions quick = opts();
  quick.timeout_ms = 5000;
  auto st = baton({"status", repo_, "--json"}, quick);
  EXPECT_EQ(st.status, 0) << "the daemon did not answer while a launch read a file: " << st.err;
  if (st.status == 0) {
    EXPECT_EQ(Json::parse(st.out)["health"], "replacing") << st.out;
  }
  if (fd >= 0) {
    const std::string text = "{}";
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
  }
  starter.join();
  ASSERT_EQ(up.status, 0) << up.err;
  EXPECT_NE(read_file(claude_json).find(stable()), std::string::npos) << read_file(claude_json);
  EXPECT_EQ(status()["health"], "ok");
}

// Issue 15: a failure after the old agent stopped, where not even the previous agent can be
// started again, is `stuck` with an error that says what to run; the next replace finishes it.
TEST_F(OrchestratorE2E, AFailurePastTheStopWithNoAgentToStartIsStuckAndSaysWhatToRun) {
  agent("agent-other", "echo OTHER; while :; do sleep 1; done\n");
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[agents.other]\ncommand = [\"agent-other\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  // The previous agent's program goes away, then the handoff fails after the stop.
  fs::rename(bin_ + "/agent-ok", tmp_ + "/agent-ok");
  auto o = opts();
  o.env["BATON_FAULT"] = "adopt.moved:fail";
  auto r = baton({"replace", repo_, "--agent", "other"}, o);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("which failed too"), std::string::npos) << r.err;
  auto s = status();
  EXPECT_EQ(s["health"], "stuck") << s.dump();
  ASSERT_TRUE(s["error"].is_string()) << s.dump();
  const std::string error = s["error"];
  EXPECT_NE(error.find("adopt.moved"), std::string::npos) << error;
  EXPECT_NE(error.find("then run 'baton replace'"), std::string::npos) << error;
  fs::rename(tmp_ + "/agent-ok", bin_ + "/agent-ok");
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  std::string problem;
  EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
      << problem;
}

TEST_F(OrchestratorE2E, AConfigEditToAnotherAgentShowsRestartNeeded) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  EXPECT_EQ(status()["health"], "ok");
  config(
      "[orchestrator]\nagent = \"stubborn\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[agents.stubborn]\ncommand = [\"agent-stubborn\"]\n");
  baton_ok({"allow", repo_});
  EXPECT_TRUE(eventually([&] { return status()["health"] == "restart_needed"; }))
      << status().dump();
}

TEST_F(OrchestratorE2E, TheProjectListNeverShowsEnvValues) {
  config(
      "[orchestrator]\nagent = \"ok\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[env]\nGITHUB_TOKEN = \"${SECRET_FOR_TEST}\"\n");
  baton_ok({"allow", repo_});
  auto o = opts();
  o.env["SECRET_FOR_TEST"] = "s3cr3t-value";
  ASSERT_EQ(baton({"up", repo_, "--detach"}, o).status, 0);
  const std::string ls = baton_ok({"ls", "--json"}, o);
  EXPECT_EQ(ls.find("s3cr3t-value"), std::string::npos) << ls;
  EXPECT_EQ(ls.find("GITHUB_TOKEN"), std::string::npos) << ls;
  const auto j = Json::parse(ls);
  ASSERT_EQ(j["projects"].size(), 1u);
  EXPECT_EQ(j["projects"][0]["id"], "shop");
  EXPECT_EQ(j["projects"][0]["health"], "ok");
  EXPECT_EQ(j["projects"][0]["orchestrator_agent"], "ok");
  const std::string st = baton_ok({"status", repo_, "--json"}, o);
  EXPECT_EQ(st.find("s3cr3t-value"), std::string::npos);
  const std::string check = baton_ok({"config", "check", repo_}, o);
  EXPECT_EQ(check.find("s3cr3t-value"), std::string::npos) << check;
}

TEST_F(OrchestratorE2E, AStuckTrashIsFinishedByTheNextReplace) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/locked.txt", "immutable\n");
  if (run_process({"chattr", "+i", stable() + "/locked.txt"}).status != 0)
    GTEST_SKIP() << "chattr +i is not supported on this filesystem";
  const std::string locked = home_ + "/worktrees/shop/.trash-shop-1/locked.txt";
  // Whatever fails below, the temp dir must stay deletable.
  struct Unlock {
    std::string path;
    ~Unlock() { run_process({"chattr", "-i", path}); }
  } unlock{locked};
  // The deletion after the reply fails: `--wait` waits for it. The file stays immutable until
  // `status` was seen stuck: the daemon retries the cleanup 1 s later, and a slow test that
  // made the file deletable in between would see `ok`.
  auto r = b({"replace", repo_, "--wait"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("locked.txt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.err;
  auto s = status();
  EXPECT_EQ(s["health"], "stuck");
  EXPECT_EQ(s["active_count"], 1);
  // Fixed by the user, then replaced again.
  run_process({"chattr", "-i", locked});
  auto again = b({"replace", repo_, "--wait"});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(status()["health"], "ok");
  EXPECT_EQ(active_count(), 1);
  EXPECT_FALSE(fs::exists(home_ + "/worktrees/shop/.trash-shop-1"));
  // The untracked file was preserved and carried over.
  EXPECT_EQ(read_file(stable() + "/locked.txt"), "immutable\n");
}

// Issue 15: a stuck cleanup is the daemon's to retry, with back-off, without a handoff of the
// healthy new orchestrator; `replace` still works meanwhile, and health is `ok` once it worked.
TEST_F(OrchestratorE2E, AStuckCleanupIsRetriedWithoutReplacingTheHealthyOrchestrator) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/locked.txt", "immutable\n");
  if (run_process({"chattr", "+i", stable() + "/locked.txt"}).status != 0)
    GTEST_SKIP() << "chattr +i is not supported on this filesystem";
  const std::string locked = home_ + "/worktrees/shop/.trash-shop-1/locked.txt";
  auto r = b({"replace", repo_, "--wait"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(status()["health"], "stuck");
  // While it is stuck, a replace hands the branch over and says the cleanup is still stuck
  // (`--wait`: the note comes from the deletion after the reply).
  auto again = b({"replace", repo_, "--wait", "--json"});
  EXPECT_EQ(again.status, 0) << again.err;
  if (again.status == 0) {
    EXPECT_NE(again.out.find("cleanup of shop-1 is still stuck"), std::string::npos) << again.out;
  }
  auto s = status();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-3") << s.dump();
  EXPECT_EQ(s["health"], "stuck") << s.dump();
  const long pid = s["orchestrator"]["pid"].get<long>();
  // The user fixes the file; the daemon finishes the cleanup itself (ls does not retry it).
  run_process({"chattr", "-i", locked});
  auto ls_health = [&] {
    return nlohmann::json::parse(baton_ok({"ls", "--json"}))["projects"][0]["health"];
  };
  EXPECT_TRUE(eventually([&] { return ls_health() == "ok"; }, 20000)) << ls_health();
  EXPECT_FALSE(fs::exists(home_ + "/worktrees/shop/.trash-shop-1"));
  s = status();
  EXPECT_EQ(s["orchestrator"]["pid"].get<long>(), pid) << "the healthy orchestrator was replaced";
  EXPECT_TRUE(s["error"].is_null()) << s.dump();
  EXPECT_EQ(read_file(stable() + "/locked.txt"), "immutable\n");
}

// `status` tries a stuck cleanup once more before it answers.
TEST_F(OrchestratorE2E, StatusRetriesAStuckCleanupBeforeItAnswers) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/locked.txt", "immutable\n");
  if (run_process({"chattr", "+i", stable() + "/locked.txt"}).status != 0)
    GTEST_SKIP() << "chattr +i is not supported on this filesystem";
  const std::string locked = home_ + "/worktrees/shop/.trash-shop-1/locked.txt";
  // `--wait` answers once the deletion after the reply failed and the grace is over: a short
  // grace, so that is long before the daemon's own first retry (1 s after the failure),
  // which `status` could otherwise meet in flight.
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"100ms\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n");
  baton_ok({"allow", repo_});
  EXPECT_EQ(b({"replace", repo_, "--wait"}).status, 1);
  EXPECT_EQ(status()["health"], "stuck");
  run_process({"chattr", "-i", locked});
  EXPECT_EQ(status()["health"], "ok");
}

// Issue 21: `replace` answers once the new agent runs; the old tree is deleted after that, in
// the background. These hold that deletion at its start (the trash.deleting fault point,
// paused until a file exists) to look at the project while it runs.
class BackgroundDeletionE2E : public OrchestratorE2E {
 protected:
  RunOptions paused() {
    auto o = opts();
    o.env["BATON_FAULT"] = "trash.deleting:pause";
    o.env["BATON_FAULT_RELEASE"] = release_path();
    return o;
  }
  std::string release_path() { return tmp_ + "/release-deletion"; }
  void release() { write(release_path(), "go\n"); }
  std::string trash() { return home_ + "/worktrees/shop/.trash-shop-1"; }
};

TEST_F(BackgroundDeletionE2E, ReplaceAnswersOnceTheNewAgentRunsBeforeTheOldTreeIsDeleted) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto r = baton({"replace", repo_}, paused());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "shop-2\n");
  auto s = status();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-2");
  EXPECT_TRUE(process_exists(static_cast<pid_t>(s["orchestrator"]["pid"].get<long>())));
  // The new agent runs: the project is not `replacing` while its old tree waits.
  EXPECT_EQ(s["health"], "ok") << s.dump();
  EXPECT_TRUE(fs::exists(trash()));
  EXPECT_EQ(session_state("shop-1"), "retiring");
  release();
  EXPECT_TRUE(eventually([&] { return session_state("shop-1") == "retired"; }))
      << session_state("shop-1");
  EXPECT_FALSE(fs::exists(trash()));
  std::string problem;
  EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
      << problem;
}

TEST_F(BackgroundDeletionE2E, ReplaceWaitAlsoWaitsForTheOldTreesDeletion) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  std::atomic<bool> is_answered{false};
  RunResult r;
  std::thread waiting([&] {
    r = baton({"replace", repo_, "--wait"}, paused());
    is_answered = true;
  });
  // Past the launch grace (1 s), the deletion still holds it.
  EXPECT_TRUE(eventually([&] { return status()["orchestrator"]["id"] == "shop-2"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_FALSE(is_answered);
  release();
  waiting.join();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(trash()));
  EXPECT_EQ(session_state("shop-1"), "retired");
}

// The deletion and the sweep after it touch the .trash-* trees and the admin entries a
// retire makes: a replace pressed meanwhile waits for them, then hands over as usual.
TEST_F(BackgroundDeletionE2E, AReplaceDuringTheDeletionWaitsForItAndThenHandsOver) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(baton({"replace", repo_}, paused()).status, 0);
  std::atomic<bool> is_answered{false};
  RunResult again;
  std::thread second([&] {
    again = b({"replace", repo_, "--progress"});
    is_answered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_FALSE(is_answered);
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-2");
  EXPECT_EQ(session_state("shop-3"), "");
  release();
  second.join();
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, "shop-3\n");
  EXPECT_NE(again.err.find("waiting for the previous handoff"), std::string::npos) << again.err;
  EXPECT_FALSE(fs::exists(trash()));
  std::string problem;
  EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
      << problem;
  EXPECT_TRUE(eventually([&] { return session_state("shop-2") == "retired"; }))
      << session_state("shop-2");
}

// Past its launch grace the new agent is an orchestrator like any other, deletion or not.
TEST_F(BackgroundDeletionE2E, ACrashAfterTheGraceIsRelaunchedWhileTheOldTreeIsDeleted) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(baton({"replace", repo_}, paused()).status, 0);
  const long pid = status()["orchestrator"]["pid"].get<long>();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(static_cast<pid_t>(pid), SIGKILL);
  EXPECT_TRUE(eventually(
      [&] {
        auto s = status();
        return s["orchestrator"]["id"] == "shop-2" && s["orchestrator"]["state"] == "active" &&
               s["orchestrator"]["pid"].get<long>() != pid;
      },
      10000))
      << status().dump();
  EXPECT_TRUE(fs::exists(trash()));
  release();
  std::string problem;
  EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
      << problem;
}

// The orchestrator runs while its predecessor's tree is deleted: `up` says so at once.
TEST_F(BackgroundDeletionE2E, AnUpDuringTheDeletionAnswersAtOnceThatTheOrchestratorRuns) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(baton({"replace", repo_}, paused()).status, 0);
  auto o = opts();
  o.timeout_ms = 10000;
  auto r = baton({"up", repo_, "--detach"}, o);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "shop-2\n");
  EXPECT_TRUE(fs::exists(trash()));
  release();
  std::string problem;
  EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
      << problem;
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-2");
}

// A new agent that dies within its grace while the old tree is deleted: the previous agent
// comes back, but only once the deletion ended (the two never work on the trees together).
TEST_F(BackgroundDeletionE2E, AFallbackDuringTheDeletionStartsOnceTheDeletionEnded) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto r = baton({"replace", repo_, "--agent", "fail"}, paused());
  EXPECT_EQ(r.status, 0) << r.err;
  // Dead within its grace; the fallback waits for the deletion.
  EXPECT_TRUE(eventually([&] { return session_state("shop-2") == "exited"; }))
      << session_state("shop-2");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(session_state("shop-3"), "");
  EXPECT_TRUE(fs::exists(trash()));
  release();
  Json s;
  EXPECT_TRUE(eventually([&] {
    s = status();
    return s["orchestrator"]["agent"] == "ok" && s["orchestrator"]["state"] == "active" &&
           s["health"] == "restart_needed";
  })) << s.dump();
  EXPECT_NE(s["error"].get<std::string>().find("relaunched ok"), std::string::npos) << s.dump();
  EXPECT_EQ(active_count(), 1);
  EXPECT_FALSE(fs::exists(trash()));
}

// A deletion that fails after the reply: the replace succeeded, health says `stuck`, and the
// daemon retries the cleanup as after any stuck one.
TEST_F(OrchestratorE2E, AStuckDeletionAfterTheReplyLeavesTheReplaceSucceededAndIsRetried) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/locked.txt", "immutable\n");
  if (run_process({"chattr", "+i", stable() + "/locked.txt"}).status != 0)
    GTEST_SKIP() << "chattr +i is not supported on this filesystem";
  const std::string locked = home_ + "/worktrees/shop/.trash-shop-1/locked.txt";
  auto r = b({"replace", repo_});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "shop-2\n");
  EXPECT_TRUE(eventually([&] { return status()["health"] == "stuck"; })) << status().dump();
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-2");
  EXPECT_TRUE(fs::exists(locked));
  run_process({"chattr", "-i", locked});
  auto ls_health = [&] {
    return nlohmann::json::parse(baton_ok({"ls", "--json"}))["projects"][0]["health"];
  };
  EXPECT_TRUE(eventually([&] { return ls_health() == "ok"; }, 20000)) << ls_health();
  EXPECT_FALSE(fs::exists(home_ + "/worktrees/shop/.trash-shop-1"));
}

TEST_F(OrchestratorE2E, DownRetiresForGoodAndPreserves) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/wip.txt", "wip\n");
  auto r = b({"down", repo_});
  ASSERT_EQ(r.status, 0) << r.err;
  auto s = status();
  EXPECT_EQ(s["health"], "missing");
  EXPECT_EQ(s["active_count"], 0);
  EXPECT_FALSE(fs::exists(stable()));
  EXPECT_EQ(git({"show", "refs/baton/preserved/shop-1:wip.txt"}).out, "wip\n");
}

TEST_F(OrchestratorE2E, ARestartedDaemonAdoptsTheOrchestratorItsHolderKeptRunning) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const Json before = status();
  const long old_pid = before["orchestrator"]["pid"].get<long>();
  const pid_t daemon = daemon_pid();
  kill(daemon, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
  EXPECT_TRUE(process_exists(static_cast<pid_t>(old_pid)));
  // The same session, not a new one: same id, same pid, still active, never relaunched.
  const Json s = status();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-1");
  EXPECT_EQ(s["orchestrator"]["pid"].get<long>(), old_pid);
  EXPECT_EQ(s["orchestrator"]["state"], "active");
  EXPECT_EQ(s["active_count"], 1);
  // Recovery still looks at the worktree (stale locks) and then leaves the agent as it is.
  Json settled;
  EXPECT_TRUE(eventually([&] {
    settled = status();
    return settled["health"] == "ok";
  })) << settled.dump();
  EXPECT_EQ(settled["orchestrator"]["pid"].get<long>(), old_pid);
  auto list = Json::parse(baton_ok({"sessions", "--json"}, opts()));
  ASSERT_EQ(list["sessions"].size(), 1u);
  EXPECT_TRUE(list["sessions"][0]["adopted"].get<bool>());
  EXPECT_EQ(read_file(home_ + "/logs/daemon.log").find("restored orchestrator"), std::string::npos);
}

TEST_F(OrchestratorE2E, AReplaceAfterAnAdoptionHandsOverTheSameBranchWithNothingLost) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const Json before = status();
  const long old_pid = before["orchestrator"]["pid"].get<long>();
  const std::string tree = before["orchestrator"]["worktree"].get<std::string>();
  const std::map<std::string, std::string> work = {{"notes.txt", "written before the kill\n"}};
  for (const auto& [f, content] : work) std::ofstream(tree + "/" + f) << content;
  const pid_t daemon = daemon_pid();
  kill(daemon, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
  auto r = b({"replace", repo_, "--now"});
  ASSERT_EQ(r.status, 0) << r.err << read_file(home_ + "/logs/daemon.log");
  const Json after = status();
  EXPECT_NE(after["orchestrator"]["pid"].get<long>(), old_pid);
  EXPECT_EQ(after["orchestrator"]["branch"], before["orchestrator"]["branch"]);
  // The adopted agent was stopped by the handoff's retire, its holder with it.
  EXPECT_TRUE(eventually([&] { return !process_exists(static_cast<pid_t>(old_pid)); }));
  std::string problem;
  EXPECT_TRUE(eventually([&] {
    return (problem = convergence_problem(repo_, "shop", work)).empty();
  })) << problem;
  EXPECT_EQ(holder_sockets().size(), 1u);
}

TEST_F(OrchestratorE2E, ARestartedDaemonRelaunchesAnOrchestratorWhoseHolderDiedAndStopsTheOrphan) {
  config(
      "[orchestrator]\nagent = \"stubborn\"\n[agents.stubborn]\ncommand = [\"agent-stubborn\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const long old_pid = status()["orchestrator"]["pid"].get<long>();
  // Its trap must be set before its holder goes: killed earlier, the SIGHUP ends it.
  screen_of("shop-1");
  const pid_t daemon = daemon_pid();
  kill(daemon, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
  kill_holders();
  // The agent ignores the SIGHUP its holder's death sent, so it outlives its holder.
  EXPECT_TRUE(process_exists(static_cast<pid_t>(old_pid)));
  Json s;
  ASSERT_TRUE(eventually([&] {
    s = status();
    return s["orchestrator"].is_object() && s["orchestrator"]["pid"].get<long>() != old_pid;
  })) << s.dump();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-1");
  EXPECT_EQ(s["active_count"], 1);
  EXPECT_TRUE(eventually([&] { return !process_exists(static_cast<pid_t>(old_pid)); }));
}

TEST_F(OrchestratorE2E, KillRefusesAnOrchestratorAndPointsToDown) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto r = b({"kill", "shop-1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "baton: session 'shop-1' is the orchestrator of shop: use 'baton down shop'\n");
  EXPECT_EQ(status()["orchestrator"]["state"], "active");
  // Plain sessions are still killed.
  baton_ok({"new", "--name", "plain", "--", "sleep", "100"}, opts());
  baton_ok({"kill", "plain"}, opts());
}

TEST_F(OrchestratorE2E, ACrashedOrchestratorIsRelaunchedWithItsResumeCommand) {
  // Crashes once, after its launch grace; the relaunch (resume) stays up.
  agent("agent-crashy", "echo start >> " + tmp_ +
                            "/starts\n"
                            "if [ \"$1\" != resume ]; then sleep 1.5; exit 3; fi\n"
                            "echo RESUMED; while :; do sleep 1; done\n");
  config(
      "[orchestrator]\nagent = \"crashy\"\nlaunch_grace = \"1s\"\n"
      "[agents.crashy]\ncommand = [\"agent-crashy\"]\nresume = [\"agent-crashy\", \"resume\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const long first = status()["orchestrator"]["pid"].get<long>();
  Json s;
  ASSERT_TRUE(runs_again(first, s)) << s.dump();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-1");
  EXPECT_EQ(s["health"], "ok");
  // The relaunched process may not have run its first line yet when status shows its pid.
  EXPECT_TRUE(eventually([&] { return capture("shop-1").find("RESUMED") != std::string::npos; }))
      << capture("shop-1");
  EXPECT_EQ(read_file(tmp_ + "/starts"), "start\nstart\n");
}

TEST_F(OrchestratorE2E, HooksRunWithTheirEventAndSession) {
  const std::string log = tmp_ + "/hooks.txt";
  config(
      "[orchestrator]\nagent = \"ok\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[hooks]\nbefore_retire = \"echo before_retire $BATON_SESSION >> " +
      log +
      "\"\n"
      "after_retire = [\"sh\", \"-c\", \"echo $BATON_EVENT $BATON_SESSION >> " +
      log +
      "\"]\n"
      "before_spawn = \"echo before_spawn $BATON_SESSION $BATON_BRANCH >> " +
      log +
      "\"\n"
      "after_spawn = \"echo after_spawn $BATON_SESSION $BATON_AGENT >> " +
      log + "\"\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  std::string got;
  EXPECT_TRUE(eventually([&] {
    got = read_file(log);
    return got.find("after_spawn shop-2 ok") != std::string::npos;
  })) << got;
  EXPECT_NE(got.find("before_spawn shop-1 baton/shop-orchestrator"), std::string::npos) << got;
  EXPECT_NE(got.find("before_retire shop-1"), std::string::npos) << got;
  EXPECT_NE(got.find("after_retire shop-1"), std::string::npos) << got;
}

TEST_F(OrchestratorE2E, AFailingBeforeRetireHookAbortsWithItsOutput) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const long pid = status()["orchestrator"]["pid"].get<long>();
  config(
      "[orchestrator]\nagent = \"ok\"\n[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[hooks]\nbefore_retire = \"echo tests are red; exit 4\"\n");
  baton_ok({"allow", repo_});
  auto r = b({"replace", repo_});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "baton: before_retire hook exited with status 4: tests are red\n");
  EXPECT_EQ(status()["orchestrator"]["pid"].get<long>(), pid);
}

TEST_F(OrchestratorE2E, PreservedWorkCanBeListedShownAppliedAndDropped) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/wip.txt", "work in progress\n");
  ASSERT_EQ(b({"down", repo_}).status, 0);
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  EXPECT_FALSE(fs::exists(stable() + "/wip.txt")) << "down does not carry work to a later up";
  const std::string ls = baton_ok({"preserved", repo_, "ls"}, opts());
  EXPECT_NE(ls.find("shop-1"), std::string::npos) << ls;
  EXPECT_NE(ls.find("1 files"), std::string::npos) << ls;
  const std::string show = baton_ok({"preserved", "show", "shop-1"}, opts());
  EXPECT_NE(show.find("refs/baton/preserved/shop-1"), std::string::npos) << show;
  EXPECT_NE(show.find("  wip.txt"), std::string::npos) << show;
  baton_ok({"preserved", "apply", "shop-1"}, opts());
  EXPECT_EQ(read_file(stable() + "/wip.txt"), "work in progress\n");
  baton_ok({"preserved", "drop", "shop-1"}, opts());
  EXPECT_EQ(git({"rev-parse", "--verify", "-q", "refs/baton/preserved/shop-1"}).status, 1);
  auto missing = b({"preserved", "show", "shop-1"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err, "baton: no preserved work for session 'shop-1' (baton preserved ls)\n");
  EXPECT_EQ(b({"preserved", "frob"}).status, 2);
}

// Every persist writes the whole store: a record kept per handoff forever grew each save and
// the daemon's heap with the number of handoffs (docs/BENCHMARKS.md, memory).
TEST_F(OrchestratorE2E, OnlyTheNewestRetiredRecordsAreKeptAndPreservedWorkOutlivesThem) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write(stable() + "/first.txt", "the first session's work\n");
  constexpr int kReplaces = 22;  // two more than the records kept (Orchestrator::kRetiredKept)
  for (int i = 0; i < kReplaces; ++i) {
    if (i > 0) fs::remove(stable() + "/first.txt");  // only shop-1 preserves it
    auto r = b({"replace", repo_});
    ASSERT_EQ(r.status, 0) << "replace " << i << ": " << r.err;
  }
  // The last replace answered before its old tree was deleted; the records are pruned then.
  Json j;
  std::set<std::string> ids;
  EXPECT_TRUE(eventually([&] {
    j = Json::parse(baton_ok({"sessions", repo_, "--all", "--json"}, opts()));
    ids.clear();
    for (const auto& s : j["sessions"]) ids.insert(s["id"].get<std::string>());
    return ids.size() == 21u;
  })) << j.dump();
  EXPECT_FALSE(ids.count("shop-1")) << j.dump();
  EXPECT_FALSE(ids.count("shop-2")) << j.dump();
  EXPECT_TRUE(ids.count("shop-3")) << j.dump();
  EXPECT_TRUE(ids.count("shop-23")) << j.dump();
  // The record is gone, the work is not: its ref pins it and `preserved` still finds it.
  EXPECT_EQ(git({"show", "refs/baton/preserved/shop-1:first.txt"}).out,
            "the first session's work\n");
  const std::string show = baton_ok({"preserved", "show", "shop-1"}, opts());
  EXPECT_NE(show.find("first.txt"), std::string::npos) << show;
  // A handoff note goes with the last record that names it: shop-2's, which shop-3 no longer
  // needs, once shop-2 is forgotten; shop-3's stays while shop-3 is kept.
  const std::string notes = home_ + "/notes/shop/";
  EXPECT_TRUE(eventually([&] { return !fs::exists(notes + "shop-2.md"); }));
  EXPECT_TRUE(fs::exists(notes + "shop-3.md"));
  EXPECT_TRUE(fs::exists(notes + "shop-23.md"));
  // Numbering goes on from the newest, never reusing a forgotten id.
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-24");
}

TEST_F(OrchestratorE2E, TheDaemonWatchesTheConfigEvenWhenSedReplacesIt) {
  // The user's own untracked local file: its changes need no allow and take effect at once.
  write(repo_ + "/baton.local.toml", "[orchestrator]\nagent = \"ok\"\n");
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto ls_health = [&] {
    return nlohmann::json::parse(baton_ok({"ls", "--json"}))["projects"][0]["health"];
  };
  EXPECT_EQ(ls_health(), "ok");
  // sed -i writes a new file and renames it over the old one; ls itself reads no config.
  const std::string local = repo_ + "/baton.local.toml";
  ASSERT_EQ(run_process({"sed", "-i", "s/agent = \"ok\"/agent = \"stubborn\"/", local}).status, 0);
  EXPECT_TRUE(eventually([&] { return ls_health() == "restart_needed"; })) << ls_health();
  ASSERT_EQ(run_process({"sed", "-i", "s/agent = \"stubborn\"/agent = \"ok\"/", local}).status, 0);
  EXPECT_TRUE(eventually([&] { return ls_health() == "ok"; })) << ls_health();
  // The repository's file: the watch sees the change, which waits for `baton allow`.
  ASSERT_EQ(run_process({"sed", "-i", "s/launch_grace = \"1s\"/launch_grace = \"2s\"/",
                         repo_ + "/baton.toml"})
                .status,
            0);
  EXPECT_TRUE(eventually([&] { return status()["allowed"] == false; }));
  EXPECT_EQ(ls_health(), "ok");
}

TEST_F(OrchestratorE2E, ShutdownKeepsTheRestoreMarkerSoTheOrchestratorComesBack) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const long pid = status()["orchestrator"]["pid"].get<long>();
  ASSERT_EQ(b({"shutdown"}).status, 0);
  EXPECT_TRUE(eventually([&] { return !process_exists(static_cast<pid_t>(pid)); }));
  // The daemon logs this last, after it let go of the client.
  EXPECT_TRUE(eventually([&] {
    return read_file(home_ + "/logs/daemon.log").find("uv_loop_close=0") != std::string::npos;
  }));
  // The next command starts the daemon, which relaunches it.
  Json s;
  EXPECT_TRUE(eventually([&] {
    s = status();
    return s["orchestrator"]["state"] == "active" && s["orchestrator"]["pid"].get<long>() != pid;
  })) << s.dump();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-1");
  EXPECT_EQ(s["health"], "ok");
  EXPECT_NE(screen_of("shop-1").find("session=shop-1"), std::string::npos);
}

TEST_F(OrchestratorE2E, TwoRepositoriesWithTheSameProjectIdAreRefused) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const std::string other = tmp_ + "/elsewhere/shop";
  std::filesystem::create_directories(other);
  git({"init", "-q", "-b", "main"}, other);
  write(other + "/f.txt", "x\n");
  git({"add", "."}, other);
  git({"commit", "-q", "-m", "init"}, other);
  auto r = b({"up", other, "--detach"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "baton: project id 'shop' is already used by " + repo_ +
                       ": set [project] name in " + other + "/baton.toml\n");
  write(other + "/baton.toml", "[project]\nname = \"shop2\"\n[orchestrator]\nagent = \"shell\"\n");
  auto ok = b({"up", other, "--detach"});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, "shop2-1\n");
}

}  // namespace
}  // namespace baton::test
