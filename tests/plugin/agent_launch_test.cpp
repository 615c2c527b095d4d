// Tests of plugin/agent_launch and plugin/activity (issues 5 and 8): the exact argv each
// agent kind gets, permission modes, resume by the agent's own id, and the activity rules.
#include "plugin/agent_launch.hpp"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "plugin/activity.hpp"
#include "plugin/session_hook.hpp"

namespace baton::plugin {
namespace {

using Json = nlohmann::json;

bool has(const std::vector<std::string>& argv, const std::string& arg) {
  return std::find(argv.begin(), argv.end(), arg) != argv.end();
}

// The argument after `flag`, "" when there is none.
std::string after(const std::vector<std::string>& argv, const std::string& flag) {
  auto it = std::find(argv.begin(), argv.end(), flag);
  return it == argv.end() || it + 1 == argv.end() ? std::string() : *(it + 1);
}

class AgentLaunchTest : public ::testing::Test {
 protected:
  AgentLaunchTest() : presets_(agent_presets()) {
    rec_.id = "shop-3";
    rec_.project = "shop";
    rec_.worktree = "/home/u/.baton/worktrees/shop/orchestrator";
    rec_.created_at = "2026-11-26T03:00:00Z";
    ctx_.baton_bin = "/opt/baton/bin/baton";
    ctx_.agent_dir = "/home/u/.baton/agents/shop-3";
    ctx_.repo_root = "/src/shop";
    ctx_.env = {{"HOME", "/home/u"}, {"SHELL", "/bin/zsh"}};
    ctx_.file_exists = [this](const std::string& p) { return existing_.count(p) > 0; };
    // As a config that sets [orchestrator] prompt (to "" unless a test says otherwise): the
    // default prompt has a test of its own.
    cfg_.is_prompt_set = true;
  }

  LaunchPlan plan(const std::string& agent, bool resume) {
    auto p = plan_launch(presets_.at(agent), cfg_, rec_, resume, ctx_);
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error());
    return p ? *p : LaunchPlan{};
  }

