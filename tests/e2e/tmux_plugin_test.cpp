// The multiplexer plugins. plugin/tmux/baton.tmux in real tmux: an inner server on a private
// socket loads the plugin, and its client runs inside a pane of an outer server, because key
// bindings fire only on a client's input (send-keys to a pane bypasses the key tables). Keys
// are typed with send-keys to the outer pane; what the user sees is capture-pane of the outer
// pane. The popup test renders that screen to the README's screenshot. plugin/kitty: baton.conf
// through kitty's own config parser, its script run as kitty would run it, and a real kitty on a
// virtual X display (Xvfb) whose keys are typed with xdotool.
#include <signal.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

// The width and height in a PNG's IHDR chunk, or {0, 0} when `data` is no whole PNG (the
// signature, IHDR first, IEND last).
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& data) {
  const std::string signature = "\x89PNG\r\n\x1a\n";
  const std::string iend("\0\0\0\0IEND\xae\x42\x60\x82", 12);
  if (data.size() < 45 || data.compare(0, 8, signature) != 0 || data.compare(12, 4, "IHDR") != 0 ||
      data.compare(data.size() - 12, 12, iend) != 0)
    return {0, 0};
  const auto be32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(data[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

// scripts/render-screenshot runs with Debian's python3 and PIL and the DejaVu fonts
// (scripts/setup --test); without them the tests take no screenshot.
bool can_render_screenshots() {
  return fs::exists("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf") &&
         run_process({"/usr/bin/python3", "-c", "import PIL"}).status == 0;
}

// A repository "my shop" (project shop) whose orchestrator, shop-1, is a fake agent.
class PluginTest : public BatonTest {
 protected:
  void SetUp() override {
    BatonTest::SetUp();
    // A space in every path the plugin hands around: the repository and the binaries.
    repo_ = tmp_ + "/my shop";
    bin_ = tmp_ + "/agent bin";
    fs::create_directories(repo_);
    fs::create_directories(bin_);
    git({"init", "-q", "-b", "main"});
    write(repo_ + "/README.md", "shop\n");
    git({"add", "."});
    git({"commit", "-q", "-m", "init"});
    // It says who it is, then draws a few lines the way an agent's screen looks, in colour
    // (named, 256-colour and truecolour), for the README's screenshot of the popup.
    agent("agent-fake",
          "printf '\\033[1;36mFAKE AGENT\\033[0m %s session=%s branch=%s\\n\\n' \"$1\" "
          "\"$BATON_SESSION\" \"$(git rev-parse --abbrev-ref HEAD)\"\n"
          "printf '\\033[1;48;5;237m > Plan the next release and keep the workers busy. "
          "\\033[0m\\n\\n'\n"
          "printf '\\033[32m●\\033[0m Read README.md, baton.toml and the three open issues.\\n'\n"
          "printf '\\033[32m●\\033[0m Ran the tests on main: \\033[1;32m42 passed\\033[0m.\\n'\n"
          "printf '\\033[32m●\\033[0m Next: the checkout flow \\033[38;5;214m#12\\033[0m, "
          "then the cache \\033[38;5;214m#14\\033[0m.\\n'\n"
          "printf '  \\033[38;5;245m└ waiting for your go-ahead\\033[0m\\n\\n'\n"
          "printf '\\033[38;2;130;140;160m? for shortcuts\\033[0m\\n'\n"
          "while :; do sleep 1; done\n");
    config("fake");
    ASSERT_EQ(b({"up", repo_, "--detach"}).out, "shop-1\n");
  }

  void write(const std::string& path, const std::string& content) {
    std::ofstream(path) << content;
  }

  void agent(const std::string& name, const std::string& body) {
    const std::string path = bin_ + "/" + name;
    write(path, "#!/bin/sh\n" + body);
    chmod(path.c_str(), 0755);
  }

  // The configured orchestrator: [agents.fake] and [agents.other] both run agent-fake.
  void config(const std::string& agent_name) {
    write(repo_ + "/baton.toml", "[project]\nname = \"shop\"\n[orchestrator]\nagent = \"" +
                                     agent_name +
                                     "\"\nlaunch_grace = \"1s\"\n"
                                     "[agents.fake]\ncommand = [\"agent-fake\", \"fake\"]\n"
                                     "[agents.other]\ncommand = [\"agent-fake\", \"other\"]\n");
    baton_ok({"allow", repo_}, RunOptions{.env = env()});
  }

  RunResult git(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"git", "-c", "user.name=t", "-c", "user.email=t@t"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.cwd = repo_});
  }

  std::map<std::string, std::string> env() {
    return {{"BATON_HOME", home_},
            {"PATH", bin_ + ":" + std::string(std::getenv("PATH"))},
            {"TMUX", ""}};
  }

  RunResult b(const std::vector<std::string>& args) {
    return baton(args, RunOptions{.env = env()});
  }

  Json status() { return Json::parse(b({"status", repo_, "--json"}).out); }

  std::string repo_, bin_;
};

class TmuxPlugin : public PluginTest {
 protected:
  void SetUp() override {
    if (run_process({"tmux", "-V"}).status != 0) {
      // Only BatonTest's temp dir (its TearDown needs it), not PluginTest's repository: the
      // test is skipped.
      BatonTest::SetUp();  // NOLINT(bugprone-parent-virtual-call)
      GTEST_SKIP() << "tmux is not installed";
    }
    PluginTest::SetUp();
    inner_ = tmp_ + "/inner.sock";
    outer_ = tmp_ + "/outer.sock";
  }

  void TearDown() override {
    if (started_outer_) tmux_at(outer_, {"kill-server"});
    if (started_inner_) tmux_at(inner_, {"kill-server"});
    PluginTest::TearDown();
  }

  RunResult tmux_at(const std::string& socket, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"tmux", "-S", socket};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.env = env(), .timeout_ms = 10000});
  }
  RunResult inner(const std::vector<std::string>& args) { return tmux_at(inner_, args); }

  // The inner server: `options` (tmux.conf lines) then the plugin, a session in the repo, and
  // a client of it attached inside the outer server's 140x40 pane.
  void start(const std::string& options) {
    const std::string conf = tmp_ + "/tmux.conf";
    write(conf, "set -g @baton-bin '" + std::string(BATON_BIN) +
                    "'\n"
                    "set -g status-interval 1\n"
                    "set -g status-right '[#{baton_status}]'\n"
                    "set -g status-right-length 60\n" +
                    options + "run-shell '" + BATON_TMUX_PLUGIN + "'\n");
    auto r = tmux_at(inner_, {"-f", conf, "new-session", "-d", "-s", "in", "-x", "140", "-y", "40",
                              "-c", repo_});
    ASSERT_EQ(r.status, 0) << r.err;
    started_inner_ = true;
    r = tmux_at(outer_, {"-f", "/dev/null", "new-session", "-d", "-s", "out", "-x", "140", "-y",
                         "40", "env -u TMUX tmux -S '" + inner_ + "' attach -t in", ";", "set",
                         "-g", "status", "off"});
    ASSERT_EQ(r.status, 0) << r.err;
    started_outer_ = true;
    ASSERT_TRUE(eventually([&] { return !inner({"list-clients"}).out.empty(); })) << screen();
  }

  // What the user sees: the inner client's screen, popups and status line included.
  std::string screen() { return tmux_at(outer_, {"capture-pane", "-p", "-t", "out"}).out; }

  bool screen_shows(const std::string& text, std::string* last, int timeout_ms = 15000) {
    return eventually(
        [&] {
          *last = screen();
          return last->find(text) != std::string::npos;
        },
        timeout_ms);
  }

  // The outer pane with its colours (capture-pane -e), rendered to
  // build/screenshots/NAME.png: 140x40 cells of 9x18 pixels and 10 pixels of padding.
  void screenshot(const std::string& name) {
    if (!can_render_screenshots()) {
      std::cout << "no screenshot " << name << ": python3-pil or fonts-dejavu-core missing\n";
      return;
    }
    const auto captured = tmux_at(outer_, {"capture-pane", "-e", "-p", "-t", "out"});
    ASSERT_EQ(captured.status, 0) << captured.err;
    const std::string text = tmp_ + "/" + name + ".ansi";
    write(text, captured.out);
    fs::create_directories(BATON_SCREENSHOT_DIR);
    const std::string png = std::string(BATON_SCREENSHOT_DIR) + "/" + name + ".png";
    fs::remove(png);
    const auto r = run_process(
        {"/usr/bin/python3", BATON_RENDER_SCREENSHOT, "--cols", "140", "--rows", "40", text, png});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(png_size(read_file(png)), std::make_pair(140u * 9 + 20, 40u * 18 + 20)) << png;
  }

  void type(const std::vector<std::string>& keys) {
    std::vector<std::string> args{"send-keys", "-t", "out"};
    args.insert(args.end(), keys.begin(), keys.end());
    ASSERT_EQ(tmux_at(outer_, args).status, 0);
  }

  std::string prefix_keys() { return inner({"list-keys", "-T", "prefix"}).out; }

  // The line of `list-keys -T prefix` binding `key`, or "".
  std::string binding(const std::string& key) {
    const std::string keys = prefix_keys();
    const std::string needle = "-T prefix " + key + " ";
    const auto at = keys.find(needle);
    if (at == std::string::npos) return {};
    return keys.substr(at, keys.find('\n', at) - at);
  }

  std::string inner_, outer_;
  bool started_inner_ = false, started_outer_ = false;
};

