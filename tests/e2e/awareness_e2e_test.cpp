// Issue 8 through the real binaries: an attached view that follows the project across a
// handoff, activity state from agent hooks and the screen, native resume, permission modes
// and locked worktrees. Fake agents are shell scripts; the real codex and claude get their
// own checks in real_agents_test.cpp.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/e2e/attach_probe.hpp"
#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

bool shows(const std::string& screen, const std::string& what) {
  return screen.find(what) != std::string::npos;
}

TEST_F(OrchestratorE2E, AClientAttachedToTheProjectContinuesOnTheNewOrchestrator) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  screen_of("shop-1");
  AttachProbe view(24, 100);
  Json reply = view.attach(home_, repo_);
  ASSERT_EQ(reply["session"]["id"], "shop-1") << reply.dump();
  EXPECT_EQ(reply["follows"], true);
  ASSERT_TRUE(view.pump_until([](const std::string& s) { return shows(s, "session=shop-1"); }))
      << view.text();

  auto r = b({"replace", repo_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const long gap = Json::parse(r.out)["gap_ms"].get<long>();

  // No reattach: the same connection now shows shop-2's screen and the notice.
  ASSERT_TRUE(view.pump_until([](const std::string& s) { return shows(s, "session=shop-2"); }))
      << view.text();
  EXPECT_EQ(view.exit_status(), -1) << "the follower got the old session's exit";
  EXPECT_TRUE(shows(view.raw(), "baton: orchestrator replaced: shop-1 \u2192 shop-2 (gap " +
                                    std::to_string(gap) + " ms)"))
      << view.raw();
  // And it is a live view of shop-2: input reaches the new agent.
  b({"send", "shop-2", "--", "echo typed-into-shop-2\r"});
  EXPECT_TRUE(view.pump_until([](const std::string& s) { return shows(s, "typed-into-shop-2"); }))
      << view.text();
}

TEST_F(OrchestratorE2E, AClientAttachedToASessionIdSeesItsExitOnReplace) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  screen_of("shop-1");
  AttachProbe view(24, 100);
  Json reply = view.attach(home_, "shop-1");
  EXPECT_EQ(reply["follows"], false) << reply.dump();
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  view.pump_until([](const std::string&) { return false; }, 10000);
  EXPECT_GE(view.exit_status(), 0) << "a session-id client must see the exit";
  EXPECT_FALSE(shows(view.text(), "session=shop-2")) << view.text();
}

TEST_F(OrchestratorE2E, AFollowerOfAProjectGetsTheExitWhenTheProjectGoesDown) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  screen_of("shop-1");
  AttachProbe view(24, 100);
  ASSERT_EQ(view.attach(home_, repo_)["follows"], true);
  ASSERT_EQ(b({"down", repo_}).status, 0);
  view.pump_until([](const std::string&) { return false; }, 10000);
  EXPECT_GE(view.exit_status(), 0) << "nothing comes after down: the follower must end";
}

TEST_F(OrchestratorE2E, AFollowerContinuesOnTheFallbackWhenTheNewAgentFailsToStart) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  screen_of("shop-1");
  AttachProbe view(24, 100);
  ASSERT_EQ(view.attach(home_, repo_)["follows"], true);
  auto r = b({"replace", repo_, "--agent", "fail", "--wait"});
  EXPECT_NE(r.status, 0);
  // --wait answers once the previous agent runs again.
  EXPECT_EQ(status()["health"], "restart_needed") << status().dump();
  EXPECT_EQ(active_count(), 1);
  ASSERT_TRUE(view.pump_until([](const std::string& s) { return shows(s, "session=shop-3"); }))
      << view.text();
  EXPECT_EQ(view.exit_status(), -1);
}

// A claude-like agent: takes --session-id/--resume/--settings as claude does, runs the hook
// commands of the settings file baton wrote with claude's hook JSON on stdin, and writes a
// transcript where claude would once it gets a message. Lines it reads drive it.
constexpr const char* kFakeClaude = R"SH(settings=""; sid=""; mode=new
while [ $# -gt 0 ]; do
  case "$1" in
    --settings) settings="$2"; shift ;;
    --session-id) sid="$2"; shift ;;
    --resume) sid="$2"; mode=resumed; shift ;;
  esac
  shift