  std::map<std::string, AgentSpec> presets_;
  ProjectConfig cfg_;
  SessionRecord rec_;
  LaunchContext ctx_;
  std::set<std::string> existing_;
};

TEST_F(AgentLaunchTest, CodexStartsWithoutUpdateCheckTrustedNotifyingBatonAndWithoutItsDaemon) {
  cfg_.prompt = "keep the build green";
  const auto p = plan("codex", false);
  ASSERT_FALSE(p.argv.empty());
  EXPECT_EQ(p.argv[0], "codex");
  EXPECT_TRUE(has(p.argv, "check_for_update_on_startup=false"));
  EXPECT_TRUE(
      has(p.argv, "projects={\"" + rec_.worktree +
                      "\"={trust_level=\"trusted\"},\"/src/shop\"={trust_level=\"trusted\"}}"));
  EXPECT_TRUE(has(p.argv, "notify=[\"/opt/baton/bin/baton\",\"signal\",\"--hook\",\"codex\"]"));
  EXPECT_TRUE(has(p.argv, "--no-daemon"));
  EXPECT_EQ(p.argv.back(), "keep the build green");
  EXPECT_EQ(p.resume_mode, "new");
}

TEST_F(AgentLaunchTest, CodexResumesItsReportedThreadElseTheLastSession) {
  auto p = plan("codex", true);
  EXPECT_EQ(p.argv[1], "resume");
  EXPECT_EQ(p.argv.back(), "--last");
  EXPECT_EQ(p.resume_mode, "last");

  rec_.conversation_id = "0199a213-81c0-7800-8aa1-bbab2a035a53";
  rec_.conversation_source = "agent";
  p = plan("codex", true);
  EXPECT_EQ(p.argv[1], "resume");
  EXPECT_EQ(p.argv.back(), rec_.conversation_id);
  EXPECT_FALSE(has(p.argv, "--last"));
  EXPECT_EQ(p.resume_mode, "id");
}

TEST_F(AgentLaunchTest, ClaudeGetsItsSessionIdHookSettingsAndNoAutoUpdater) {
  cfg_.prompt = "hello";
  const auto p = plan("claude-code", false);
  EXPECT_EQ(p.argv[0], "claude");
  const std::string id = after(p.argv, "--session-id");
  EXPECT_TRUE(std::regex_match(
      id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << id;
  EXPECT_EQ(p.conversation_id, id);
  EXPECT_EQ(id, conversation_uuid(rec_, "/src/shop")) << "the id must be derived, not random";
  EXPECT_EQ(after(p.argv, "--settings"), ctx_.agent_dir + "/claude-settings.json");
  ASSERT_EQ(p.files.size(), 1u);
  EXPECT_EQ(p.files[0].path, ctx_.agent_dir + "/claude-settings.json");
  EXPECT_TRUE(has(p.env, "DISABLE_AUTOUPDATER=1"));
  EXPECT_EQ(p.argv.back(), "hello");
  // The settings hook every lifecycle event to `baton signal`.
  const Json settings = Json::parse(p.files[0].content);
  for (const char* event :
       {"SessionStart", "UserPromptSubmit", "Notification", "Stop", "SessionEnd"}) {
    ASSERT_TRUE(settings["hooks"].contains(event)) << event;
    EXPECT_EQ(settings["hooks"][event][0]["hooks"][0]["command"],
              std::string("'/opt/baton/bin/baton' signal --hook claude ") + event);
  }
}

TEST_F(AgentLaunchTest, ClaudeResumesItsConversationOnlyWhenTheTranscriptExists) {
  rec_.conversation_id = conversation_uuid(rec_, "/src/shop");
  rec_.conversation_source = "baton";
  // No transcript yet (no message was ever sent): the same id, started fresh.
  auto p = plan("claude-code", true);
  EXPECT_EQ(after(p.argv, "--session-id"), rec_.conversation_id);
  EXPECT_FALSE(has(p.argv, "--resume"));
  existing_.insert(claude_transcript_path(ctx_.env, rec_.worktree, rec_.conversation_id));
  EXPECT_EQ(*existing_.begin(),
            "/home/u/.claude/projects/-home-u--baton-worktrees-shop-orchestrator/" +
                rec_.conversation_id + ".jsonl");
  p = plan("claude-code", true);
  EXPECT_EQ(after(p.argv, "--resume"), rec_.conversation_id);
  EXPECT_EQ(p.resume_mode, "id");
  // No id recorded at all (a session from before ids): the newest conversation.
  rec_.conversation_id.clear();
  p = plan("claude-code", true);
  EXPECT_TRUE(has(p.argv, "--continue"));
  EXPECT_EQ(p.resume_mode, "last");
}

TEST_F(AgentLaunchTest, NoPresetBypassesApprovalsUnlessPermissionsSayBypass) {
  for (const std::string agent : {"codex", "claude-code", "shell"}) {
    for (const std::string mode : {"default", "accept-edits"}) {
      if (agent == "shell" && mode != "default") continue;
      cfg_.permissions = mode;
      for (bool resume : {false, true}) {
        for (const auto& a : plan(agent, resume).argv) {
          EXPECT_EQ(a.find("dangerously"), std::string::npos) << agent << " " << mode << " " << a;
          EXPECT_NE(a, "--full-auto");
        }
      }
    }
  }
  cfg_.permissions = "accept-edits";
  EXPECT_EQ(after(plan("claude-code", false).argv, "--permission-mode"), "acceptEdits");
  EXPECT_EQ(after(plan("codex", false).argv, "--sandbox"), "workspace-write");
  cfg_.permissions = "bypass";
  EXPECT_TRUE(has(plan("claude-code", false).argv, "--dangerously-skip-permissions"));
  EXPECT_TRUE(has(plan("codex", false).argv, "--dangerously-bypass-approvals-and-sandbox"));
  // A mode the agent does not know is an error, not a silent default.
  auto shell = plan_launch(presets_.at("shell"), cfg_, rec_, false, ctx_);
  ASSERT_FALSE(shell.has_value());
  EXPECT_EQ(shell.error(), "agent 'shell' has no arguments for permissions 'bypass'");
}

TEST_F(AgentLaunchTest, GenericAgentsGetTheirCommandResumeAndShell) {
  auto p = plan("shell", false);
  EXPECT_EQ(p.argv, (std::vector<std::string>{"/bin/zsh", "-l"}));
  EXPECT_EQ(p.resume_mode, "new");
  EXPECT_TRUE(p.files.empty());
}

// --- the handoff note and the initial prompt (issue 17) -----------------------------------

TEST_F(AgentLaunchTest, AfterAHandoffCodexAndClaudeGetPromptThenHandoffPromptAfterDoubleDash) {
  cfg_.prompt = "You coordinate.";
  rec_.handoff_note = "/h/notes/shop/shop-3.md";
  const std::string want =
      "You coordinate.\n\nRead the handoff note at /h/notes/shop/shop-3.md and continue the work.";
  for (const char* agent : {"codex", "claude-code"}) {
    SCOPED_TRACE(agent);
    const auto p = plan(agent, false);
    ASSERT_GE(p.argv.size(), 2u);
    EXPECT_EQ(p.argv[p.argv.size() - 2], "--");
    EXPECT_EQ(p.argv.back(), want);
    EXPECT_TRUE(has(p.env, "BATON_HANDOFF_NOTE=/h/notes/shop/shop-3.md"));
  }
}

TEST_F(AgentLaunchTest, TheHandoffPromptNamesTheNoteWhereverItSaysNotePath) {
  cfg_.handoff_prompt = "{note_path} first; then {note_path} again";
  rec_.handoff_note = "/n.md";
  EXPECT_EQ(plan("codex", false).argv.back(), "/n.md first; then /n.md again");
}

TEST_F(AgentLaunchTest, WithoutANoteThereIsNoHandoffPromptAndNoNoteVariable) {
  cfg_.prompt = "You coordinate.";
  const auto p = plan("claude-code", false);
  EXPECT_EQ(p.argv.back(), "You coordinate.");
  for (const auto& e : p.env) EXPECT_EQ(e.rfind("BATON_HANDOFF_NOTE=", 0), std::string::npos);
  cfg_.prompt.clear();
  EXPECT_FALSE(has(plan("codex", false).argv, "--")) << "no prompt, no --";
}

// Without [orchestrator] prompt, a fresh codex or claude orchestrator is pointed at `baton
// guide` (docs/workers.md); a generic agent gets nothing it was not configured with; a worker
// gets its own task only.
TEST_F(AgentLaunchTest, AnUnsetPromptPointsCodexAndClaudeAtTheGuideAndAWorkerGetsItsTask) {
  cfg_.is_prompt_set = false;
  for (const char* agent : {"codex", "claude-code"}) {
    SCOPED_TRACE(agent);
    const auto p = plan(agent, false);
    EXPECT_EQ(p.argv.back(), kDefaultOrchestratorPrompt);
    EXPECT_NE(p.argv.back().find("baton guide"), std::string::npos);
    EXPECT_FALSE(has(plan(agent, true).argv, kDefaultOrchestratorPrompt)) << "a relaunch resumes";
  }
  AgentSpec generic;
  generic.name = "mine";
  generic.command = {"mine"};
  auto g = plan_launch(generic, cfg_, rec_, false, ctx_);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->argv, std::vector<std::string>{"mine"});
  rec_.role = SessionRole::kWorker;
  rec_.name = "fix";
  rec_.prompt = "fix the login";
  const auto w = plan("codex", false);
  EXPECT_EQ(w.argv.back(), "fix the login");
  EXPECT_EQ(w.argv[w.argv.size() - 2], "--");
}

TEST_F(AgentLaunchTest, ARelaunchResumesWithoutAPromptButKeepsTheNoteVariable) {
  rec_.handoff_note = "/h/notes/shop/shop-3.md";
  for (const char* agent : {"codex", "claude-code"}) {
    SCOPED_TRACE(agent);
    const auto p = plan(agent, true);
    EXPECT_FALSE(has(p.argv, "--"));
    EXPECT_EQ(std::count_if(p.argv.begin(), p.argv.end(),
                            [](const std::string& a) { return a.find("handoff note") != a.npos; }),
              0);
    EXPECT_TRUE(has(p.env, "BATON_HANDOFF_NOTE=/h/notes/shop/shop-3.md"));
  }
}

TEST_F(AgentLaunchTest, AGenericAgentGetsThePromptLastAfterItsPromptArg) {
  AgentSpec mine;
  mine.name = "mine";
  mine.command = {"mine"};
  rec_.handoff_note = "/n.md";
  auto p = plan_launch(mine, cfg_, rec_, false, ctx_);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->argv, (std::vector<std::string>{
                         "mine", "Read the handoff note at /n.md and continue the work."}));
  mine.prompt_arg = "--message";
  p = plan_launch(mine, cfg_, rec_, false, ctx_);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->argv,
            (std::vector<std::string>{"mine", "--message",
                                      "Read the handoff note at /n.md and continue the work."}));
}