TEST_F(TmuxPlugin, BindsTheKeysAndInterpolatesTheStatusSegment) {
  ASSERT_NO_FATAL_FAILURE(start("set -g status-left '#{baton_status}|'\n"));
  const std::string attach = binding("O");
  EXPECT_NE(attach.find("display-popup -E -d \"#{pane_current_path}\""), std::string::npos)
      << attach;
  EXPECT_NE(attach.find("-w \"80%\""), std::string::npos) << attach;
  EXPECT_NE(attach.find("BATON_TMUX_HELPER"), std::string::npos) << attach;
  const std::string replace = binding("R");
  EXPECT_NE(replace.find("confirm-before -p \"Replace orchestrator? (y/n)\""), std::string::npos)
      << replace;
  EXPECT_NE(replace.find("run-shell -b"), std::string::npos) << replace;

  const std::string segment =
      "#('" + std::string(BATON_BIN) + "' status --tmux #{q:pane_current_path})";
  EXPECT_EQ(inner({"show-options", "-gqv", "status-right"}).out, "[" + segment + "]\n");
  EXPECT_EQ(inner({"show-options", "-gqv", "status-left"}).out, segment + "|\n");
  // The segment runs `baton status --tmux` for the active pane's directory.
  std::string s;
  EXPECT_TRUE(screen_shows("[fake ok idle]", &s)) << s;
}