done
hook() {
  cmd=$(grep -o "\"command\": \"[^\"]*claude $1\"" "$settings" | sed 's/^"command": "//; s/"$//')
  printf '%s' "$2" | sh -c "$cmd"
}
echo "FAKE-CLAUDE $mode sid=$sid"
hook SessionStart "{\"session_id\":\"$sid\",\"hook_event_name\":\"SessionStart\"}"
while read -r line; do
  case "$line" in
    work)
      dir="$HOME/.claude/projects/$(pwd | sed 's/[^a-zA-Z0-9]/-/g')"
      mkdir -p "$dir" && echo '{"type":"user"}' >> "$dir/$sid.jsonl"
      hook UserPromptSubmit "{\"session_id\":\"$sid\",\"prompt\":\"work\"}"; echo WORKING ;;
    ask)
      hook Notification "{\"session_id\":\"$sid\",\"message\":\"Claude needs your permission to use Bash\"}"
      echo "Do you want to proceed?" ;;
    yes)
      hook PostToolUse "{\"session_id\":\"$sid\",\"tool_name\":\"Bash\"}"
      hook Stop "{\"session_id\":\"$sid\"}"; echo DONE ;;
  esac
done
)SH";

// A codex-like agent: finds baton's notify program in its -c arguments and reports one
// finished turn with a thread id, as codex's notify does.
constexpr const char* kFakeCodex = R"SH(notify=""
for a in "$@"; do
  case "$a" in notify=*) notify=$(printf '%s' "$a" | sed 's/^notify=\["\([^"]*\)".*/\1/') ;; esac
done
echo "FAKE-CODEX $*"
while read -r line; do
  case "$line" in
    turn) "$notify" signal --hook codex '{"type":"agent-turn-complete","thread-id":"0199a213-81c0-7800-8aa1-bbab2a035a53","turn-id":"1"}'
          echo TURN-DONE ;;
  esac
done
)SH";

class AwarenessE2E : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    agent("fake-claude", kFakeClaude);
    agent("fake-codex", kFakeCodex);
  }
  // The presets' kinds with the fake programs: overriding a preset keeps its kind.
  void use(const std::string& agent_name, const std::string& extra = "") {
    config("[orchestrator]\nagent = \"" + agent_name + "\"\nlaunch_grace = \"1s\"\n" + extra +
           "[agents.claude-code]\ncommand = [\"fake-claude\"]\n"
           "[agents.codex]\ncommand = [\"fake-codex\"]\n");
    baton_ok({"allow", repo_});
  }
  std::string activity() {
    const Json s = status();
    return s["activity"].is_string() ? s["activity"].get<std::string>() : "";
  }
  bool activity_becomes(const std::string& state) {
    return eventually([&] { return activity() == state; }, 15000);
  }
  std::vector<std::string> command_of_orchestrator() {
    return status()["orchestrator"]["command"].get<std::vector<std::string>>();
  }
};

TEST_F(AwarenessE2E, ClaudeHooksDriveWorkingWaitingAndIdle) {
  use("claude-code");
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(activity_becomes("idle")) << status().dump();  // SessionStart
  EXPECT_EQ(status()["activity_source"], "hook");
  b({"send", "shop-1", "--", "work\r"});
  ASSERT_TRUE(activity_becomes("working")) << status().dump();
  b({"send", "shop-1", "--", "ask\r"});
  ASSERT_TRUE(activity_becomes("waiting_input")) << status().dump();
  EXPECT_EQ(b({"status", repo_, "--tmux"}).out, "claude-code ok input!\n");
  const Json ls = Json::parse(baton_ok({"ls", "--json"}, opts()));
  EXPECT_EQ(ls["projects"][0]["activity"], "waiting_input");
  b({"send", "shop-1", "--", "yes\r"});
  ASSERT_TRUE(activity_becomes("idle")) << status().dump();
  EXPECT_FALSE(status()["activity_since"].is_null());
}

TEST_F(AwarenessE2E, ARestoredClaudeResumesItsOwnConversationAfterTheDaemonAndItsHoldersAreKilled) {
  use("claude-code");
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(activity_becomes("idle"));
  const std::string sid = status()["orchestrator"]["conversation_id"].get<std::string>();
  EXPECT_EQ(command_of_orchestrator()[1], "--session-id");
  EXPECT_EQ(command_of_orchestrator()[2], sid);
  b({"send", "shop-1", "--", "work\r"});  // the first message: claude writes its transcript
  ASSERT_TRUE(eventually([&] { return capture("shop-1").find("WORKING") != std::string::npos; }));

  // As after a reboot: with its holder alive the agent would be adopted, not restored.
  const pid_t daemon = daemon_pid();
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
  kill_holders();
  // The next command starts a daemon, which restores the orchestrator with claude's id.
  ASSERT_TRUE(eventually(
      [&] {
        auto r = b({"status", repo_, "--json"});
        return r.status == 0 && Json::parse(r.out)["orchestrator"]["command"].dump().find(
                                    "--resume") != std::string::npos;
      },
      20000))
      << b({"status", repo_, "--json"}).out;
  const auto argv = command_of_orchestrator();
  EXPECT_EQ(argv[1], "--resume");
  EXPECT_EQ(argv[2], sid);
  EXPECT_EQ(status()["orchestrator"]["resume"], "id");
  EXPECT_TRUE(eventually([&] {
    return capture("shop-1").find("FAKE-CLAUDE resumed sid=" + sid) != std::string::npos;
  })) << capture("shop-1");
}

