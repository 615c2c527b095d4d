// The real agent programs as orchestrators: OpenAI's codex and Anthropic's claude, installed
// by `scripts/setup --test` into .cache/agents of the repository (pinned versions). They run
// with a private HOME and no account; without network codex shows its sign-in screen and
// claude exits with status 1 after saying it cannot reach Anthropic.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int kCodexStartMs = 180000;  // codex installs its app-server in a new HOME first

class RealAgents : public BatonTest {
 protected:
  void SetUp() override {
    BatonTest::SetUp();
    agents_ = BATON_AGENTS_BIN;
    for (const char* tool : {"codex", "claude"}) {
      if (access((agents_ + "/" + tool).c_str(), X_OK) != 0)
        GTEST_SKIP() << agents_ << "/" << tool
                     << " is missing: `scripts/setup --test` installs the real agents with npm";
    }
    repo_ = tmp_ + "/shop";
    user_home_ = tmp_ + "/user";
    fs::create_directories(repo_);
    fs::create_directories(user_home_ + "/.codex");
    fs::create_directories(user_home_ + "/.claude");
    fs::create_directories(user_home_ + "/.config");
    git({"init", "-q", "-b", "main"});
    std::ofstream(repo_ + "/README.md") << "shop\n";
    git({"add", "."});
    git({"commit", "-q", "-m", "init"});
    // launch_grace: claude needs about 3 s to give up on the network. Far longer than that, so
    // a replace that waited the grace out instead of reporting the exit is told apart from a
    // slow machine.
    std::ofstream(repo_ + "/baton.toml")
        << "[project]\nname = \"shop\"\n"
           "[orchestrator]\nagent = \"codex\"\nlaunch_grace = \"120s\"\n";
    baton_ok({"allow", repo_}, opts());
  }

  void TearDown() override {
    kill_strays();
    BatonTest::TearDown();
    // codex starts a detached app-server daemon from its HOME; it outlives the agent.
    kill_strays();
  }

  // Every process whose command line or environment names this test's directory (an
  // agent's helper under the private HOME, like codex's app-server daemon), except this
  // one and the daemon.
  std::vector<pid_t> strays() {
    std::vector<pid_t> found;
    // A test skipped in SetUp (no real agents installed) has no private HOME: "HOME=" alone
    // would match, and SIGKILL, every process of the user.
    if (tmp_.empty() || user_home_.empty()) return found;
    DIR* proc = opendir("/proc");
    if (!proc) return found;
    const pid_t daemon = daemon_pid();
    while (dirent* e = readdir(proc)) {
      const pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
      if (pid <= 0 || pid == getpid() || pid == daemon) continue;
      const std::string dir = "/proc/" + std::to_string(pid);
      if (read_file(dir + "/cmdline").find(tmp_ + "/") != std::string::npos ||
          read_file(dir + "/environ").find("HOME=" + user_home_) != std::string::npos)
        found.push_back(pid);
    }
    closedir(proc);
    return found;
  }
  void kill_strays() {
    for (pid_t pid : strays()) kill(pid, SIGKILL);
  }

