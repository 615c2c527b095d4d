// The allow prompt (issue 20, point 5): `up` and `replace` run in a real terminal (a tmux pane
// on a private socket) show what the repository's config would set and ask `Allow? [y/N]`;
// `y` allows exactly what was shown and goes on, anything else refuses with the usual line.
// Without a terminal, and with `up --detach`, the one-line refusal stays.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

namespace fs = std::filesystem;

class AllowPrompt : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    if (run_process({"tmux", "-V"}).status != 0) GTEST_SKIP() << "tmux is not installed";
    socket_ = tmp_ + "/tmux.sock";
    // Changed after the fixture's allow: it waits for an allow again.
    config(
        "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
        "[agents.ok]\ncommand = [\"agent-ok\"]\n"
        "[env]\nGREETING = \"hello\"\nTOKEN = \"${TOKEN}\"\n");
  }

  void TearDown() override {
    if (!socket_.empty()) tmux({"kill-server"});
    OrchestratorE2E::TearDown();
  }

  RunResult tmux(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"tmux", "-S", socket_, "-f", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto o = opts();
    o.env["BATON_HOME"] = home_;
    o.env["TOKEN"] = "s3cret";
    o.timeout_ms = 10000;
    return run_process(argv, o);
  }

  // `baton ARGS` in a 160x40 pane of its own; the pane stays after it exits, showing EXIT=N.
  void run_in_terminal(const std::string& args) {
    auto r = tmux({"new-session", "-d", "-s", "t", "-x", "160", "-y", "40", "-c", repo_,
                   "'" + std::string(BATON_BIN) + "' " + args + "; echo EXIT=$?; sleep 600"});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  // Wrapped lines joined (-J): a refusal is one line however wide the pane.
  std::string pane() { return tmux({"capture-pane", "-p", "-J", "-S", "-", "-t", "t"}).out; }

  bool pane_shows(const std::string& text, std::string* last) {
    return eventually(
        [&] {
          *last = pane();
          return last->find(text) != std::string::npos;
        },
        15000);
  }

  void answer(const std::string& keys) {
    ASSERT_EQ(tmux({"send-keys", "-t", "t", keys, "Enter"}).status, 0);
  }

  bool is_allowed() { return status()["allowed"] == true; }

  std::string socket_;
};

TEST_F(AllowPrompt, UpShowsTheSettingsAndYAllowsThemAndStartsTheOrchestrator) {
  run_in_terminal("up");
  std::string p;
  ASSERT_TRUE(pane_shows("Allow? [y/N]", &p)) << p;
  EXPECT_NE(p.find("baton: " + repo_ +
                   "/baton.toml sets what takes effect only after you allow "
                   "it:\n"
                   "  [agents.ok] command = [\"agent-ok\"]\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("  [env] GREETING = \"hello\"\n"), std::string::npos) << p;
  // As the file writes it: the reference, never the value it reads.
  EXPECT_NE(p.find("  [env] TOKEN = \"${TOKEN}\"\n"), std::string::npos) << p;
  EXPECT_EQ(p.find("s3cret"), std::string::npos) << p;
  EXPECT_FALSE(is_allowed());

  answer("y");
  EXPECT_TRUE(pane_shows("AGENT", &p)) << p;
  EXPECT_TRUE(is_allowed());
  EXPECT_EQ(status()["orchestrator"]["state"], "active");
}

TEST_F(AllowPrompt, UpRefusesWithTheUsualLineOnAnyOtherAnswer) {
  run_in_terminal("up");
  std::string p;
  ASSERT_TRUE(pane_shows("Allow? [y/N]", &p)) << p;
  answer("n");
  ASSERT_TRUE(pane_shows("EXIT=1", &p)) << p;
  EXPECT_NE(p.find("Allow? [y/N] n\nbaton: the settings [agents.ok] command, [env] GREETING, "
                   "[env] TOKEN, [orchestrator] agent in " +
                   repo_ + "/baton.toml are not allowed yet: review them, then run 'baton allow " +
                   repo_ + "'\nEXIT=1"),
            std::string::npos)
      << p;
  EXPECT_FALSE(is_allowed());
  EXPECT_TRUE(status()["orchestrator"].is_null());
}

TEST_F(AllowPrompt, ReplaceAsksTooAndGoesOnAfterY) {
  baton_ok({"allow", repo_}, opts());
  baton_ok({"up", repo_, "--detach"}, opts());
  const std::string old_id = status()["orchestrator"]["id"];
  std::ofstream(repo_ + "/baton.toml", std::ios::app) << "PAGER = \"less\"\n";
  run_in_terminal("replace");
  std::string p;
  ASSERT_TRUE(pane_shows("Allow? [y/N]", &p)) << p;
  EXPECT_NE(p.find("  [env] PAGER = \"less\"\n"), std::string::npos) << p;
  answer("y");
  ASSERT_TRUE(pane_shows("EXIT=0", &p)) << p;
  EXPECT_TRUE(is_allowed());
  const std::string new_id = status()["orchestrator"]["id"];
  EXPECT_NE(new_id, old_id);
  EXPECT_NE(p.find(new_id + "\n"), std::string::npos) << p;
}

// What the user read is what gets allowed: a file edited while the prompt waits is refused.
TEST_F(AllowPrompt, AFileChangedWhileThePromptWaitsIsNotAllowed) {
  run_in_terminal("up");
  std::string p;
  ASSERT_TRUE(pane_shows("Allow? [y/N]", &p)) << p;
  std::ofstream(repo_ + "/baton.toml", std::ios::app) << "LD_PRELOAD = \"/tmp/evil.so\"\n";
  answer("y");
  ASSERT_TRUE(pane_shows("EXIT=1", &p)) << p;
  EXPECT_NE(p.find("baton: the config of " + repo_ +
                   " changed since it was shown; nothing was allowed\n"),
            std::string::npos)
      << p;
  EXPECT_FALSE(is_allowed());
  EXPECT_TRUE(status()["orchestrator"].is_null());
}

TEST_F(AllowPrompt, WithoutATerminalOrWithDetachTheRefusalStays) {
  // stdin and stdout are pipes: a script, a keybinding's run-shell.
  auto piped = b({"up", repo_});
  EXPECT_EQ(piped.status, 1);
  EXPECT_EQ(piped.out.find("Allow?"), std::string::npos) << piped.out;
  EXPECT_NE(last_line(piped.err).find("are not allowed yet"), std::string::npos) << piped.err;
  auto replace = b({"replace", repo_});
  EXPECT_EQ(replace.status, 1);
  EXPECT_EQ(replace.out.find("Allow?"), std::string::npos) << replace.out;

  run_in_terminal("up --detach");
  std::string p;
  ASSERT_TRUE(pane_shows("EXIT=1", &p)) << p;
  EXPECT_EQ(p.find("Allow?"), std::string::npos) << p;
  EXPECT_NE(p.find("are not allowed yet"), std::string::npos) << p;
  EXPECT_FALSE(is_allowed());
}

}  // namespace
}  // namespace baton::test