TEST_F(AwarenessE2E, CodexNotifyGivesIdleAndTheThreadIdARestoreResumes) {
  use("codex");
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(
      eventually([&] { return capture("shop-1").find("FAKE-CODEX") != std::string::npos; }));
  b({"send", "shop-1", "--", "turn\r"});
  ASSERT_TRUE(eventually([&] { return capture("shop-1").find("TURN-DONE") != std::string::npos; }));
  ASSERT_TRUE(activity_becomes("idle")) << status().dump();
  EXPECT_EQ(status()["activity_source"], "notify");
  const std::string thread = "0199a213-81c0-7800-8aa1-bbab2a035a53";
  EXPECT_EQ(status()["orchestrator"]["conversation_id"], thread);
  EXPECT_NE(status()["resume"].get<std::string>().find("reported by the agent"), std::string::npos);
  // The id reaches the store off the loop, after `status` shows it: a daemon killed before
  // that restores with --last instead (nothing lost, but not the case under test).
  ASSERT_TRUE(eventually(
      [&] { return read_file(home_ + "/state/store.json").find(thread) != std::string::npos; }));

  // As after a reboot: with its holder alive the agent would be adopted, not restored.
  const pid_t daemon = daemon_pid();
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }));
  kill_holders();
  ASSERT_TRUE(eventually(
      [&] {
        auto r = b({"status", repo_, "--json"});
        return r.status == 0 && Json::parse(r.out)["orchestrator"]["resume"] == "id";
      },
      20000))
      << b({"status", repo_, "--json"}).out;
  const auto argv = command_of_orchestrator();
  ASSERT_GE(argv.size(), 3u);
  EXPECT_EQ(argv[1], "resume");
  EXPECT_EQ(argv.back(), thread);
}

TEST_F(AwarenessE2E, APermissionModeIsOptInAndShownInStatus) {
  use("claude-code");
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  EXPECT_EQ(status()["permissions"], "default");
  for (const auto& a : command_of_orchestrator())
    EXPECT_EQ(a.find("dangerously"), std::string::npos);
  use("claude-code", "permissions = \"accept-edits\"\n");
  // --now: the fake claude writes no handoff notes, which a drain would ask it for.
  ASSERT_EQ(b({"replace", repo_, "--now"}).status, 0);
  EXPECT_EQ(status()["permissions"], "accept-edits");
  const auto argv = command_of_orchestrator();
  EXPECT_NE(std::find(argv.begin(), argv.end(), "acceptEdits"), argv.end());
  // A mode the agent has no arguments for is refused with the config's position.
  config(
      "[orchestrator]\nagent = \"ok\"\npermissions = \"bypass\"\n[agents.ok]\ncommand = "
      "[\"agent-ok\"]\n");
  baton_ok({"allow", repo_});
  auto r = b({"replace", repo_});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(
      r.err.find("baton.toml:3:15: [orchestrator] permissions 'bypass' is not known to agent 'ok'"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(active_count(), 1);
}

TEST_F(OrchestratorE2E, AnOutsideWorktreePruneOrRemoveLeavesTheOrchestratorAlone) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  screen_of("shop-1");
  const std::string admin = repo_ + "/.git/worktrees/baton-shop-1";
  EXPECT_NE(read_file(admin + "/locked").find("baton orchestrator shop-1"), std::string::npos);
  // `git worktree remove` refuses a locked tree even with one --force.
  auto removed = git({"worktree", "remove", "--force", stable()});
  EXPECT_NE(removed.status, 0);
  EXPECT_TRUE(fs::exists(stable() + "/app.txt"));
  // A prune while the tree is briefly unreachable (moved by a tool) keeps a locked entry.
  fs::rename(stable(), stable() + ".away");
  EXPECT_EQ(git({"worktree", "prune"}).status, 0);
  fs::rename(stable() + ".away", stable());
  EXPECT_TRUE(fs::exists(admin));
  EXPECT_EQ(git({"rev-parse", "--abbrev-ref", "HEAD"}, stable()).out, "baton/shop-orchestrator\n");
  // baton's own release unlocks and prunes it.
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  EXPECT_FALSE(fs::exists(admin));
  EXPECT_NE(read_file(repo_ + "/.git/worktrees/baton-shop-2/locked").find("shop-2"),
            std::string::npos);
}

}  // namespace
}  // namespace baton::test