TEST_F(TmuxPlugin, OptionsChooseKeysSizeAndConfirmationAndEmptyBindsNothing) {
  ASSERT_NO_FATAL_FAILURE(
      start("set -g @baton-attach-key 'M-o'\n"
            "set -g @baton-replace-key ''\n"
            "set -g @baton-popup-size 50%\n"
            "set -g @baton-confirm off\n"));
  EXPECT_EQ(binding("R"), "");
  EXPECT_EQ(binding("O"), "");
  const std::string attach = binding("M-o");
  EXPECT_NE(attach.find("-w \"50%\" "), std::string::npos) << attach;
  // Nothing else of the plugin's is bound.
  const std::string keys = prefix_keys();
  std::size_t count = 0;
  for (std::size_t at = keys.find("BATON_TMUX_HELPER"); at != std::string::npos;
       at = keys.find("BATON_TMUX_HELPER", at + 1))
    ++count;
  EXPECT_EQ(count, 1u) << keys;

  // With the confirmation off, a replace key runs at once.
  inner({"set", "-g", "@baton-replace-key", "C-r"});
  ASSERT_EQ(inner({"run-shell", BATON_TMUX_PLUGIN}).status, 0);
  const std::string replace = binding("C-r");
  EXPECT_EQ(replace.find("confirm-before"), std::string::npos) << replace;
  EXPECT_NE(replace.find("run-shell -b"), std::string::npos) << replace;
  type({"C-b", "C-r"});
  std::string s;
  EXPECT_TRUE(screen_shows("baton: new orchestrator shop-2", &s)) << s;
}

