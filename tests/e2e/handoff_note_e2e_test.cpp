// The handoff note (issue 17) through the real binaries: written before the stop with the
// reason, the old agent's last screen line and the commits it made, the preserved paths
// appended after adopt; the new agent gets its path in BATON_HANDOFF_NOTE and the handoff
// prompt as its last argument; --fresh gives neither; `baton notes` lists and shows them.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

class HandoffNoteE2E : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    // Writes where it runs, its arguments (one a line) and its note's path, shows a line of
    // its own on the screen, then waits; HUP ends it.
    agent("agent-ok", "printf '%s\\n' \"$@\" > " + tmp_ +
                          "/args-$BATON_SESSION\n"
                          "printf '%s' \"$BATON_HANDOFF_NOTE\" > " +
                          tmp_ +
                          "/note-$BATON_SESSION\n"
                          "echo \"AGENT $BATON_SESSION\"\n"
                          "echo \"last words of $BATON_SESSION\"\n"
                          "while :; do sleep 1; done\n");
  }

  // What the session's agent wrote at its start, once it did.
  std::string started_with(const std::string& what, const std::string& session) {
    const std::string path = tmp_ + "/" + what + "-" + session;
    std::string text;
    eventually([&] {
      if (!fs::exists(path)) return false;
      text = read_file(path);
      return true;
    });
    return text;
  }

  std::string last_arg(const std::string& session) {
    std::string args = started_with("args", session);
    if (!args.empty() && args.back() == '\n') args.pop_back();
    const auto nl = args.rfind('\n');
    return nl == std::string::npos ? args : args.substr(nl + 1);
  }

  std::string note_file(const std::string& session) {
    return home_ + "/notes/shop/" + session + ".md";
  }

  void commit_in_stable(const std::string& file, const std::string& subject) {
    write(stable() + "/" + file, subject + "\n");
    ASSERT_EQ(git({"add", file}, stable()).status, 0);
    ASSERT_EQ(git({"commit", "-q", "-m", subject}, stable()).status, 0);
  }
};

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST_F(HandoffNoteE2E, TheNewAgentsNoteHoldsReasonLastScreenLineCommitsAndPreservedPaths) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(has(screen_of("shop-1"), "last words of shop-1"));
  EXPECT_EQ(started_with("note", "shop-1"), "") << "the first up has no note";
  commit_in_stable("parser.txt", "parser: handle CRLF");
  commit_in_stable("tests.txt", "add parser tests");
  write(stable() + "/wip.txt", "half done\n");

  auto r = b({"replace", repo_, "--reason", "context window full"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string path = note_file("shop-2");
  EXPECT_EQ(started_with("note", "shop-2"), path);
  const std::string note = read_file(path);
  EXPECT_TRUE(has(note, "- Reason: context window full\n")) << note;
  EXPECT_TRUE(has(note, "### Old agent shop-1 (ok)")) << note;
  EXPECT_TRUE(has(note, "last words of shop-1\n")) << note;
  EXPECT_TRUE(has(note, " add parser tests\n")) << note;
  EXPECT_TRUE(has(note, " parser: handle CRLF\n")) << note;
  EXPECT_LT(note.find("add parser tests"), note.find("parser: handle CRLF")) << "newest first";
  EXPECT_FALSE(has(note, " init\n")) << "only the commits since shop-1 started: " << note;
  EXPECT_TRUE(has(note, "### Uncommitted work preserved and re-applied")) << note;
  EXPECT_TRUE(has(note, "- `wip.txt`\n")) << note;
  EXPECT_EQ(last_arg("shop-2"), "Read the handoff note at " + path + " and continue the work.");
  EXPECT_EQ(read_file(stable() + "/wip.txt"), "half done\n");

  // The next handoff counts from where shop-2 started: the earlier commits are not listed.
  commit_in_stable("docs.txt", "docs: the parser");
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  const std::string next = read_file(note_file("shop-3"));
  EXPECT_TRUE(has(next, "- Reason: replace\n")) << next;
  EXPECT_TRUE(has(next, " docs: the parser\n")) << next;
  EXPECT_FALSE(has(next, "add parser tests")) << next;
}

TEST_F(HandoffNoteE2E, FreshStartsTheNewAgentWithNeitherNoteNorPrompt) {
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\nprompt = \"You coordinate.\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  EXPECT_EQ(last_arg("shop-1"), "You coordinate.");
  ASSERT_EQ(b({"replace", repo_, "--fresh"}).status, 0);
  EXPECT_EQ(started_with("note", "shop-2"), "");
  EXPECT_EQ(last_arg("shop-2"), "You coordinate.") << "the configured prompt, as on a first up";
  EXPECT_FALSE(fs::exists(note_file("shop-2")));
  // Without --fresh: the prompt, then the handoff prompt.
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  EXPECT_EQ(started_with("args", "shop-3"), "You coordinate.\n\nRead the handoff note at " +
                                                note_file("shop-3") + " and continue the work.\n");
}

TEST_F(HandoffNoteE2E, NotesListsThemNewestFirstAndShowsOneBySessionId) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(b({"replace", repo_, "--reason", "lost the thread"}).status, 0);
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  const Json j = Json::parse(baton_ok({"notes", repo_, "--json"}, opts()));
  ASSERT_EQ(j["notes"].size(), 2u) << j.dump();
  EXPECT_EQ(j["notes"][0]["session"], "shop-3");
  EXPECT_EQ(j["notes"][0]["retired"], Json::array({"shop-2"}));
  EXPECT_EQ(j["notes"][0]["reason"], "replace");
  EXPECT_EQ(j["notes"][1]["session"], "shop-2");
  EXPECT_EQ(j["notes"][1]["retired"], Json::array({"shop-1"}));
  EXPECT_EQ(j["notes"][1]["reason"], "lost the thread");
  EXPECT_EQ(j["notes"][1]["path"], note_file("shop-2"));
  const std::string table = baton_ok({"notes", repo_}, opts());
  EXPECT_LT(table.find("shop-3"), table.find("lost the thread")) << table;
  // By the session that read it, or by one it retired, with or without the target.
  const std::string shown = baton_ok({"notes", repo_, "shop-2"}, opts());
  EXPECT_EQ(shown, read_file(note_file("shop-2")));
  EXPECT_EQ(baton_ok({"notes", "shop-2"}, opts()), shown);
  EXPECT_EQ(baton_ok({"notes", "shop-1"}, opts()), shown);
  auto missing = b({"notes", repo_, "shop-9"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err, "baton: no session 'shop-9' in shop (baton notes shop)\n");
}

TEST_F(HandoffNoteE2E, ANoteThatCannotBeWrittenDoesNotStopTheHandoff) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto none = b({"notes", repo_, "shop-1"});
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.err, "baton: session 'shop-1' has no handoff note (baton notes shop)\n");
  // A file where the notes directory would go.
  write(home_ + "/notes", "in the way\n");
  write(stable() + "/wip.txt", "half done\n");
  auto r = b({"replace", repo_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["session"]["id"], "shop-2");
  EXPECT_TRUE(has(j["notes"].dump(), "no handoff note: ")) << j.dump();
  EXPECT_TRUE(has(j["notes"].dump(), "/notes/shop/shop-2.md")) << j.dump();
  EXPECT_EQ(started_with("note", "shop-2"), "");
  EXPECT_EQ(started_with("args", "shop-2"), "\n") << "no arguments";
  EXPECT_EQ(read_file(stable() + "/wip.txt"), "half done\n");
  // The old tree is deleted after the reply.
  std::string problem;
  EXPECT_TRUE(eventually([&] { return (problem = convergence_problem(repo_, "shop")).empty(); }))
      << problem;
}

TEST_F(HandoffNoteE2E, ARepositorysHandoffPromptWaitsForAllow) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "handoff_prompt = \"Notes at {note_path}: push it all to main\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n");
  auto refused = b({"replace", repo_});
  EXPECT_NE(refused.status, 0);
  EXPECT_TRUE(has(last_line(refused.err), "[orchestrator] handoff_prompt")) << refused.err;
  EXPECT_TRUE(has(last_line(refused.err), "baton allow")) << refused.err;
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-1") << "the running orchestrator runs on";
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  EXPECT_EQ(last_arg("shop-2"), "Notes at " + note_file("shop-2") + ": push it all to main");
}

}  // namespace
}  // namespace baton::test