TEST_F(AgentLaunchTest, TheShellPresetGetsNoPromptOnlyTheNoteVariable) {
  cfg_.prompt = "You coordinate.";
  rec_.handoff_note = "/n.md";
  const auto p = plan("shell", false);
  EXPECT_EQ(p.argv, (std::vector<std::string>{"/bin/zsh", "-l"}));
  EXPECT_TRUE(has(p.env, "BATON_HANDOFF_NOTE=/n.md"));
}

TEST_F(AgentLaunchTest, APromptOverMaxArgStrlenGoesThroughAFile) {
  cfg_.prompt = std::string(128 * 1024, 'x');
  rec_.handoff_note = "/n.md";
  const auto p = plan("codex", false);
  const std::string file = ctx_.agent_dir + "/initial-prompt.md";
  ASSERT_EQ(p.files.size(), 1u);
  EXPECT_EQ(p.files[0].path, file);
  EXPECT_EQ(p.files[0].content.rfind(cfg_.prompt, 0), 0u);
  EXPECT_NE(p.files[0].content.find("/n.md"), std::string::npos);
  EXPECT_LT(p.argv.back().size(), 1024u);
  EXPECT_NE(p.argv.back().find(file), std::string::npos);
  // One byte less fits, with its NUL, in one argument.
  cfg_.prompt = std::string(128 * 1024 - 1, 'x');
  rec_.handoff_note.clear();
  const auto fits = plan("codex", false);
  EXPECT_TRUE(fits.files.empty());
  EXPECT_EQ(fits.argv.back(), cfg_.prompt);
}