  RunResult git(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"git", "-c", "user.name=t", "-c", "user.email=t@t"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.cwd = repo_});
  }

  // The environment of every baton command, so of the daemon and the agents: the real agents
  // on PATH, a private HOME, and no credentials from the machine.
  RunOptions opts(int timeout_ms = 60000) {
    RunOptions o;
    o.env["PATH"] = agents_ + ":" + std::string(std::getenv("PATH"));
    o.env["HOME"] = user_home_;
    o.env["CODEX_HOME"] = user_home_ + "/.codex";
    o.env["CLAUDE_CONFIG_DIR"] = user_home_ + "/.claude";
    o.env["XDG_CONFIG_HOME"] = user_home_ + "/.config";
    for (const char* key :
         {"OPENAI_API_KEY", "CODEX_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"}) {
      if (std::getenv(key)) o.env[key] = "";
    }
    o.cwd = repo_;
    o.timeout_ms = timeout_ms;
    return o;
  }

  RunResult b(const std::vector<std::string>& args, int timeout_ms = 60000) {
    return baton(args, opts(timeout_ms));
  }

  Json status() {
    auto r = b({"status", repo_, "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    return Json::parse(r.out, nullptr, false);
  }

  // Waits for codex's whole sign-in screen in `target`; returns the last capture.
  std::string wait_sign_in(const std::string& target, bool* shown) {
    std::string screen;
    *shown = eventually(
        [&] {
          screen = capture(target);
          // The whole menu: codex draws it in more than one write.
          return screen.find("Sign in with ChatGPT") != std::string::npos &&
                 screen.find("Press enter to continue") != std::string::npos;
        },
        kCodexStartMs);
    return screen;
  }

  std::string agents_, repo_, user_home_;
};

TEST_F(RealAgents, CodexShowsItsSignInScreenInTheOrchestratorAndTakesKeys) {
  auto up = b({"up", repo_, "--detach"});
  ASSERT_EQ(up.status, 0) << up.err;
  ASSERT_EQ(up.out, "shop-1\n");
  bool shown = false;
  std::string screen = wait_sign_in("shop-1", &shown);
  ASSERT_TRUE(shown) << screen << "\n" << status().dump(2);
  EXPECT_NE(screen.find("Welcome to Codex"), std::string::npos) << screen;
  EXPECT_NE(screen.find("> 1. Sign in with ChatGPT"), std::string::npos) << screen;
  EXPECT_NE(screen.find("2. Sign in with Device Code"), std::string::npos) << screen;

  // codex asks for the cursor position while nobody is attached and gives up when no answer
  // comes: taking keys after its screen was drawn means the screen model answered it (a codex
  // still waiting for the answer reads no key; one that gave up has exited).
  // codex may draw its menu a moment before it reads keys, and a Down read before that is
  // dropped: while the selection has not moved, Down is sent again (at most once a second).
  auto last_send = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  EXPECT_TRUE(eventually(
      [&] {
        screen = capture("shop-1");
        if (screen.find("> 1. Sign in with ChatGPT") == std::string::npos) return true;
        if (std::chrono::steady_clock::now() - last_send >= std::chrono::seconds(1)) {
          auto send = b({"send", "shop-1", "--keys", "Down"});
          EXPECT_EQ(send.status, 0) << send.err;
          last_send = std::chrono::steady_clock::now();
        }
        return false;
      },
      30000))
      << screen;
  // The selection moved down the menu (to 2, or to 3 when a Down thought lost came late).
  EXPECT_TRUE(screen.find("> 2. Sign in with Device Code") != std::string::npos ||
              screen.find("> 3. ") != std::string::npos)
      << screen;
  auto s = status();
  EXPECT_EQ(s["health"], "ok") << s.dump(2);
  EXPECT_EQ(s["configured_agent"], "codex");
  EXPECT_EQ(s["orchestrator"]["id"], "shop-1");
  EXPECT_EQ(s["orchestrator"]["agent"], "codex");
  EXPECT_EQ(s["orchestrator"]["state"], "active");
  EXPECT_EQ(s["orchestrator"]["branch"], "baton/shop-orchestrator");
  EXPECT_TRUE(process_exists(static_cast<pid_t>(s["orchestrator"]["pid"].get<long>())));
  screen = capture("shop-1");
  EXPECT_EQ(screen.find("cursor position"), std::string::npos) << screen;

  // The flags baton gives codex (no update check, trusted worktree, notify → baton signal,
  // no shared daemon) are ones this codex accepts: it is running and drawing its screen.
  const std::string command = s["orchestrator"]["command"].dump();
  EXPECT_NE(command.find("check_for_update_on_startup=false"), std::string::npos) << command;
  EXPECT_NE(command.find("trust_level"), std::string::npos) << command;
  EXPECT_NE(command.find("signal\\\",\\\"--hook\\\",\\\"codex"), std::string::npos) << command;
  EXPECT_NE(command.find("--no-daemon"), std::string::npos) << command;
  EXPECT_EQ(command.find("dangerously"), std::string::npos) << command;
  EXPECT_EQ(s["permissions"], "default");

  // `baton attach` of the project from inside real tmux shows the same screen.
  if (run_process({"tmux", "-V"}).status == 0) {
    const std::string sock = tmp_ + "/tmux.sock";
    auto tmux = [&](const std::vector<std::string>& args) {
      std::vector<std::string> argv{"tmux", "-S", sock, "-f", "/dev/null"};
      argv.insert(argv.end(), args.begin(), args.end());
      RunOptions o = opts(10000);
      o.env["BATON_HOME"] = home_;
      return run_process(argv, o);
    };
    auto started =
        tmux({"new-session", "-d", "-s", "t", "-x", "100", "-y", "30",
              std::string(BATON_BIN) + " attach " + repo_, ";", "set", "-g", "status", "off"});
    ASSERT_EQ(started.status, 0) << started.err;
    std::string pane;
    EXPECT_TRUE(eventually([&] {
      pane = tmux({"capture-pane", "-p", "-t", "t"}).out;
      return pane.find("Welcome to Codex") != std::string::npos &&
             pane.find("> 2. Sign in with Device Code") != std::string::npos;
    })) << pane;
    tmux({"kill-server"});
  }

  // Stopping the orchestrator leaves nothing of codex behind (no detached app-server).
  ASSERT_EQ(b({"down", repo_}).status, 0);
  std::vector<pid_t> left;
  EXPECT_TRUE(eventually([&] {
    left = strays();
    return left.empty();
  })) << "codex left "
      << left.size() << " process(es), the first "
      << (left.empty() ? std::string()
                       : read_file("/proc/" + std::to_string(left[0]) + "/cmdline"));
}

// The handoff prompt goes to codex as a positional argument after `--` (issue 17): a codex that
// refused the argv would exit with a usage error instead of drawing its sign-in screen. The
// note holds what the old codex showed.
TEST_F(RealAgents, CodexTakesTheHandoffPromptAfterDoubleDash) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  bool shown = false;
  std::string screen = wait_sign_in("shop-1", &shown);
  ASSERT_TRUE(shown) << screen;
  auto r = b({"replace", repo_, "--reason", "-- a reason that looks like a flag"}, 300000);
  ASSERT_EQ(r.status, 0) << r.err;
  screen = wait_sign_in("shop-2", &shown);
  EXPECT_TRUE(shown) << screen;
  auto s = status();
  EXPECT_EQ(s["orchestrator"]["id"], "shop-2");
  const auto argv = s["orchestrator"]["command"].get<std::vector<std::string>>();
  const std::string note = home_ + "/notes/shop/shop-2.md";
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(argv[argv.size() - 2], "--");
  // The default prompt (it points codex at `baton guide`), then the handoff prompt.
  EXPECT_TRUE(argv.back().starts_with("You are this project's orchestrator")) << argv.back();
  EXPECT_TRUE(
      argv.back().ends_with("\n\nRead the handoff note at " + note + " and continue the work."))
      << argv.back();
  const std::string text = read_file(note);
  EXPECT_NE(text.find("Reason: -- a reason that looks like a flag"), std::string::npos) << text;
  EXPECT_NE(text.find("Sign in with ChatGPT"), std::string::npos) << text;
}

