// "No one else gets in" (issue 6, point 4; issue 14): private socket and directories under any
// umask, other users refused, env values never shown, logged or written to disk, commands
// started as argv, repository commands only after `baton allow`, and no BATON_HOME symlink
// tricks.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

namespace fs = std::filesystem;

class Security : public OrchestratorE2E {
 protected:
  mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  // Runs `baton ARGS` as uid/gid 65534 through setpriv, with this test's BATON_HOME.
  RunResult baton_as_nobody(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  BATON_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions o;
    o.env["BATON_HOME"] = home_;
    o.cwd = "/";
    return run_process(argv, o);
  }
};

TEST_F(Security, TheSocketDirAndSocketArePrivateEvenUnderUmaskZero) {
  baton_ok({"shutdown"});
  const mode_t old = umask(0);
  auto r = baton({"sessions"});
  umask(old);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(mode_of(home_ + "/run"), 0700u);
  EXPECT_EQ(mode_of(home_ + "/run/control.sock") & 0777, 0600u);
  EXPECT_EQ(mode_of(home_ + "/state"), 0700u);
  EXPECT_EQ(mode_of(home_ + "/logs"), 0700u);
}

TEST_F(Security, AnotherUsersClientIsRefusedWithOneLine) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  if (run_process({"setpriv", "--version"}).status != 0) GTEST_SKIP() << "no setpriv";
  baton_ok({"sessions"});
  // Loosened so only baton's own checks stand in the way.
  for (const auto& d : {tmp_, home_, home_ + "/run"}) chmod(d.c_str(), 0755);
  chmod((home_ + "/run/control.sock").c_str(), 0777);
  auto r = baton_as_nobody({"sessions"});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.err,
            "baton: refusing " + home_ + "/run: it belongs to uid 0, not to you (uid 65534)\n");
  EXPECT_EQ(baton({"sessions", "--json"}).status, 0);
}

TEST_F(Security, ARunDirSymlinkedToAnotherUsersDirIsRefusedAndLeftAlone) {
  baton_ok({"shutdown"});
  eventually([&] { return !process_exists(daemon_pid()); });
  const std::string theirs = tmp_ + "/theirs";
  fs::create_directories(theirs);
  chmod(theirs.c_str(), 0750);
  ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
  fs::remove_all(home_ + "/run");
  fs::create_directory_symlink(theirs, home_ + "/run");
  auto r = baton({"sessions"});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.err, "baton: refusing " + home_ + "/run: it is a symlink (to " + theirs +
                       "); remove it and baton makes a private directory there\n");
  // The daemon started by hand refuses too, before touching anything.
  auto d = run_process({BATON_DAEMON_BIN, "--foreground"},
                       RunOptions{.env = {{"BATON_HOME", home_}}, .timeout_ms = 20000});
  EXPECT_EQ(d.status, 1);
  EXPECT_NE(d.err.find("refusing " + home_ + "/run: it is a symlink"), std::string::npos) << d.err;
  EXPECT_EQ(mode_of(theirs), 0750u);
  EXPECT_TRUE(fs::is_empty(theirs));
  // Put right, the same home works again.
  fs::remove(home_ + "/run");
  EXPECT_EQ(baton({"sessions"}).status, 0);
}

TEST_F(Security, APlantedSecretNeverShowsInListingsOrLogs) {
  const std::string secret = "s3cr3t-4f1d2c-never-print-me";
  agent("agent-env",
        "echo \"$AGENT_TOKEN $PROJECT_TOKEN\" > \"$BATON_WORKTREE/../env-seen\"\n"
        "while :; do sleep 1; done\n");
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-env\"]\nenv = { AGENT_TOKEN = \"${PLANTED}\" }\n"
      "[env]\nPROJECT_TOKEN = \"${PLANTED}\"\n"
      "[hooks]\nafter_spawn = [\"true\"]\nbefore_spawn = [\"false\"]\n");
  baton_ok({"allow", repo_});
  auto o = opts();
  o.env["PLANTED"] = secret;
  o.env["OTHER_SECRET"] = secret;
  // A failing hook, a successful handoff and a replace: every path that logs.
  auto failed = baton({"up", repo_, "--detach"}, o);
  EXPECT_NE(failed.status, 0);
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-env\"]\nenv = { AGENT_TOKEN = \"${PLANTED}\" }\n"
      "[env]\nPROJECT_TOKEN = \"${PLANTED}\"\n"
      "[hooks]\nafter_spawn = [\"true\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(baton({"up", repo_, "--detach"}, o).status, 0);
  ASSERT_EQ(baton({"replace", repo_}, o).status, 0);
  std::vector<RunResult> outputs{failed};
  for (const auto& args : std::vector<std::vector<std::string>>{{"ls"},
                                                                {"ls", "--json"},
                                                                {"status", repo_},
                                                                {"status", repo_, "--json"},
                                                                {"sessions"},
                                                                {"sessions", "--all", "--json"},
                                                                {"config", "check", repo_}}) {
    outputs.push_back(baton(args, o));
    EXPECT_EQ(outputs.back().status, 0) << testing::PrintToString(args) << outputs.back().err;
  }
  for (const auto& r : outputs) {
    EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  }
  std::size_t logs = 0;
  for (const auto& e : fs::recursive_directory_iterator(home_ + "/logs")) {
    if (!e.is_regular_file()) continue;
    ++logs;
    EXPECT_EQ(read_file(e.path()).find(secret), std::string::npos) << e.path();
  }
  EXPECT_GE(logs, 1u);
  // The secret did reach the agent, so the test could have seen it leak.
  const std::string seen = home_ + "/worktrees/shop/env-seen";
  EXPECT_TRUE(
      eventually([&] { return read_file(seen).find(secret + " " + secret) != std::string::npos; }));
}