TEST(ClaudeTrust, MarksTheWorktreeTrustedAndKeepsTheRest) {
  const std::string before =
      R"({"numStartups": 3, "projects": {"/src/shop": {"allowedTools": ["x"]}}})";
  auto after_text = claude_config_with_trust(before, "/wt/shop");
  ASSERT_TRUE(after_text.has_value());
  const Json j = Json::parse(*after_text);
  EXPECT_EQ(j["numStartups"], 3);
  EXPECT_EQ(j["projects"]["/src/shop"]["allowedTools"][0], "x");
  EXPECT_EQ(j["projects"]["/wt/shop"]["hasTrustDialogAccepted"], true);
  // Already trusted: unchanged, so the file is not rewritten.
  EXPECT_EQ(*claude_config_with_trust(*after_text, "/wt/shop"), *after_text);
  EXPECT_FALSE(claude_config_with_trust("[1,2]", "/wt").has_value());
  EXPECT_TRUE(claude_config_with_trust("", "/wt").has_value());
}

TEST(ActivityHooks, ClaudeEventsMapToStatesAndCarryItsSessionId) {
  const Json p = {{"session_id", "abc"}};
  EXPECT_EQ(wire_name(map_hook("claude", "SessionStart", p)->state), "idle");
  EXPECT_EQ(map_hook("claude", "SessionStart", p)->conversation_id, "abc");
  EXPECT_EQ(wire_name(map_hook("claude", "UserPromptSubmit", p)->state), "working");
  EXPECT_EQ(map_hook("claude", "Notification",
                     Json{{"message", "Claude needs your permission to use Bash"}})
                ->state,
            ActivityState::kWaitingInput);
  EXPECT_EQ(
      map_hook("claude", "Notification", Json{{"message", "Claude is waiting for your input"}})
          ->state,
      ActivityState::kIdle);
  EXPECT_EQ(wire_name(map_hook("claude", "PostToolUse", p)->state), "working");
  EXPECT_EQ(wire_name(map_hook("claude", "Stop", p)->state), "idle");
  EXPECT_EQ(wire_name(map_hook("claude", "SessionEnd", p)->state), "exited");
  EXPECT_FALSE(map_hook("claude", "Frobnicate", p).has_value());
  const Json turn = {{"type", "agent-turn-complete"}, {"thread-id", "t-1"}};
  EXPECT_EQ(wire_name(map_hook("codex", "", turn)->state), "idle");
  EXPECT_EQ(map_hook("codex", "", turn)->conversation_id, "t-1");
  EXPECT_FALSE(map_hook("codex", "", Json{{"type", "other"}}).has_value());
  EXPECT_FALSE(map_hook("codex", "", nullptr).has_value());
}