TEST_F(TmuxPlugin, ReplaceKeyAsksThenMakesANewOrchestratorAndSaysSo) {
  ASSERT_NO_FATAL_FAILURE(start(""));
  std::string s;
  ASSERT_TRUE(screen_shows("[fake ok ", &s)) << s;
  // The configuration now asks for another agent: the segment says a restart is needed.
  config("other");
  ASSERT_TRUE(screen_shows("[fake restart! ", &s)) << s;

  type({"C-b", "R"});
  ASSERT_TRUE(screen_shows("Replace orchestrator? (y/n)", &s)) << s;
  type({"y"});
  EXPECT_TRUE(screen_shows("baton: new orchestrator shop-2 (gap ", &s)) << s;
  auto st = status();
  EXPECT_EQ(st["health"], "ok");
  EXPECT_EQ(st["active_count"], 1);
  EXPECT_EQ(st["orchestrator"]["id"], "shop-2");
  EXPECT_EQ(st["orchestrator"]["agent"], "other");
  EXPECT_EQ(st["orchestrator"]["branch"], "baton/shop-orchestrator");
  std::string shop2;
  EXPECT_TRUE(eventually([&] {
    shop2 = capture("shop-2");
    return shop2.find("FAKE AGENT other session=shop-2 branch=baton/shop-orchestrator") !=
           std::string::npos;
  })) << shop2;
  EXPECT_TRUE(screen_shows("[other ok ", &s)) << s;

  // Any other answer than y replaces nothing.
  type({"C-b", "R"});
  ASSERT_TRUE(screen_shows("Replace orchestrator? (y/n)", &s)) << s;
  type({"n"});
  EXPECT_TRUE(eventually([&] {
    return screen().find("Replace orchestrator?") == std::string::npos;
  })) << screen();
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-2");
}

TEST_F(TmuxPlugin, ReplaceKeyOutsideAProjectShowsBatonsError) {
  ASSERT_NO_FATAL_FAILURE(start(""));
  const std::string elsewhere = tmp_ + "/not a repo";
  fs::create_directories(elsewhere);
  const auto direct = b({"replace", "--wait", elsewhere});
  ASSERT_EQ(direct.status, 1);
  ASSERT_EQ(direct.err.rfind("baton: ", 0), 0u) << direct.err;
  const std::string error = direct.err.substr(0, direct.err.find('\n'));

  ASSERT_EQ(inner({"new-window", "-t", "in", "-c", elsewhere}).status, 0);
  std::string s;
  ASSERT_TRUE(screen_shows("1:", &s)) << s;
  type({"C-b", "R"});
  ASSERT_TRUE(screen_shows("Replace orchestrator? (y/n)", &s)) << s;
  type({"y"});
  // The status line shows as much of the one-line error as fits.
  EXPECT_TRUE(screen_shows(error.substr(0, 60), &s)) << s << "\nexpected: " << error;
  EXPECT_EQ(s.find("returned 1"), std::string::npos) << s;
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-1");
  // The segment is empty for a directory that is no project.
  EXPECT_TRUE(screen_shows("[]", &s)) << s;
}