// The real codex as a worker (docs/workers.md): spawned from the orchestrator's tree, on its
// own branch, with its task after `--` (a task that looks like a flag included), it draws its
// sign-in screen there; finish stops it and removes only its tree.
TEST_F(RealAgents, CodexAsAWorkerShowsItsSignInScreenOnItsOwnBranch) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  bool shown = false;
  std::string screen = wait_sign_in("shop-1", &shown);
  ASSERT_TRUE(shown) << screen;
  RunOptions o = opts(300000);
  o.cwd = home_ + "/worktrees/shop/orchestrator";
  auto r = baton({"spawn", "--name", "fix", "--prompt", "--fix the login"}, o);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "shop-w1\n");
  screen = wait_sign_in("shop/fix", &shown);
  EXPECT_TRUE(shown) << screen;
  auto w = Json::parse(b({"workers", repo_, "--json"}).out, nullptr, false);
  ASSERT_EQ(w["workers"].size(), 1u) << w.dump();
  EXPECT_EQ(w["workers"][0]["agent"], "codex");
  EXPECT_EQ(w["workers"][0]["branch"], "baton/shop-fix");
  EXPECT_EQ(w["workers"][0]["health"], "ok");
  auto sessions = Json::parse(b({"sessions", repo_, "--json"}).out, nullptr, false);
  std::vector<std::string> argv;
  for (const auto& s : sessions["sessions"])
    if (s["id"] == "shop-w1") argv = s["command"].get<std::vector<std::string>>();
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(argv[argv.size() - 2], "--");
  EXPECT_EQ(argv.back(), "--fix the login");
  // The orchestrator is untouched; finish removes the worker's tree only.
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-1");
  r = b({"finish", "shop/fix", "--now"}, 120000);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(home_ + "/worktrees/shop/workers/fix"));
  EXPECT_EQ(status()["health"], "ok");
}