// The launch's file I/O (prepare_launch_files), in a temp HOME: what the orchestrator runs off
// the loop before the spawn.
class LaunchFilesTest : public AgentLaunchTest {
 protected:
  LaunchFilesTest() {
    char tmpl[] = "/tmp/baton-launch-XXXXXX";
    if (mkdtemp(tmpl)) home_ = tmpl;
    cfg_.agents = presets_;
    cfg_.is_allowed = true;
    rec_.agent = "claude-code";
    rec_.branch = "baton/shop-orchestrator";
    site_.repo_root = "/src/shop";
    site_.agent_dir = home_ + "/baton/agents/shop-3";
    site_.bin_dir = "/opt/baton/bin";
    env_ = {{"HOME", home_}};
  }
  ~LaunchFilesTest() override { std::filesystem::remove_all(home_); }
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::string home_;
  LaunchSite site_;
  std::map<std::string, std::string> env_;
};

TEST_F(LaunchFilesTest, ClaudesSettingsAndTrustEntryAreWrittenBeforeItStarts) {
  auto launch = prepare_launch_files(rec_, cfg_, env_, false, site_);
  ASSERT_TRUE(launch) << launch.error();
  const std::string settings = site_.agent_dir + "/claude-settings.json";
  EXPECT_EQ(slurp(settings), claude_settings_json("/opt/baton/bin/baton"));
  EXPECT_EQ(after(launch->plan.argv, "--settings"), settings);
  const Json claude = Json::parse(slurp(home_ + "/.claude.json"));
  EXPECT_EQ(claude["projects"][rec_.worktree]["hasTrustDialogAccepted"], true) << claude.dump();
  // `baton` first on the command's PATH, and the default PATH when the command had none.
  EXPECT_TRUE(has(launch->env, "PATH=/opt/baton/bin:/usr/local/bin:/usr/bin:/bin"));
  EXPECT_TRUE(has(launch->env, "BATON_SESSION=shop-3"));
  EXPECT_TRUE(has(launch->env, "BATON_BRANCH=baton/shop-orchestrator"));
}

