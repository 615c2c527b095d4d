// `baton attach` inside real tmux on a private socket: the screen is drawn, resize follows
// the pane, queries are answered once by the attached terminal, detach leaves the session.
#include <string>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;

class TmuxAttach : public BatonTest {
 protected:
  void SetUp() override {
    BatonTest::SetUp();
    if (run_process({"tmux", "-V"}).status != 0) GTEST_SKIP() << "tmux is not installed";
    socket_ = tmp_ + "/tmux.sock";
  }
  void TearDown() override {
    if (!socket_.empty()) tmux({"kill-server"});
    BatonTest::TearDown();
  }

  RunResult tmux(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"tmux", "-S", socket_, "-f", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.env = {{"BATON_HOME", home_}}, .timeout_ms = 10000});
  }

  // A tmux window of cols x rows (no status line) running `baton attach target`.
  void start_attached(const std::string& target, int cols, int rows) {
    auto r = tmux({"new-session", "-d", "-s", "t", "-x", std::to_string(cols), "-y",
                   std::to_string(rows), std::string(BATON_BIN) + " attach " + target, ";", "set",
                   "-g", "status", "off", ";", "set", "-g", "remain-on-exit", "on"});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  // With history: a dead pane's "Pane is dead" line can scroll the last output up.
  std::string pane() { return tmux({"capture-pane", "-p", "-S", "-", "-t", "t"}).out; }

  bool pane_shows(const std::string& text, std::string* last = nullptr) {
    std::string p;
    const bool ok = eventually([&] {
      p = pane();
      return p.find(text) != std::string::npos;
    });
    if (last) *last = p;
    return ok;
  }

  std::string socket_;
};

TEST_F(TmuxAttach, AttachDrawsATuiScreenFollowsResizeAndDetachesWithoutStopping) {
  const std::string tui =
      "printf '\\033[?1049h\\033[2J\\033[5;10HTUI-BOX'; "
      "while :; do printf '\\033[1;1Hsize=%s   ' \"$(stty size)\"; sleep 0.1; done";
  baton_ok({"new", "--name", "tui", "--", "sh", "-c", tui});
  start_attached("tui", 100, 30);
  std::string p;
  EXPECT_TRUE(pane_shows("TUI-BOX", &p)) << p;
  EXPECT_TRUE(pane_shows("size=30 100", &p)) << p;
  // The TUI's box is where it drew it: row 5, column 10.
  auto lines = std::vector<std::string>();
  for (std::size_t s = 0, e; (e = p.find('\n', s)) != std::string::npos; s = e + 1)
    lines.push_back(p.substr(s, e - s));
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[4].find("TUI-BOX"), 9u) << p;

  ASSERT_EQ(tmux({"resize-window", "-t", "t", "-x", "80", "-y", "20"}).status, 0);
  EXPECT_TRUE(pane_shows("size=20 80", &p)) << p;

  ASSERT_EQ(tmux({"send-keys", "-t", "t", "C-\\"}).status, 0);
  EXPECT_TRUE(pane_shows("[detached (from session tui)]", &p)) << p;
  auto j = Json::parse(baton_ok({"sessions", "--json"}));
  ASSERT_EQ(j["sessions"].size(), 1u);
  EXPECT_EQ(j["sessions"][0]["state"], "running");

  // Attaching again draws the current screen at once.
  tmux({"kill-session", "-t", "t"});
  start_attached("tui", 100, 30);
  EXPECT_TRUE(pane_shows("TUI-BOX", &p)) << p;
}

TEST_F(TmuxAttach, TypedKeysReachTheSession) {
  baton_ok({"new", "--name", "ask", "--", "sh", "-c",
            "printf 'answer? '; read answer; echo \"you said $answer\"; sleep 100"});
  start_attached("ask", 80, 24);
  std::string p;
  // Keys typed before the client switched its terminal to raw mode would be flushed.
  ASSERT_TRUE(pane_shows("answer?", &p)) << p;
  ASSERT_EQ(tmux({"send-keys", "-t", "t", "forty-two", "Enter"}).status, 0);
  EXPECT_TRUE(pane_shows("you said forty-two", &p)) << p;
}

TEST_F(TmuxAttach, AQueryIsAnsweredOnlyByTheAttachedTerminal) {
  baton_ok({"new", "--name", "probe", "--", "sh", "-c",
            std::string("printf 'ready? '; read go; exec ") + QUERY_PROBE_BIN});
  start_attached("probe", 80, 24);
  std::string p;
  ASSERT_TRUE(pane_shows("ready?", &p)) << p;
  ASSERT_EQ(tmux({"send-keys", "-t", "t", "Enter"}).status, 0);
  EXPECT_TRUE(pane_shows("answers", &p)) << p;
  EXPECT_NE(p.find("answers cpr=1 da=1"), std::string::npos) << p;
}

TEST_F(TmuxAttach, AReadOnlyClientCannotType) {
  baton_ok({"new", "--name", "ro", "--", "sh", "-c",
            "printf 'type: '; read l; echo \"typed:$l\"; sleep 100"});
  auto r = tmux({"new-session", "-d", "-s", "t", "-x", "80", "-y", "24",
                 std::string(BATON_BIN) + " attach --read-only ro"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string p;
  ASSERT_TRUE(pane_shows("type:", &p)) << p;
  tmux({"send-keys", "-t", "t", "secret", "Enter"});
  baton_ok({"send", "ro", "--keys", "visible", "Enter"});
  std::string screen;
  EXPECT_TRUE(eventually([&] {
    screen = capture("ro");
    return screen.find("typed:") != std::string::npos;
  })) << screen;
  EXPECT_NE(screen.find("typed:visible"), std::string::npos) << screen;
  EXPECT_EQ(screen.find("secret"), std::string::npos) << screen;
}

}  // namespace
}  // namespace baton::test