TEST_F(TmuxPlugin, AttachKeyOpensAPopupOnTheOrchestrator) {
  // A plain shell prompt in the pane, not whatever the user's shell startup draws (slowly).
  ASSERT_NO_FATAL_FAILURE(start("set -g default-command 'PS1=\"~/my shop $ \" exec sh'\n"));
  std::string s;
  ASSERT_TRUE(screen_shows("~/my shop $", &s)) << s;
  ASSERT_TRUE(screen_shows("[fake ok ", &s)) << s;
  type({"C-b", "O"});
  // The agent's whole screen, down to its last line.
  ASSERT_TRUE(screen_shows("? for shortcuts", &s)) << s;
  // Inside a popup: a border around it, 80% of 140 columns wide.
  EXPECT_NE(s.find("│FAKE AGENT fake session=shop-1"), std::string::npos) << s;
  EXPECT_NE(s.find("┌" +
                   [] {
                     std::string line;
                     for (int i = 0; i < 110; ++i) line += "─";
                     return line;
                   }()),
            std::string::npos)
      << s;
  // What the user sees now, colours and all: the README's screenshot (docs/images/).
  ASSERT_NO_FATAL_FAILURE(screenshot("tmux-popup"));
  // It runs baton attach: typing reaches the orchestrator's terminal.
  type({"hello-from-popup"});
  EXPECT_TRUE(eventually([&] {
    return capture("shop-1").find("hello-from-popup") != std::string::npos;
  })) << capture("shop-1");
  // Ctrl-\ detaches; the popup closes and the orchestrator runs on.
  type({"C-\\"});
  EXPECT_TRUE(eventually([&] { return screen().find("FAKE AGENT") == std::string::npos; }))
      << screen();
  EXPECT_EQ(status()["orchestrator"]["state"], "active");
}

TEST_F(TmuxPlugin, AttachKeyOutsideAProjectSaysSo) {
  ASSERT_NO_FATAL_FAILURE(start(""));
  const std::string elsewhere = tmp_ + "/not a repo";
  fs::create_directories(elsewhere);
  const auto direct = b({"attach", elsewhere});
  ASSERT_EQ(direct.status, 1);
  ASSERT_EQ(direct.err.rfind("baton: ", 0), 0u) << direct.err;
  const std::string error = direct.err.substr(0, direct.err.find('\n'));

  ASSERT_EQ(inner({"new-window", "-t", "in", "-c", elsewhere}).status, 0);
  std::string s;
  ASSERT_TRUE(screen_shows("1:", &s)) << s;
  type({"C-b", "O"});
  EXPECT_TRUE(screen_shows(error.substr(0, 60), &s)) << s << "\nexpected: " << error;
  EXPECT_EQ(s.find("FAKE AGENT"), std::string::npos) << s;
}