TEST_F(LaunchFilesTest, AConfigNobodyAllowedLaunchesNothingAndWritesNothing) {
  cfg_.is_allowed = false;
  cfg_.trust_keys = {"[orchestrator] prompt"};
  cfg_.trust_files = {"/src/shop/baton.toml"};
  auto launch = prepare_launch_files(rec_, cfg_, env_, false, site_);
  ASSERT_FALSE(launch);
  EXPECT_EQ(launch.error(), not_allowed_message(cfg_, "/src/shop"));
  EXPECT_FALSE(std::filesystem::exists(site_.agent_dir));
  EXPECT_FALSE(std::filesystem::exists(home_ + "/.claude.json"));
}

TEST_F(LaunchFilesTest, AClaudeConfigThatIsNoJsonObjectIsLeftAsItIs) {
  std::ofstream(home_ + "/.claude.json") << "[1, 2]";
  auto launch = prepare_launch_files(rec_, cfg_, env_, false, site_);
  ASSERT_TRUE(launch) << launch.error();
  EXPECT_EQ(slurp(home_ + "/.claude.json"), "[1, 2]");
}

// One shape of a hook run for a session, for the handoff's hooks and the orchestrator's.
TEST(SessionHookTest, AHookRunsInTheWorktreeWithTheSessionsVariablesAndTheConfigsTimeout) {
  ProjectConfig cfg;
  cfg.hooks.timeout_ms = 1500;
  const auto h = session_hook_request(
      cfg, "after_spawn", CommandSpec{{"/bin/sh", "-c", "x"}, "x"},
      {"shop", "shop-3", "/ws/shop/orchestrator", "baton/shop-orchestrator", "codex"},
      "/home/u/.baton/logs");
  EXPECT_EQ(h.event, "after_spawn");
  EXPECT_EQ(h.argv, (std::vector<std::string>{"/bin/sh", "-c", "x"}));
  EXPECT_EQ(h.cwd, "/ws/shop/orchestrator");
  EXPECT_EQ(h.env, (std::map<std::string, std::string>{{"BATON_PROJECT", "shop"},
                                                       {"BATON_SESSION", "shop-3"},
                                                       {"BATON_WORKTREE", "/ws/shop/orchestrator"},
                                                       {"BATON_BRANCH", "baton/shop-orchestrator"},
                                                       {"BATON_AGENT", "codex"},
                                                       {"BATON_EVENT", "after_spawn"}}));
  EXPECT_EQ(h.timeout_ms, 1500);
  EXPECT_EQ(h.log_path, "/home/u/.baton/logs/hooks.log");
}

TEST(ScreenActivityTest, ARedrawDoesNotFlipButSustainedOutputAndPromptsDo) {
  AgentSpec generic;
  ScreenActivity s;
  EXPECT_EQ(wire_name(s.tick(0, "", generic, true)), "");
  EXPECT_EQ(wire_name(s.tick(10, "", generic, true)), "") << "one redraw is not work";
  EXPECT_EQ(wire_name(s.tick(20, "", generic, true)), "working");
  EXPECT_EQ(wire_name(s.tick(20, "", generic, true)), "");
  EXPECT_EQ(wire_name(s.tick(20, "", generic, true)), "");
  EXPECT_EQ(wire_name(s.tick(20, "", generic, true)), "idle");

  AgentSpec codex = agent_presets().at("codex");
  ScreenActivity c;
  EXPECT_EQ(wire_name(c.tick(0, "Working (3s • esc to interrupt)", codex, false)), "working");
  EXPECT_EQ(wire_name(c.tick(5, "Would you like to run the following command?", codex, false)), "");
  EXPECT_EQ(wire_name(c.tick(5, "Would you like to run the following command?", codex, false)),
            "waiting_input");
  // codex's idle comes from notify; a quiet screen says nothing.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(wire_name(c.tick(5, "> ", codex, false)), "");
  // Typing at its prompt is output, but no work.
  for (int i = 1; i < 5; ++i)
    EXPECT_EQ(wire_name(c.tick(5 + i * 3, "> fix the", codex, false)), "");
}

}  // namespace
}  // namespace baton::plugin
