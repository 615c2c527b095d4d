// Workers (issue 19, docs/workers.md) end to end: a real repository, a real daemon, fake
// agents that say what they do with `baton signal`. The orchestrator spawns a worker from its
// own tree; the worker runs on its own branch and worktree; the orchestrator is told when it
// waits; a replace of the orchestrator leaves it running and the new one knows of it; finish
// removes only its tree and loses no byte; a daemon killed outright adopts it.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "plugin/fault.hpp"
#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

class WorkersE2E : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    log_ = tmp_ + "/orchestrator.log";
    // The orchestrator: says idle, then logs every line typed to it (a message) and is idle
    // again.
    agent("agent-orch",
          "echo \"ORCH $BATON_SESSION\"\n"
          "baton signal idle\n"
          "while IFS= read -r line; do\n"
          "  printf '%s\\n' \"$line\" >> '" +
              log_ +
              "'\n"
              "  baton signal working\n"
              "  baton signal idle\n"
              "done\n");
    // A worker: shows its prompt, name and project, then echoes what it is told.
    agent("agent-worker",
          "echo \"WORKER name=$BATON_WORKER project=$BATON_PROJECT session=$BATON_SESSION "
          "cwd=$(pwd) branch=$(git rev-parse --abbrev-ref HEAD)\"\n"
          "echo \"PROMPT $*\"\n"
          "baton signal idle\n"
          "while IFS= read -r line; do\n"
          "  baton signal working\n"
          "  echo \"TOLD $line\"\n"
          "  baton signal idle\n"
          "done\n");
    // A worker that asks a question and waits for the answer.
    agent("agent-asks",
          "echo 'Allow this command? (y/n)'\n"
          "baton signal waiting_input\n"
          "while IFS= read -r line; do echo \"ANSWER $line\"; done\n");
    agent("agent-crash", "echo CRASHING; sleep 0.2; exit 7\n");
    config(
        "[orchestrator]\nagent = \"orch\"\nlaunch_grace = \"1s\"\n"
        "[workers]\nagent = \"worker\"\nmax = 3\n"
        "[agents.orch]\ncommand = [\"agent-orch\"]\n"
        "[agents.worker]\ncommand = [\"agent-worker\"]\nprompt_arg = \"--prompt\"\n"
        "[agents.asks]\ncommand = [\"agent-asks\"]\n"
        "[agents.crash]\ncommand = [\"agent-crash\"]\n");
    baton_ok({"allow", repo_});
  }

  void up() {
    auto r = b({"up", repo_, "--detach"});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  // `baton spawn` run the way the orchestrator agent runs it: from inside its own tree.
  RunResult spawn(const std::vector<std::string>& args, const std::string& cwd = "") {
    std::vector<std::string> argv{"spawn"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions o = opts();
    o.cwd = cwd.empty() ? stable() : cwd;
    return baton(argv, o);
  }

  std::string spawn_ok(const std::vector<std::string>& args) {
    auto r = spawn(args);
    EXPECT_EQ(r.status, 0) << r.err;
    std::string id = r.out;
    while (!id.empty() && id.back() == '\n') id.pop_back();
    return id;
  }

  Json workers() {
    auto r = b({"workers", repo_, "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    return Json::parse(r.out, nullptr, false);
  }

  Json worker(const std::string& name) {
    const Json all = workers();
    for (const auto& w : all["workers"])
      if (w["name"] == name) return w;
    return nullptr;
  }

  std::string tree(const std::string& name) { return home_ + "/worktrees/shop/workers/" + name; }

  Json outbox() { return Json::parse(b({"outbox", repo_, "--json"}).out, nullptr, false); }

  std::string log_;
};

// The orchestrator spawns a worker from its own tree: a branch of its own at the canonical
// tip, a worktree under workers/ locked with a reason naming the worker, the prompt and the
// BATON_* variables in the agent, and `workers --json` says all of it.
TEST_F(WorkersE2E, SpawnFromTheOrchestratorsTreeMakesBranchWorktreeLockAndPrompt) {
  up();
  const std::string id = spawn_ok({"--name", "fix-login", "--prompt", "fix the login loop"});
  EXPECT_EQ(id, "shop-w1");
  const std::string tip = git({"rev-parse", "baton/shop-orchestrator"}).out;
  EXPECT_EQ(git({"rev-parse", "baton/shop-fix-login"}).out, tip);
  EXPECT_TRUE(fs::exists(tree("fix-login") + "/app.txt"));
  EXPECT_EQ(read_file(repo_ + "/.git/worktrees/baton-shop-w1/locked"),
            "baton worker fix-login shop-w1");
  std::string screen;
  ASSERT_TRUE(eventually([&] {
    screen = capture("shop/fix-login");
    return screen.find("PROMPT") != std::string::npos;
  })) << screen;
  EXPECT_NE(screen.find("WORKER name=fix-login project=shop session=shop-w1 cwd=" +
                        tree("fix-login") + " branch=baton/shop-fix-login"),
            std::string::npos)
      << screen;
  EXPECT_NE(screen.find("PROMPT --prompt fix the login loop"), std::string::npos) << screen;

  const Json w = worker("fix-login");
  ASSERT_TRUE(w.is_object()) << workers().dump();
  for (const char* key : {"name", "id", "agent", "branch", "worktree", "pid", "state", "health",
                          "activity", "ahead", "behind", "last_line", "created_at"})
    EXPECT_TRUE(w.contains(key)) << key;
  EXPECT_EQ(w["id"], "shop-w1");
  EXPECT_EQ(w["agent"], "worker");
  EXPECT_EQ(w["branch"], "baton/shop-fix-login");
  EXPECT_EQ(w["worktree"], tree("fix-login"));
  EXPECT_EQ(w["state"], "active");
  EXPECT_EQ(w["health"], "ok");
  EXPECT_EQ(w["ahead"], 0);
  EXPECT_EQ(w["behind"], 0);
  EXPECT_TRUE(process_exists(w["pid"].get<pid_t>()));

  // A commit in the worker's tree is ahead of the canonical branch.
  std::ofstream(tree("fix-login") + "/login.txt") << "fixed\n";
  git({"add", "login.txt"}, tree("fix-login"));
  git({"commit", "-q", "-m", "fix login"}, tree("fix-login"));
  EXPECT_EQ(worker("fix-login")["ahead"], 1);

  // The project's status lists the team; the orchestrator is untouched.
  const Json st = status();
  ASSERT_EQ(st["workers"].size(), 1u) << st.dump();
  EXPECT_EQ(st["workers"][0]["name"], "fix-login");
  EXPECT_EQ(st["health"], "ok");
  EXPECT_EQ(st["active_count"], 1);
  // `tell` reaches the worker, not the orchestrator.
  ASSERT_EQ(b({"tell", "shop/fix-login", "--now", "hello worker"}).status, 0);
  EXPECT_TRUE(eventually(
      [&] { return capture("shop/fix-login").find("TOLD hello worker") != std::string::npos; }));
}

// Once a project has a worker, the next worker's tree waits prepared: a spawn from the
// canonical tip takes it (the same directory, renamed: no checkout), on its own new branch,
// locked as a worker; a daemon killed right after the spawn recorded it still takes it.
TEST_F(WorkersE2E, TheNextWorkersTreeIsPreparedAheadAndTakenEvenAcrossAKill) {
  up();
  spawn_ok({"--name", "first", "--prompt", "x"});
  ASSERT_TRUE(eventually([&] { return status()["worker_standby"] == "ready"; }, 20000))
      << status().dump();
  const std::string standby = home_ + "/worktrees/shop/workers/.standby";
  // A file baton never writes tells the taken tree (ignored by git, so the tree stays clean).
  write(repo_ + "/.git/info/exclude", ".mark\n");
  write(standby + "/.mark", "the standby\n");
  // A commit on the canonical branch since: the taken tree follows it.
  std::ofstream(stable() + "/late.txt") << "late\n";
  git({"add", "late.txt"}, stable());
  git({"commit", "-q", "-m", "late"}, stable());
  const std::string id = spawn_ok({"--name", "second", "--prompt", "x"});
  EXPECT_EQ(id, "shop-w2");
  EXPECT_EQ(read_file(tree("second") + "/.mark"), "the standby\n")
      << "the standby was not the tree taken";
  EXPECT_EQ(read_file(tree("second") + "/late.txt"), "late\n");
  EXPECT_EQ(git({"rev-parse", "--abbrev-ref", "HEAD"}, tree("second")).out, "baton/shop-second\n");
  EXPECT_EQ(git({"status", "--porcelain"}, tree("second")).out, "");
  EXPECT_EQ(read_file(repo_ + "/.git/worktrees/baton-shop-w2/locked"),
            "baton worker second shop-w2");
  EXPECT_NE(git({"rev-parse", "--verify", "-q", "baton/tmp/shop-w2"}).status, 0);
  EXPECT_EQ(worker("second")["health"], "ok");

  // Again, with the daemon killed once the spawn recorded the worker under the taken id.
  ASSERT_TRUE(eventually([&] { return status()["worker_standby"] == "ready"; }, 20000));
  write(standby + "/.mark", "the next standby\n");
  RunOptions armed = opts();
  armed.env["BATON_FAULT"] = "spawn.recorded:kill";
  armed.cwd = stable();
  const pid_t daemon = daemon_pid();
  EXPECT_NE(baton({"spawn", "--name", "third", "--prompt", "x"}, armed).status, 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
  ASSERT_TRUE(eventually(
      [&] {
        const Json w = worker("third");
        return w.is_object() && w["health"] == "ok" && w["pid"].is_number();
      },
      15000))
      << workers().dump();
  EXPECT_EQ(read_file(tree("third") + "/.mark"), "the next standby\n");
  EXPECT_EQ(git({"rev-parse", "--abbrev-ref", "HEAD"}, tree("third")).out, "baton/shop-third\n");
  EXPECT_TRUE(eventually([&] { return convergence_problem(repo_, "shop").empty(); }))
      << convergence_problem(repo_, "shop") << git({"worktree", "list"}).out
      << git({"branch", "-a"}).out << status().dump();
}

// After a daemon kill, a next worker's tree the store does not say is ready (a preparation
// cut short), or one the store does not name at all, is discarded and made again; a ready one
// is kept as it is.
TEST_F(WorkersE2E, AfterAKillOnlyAReadyRecordedNextWorkersTreeIsKept) {
  up();
  spawn_ok({"--name", "first", "--prompt", "x"});
  ASSERT_TRUE(eventually([&] { return status()["worker_standby"] == "ready"; }, 20000));
  const std::string standby = home_ + "/worktrees/shop/workers/.standby";
  const std::string store_path = home_ + "/state/store.json";
  // A file baton never writes tells one tree from the next (inode numbers are reused).
  const std::string mark = standby + "/.mark";
  auto kill_daemon = [&] {
    const pid_t pid = daemon_pid();
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] { return !process_exists(pid); }));
  };
  write(mark, "kept\n");
  kill_daemon();
  ASSERT_TRUE(eventually([&] { return status()["worker_standby"] == "ready"; }, 20000));
  EXPECT_EQ(read_file(mark), "kept\n") << "a ready tree is kept across a kill";

  for (const bool drop_record : {false, true}) {
    SCOPED_TRACE(drop_record ? "no record" : "not ready");
    write(mark, "this one\n");
    kill_daemon();
    auto store = Json::parse(read_file(store_path));
    if (drop_record)
      store["projects"]["shop"].erase("worker_standby");
    else
      store["projects"]["shop"]["worker_standby"]["ready"] = false;
    write(store_path, store.dump());
    // The daemon comes back, discards the tree and makes another once a spawn shows the
    // project uses workers (it did: the next refresh comes with the next git operation).
    spawn_ok({"--name", drop_record ? "third" : "second", "--prompt", "x"});
    ASSERT_TRUE(eventually([&] { return status()["worker_standby"] == "ready"; }, 20000));
    EXPECT_FALSE(fs::exists(mark)) << "the tree was not made again";
    EXPECT_TRUE(eventually([&] { return convergence_problem(repo_, "shop").empty(); }))
        << convergence_problem(repo_, "shop");
  }
}

// `down` with no worker left takes the next worker's tree away too: nothing of the project
// stays on disk but what was kept on purpose.
TEST_F(WorkersE2E, DownWithNoWorkerLeftRemovesTheNextWorkersTree) {
  up();
  spawn_ok({"--name", "only", "--prompt", "x"});
  ASSERT_TRUE(eventually([&] { return status()["worker_standby"] == "ready"; }, 20000));
  ASSERT_EQ(b({"finish", "shop/only", "--now"}).status, 0);
  // A worker finished, the orchestrator running: still kept for the next spawn.
  EXPECT_EQ(status()["worker_standby"], "ready");
  ASSERT_EQ(b({"down", repo_}).status, 0);
  EXPECT_TRUE(eventually([&] { return !fs::exists(home_ + "/worktrees/shop/workers/.standby"); }))
      << git({"worktree", "list"}).out;
  EXPECT_EQ(status()["worker_standby"], "off");
  EXPECT_EQ(git({"for-each-ref", "refs/heads/baton/tmp"}).out, "");
  EXPECT_EQ(git({"worktree", "list", "--porcelain"}).out.find("workers/"), std::string::npos);
}

// A replace of the orchestrator never touches a worker: the same pid across two replaces, and
// each new orchestrator's handoff note lists the team.
TEST_F(WorkersE2E, AWorkerKeepsItsPidAcrossTwoReplacesAndTheNoteListsIt) {
  up();
  spawn_ok({"--name", "fix-login", "--prompt", "fix it"});
  ASSERT_TRUE(eventually([&] { return worker("fix-login")["pid"].is_number(); }));
  const long pid = worker("fix-login")["pid"].get<long>();
  for (int i = 0; i < 2; ++i) {
    auto r = b({"replace", repo_, "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    const Json out = Json::parse(r.out);
    const std::string note = out["session"]["handoff_note"].is_string()
                                 ? read_file(out["session"]["handoff_note"].get<std::string>())
                                 : "";
    EXPECT_NE(note.find("### Workers"), std::string::npos) << note;
    EXPECT_NE(note.find("- fix-login on `baton/shop-fix-login`: ok"), std::string::npos) << note;
    EXPECT_EQ(worker("fix-login")["pid"].get<long>(), pid);
    EXPECT_TRUE(process_exists(static_cast<pid_t>(pid)));
  }
  EXPECT_EQ(status()["active_count"], 1);
  EXPECT_EQ(status()["health"], "ok");
}

// A worker that waits for input is told to the orchestrator once, typed at its turn end.
TEST_F(WorkersE2E, TheOrchestratorIsToldOnceThatAWorkerWaits) {
  up();
  ASSERT_TRUE(eventually([&] { return status()["activity"] == "idle"; }, 15000));
  spawn_ok({"--name", "ask", "--agent", "asks", "--prompt", "go"});
  const std::string told = "worker ask waits for input: Allow this command? (y/n)";
  ASSERT_TRUE(eventually([&] { return read_file(log_).find(told) != std::string::npos; }, 15000))
      << read_file(log_);
  // The worker says the same again: nothing new to tell.
  RunOptions o = opts();
  o.env["BATON_SESSION"] = "shop-w1";
  ASSERT_EQ(baton({"signal", "waiting_input"}, o).status, 0);
  ASSERT_EQ(b({"tell", repo_, "sync"}).status, 0);
  ASSERT_TRUE(eventually([&] { return read_file(log_).find("sync\n") != std::string::npos; }))
      << read_file(log_);
  const std::string log = read_file(log_);
  EXPECT_EQ(log.find(told), log.rfind(told)) << log;
}

// finish: the worker's uncommitted work byte for byte in its preserved ref, what no commit
// holds kept whole, its tree gone and nothing else touched; its branch kept, and deleted
// with --delete-branch only once merged.
TEST_F(WorkersE2E, FinishPreservesTheWorkByteForByteAndRemovesOnlyItsTree) {
  up();
  spawn_ok({"--name", "dirty", "--prompt", "work"});
  spawn_ok({"--name", "clean", "--prompt", "work"});
  const std::string t = tree("dirty");
  const std::string binary("\x00\x01\xff\r\n tail", 10);
  std::ofstream(t + "/app.txt", std::ios::binary) << "v2 by the worker\n";
  std::ofstream(t + "/new.bin", std::ios::binary) << binary;
  std::ofstream(t + "/.gitignore") << "cache/\n";
  fs::create_directories(t + "/cache");
  std::ofstream(t + "/cache/big") << "ignored but kept\n";
  std::ofstream(stable() + "/orch.txt") << "the orchestrator's own\n";

  auto r = b({"finish", "shop/dirty", "--json", "--delete-branch"});
  ASSERT_EQ(r.status, 0) << r.err;
  const Json out = Json::parse(r.out);
  ASSERT_TRUE(out["preserved"].is_object()) << r.out;
  const std::string ref = out["preserved"]["ref"];
  EXPECT_EQ(ref, "refs/baton/preserved/shop-w1");
  EXPECT_EQ(git({"show", ref + ":app.txt"}).out, "v2 by the worker\n");
  EXPECT_EQ(git({"show", ref + ":new.bin"}).out, binary);
  EXPECT_EQ(read_file(home_ + "/worktrees/shop/workers/.kept-shop-w1/cache/big"),
            "ignored but kept\n");
  EXPECT_FALSE(fs::exists(t));
  // The branch had nothing unmerged: deleted.
  EXPECT_EQ(out["branch_deleted"], true);
  EXPECT_NE(git({"rev-parse", "--verify", "-q", "baton/shop-dirty"}).status, 0);
  // Nothing else touched: the other worker, the orchestrator and its file.
  EXPECT_TRUE(fs::exists(tree("clean") + "/app.txt"));
  EXPECT_EQ(worker("clean")["health"], "ok");
  EXPECT_EQ(read_file(stable() + "/orch.txt"), "the orchestrator's own\n");
  EXPECT_EQ(status()["health"], "ok");
  EXPECT_TRUE(worker("dirty").is_null()) << workers().dump();
  EXPECT_EQ(git({"worktree", "list"}).out.find("workers/dirty"), std::string::npos);
  // `preserved ls` lists the work and what was kept.
  const std::string ls = b({"preserved", repo_, "ls"}).out;
  EXPECT_NE(ls.find("shop-w1"), std::string::npos) << ls;
  EXPECT_NE(ls.find(".kept-shop-w1"), std::string::npos) << ls;

  // A branch with a commit the canonical one lacks is kept, with one line saying why.
  std::ofstream(tree("clean") + "/x.txt") << "x\n";
  git({"add", "x.txt"}, tree("clean"));
  git({"commit", "-q", "-m", "x"}, tree("clean"));
  r = b({"finish", "shop/clean", "--delete-branch", "--now"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("branch baton/shop-clean kept: 1 commit of it is not merged into "
                       "baton/shop-orchestrator"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(git({"rev-parse", "--verify", "-q", "baton/shop-clean"}).status, 0);
  // The name is free again; the branch exists, so a new worker takes it only when asked.
  r = spawn({"--name", "clean", "--prompt", "again"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(last_line(r.err),
            "baton: branch baton/shop-clean exists already: finish the worker that had it, "
            "choose another name, or take the branch as it is with --reuse-branch\n");
  const std::string again = spawn_ok({"--name", "clean", "--reuse-branch", "--prompt", "again"});
  EXPECT_TRUE(again.starts_with("shop-w") && again != "shop-w1" && again != "shop-w2") << again;
  EXPECT_TRUE(fs::exists(tree("clean") + "/x.txt"));
}

// A finish whose tree cannot be deleted (an immutable file) leaves the worker stuck with the
// error, its work preserved; once the user fixes the file the daemon finishes it by itself.
TEST_F(WorkersE2E, AFinishThatCannotDeleteTheTreeIsStuckAndRetriedUntilItEnds) {
  up();
  spawn_ok({"--name", "stuck", "--prompt", "x"});
  write(tree("stuck") + "/locked.txt", "immutable\n");
  if (run_process({"chattr", "+i", tree("stuck") + "/locked.txt"}).status != 0)
    GTEST_SKIP() << "chattr +i is not supported on this filesystem";
  const std::string locked = home_ + "/worktrees/shop/workers/.trash-shop-w1/locked.txt";
  auto r = b({"finish", "shop/stuck", "--now"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.err;
  const Json w = worker("stuck");
  EXPECT_EQ(w["health"], "stuck") << w.dump();
  EXPECT_NE(w.value("error", std::string()).find("locked.txt"), std::string::npos) << w.dump();
  EXPECT_EQ(git({"show", "refs/baton/preserved/shop-w1:locked.txt"}).out, "immutable\n");
  EXPECT_EQ(status()["health"], "ok") << "a stuck worker is no stuck orchestrator";
  run_process({"chattr", "-i", locked});
  EXPECT_TRUE(eventually([&] { return worker("stuck").is_null(); }, 20000)) << workers().dump();
  EXPECT_FALSE(fs::exists(home_ + "/worktrees/shop/workers/.trash-shop-w1"));
}

// Bad input: one clear line each, nothing made, nothing lost.
TEST_F(WorkersE2E, BadInputGetsOneClearLineAndMakesNothing) {
  up();
  struct Case {
    std::vector<std::string> args;
    std::string line;
  };
  const std::vector<Case> cases = {
      {{"--name", "orchestrator", "--prompt", "x"},
       "baton: worker name 'orchestrator' is the orchestrator's: its branch would be the "
       "canonical one\n"},
      {{"--name", "a b", "--prompt", "x"},
       "baton: worker name 'a b' must use only A-Z a-z 0-9 . _ -\n"},
      {{"--name", "-x", "--prompt", "x"},
       "baton: worker name '-x' must not start with '.' or '-'\n"},
      {{"--name", "x.lock", "--prompt", "x"},
       "baton: worker name 'x.lock' cannot be part of a branch name: its component 'x.lock' ends "
       "with '.lock'\n"},
      {{"--name", "ok", "--base", "no-such-rev", "--prompt", "x"},
       "baton: base no-such-rev names no commit of this repository\n"},
      {{"--name", "ok", "--agent", "nope", "--prompt", "x"},
       "baton: agent 'nope' is not defined: use asks, claude-code, codex, crash, orch, shell, "
       "worker\n"},
  };
  for (const auto& c : cases) {
    auto r = spawn(c.args);
    EXPECT_EQ(r.status, 1) << c.line;
    EXPECT_EQ(last_line(r.err), c.line);
  }
  // Usage: no prompt.
  EXPECT_EQ(spawn({"--name", "ok"}).status, 2);
  // A name taken by a running worker, then [workers] max (3).
  spawn_ok({"--name", "one", "--prompt", "x"});
  // A worker is finished, never killed.
  auto r = b({"kill", "shop-w1"});
  EXPECT_EQ(last_line(r.err),
            "baton: session 'shop-w1' is worker one of shop: use 'baton finish shop/one'\n");
  EXPECT_EQ(worker("one")["health"], "ok");
  r = spawn({"--name", "one", "--prompt", "x"});
  EXPECT_EQ(last_line(r.err),
            "baton: worker one of shop exists already: pick another name, or 'baton finish "
            "shop/one' first\n");
  spawn_ok({"--name", "two", "--prompt", "x"});
  spawn_ok({"--name", "three", "--prompt", "x"});
  r = spawn({"--name", "four", "--prompt", "x"});
  EXPECT_EQ(last_line(r.err),
            "baton: shop has 3 workers, its [workers] max: finish one first ('baton workers "
            "shop')\n");
  // Nothing of the refused ones exists.
  for (const char* name : {"orchestrator", "ok", "four"})
    EXPECT_FALSE(fs::exists(tree(name))) << name;
  EXPECT_EQ(git({"rev-parse", "--verify", "-q", "baton/shop-four"}).status, 1);
  EXPECT_EQ(git({"rev-parse", "--verify", "-q", "baton/shop-ok"}).status, 1);
  EXPECT_EQ(workers()["workers"].size(), 3u);
  // Finishing a worker that does not exist.
  r = b({"finish", "shop/nobody"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(last_line(r.err),
            "baton: no worker 'shop/nobody' (give PROJECT/NAME; see 'baton workers')\n");
}

// A repository with no baton config at all: the presets apply, as for `baton up`, and the
// repository is registered by the spawn itself.
TEST_F(WorkersE2E, ASpawnInARepositoryWithoutAConfigUsesThePresets) {
  const std::string bare = tmp_ + "/plain";
  fs::create_directories(bare);
  git({"init", "-q", "-b", "main"}, bare);
  write(bare + "/a.txt", "a\n");
  git({"add", "."}, bare);
  git({"commit", "-q", "-m", "init"}, bare);
  RunOptions o = opts();
  o.cwd = bare;
  auto r = baton({"spawn", "--name", "solo", "--agent", "shell", "--prompt", "x"}, o);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "plain-w1\n");
  EXPECT_TRUE(fs::exists(home_ + "/worktrees/plain/workers/solo/a.txt"));
  EXPECT_EQ(git({"rev-parse", "--abbrev-ref", "HEAD"}, home_ + "/worktrees/plain/workers/solo").out,
            "baton/plain-solo\n");
  // The canonical branch it started from was made from the main worktree's HEAD.
  EXPECT_EQ(git({"rev-parse", "baton/plain-orchestrator"}, bare).out,
            git({"rev-parse", "main"}, bare).out);
}

// A daemon killed outright: the next one adopts the worker through its holder (same pid);
// one whose holder died too is relaunched with its resume command.
TEST_F(WorkersE2E, ADaemonKillAdoptsWorkersAndRelaunchesOnesWhoseHolderDied) {
  up();
  spawn_ok({"--name", "kept", "--prompt", "x"});
  ASSERT_TRUE(eventually([&] { return worker("kept")["pid"].is_number(); }));
  const long pid = worker("kept")["pid"].get<long>();
  const pid_t daemon = daemon_pid();
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
  EXPECT_TRUE(process_exists(static_cast<pid_t>(pid)));
  ASSERT_TRUE(eventually([&] {
    const Json w = worker("kept");
    return w.is_object() && w["pid"].is_number() && w["health"] == "ok";
  })) << workers().dump();
  EXPECT_EQ(worker("kept")["pid"].get<long>(), pid);
  EXPECT_TRUE(eventually([&] { return convergence_problem(repo_, "shop").empty(); }))
      << convergence_problem(repo_, "shop");

  // Now the holders die with the daemon (a reboot): the worker comes back, a new process.
  const pid_t daemon2 = daemon_pid();
  ASSERT_EQ(kill(daemon2, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon2); }));
  kill_holders();
  ASSERT_TRUE(eventually([&] { return !process_exists(static_cast<pid_t>(pid)); }));
  ASSERT_TRUE(eventually(
      [&] {
        const Json w = worker("kept");
        return w.is_object() && w["pid"].is_number() && w["pid"].get<long>() != pid &&
               w["health"] == "ok";
      },
      15000))
      << workers().dump();
  EXPECT_TRUE(fs::exists(tree("kept") + "/app.txt"));
}

// A message told to a worker waits in its own outbox until its turn ends; a finish drops what
// no agent will read, and nothing of the delivery (listener, timer) stays behind.
TEST_F(WorkersE2E, AWorkersMessagesWaitInItsOwnOutboxAndGoWithIt) {
  up();
  spawn_ok({"--name", "ask", "--agent", "asks", "--prompt", "go"});
  ASSERT_EQ(b({"tell", "shop/ask", "use the staging database"}).status, 0);
  auto box = Json::parse(b({"outbox", "shop/ask", "ls", "--json"}).out, nullptr, false);
  ASSERT_EQ(box["recipient"], "shop/ask") << box.dump();
  ASSERT_EQ(box["messages"].size(), 1u) << box.dump();
  EXPECT_EQ(box["messages"][0]["text"], "use the staging database");
  EXPECT_EQ(b({"finish", "shop/ask", "--now"}).status, 0);
  box = Json::parse(b({"outbox", repo_, "ls", "--json"}).out, nullptr, false);
  EXPECT_EQ(box["recipient"], "shop");
  EXPECT_EQ(read_file(home_ + "/state/outbox/shop%2Fask.json").find("staging"), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    const auto j = Json::parse(b({"debug", "delivery"}).out, nullptr, false);
    return !j.is_discarded() && j["listening"] == false && j["timer"] == false;
  })) << b({"debug", "delivery"}).out;
}

// A crashed worker comes back with back-off, and the orchestrator hears that it exited.
TEST_F(WorkersE2E, ACrashedWorkerIsRelaunchedAndTheOrchestratorHearsOfIt) {
  up();
  ASSERT_TRUE(eventually([&] { return status()["activity"] == "idle"; }, 15000));
  spawn_ok({"--name", "crashy", "--agent", "crash", "--prompt", "x"});
  ASSERT_TRUE(eventually(
      [&] {
        return read_file(log_).find("worker crashy exited with status 7") != std::string::npos;
      },
      15000))
      << read_file(log_);
  // Relaunched at least once: a second "exited" notice comes after the 1 s back-off.
  EXPECT_TRUE(eventually(
      [&] {
        const std::string log = read_file(log_);
        return log.find("worker crashy exited") != log.rfind("worker crashy exited");
      },
      15000))
      << read_file(log_);
#ifdef BATON_FAULTS
  // Finished while its next relaunch waits: nothing of it stays on the loop.
  ASSERT_EQ(b({"finish", "shop/crashy", "--now"}).status, 0);
  const std::string waits = b({"debug", "waits"}).out;
  EXPECT_NE(waits.find("worker_timers 0\n"), std::string::npos) << waits;
#endif
}

// A spawn and a replace at once: both succeed, the repository converges, the worker runs.
TEST_F(WorkersE2E, ASpawnAndAReplaceAtOnceConverge) {
  up();
  std::thread replace([&] {
    auto r = b({"replace", repo_, "--now"});
    EXPECT_EQ(r.status, 0) << r.err;
  });
  const std::string id = spawn_ok({"--name", "racer", "--prompt", "x"});
  replace.join();
  EXPECT_EQ(id, "shop-w1");
  EXPECT_TRUE(eventually([&] { return convergence_problem(repo_, "shop").empty(); }))
      << convergence_problem(repo_, "shop");
  EXPECT_EQ(worker("racer")["health"], "ok");
  EXPECT_TRUE(fs::exists(tree("racer") + "/app.txt"));
}

// `baton guide` needs no daemon and names every command an orchestrator uses.
TEST_F(WorkersE2E, TheGuideNamesTheTeamsCommands) {
  RunOptions o = opts();
  o.env["BATON_HOME"] = tmp_ + "/no-home";
  auto r = run_process({BATON_BIN, "guide"}, o);
  ASSERT_EQ(r.status, 0);
  for (const char* cmd : {"baton spawn", "baton workers", "baton capture", "baton tell",
                          "baton finish", "--delete-branch", "$BATON_PROJECT"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  EXPECT_FALSE(fs::exists(tmp_ + "/no-home"));
}

}  // namespace
}  // namespace baton::test

#ifdef BATON_FAULTS
namespace baton::test {
namespace {

// Every step of spawn and finish, failed or killed there: the worker converges — a failed
// spawn leaves nothing, a killed one is finished by the next daemon; a failed finish is
// finished by the next `finish`, a killed one by the next daemon — and its work is never lost.
struct WorkerFault {
  std::string point;
  std::string mode;  // fail | kill
};

std::vector<WorkerFault> worker_faults() {
  std::vector<WorkerFault> out;
  for (const auto point : plugin::kWorkerFaultPoints)
    for (const char* mode : {"fail", "kill"}) out.push_back({std::string(point), mode});
  return out;
}

class WorkerFaults : public WorkersE2E, public ::testing::WithParamInterface<WorkerFault> {};

TEST_P(WorkerFaults, FailedOrKilledConverges) {
  const auto& [point, mode] = GetParam();
  up();
  const bool is_finish = point.starts_with("finish.");
  RunOptions armed = opts();
  armed.env["BATON_FAULT"] = point + ":" + mode;
  armed.cwd = stable();
  const pid_t daemon = daemon_pid();
  if (is_finish) {
    spawn_ok({"--name", "w", "--prompt", "x"});
    std::ofstream(tree("w") + "/app.txt") << "the worker's v2\n";
    auto r = baton({"finish", "shop/w", "--now"}, armed);
    EXPECT_NE(r.status, 0) << r.out;
    if (mode == "fail") {
      EXPECT_EQ(worker("w")["health"], "stuck") << workers().dump();
      auto again = b({"finish", "shop/w", "--now"});
      EXPECT_EQ(again.status, 0) << again.err;
    } else {
      EXPECT_TRUE(eventually([&] { return !process_exists(daemon); }));
    }
    // Finished, by the second finish or by the next daemon's recovery.
    EXPECT_TRUE(eventually([&] { return workers()["workers"].empty(); }, 15000))
        << workers().dump();
    EXPECT_FALSE(fs::exists(tree("w")));
    EXPECT_EQ(git({"show", "refs/baton/preserved/shop-w1:app.txt"}).out, "the worker's v2\n");
  } else {
    auto r = baton({"spawn", "--name", "w", "--prompt", "x"}, armed);
    EXPECT_NE(r.status, 0) << r.out;
    if (mode == "fail") {
      // Undone: no worker, no tree, no branch; the name is free.
      EXPECT_TRUE(workers()["workers"].empty()) << workers().dump();
      EXPECT_FALSE(fs::exists(tree("w")));
      EXPECT_NE(git({"rev-parse", "--verify", "-q", "baton/shop-w"}).status, 0);
      spawn_ok({"--name", "w", "--prompt", "x"});
    } else {
      EXPECT_TRUE(eventually([&] { return !process_exists(daemon); }));
    }
    // Running, by the second spawn or by the next daemon's recovery.
    EXPECT_TRUE(eventually(
        [&] {
          const Json w = worker("w");
          return w.is_object() && w["health"] == "ok" && w["pid"].is_number();
        },
        15000))
        << workers().dump();
    EXPECT_TRUE(fs::exists(tree("w") + "/app.txt"));
  }
  // No tree was left half made or half removed, and the orchestrator is whole.
  for (const auto& e : fs::directory_iterator(home_ + "/worktrees/shop/workers")) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name == "w" || name.starts_with(".kept-") || name == ".standby") << name;
  }
  EXPECT_TRUE(eventually([&] { return convergence_problem(repo_, "shop").empty(); }))
      << convergence_problem(repo_, "shop");
}

INSTANTIATE_TEST_SUITE_P(EveryStep, WorkerFaults, ::testing::ValuesIn(worker_faults()),
                         [](const ::testing::TestParamInfo<WorkerFault>& info) {
                           std::string name = info.param.point + "_" + info.param.mode;
                           for (char& c : name)
                             if (c == '.') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace baton::test
#endif