// plugin/kitty/baton-kitty, as kitty's `launch` runs it: in the window's directory, with the
// environment kitty.conf gives it (BATON_BIN).
class KittyPlugin : public PluginTest {
 protected:
  RunResult script(const std::vector<std::string>& args, const std::string& cwd,
                   const std::string& input = "") {
    std::vector<std::string> argv{std::string(BATON_KITTY_DIR) + "/baton-kitty"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto e = env();
    e["BATON_BIN"] = BATON_BIN;
    e["KITTY_WINDOW_ID"] = "";
    e["KITTY_LISTEN_ON"] = "";
    return run_process(argv, RunOptions{.env = e, .input = input, .timeout_ms = 60000, .cwd = cwd});
  }
};

// kitty's own parser reads baton.conf as a user's kitty.conf would include it: no bad line,
// both keys free in kitty's defaults (where kitty_mod+o and kitty_mod+r are taken), and
// exe_search_path finds the script.
TEST_F(KittyPlugin, ConfParsesWithKittysOwnParserOnFreeKeys) {
  if (run_process({"kitty", "--version"}).status != 0) GTEST_SKIP() << "kitty is not installed";
  const std::string conf = tmp_ + "/kitty.conf";
  write(conf, "include " + std::string(BATON_KITTY_DIR) + "/baton.conf\nexe_search_path +" +
                  BATON_KITTY_DIR + "\nenv BATON_BIN=" + BATON_BIN + "\n");
  const std::string check = tmp_ + "/check.py";
  write(check,
        "import sys\n"
        "from kitty.config import load_config\n"
        "from kitty.fast_data_types import set_options\n"
        "from kitty.utils import which\n"
        "bad = []\n"
        "opts = load_config(sys.argv[-1], accumulate_bad_lines=bad)\n"
        "defaults = load_config()\n"
        "taken = {(k.mods, k.key) for k in defaults.keymap}\n"
        "print('bad lines', len(bad), [b.line for b in bad])\n"
        "for key in ('o', 'r'):\n"
        "    print('default kitty_mod+' + key, (5, ord(key)) in taken)\n"
        "for k, v in opts.keymap.items():\n"
        "    if 'baton' in repr(v):\n"
        "        print('map', k.mods, chr(k.key), repr(v), 'taken' if k in defaults.keymap else "
        "'free')\n"
        "set_options(opts)\n"
        "print('which', which('baton-kitty'))\n");
  auto r = run_process({"kitty", "+runpy", "exec(open('" + check + "').read())", conf},
                       RunOptions{.env = {{"HOME", tmp_}}});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("bad lines 0 []\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("default kitty_mod+o True\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("default kitty_mod+r True\n"), std::string::npos) << r.out;
  // ctrl+shift+alt (7): kitty_mod+alt+o and kitty_mod+alt+r.
  EXPECT_NE(r.out.find("map 7 o 'launch --type=overlay --cwd=current baton-kitty attach' free\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("map 7 r 'launch --type=background --cwd=current --env BATON_KITTY=1 "
                       "baton-kitty replace' free\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("which " + std::string(BATON_KITTY_DIR) + "/baton-kitty\n"),
            std::string::npos)
      << r.out;
}

TEST_F(KittyPlugin, ReplaceNotifiesTheNewSessionThroughNotifySend) {
  agent("notify-send", "printf '%s|' \"$@\" >> '" + tmp_ + "/notified'\n");
  auto r = script({"replace"}, repo_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string notified = read_file(tmp_ + "/notified");
  EXPECT_EQ(notified.rfind("baton|baton: orchestrator replaced by shop-2 (gap ", 0), 0u)
      << notified;
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-2");
}

TEST_F(KittyPlugin, WithoutANotifierTheErrorEndsOnStderr) {
  agent("notify-send", "exit 1\n");  // as when there is no notification daemon
  const std::string elsewhere = tmp_ + "/not a repo";
  fs::create_directories(elsewhere);
  auto r = script({"replace"}, elsewhere);
  EXPECT_EQ(r.status, 1);
  // baton's one-line error, said once: "baton: replace failed: no project at ...".
  const auto direct = b({"replace", "--wait", elsewhere});
  ASSERT_EQ(direct.err.rfind("baton: ", 0), 0u) << direct.err;
  EXPECT_EQ(r.err, "baton: replace failed: " + direct.err.substr(7)) << r.err;
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-1");
}

TEST_F(KittyPlugin, AttachOutsideAProjectKeepsTheErrorOnScreen) {
  const std::string elsewhere = tmp_ + "/not a repo";
  fs::create_directories(elsewhere);
  auto r = script({"attach"}, elsewhere, "\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("baton: "), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("[press Enter to close]"), std::string::npos) << r.out;
}

// A real kitty on a virtual X display: Xvfb, with Mesa's software OpenGL. Its
// kitty.conf is what a user writes (include baton.conf, exe_search_path, BATON_BIN); the test
// alone adds remote control on a socket of its own, to read the screen with `kitty @ get-text`.
// Keys are typed with xdotool (XTEST) into the focused kitty window, as a keyboard would.
class KittyWindow : public KittyPlugin {
 protected:
  void SetUp() override {
    if (run_process({"sh", "-c", "command -v kitty && command -v Xvfb && command -v xdotool"})
            .status != 0) {
      // Only BatonTest's temp dir (its TearDown needs it), not PluginTest's repository: the
      // test is skipped.
      BatonTest::SetUp();  // NOLINT(bugprone-parent-virtual-call)
      GTEST_SKIP() << "kitty, Xvfb or xdotool is not installed";
    }
    KittyPlugin::SetUp();
  }

  void TearDown() override {
    if (group_ > 0) {
      // kitty closes its windows on SIGTERM (their programs get SIGHUP); Xvfb removes its lock.
      kill(-group_, SIGTERM);
      if (!eventually([&] { return kill(-group_, 0) != 0; }, 5000)) kill(-group_, SIGKILL);
    }
    KittyPlugin::TearDown();
  }

  std::map<std::string, std::string> x_env() {
    auto e = env();
    e["DISPLAY"] = display_;
    return e;
  }

  // kitty with a window running a shell in the repository, on a display of its own.
  void start() {
    write(tmp_ + "/kitty.conf", "include " + std::string(BATON_KITTY_DIR) +
                                    "/baton.conf\n"
                                    "exe_search_path +" +
                                    BATON_KITTY_DIR + "\nenv BATON_BIN=" + BATON_BIN + "\n");
    // Xvfb picks a free display itself (-displayfd), so tests running side by side cannot
    // race for one; the script prints the new session (Xvfb and kitty) to stop at the end.
    write(
        tmp_ + "/start-kitty",
        "cd \"$1\" && mkfifo displayfd || exit 1\n"
        "setsid sh -c '\n"
        "  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>displayfd &\n"
        "  read -r n <displayfd && echo \":$n\" >display || exit 1\n"
        "  DISPLAY=\":$n\" exec kitty --config kitty.conf -o allow_remote_control=socket-only \\\n"
        "    --listen-on \"unix:$1/kitty.sock\" --directory \"$2\" sh' sh \"$1\" \"$2\" \\\n"
        "  >kitty.log 2>&1 </dev/null &\n"
        "echo $!\n");
    auto e = env();
    e["HOME"] = tmp_;
    e["LIBGL_ALWAYS_SOFTWARE"] = "1";
    e["PS1"] = "shop-shell$ ";
    const auto r = run_process({"sh", tmp_ + "/start-kitty", tmp_, repo_}, RunOptions{.env = e});
    ASSERT_EQ(r.status, 0) << r.err;
    group_ = static_cast<pid_t>(std::atol(r.out.c_str()));
    ASSERT_GT(group_, 0) << r.out;
    ASSERT_TRUE(eventually([&] { return kitty({"ls"}).status == 0; }, 60000))
        << read_file(tmp_ + "/kitty.log");
    display_ = read_file(tmp_ + "/display");
    display_ = display_.substr(0, display_.find('\n'));
    ASSERT_FALSE(display_.empty());
    // Focus the window: there is no window manager to give it the keyboard.
    const auto window = xdotool({"search", "--sync", "--class", "kitty"});
    ASSERT_EQ(window.status, 0) << window.err;
    window_ = window.out.substr(0, window.out.find('\n'));
    ASSERT_EQ(xdotool({"windowfocus", "--sync", window_}).status, 0);
    // The shell is up in the repository: --cwd=current reads the foreground process's cwd.
    ASSERT_TRUE(eventually([&] { return text().find("shop-shell$") != std::string::npos; }, 30000))
        << text();
  }

  RunResult kitty(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"kitty", "@", "--to", "unix:" + tmp_ + "/kitty.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.env = {{"HOME", tmp_}}, .timeout_ms = 20000});
  }

  RunResult xdotool(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"xdotool"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.env = x_env(), .timeout_ms = 20000});
  }

  void press(const std::string& keys) {
    ASSERT_EQ(xdotool({"key", "--clearmodifiers", keys}).status, 0);
  }

  // The screen of kitty's active window (an overlay, when one is open).
  std::string text() { return kitty({"get-text"}).out; }

  // The windows of kitty's one tab, an overlay beside the window it covers.
  Json windows() {
    const auto r = kitty({"ls"});
    if (r.status != 0) return Json::array();
    return Json::parse(r.out)[0]["tabs"][0]["windows"];
  }

  pid_t group_ = -1;
  std::string display_, window_;
};

TEST_F(KittyWindow, AttachKeyOpensAnOverlayOnTheOrchestrator) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(press("ctrl+shift+alt+o"));
  std::string t;
  EXPECT_TRUE(eventually(
      [&] {
        t = text();
        return t.find("FAKE AGENT fake session=shop-1 branch=baton/shop-orchestrator") !=
               std::string::npos;
      },
      30000))
      << t << read_file(tmp_ + "/kitty.log");
  // An overlay over the shell's window, the same size, started in the shell's directory.
  const Json w = windows();
  ASSERT_EQ(w.size(), 2u) << w.dump(2);
  EXPECT_EQ(w[0]["cmdline"], Json::array({"sh"})) << w.dump(2);
  // kitty shows the process's command line: the shell running the script, or the script.
  const std::string launched = w[1]["cmdline"].dump();
  EXPECT_NE(launched.find("\"" + std::string(BATON_KITTY_DIR) + "/baton-kitty\",\"attach\"]"),
            std::string::npos)
      << w.dump(2);
  EXPECT_EQ(w[1]["is_active_window"], true);
  EXPECT_EQ(w[1]["cwd"], repo_);
  EXPECT_EQ(w[1]["columns"], w[0]["columns"]);
  EXPECT_EQ(w[1]["lines"], w[0]["lines"]);
  // Typing reaches the orchestrator; Ctrl-\ detaches and closes the overlay.
  ASSERT_EQ(xdotool({"type", "hello-from-kitty"}).status, 0);
  EXPECT_TRUE(eventually([&] {
    return capture("shop-1").find("hello-from-kitty") != std::string::npos;
  })) << capture("shop-1");
  ASSERT_NO_FATAL_FAILURE(press("ctrl+backslash"));
  EXPECT_TRUE(eventually([&] { return windows().size() == 1; })) << windows().dump(2);
  EXPECT_EQ(text().find("FAKE AGENT"), std::string::npos) << text();
  EXPECT_EQ(status()["orchestrator"]["state"], "active");
}

TEST_F(KittyWindow, ReplaceKeyReplacesInTheBackgroundAndNotifies) {
  agent("notify-send", "printf '%s|' \"$@\" >> '" + tmp_ + "/notified'\n");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(press("ctrl+shift+alt+r"));
  std::string notified;
  EXPECT_TRUE(eventually(
      [&] {
        notified = read_file(tmp_ + "/notified");
        return !notified.empty();
      },
      60000))
      << read_file(tmp_ + "/kitty.log");
  EXPECT_EQ(notified.rfind("baton|baton: orchestrator replaced by shop-2 (gap ", 0), 0u)
      << notified;
  auto st = status();
  EXPECT_EQ(st["orchestrator"]["id"], "shop-2");
  EXPECT_EQ(st["orchestrator"]["branch"], "baton/shop-orchestrator");
  EXPECT_EQ(st["active_count"], 1);
  // In the background: no window opened for it.
  EXPECT_EQ(windows().size(), 1u) << windows().dump(2);
}

}  // namespace
}  // namespace baton::test