// Issue 14: the environment of a `baton` command may hold keys; it stays in the daemon's
// memory and reaches the agent, but no file baton writes.
TEST_F(Security, ASecretInTheEnvironmentOfUpReplaceAndAllowIsInNoFileUnderBatonHome) {
  const std::string secret = "sk-planted-7e31b9-not-on-disk";
  const std::string seen = tmp_ + "/env-seen";
  agent("agent-env",
        "echo \"$PROJECT_TOKEN $MY_API_KEY\" >> \"" + seen + "\"\nwhile :; do sleep 1; done\n");
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-env\"]\n"
      "[env]\nPROJECT_TOKEN = \"${PLANTED}\"\n"
      "[hooks]\nafter_spawn = [\"true\"]\n");
  auto o = opts();
  o.env["PLANTED"] = secret;
  o.env["MY_API_KEY"] = secret;
  ASSERT_EQ(baton({"allow", repo_}, o).status, 0);
  ASSERT_EQ(baton({"up", repo_, "--detach"}, o).status, 0);
  ASSERT_EQ(baton({"replace", repo_}, o).status, 0);
  ASSERT_EQ(baton({"allow", repo_}, o).status, 0);
  ASSERT_EQ(baton({"status", repo_}, o).status, 0);
  // The secret did reach the agent, twice (up and replace), so it could have leaked.
  ASSERT_TRUE(eventually([&] {
    const std::string text = read_file(seen);
    const auto first = text.find(secret + " " + secret + "\n");
    return first != std::string::npos &&
           text.find(secret + " " + secret + "\n", first + 1) != std::string::npos;
  })) << read_file(seen);
  std::size_t files = 0;
  bool has_store = false;
  for (const auto& e : fs::recursive_directory_iterator(home_)) {
    if (!e.is_regular_file()) continue;
    ++files;
    has_store |= e.path() == fs::path(home_ + "/state/store.json");
    EXPECT_EQ(read_file(e.path()).find(secret), std::string::npos) << e.path();
  }
  EXPECT_TRUE(has_store);
  EXPECT_GE(files, 4u);
}

// After a restart nothing on disk says what the old environment was: a restored orchestrator
// runs with the environment of the command that started the new daemon.
TEST_F(Security, ARestoredOrchestratorGetsTheEnvironmentOfTheCommandThatStartedTheNewDaemon) {
  const std::string seen = tmp_ + "/env-seen";
  agent("agent-env",
        "echo \"token=$PROJECT_TOKEN\" >> \"" + seen + "\"\nwhile :; do sleep 1; done\n");
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-env\"]\n"
      "[env]\nPROJECT_TOKEN = \"${PLANTED}\"\n");
  baton_ok({"allow", repo_});
  auto o = opts();
  o.env["PLANTED"] = "first-key";
  ASSERT_EQ(baton({"up", repo_, "--detach"}, o).status, 0);
  ASSERT_TRUE(eventually([&] { return read_file(seen) == "token=first-key\n"; }))
      << read_file(seen);
  const pid_t old_daemon = daemon_pid();
  baton_ok({"shutdown"});
  ASSERT_TRUE(eventually([&] { return !process_exists(old_daemon); }));
  o.env["PLANTED"] = "second-key";
  ASSERT_EQ(baton({"sessions"}, o).status, 0);
  EXPECT_TRUE(eventually([&] { return read_file(seen) == "token=first-key\ntoken=second-key\n"; }))
      << read_file(seen);
  EXPECT_TRUE(eventually([&] { return status()["health"] == "ok"; })) << status().dump();
}