TEST_F(RealAgents, AClaudeThatCannotStartGivesTheBranchBackToCodex) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  bool shown = false;
  std::string screen = wait_sign_in("shop-1", &shown);
  ASSERT_TRUE(shown) << screen;

  const auto started = std::chrono::steady_clock::now();
  auto r = b({"replace", repo_, "--agent", "claude-code", "--wait"}, 300000);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("claude-code exited with status 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("relaunched codex"), std::string::npos) << r.err;
  // claude gives up within seconds: the failure is reported when it exits, not after the
  // 120 s grace (a bound no loaded machine comes near, and one waiting out the grace passes).
  EXPECT_LT(took, std::chrono::seconds(90)) << r.err;

  // --wait returns once codex runs again on the branch.
  Json s;
  EXPECT_TRUE(eventually(
      [&] {
        s = status();
        return s["health"] == "restart_needed";
      },
      60000))
      << s.dump(2);
  EXPECT_EQ(s["active_count"], 1) << s.dump(2);
  ASSERT_TRUE(s["orchestrator"].is_object()) << s.dump(2);
  EXPECT_EQ(s["orchestrator"]["agent"], "codex") << s.dump(2);
  EXPECT_EQ(s["orchestrator"]["branch"], "baton/shop-orchestrator");
  const std::string error = s["error"].is_string() ? s["error"].get<std::string>() : "";
  EXPECT_NE(error.find("claude-code exited with status 1"), std::string::npos) << s.dump(2);
  EXPECT_NE(error.find("relaunched codex"), std::string::npos) << s.dump(2);

  // claude's session is kept with its exit status and its last screen.
  auto sessions = Json::parse(b({"sessions", repo_, "--all", "--json"}).out, nullptr, false);
  std::string claude_id;
  for (const auto& session : sessions["sessions"]) {
    if (session.value("agent", "") == "claude-code") {
      claude_id = session["id"].get<std::string>();
      EXPECT_EQ(session["exit_status"], 1) << session.dump(2);
    }
  }
  ASSERT_FALSE(claude_id.empty()) << sessions.dump(2);
  // What baton gave the real claude: its own session id, hook settings outside the worktree,
  // and the worktree marked trusted in claude's config.
  Json claude_session;
  for (const auto& session : sessions["sessions"])
    if (session["id"] == claude_id) claude_session = session;
  const auto argv = claude_session["command"].get<std::vector<std::string>>();
  auto arg_after = [&](const std::string& flag) {
    auto it = std::find(argv.begin(), argv.end(), flag);
    return it == argv.end() || it + 1 == argv.end() ? std::string() : *(it + 1);
  };
  EXPECT_EQ(arg_after("--session-id").size(), 36u) << claude_session.dump(2);
  // The handoff prompt, positional after `--` (issue 17): claude took it, since it went on to
  // try the network ("Unable to connect" below) instead of refusing its arguments.
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(argv[argv.size() - 2], "--");
  // The default prompt (it points claude at `baton guide`), then the handoff prompt.
  EXPECT_TRUE(argv.back().starts_with("You are this project's orchestrator")) << argv.back();
  EXPECT_TRUE(argv.back().ends_with("\n\nRead the handoff note at " + home_ + "/notes/shop/" +
                                    claude_id + ".md and continue the work."))
      << argv.back();
  const std::string settings = arg_after("--settings");
  EXPECT_EQ(settings, home_ + "/agents/" + claude_id + "/claude-settings.json");
  const Json hooks = Json::parse(read_file(settings), nullptr, false);
  ASSERT_TRUE(hooks.is_object()) << settings;
  EXPECT_NE(hooks["hooks"]["Stop"][0]["hooks"][0]["command"].get<std::string>().find(
                "signal --hook claude Stop"),
            std::string::npos);
  const Json claude_config =
      Json::parse(read_file(user_home_ + "/.claude/.claude.json"), nullptr, false);
  ASSERT_TRUE(claude_config.is_object());
  EXPECT_EQ(claude_config["projects"][claude_session["worktree"].get<std::string>()]
                         ["hasTrustDialogAccepted"],
            true)
      << claude_config.dump(2);
  // Its last lines stay on its record (the exited runtime session is dropped once the
  // fallback handoff retired it).
  std::string last;
  for (const auto& line : claude_session["last_lines"]) last += line.get<std::string>() + "\n";
  EXPECT_NE(last.find("Unable to connect to Anthropic services"), std::string::npos) << last;
  EXPECT_EQ(last.find("error: unknown option"), std::string::npos) << last;
  // ...and status says it: the exit status and claude's last line.
  ASSERT_FALSE(claude_session["last_lines"].empty()) << claude_session.dump(2);
  std::string last_line = claude_session["last_lines"].back().get<std::string>();
  while (!last_line.empty() && last_line.back() == ' ') last_line.pop_back();
  EXPECT_NE(error.find(last_line.substr(0, 60)), std::string::npos) << error << "\n" << last;

  const std::string id = s["orchestrator"]["id"].get<std::string>();
  EXPECT_NE(id, "shop-1");
  screen = wait_sign_in(id, &shown);
  EXPECT_TRUE(shown) << screen;
  s = status();
  EXPECT_EQ(s["orchestrator"]["id"], id);
  EXPECT_EQ(s["orchestrator"]["state"], "active");
}

}  // namespace
}  // namespace baton::test
