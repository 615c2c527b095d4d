// The real agent programs as orchestrators: OpenAI's codex and Anthropic's claude, installed
// by `scripts/setup --test` into .cache/agents of the repository (pinned versions). They run
// with a private HOME and no account; without network codex shows its sign-in screen and
// claude exits with status 1 after saying it cannot reach Anthropic.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
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
    // launch_grace: claude needs about 3 s to give up on the network; leave room on a busy machine.
    std::ofstream(repo_ + "/baton.toml")
        << "[project]\nname = \"shop\"\n"
           "[orchestrator]\nagent = \"codex\"\nlaunch_grace = \"30s\"\n";
    baton_ok({"allow", repo_}, opts());
  }

  void TearDown() override {
    kill_strays();
    BatonTest::TearDown();
    // codex starts a detached app-server daemon from its HOME; it outlives the agent.
    kill_strays();
  }

  // Every process whose command line names this test's directory (codex's app-server
  // daemon under the private HOME), except this one.
  void kill_strays() {
    if (tmp_.empty()) return;
    DIR* proc = opendir("/proc");
    if (!proc) return;
    while (dirent* e = readdir(proc)) {
      const pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
      if (pid <= 0 || pid == getpid()) continue;
      std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
      if (cmdline.find(tmp_ + "/") != std::string::npos) kill(pid, SIGKILL);
    }
    closedir(proc);
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
  // comes: still running a while later means the screen model answered it.
  std::this_thread::sleep_for(std::chrono::seconds(2));
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

  // Keys sent through baton reach it: Down moves the selection.
  auto send = b({"send", "shop-1", "--keys", "Down"});
  ASSERT_EQ(send.status, 0) << send.err;
  EXPECT_TRUE(eventually([&] {
    screen = capture("shop-1");
    return screen.find("> 2. Sign in with Device Code") != std::string::npos;
  })) << screen;
  EXPECT_EQ(screen.find("> 1. Sign in with ChatGPT"), std::string::npos) << screen;
}

TEST_F(RealAgents, AClaudeThatCannotStartGivesTheBranchBackToCodex) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  bool shown = false;
  std::string screen = wait_sign_in("shop-1", &shown);
  ASSERT_TRUE(shown) << screen;

  const auto started = std::chrono::steady_clock::now();
  auto r = b({"replace", repo_, "--agent", "claude-code", "--wait"}, 120000);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("claude-code exited with status 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("relaunched codex"), std::string::npos) << r.err;
  // claude gives up within seconds: the failure is reported when it exits, not after the grace.
  EXPECT_LT(took, std::chrono::seconds(25)) << r.err;

  // --wait returns once claude has exited; the relaunch of codex finishes in the background.
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
  const std::string last = capture(claude_id);
  EXPECT_NE(last.find("Unable to connect to Anthropic services"), std::string::npos) << last;

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
