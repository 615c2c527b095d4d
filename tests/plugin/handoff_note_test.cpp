// Tests of plugin/handoff_note (issue 17): the note's Markdown from what baton knows, the old
// agent's own summary kept first, the carried paths appended, codex's rollout found.
#include "plugin/handoff_note.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/git/fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace baton::plugin {
namespace {

namespace fs = std::filesystem;

NoteInput sample() {
  NoteInput in;
  in.project = "shop";
  in.branch = "baton/shop-orchestrator";
  in.new_session = "shop-4";
  in.reason = "context window full";
  in.written_at = "2026-12-03T10:00:00Z";
  NoteAgent a;
  a.session_id = "shop-3";
  a.agent = "codex";
  a.conversation_id = "0199a213-81c0";
  a.transcript_path = "/home/u/.codex/sessions/2026/12/03/rollout-x-0199a213-81c0.jsonl";
  a.last_lines = {"> fix the parser", "Working on tokenizer.rs"};
  a.is_running = true;
  in.old_agents.push_back(a);
  in.commits.since_session = "shop-3";
  in.commits.is_known = true;
  in.commits.shown = {{"0123456789ab", "parser: handle CRLF"}, {"ba9876543210", "add tests"}};
  in.queued_messages = {"please also update the docs", "two\nlines"};
  return in;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(HandoffNote, HoldsReasonOldAgentScreenCommitsAndQueuedMessages) {
  const std::string note = compose_note(sample());
  EXPECT_EQ(note.rfind("## From baton\n", 0), 0u) << note;
  EXPECT_TRUE(contains(note, "- Reason: context window full\n")) << note;
  EXPECT_TRUE(contains(note, "- Handoff: shop-3 \u2192 shop-4\n")) << note;
  EXPECT_TRUE(contains(note, "### Old agent shop-3 (codex)")) << note;
  EXPECT_TRUE(contains(note, "- Conversation id: `0199a213-81c0`")) << note;
  EXPECT_TRUE(contains(note, "rollout-x-0199a213-81c0.jsonl`")) << note;
  EXPECT_TRUE(contains(note, "```\n> fix the parser\nWorking on tokenizer.rs\n```\n")) << note;
  EXPECT_TRUE(contains(note, "### Commits on `baton/shop-orchestrator` since shop-3 started"))
      << note;
  EXPECT_TRUE(contains(note, "- 0123456789ab parser: handle CRLF\n- ba9876543210 add tests\n"))
      << note;
  EXPECT_TRUE(contains(note, "1. please also update the docs\n2. two\n   lines\n")) << note;
}

TEST(HandoffNote, SaysWhatIsUnknownOrEmpty) {
  NoteInput in = sample();
  in.commits.is_known = false;
  in.commits.why_unknown = "shop-3 was started before baton recorded where the branch was";
  in.commits.shown.clear();
  in.queued_messages.clear();
  in.old_agents[0].last_lines.clear();
  in.reason.clear();
  const std::string note = compose_note(in);
  EXPECT_TRUE(contains(note, "Unknown: shop-3 was started before")) << note;
  EXPECT_TRUE(contains(note, "### Queued messages\n\nNone.\n")) << note;
  EXPECT_TRUE(contains(note, "- Screen: nothing was shown")) << note;
  EXPECT_TRUE(contains(note, "- Reason: not given")) << note;
  in.commits.is_known = true;
  EXPECT_TRUE(contains(compose_note(in), "started\n\nNone.\n"));
}

TEST(HandoffNote, CapsTheCommitListWithACountOfTheRest) {
  NoteInput in = sample();
  in.commits.more = 7;
  EXPECT_TRUE(contains(compose_note(in), "- \u2026 and 7 more\n"));
}

TEST(HandoffNote, AScreenShowingAFenceCannotEndItsBlock) {
  NoteInput in = sample();
  in.old_agents[0].last_lines = {"```", "rm -rf"};
  EXPECT_TRUE(contains(compose_note(in), "````\n```\nrm -rf\n````\n"));
}

TEST(HandoffNote, TrimScreenDropsTrailingBlanksAndKeepsTheLastLines) {
  std::vector<std::string> lines;
  lines.reserve(52);
  for (int i = 0; i < 50; ++i) lines.push_back("line " + std::to_string(i) + "   ");
  lines.push_back("");
  lines.push_back("  ");
  const auto kept = trim_screen(lines);
  ASSERT_EQ(kept.size(), kNoteScreenLines);
  EXPECT_EQ(kept.front(), "line 10");
  EXPECT_EQ(kept.back(), "line 49");
}

TEST(HandoffNote, AnAgentsOwnSummaryComesFirstAndBatonsPartAfterIt) {
  const std::string file = compose_note_file("# My notes\n\nGoal: ship it.\n\n\n", sample());
  EXPECT_EQ(file.rfind("# My notes\n\nGoal: ship it.\n\n## From baton\n", 0), 0u) << file;
  const std::string alone = compose_note_file("", sample());
  EXPECT_EQ(alone.rfind("# Handoff note for shop-4\n\n## From baton\n", 0), 0u) << alone;
}

TEST(HandoffNote, WriteKeepsWhatTheOldAgentWroteAndAppendAddsTheCarriedPaths) {
  baton::test::TempDir tmp;
  const fs::path repo = tmp.path() / "repo";
  git::testing::make_repo(repo);
  git::testing::write_file(repo / "wip.txt", "unfinished");
  git::testing::git_ok(repo, "add wip.txt");
  git::testing::git_ok(repo, "commit -q -m wip");
  const std::string commit = git::testing::git_ok(repo, "rev-parse HEAD").substr(0, 40);

  const std::string path = note_path(tmp.path().string(), "shop", "shop-4");
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << "Goal: ship it.\n";
  ASSERT_TRUE(write_note(path, sample()));
  auto appended = append_carried(path, repo.string(), {{"shop-3", commit, {}, 0, {}}},
                                 {"a.txt: conflict"}, true);
  ASSERT_TRUE(appended) << appended.error();
  const std::string note = slurp(path);
  EXPECT_EQ(note.rfind("Goal: ship it.\n\n## From baton\n", 0), 0u) << note;
  EXPECT_TRUE(contains(note, "### Uncommitted work preserved and re-applied")) << note;
  EXPECT_TRUE(contains(note, "- `wip.txt`\n")) << note;
  EXPECT_TRUE(contains(note, "- a.txt: conflict\n")) << note;
}

TEST(HandoffNote, WriteMakesTheDirectoryAndAppendToAMissingNoteFailsNamingIt) {
  baton::test::TempDir tmp;
  const std::string path = note_path(tmp.path().string(), "shop", "shop-4");
  ASSERT_TRUE(write_note(path, sample()));
  EXPECT_TRUE(contains(slurp(path), "# Handoff note for shop-4"));
  const std::string gone = tmp.path().string() + "/gone.md";
  auto appended = append_carried(gone, tmp.path().string(), {}, {}, true);
  ASSERT_FALSE(appended);
  EXPECT_TRUE(contains(appended.error(), gone)) << appended.error();
}

TEST(HandoffNote, FindsCodexsRolloutOfAThreadNewestDayFirst) {
  baton::test::TempDir tmp;
  const fs::path home = tmp.path() / "codex";
  fs::create_directories(home / "sessions/2026/11/30");
  fs::create_directories(home / "sessions/2026/12/03");
  std::ofstream other(home / "sessions/2026/11/30/rollout-2026-11-30T09-00-00-other.jsonl");
  const fs::path want = home / "sessions/2026/12/03/rollout-2026-12-03T10-00-00-t-42.jsonl";
  std::ofstream(want) << "{}\n";
  EXPECT_EQ(find_codex_rollout(home.string(), "t-42"), want.string());
  EXPECT_EQ(find_codex_rollout(home.string(), "t-43"), "");
  EXPECT_EQ(find_codex_rollout((tmp.path() / "none").string(), "t-42"), "");
}

}  // namespace
}  // namespace baton::plugin