TEST_F(Security, HooksAndAgentsAreStartedWithArgvAndAStringRunsThroughTheShell) {
  agent("record-args",
        "out=\"$BATON_WORKTREE/../args-$BATON_EVENT\"\n"
        "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$out\"\n");
  agent("agent-args",
        "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$BATON_WORKTREE/../agent-args\"\n"
        "while :; do sleep 1; done\n");
  const std::string tricky = "$(touch pwned-subst); touch pwned-semicolon `touch pwned-tick`";
  config(
      "[orchestrator]\nagent = \"args\"\nlaunch_grace = \"1s\"\n"
      "[agents.args]\ncommand = [\"agent-args\", \"" +
      tricky +
      "\", \"two words\"]\n"
      "[hooks]\nbefore_spawn = [\"" +
      bin_ + "/record-args\", \"" + tricky +
      "\"]\n"
      "after_spawn = \"echo shell-ran-$BATON_EVENT > \\\"$BATON_WORKTREE/../string-hook\\\"\"\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const std::string dir = home_ + "/worktrees/shop";
  EXPECT_TRUE(eventually([&] { return fs::exists(dir + "/agent-args"); }));
  EXPECT_EQ(read_file(dir + "/agent-args"), tricky + "\ntwo words\n");
  EXPECT_EQ(read_file(dir + "/args-before_spawn"), tricky + "\n");
  // A string is documented to run through /bin/sh -c: its variable was expanded.
  EXPECT_TRUE(eventually([&] { return fs::exists(dir + "/string-hook"); }));
  EXPECT_EQ(read_file(dir + "/string-hook"), "shell-ran-after_spawn\n");
  for (const auto& root : {repo_, stable(), dir, home_}) {
    for (const char* f : {"pwned-subst", "pwned-semicolon", "pwned-tick"})
      EXPECT_FALSE(fs::exists(root + "/" + f)) << root << "/" << f;
  }
}

// A cloned repository whose post_create (and a hook) would write a file: nothing runs on up,
// replace or the replace keybinding until `baton allow`; after the file changes, nothing of
// the new content runs, while the running orchestrator keeps the content that was allowed
// (its on_exit hook and its crash relaunch).
TEST_F(Security, ACloneRunsNoRepositoryCommandUntilAllowedAndNothingNewAfterItChanges) {
  const std::string marker = tmp_ + "/post-create-ran";
  const std::string hook_marker = tmp_ + "/hook-ran";
  const std::string new_hook_marker = tmp_ + "/new-hook-ran";
  const std::string allowed_toml =
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[workspace]\npost_create = [\"touch " +
      marker + "\"]\n[hooks]\non_exit = \"touch " + hook_marker + "\"\n";
  config(allowed_toml);
  git({"add", "baton.toml"});
  git({"commit", "-q", "-m", "config"});
  const std::string clone = tmp_ + "/clone";
  ASSERT_EQ(run_process({"git", "clone", "-q", repo_, clone}).status, 0);
  auto o = opts();
  o.cwd = clone;
  const std::string refused =
      "baton: the settings [agents.ok] command, [hooks] on_exit, [orchestrator] agent, "
      "[workspace] post_create in " +
      clone + "/baton.toml are not allowed yet: review them, then run 'baton allow " + clone +
      "'\n";
  auto up = baton({"up", clone, "--detach"}, o);
  EXPECT_NE(up.status, 0);
  EXPECT_EQ(last_line(up.err), refused);
  auto replace = baton({"replace", clone}, o);
  EXPECT_NE(replace.status, 0);
  EXPECT_EQ(last_line(replace.err), refused);
  o.env["BATON_BIN"] = BATON_BIN;
  o.env["BATON_HOME"] = home_;
  auto key =
      run_process({std::string(BATON_SOURCE_DIR) + "/plugin/kitty/baton-kitty", "replace"}, o);
  EXPECT_NE(key.status, 0);
  EXPECT_FALSE(fs::exists(marker));

  baton_ok({"allow", clone}, o);
  ASSERT_EQ(baton({"up", clone, "--detach"}, o).status, 0);
  EXPECT_TRUE(fs::exists(marker));
  // A crash inside the launch grace falls back; this one must come after it, so the
  // orchestrator the crash hits is one whose grace was waited out.
  ASSERT_EQ(baton({"replace", clone, "--wait"}, o).status, 0);
  fs::remove(marker);

  // The file changes (a pull) to another on_exit hook: replace is refused again.
  std::string changed = allowed_toml;
  changed.replace(changed.find(hook_marker), hook_marker.size(), new_hook_marker);
  std::ofstream(clone + "/baton.toml") << changed;
  auto again = baton({"replace", clone}, o);
  EXPECT_NE(again.status, 0);
  EXPECT_EQ(last_line(again.err), refused);
  EXPECT_FALSE(fs::exists(marker));
  nlohmann::json st;
  EXPECT_TRUE(eventually([&] {
    st = nlohmann::json::parse(baton_ok({"status", clone, "--json"}, o));
    return st["allowed"] == false;
  }));
  EXPECT_EQ(st["waiting_keys"].size(), 4u) << st.dump();
  // A crash: the on_exit hook that runs is the allowed one, never the new one, and the
  // relaunch comes from the allowed content too.
  const long pid = st["orchestrator"]["pid"].get<long>();
  kill(static_cast<pid_t>(pid), SIGKILL);
  EXPECT_TRUE(eventually([&] { return fs::exists(hook_marker); }));
  EXPECT_TRUE(eventually(
      [&] {
        st = nlohmann::json::parse(baton_ok({"status", clone, "--json"}, o));
        return st["orchestrator"]["state"] == "active" && st["orchestrator"]["pid"] != pid;
      },
      15000))
      << st.dump();
  EXPECT_FALSE(fs::exists(new_hook_marker));
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_EQ(st["allowed"], false);
}

}  // namespace
}  // namespace baton::test
