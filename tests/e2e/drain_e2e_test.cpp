// Issue 17's drain through the real binaries: a handoff (and `down`) stops the old agent only
// once its turn ended, or after drain_timeout; --now and a joining --now do not wait; a
// generic agent without hooks is not waited for; an attached client still types into the
// draining agent; a responsive agent writes its handoff notes first. The fake agent speaks
// the hook protocol through `baton signal` and leaves a mark when it is stopped, saying
// whether that came after its idle. `baton debug waits` (test builds) shows that a drain
// leaves no activity listener behind.
#include <chrono>
#include <filesystem>
#include <future>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/e2e/attach_probe.hpp"
#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// Reports working at start; "idle" reports its turn's end; a line naming a note (the
// summarize request) is written to when the first argument is "write"; on HUP it records
// whether it had reported idle (and written its notes) before it was stopped.
constexpr const char* kTurnsAgent = R"SH(m="$MARKS"; s=$BATON_SESSION; mode=${1:-}
echo "AGENT turns session=$s"
stopped() {
  w=before-idle; [ -e "$m/$s.idle" ] && w=after-idle
  [ -e "$m/$s.note" ] && w="$w note-written"
  echo "$w" > "$m/$s.stopped"; exit 0
}
trap stopped HUP TERM
baton signal working >/dev/null
while read -r line; do
  case "$line" in
    idle) : > "$m/$s.idle"; baton signal idle >/dev/null ;;
    *"notes to "*)
      if [ "$mode" = write ]; then
        note=$(printf '%s\n' "$line" | sed -n 's/.*notes to \([^ ]*\) now.*/\1/p')
        baton signal working >/dev/null
        printf '# notes of %s\n' "$s" > "$note"; : > "$m/$s.note"
        baton signal idle >/dev/null
      else
        echo IGNORED
      fi ;;
    *) echo "GOT $line" ;;
  esac
done
)SH";

class DrainE2E : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    marks_ = tmp_ + "/marks";
    fs::create_directories(marks_);
    agent("agent-turns", kTurnsAgent);
    use("drain_timeout = \"60s\"\n");
  }

  void use(const std::string& orchestrator_keys, const std::string& agent = "turns") {
    config("[orchestrator]\nagent = \"" + agent + "\"\nlaunch_grace = \"1s\"\n" +
           orchestrator_keys + "[agents.turns]\ncommand = [\"agent-turns\"]\n" +
           "[agents.writer]\ncommand = [\"agent-turns\", \"write\"]\n" +
           "[agents.ok]\ncommand = [\"agent-ok\"]\n");
    baton_ok({"allow", repo_});
  }

  RunOptions drain_opts() {
    RunOptions o = opts();
    o.env["MARKS"] = marks_;
    return o;
  }
  RunResult run(const std::vector<std::string>& args) { return baton(args, drain_opts()); }
  std::future<RunResult> run_async(const std::vector<std::string>& args) {
    return std::async(std::launch::async, [this, args] { return run(args); });
  }

  // The daemon's activity listeners (`baton debug waits`).
  long listeners() {
    const auto out = baton_ok({"debug", "waits"}, opts());
    return std::stol(out.substr(out.find(' ') + 1));
  }

  // Up, with the agent working; returns the listeners before any drain.
  long up_working() {
    EXPECT_EQ(run({"up", repo_, "--detach"}).status, 0);
    EXPECT_TRUE(eventually([&] { return has(capture("shop-1"), "AGENT turns"); }));
    // Its own report, not the launch's "working": only then is it known to report turns.
    EXPECT_TRUE(eventually([&] {
      const Json st = status();
      return st["activity"] == "working" && st["activity_source"] == "signal";
    }));
    return listeners();
  }

  // True once a drain waits (its listener is registered).
  bool drain_waits(long base) {
    return eventually([&] { return listeners() > base; }, 20000);
  }

  std::string mark(const std::string& session, const std::string& what = "stopped") {
    return read_file(marks_ + "/" + session + "." + what);
  }

  // The daemon logs each progress line a command prints (`handoff shop: drain ...`); a
  // command prints them only to a terminal.
  std::string log() { return read_file(home_ + "/logs/daemon.log"); }
  bool logged(const std::string& progress) { return has(log(), "handoff shop: " + progress); }

  std::string marks_;
};

TEST_F(DrainE2E, AWorkingAgentIsStoppedOnlyAfterItReportsIdle) {
  const long base = up_working();
  auto replace = run_async({"replace", repo_});
  ASSERT_TRUE(drain_waits(base));
  // Still the running orchestrator, untouched, while its turn goes on.
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-1");
  EXPECT_EQ(status()["orchestrator"]["state"], "active");
  EXPECT_FALSE(fs::exists(marks_ + "/shop-1.stopped"));
  b({"send", "shop-1", "--", "idle\r"});
  const RunResult r = replace.get();
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(logged("drain turns is working (0 s)")) << log();
  EXPECT_TRUE(logged("drain turns's turn ended")) << log();
  // In phase order: the drain ended before the retire began.
  EXPECT_LT(log().find("drain turns's turn ended"), log().find("handoff shop: retire shop-1"));
  EXPECT_EQ(mark("shop-1"), "after-idle\n");
  EXPECT_EQ(listeners(), base) << "the drain left its activity listener registered";
}

TEST_F(DrainE2E, AnAgentThatNeverEndsItsTurnIsStoppedAfterDrainTimeout) {
  use("drain_timeout = \"2s\"\n");
  const long base = up_working();
  const auto started = std::chrono::steady_clock::now();
  const RunResult r = run({"replace", repo_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  const std::string said =
      "turns did not end its turn within 2 s (drain_timeout): stopped mid-turn";
  EXPECT_TRUE(logged("drain " + said)) << log();
  EXPECT_TRUE(has(Json::parse(r.out)["notes"].dump(), said)) << r.out;
  EXPECT_EQ(mark("shop-1"), "before-idle\n");
  EXPECT_EQ(listeners(), base);
}

TEST_F(DrainE2E, NowDoesNotWait) {
  up_working();
  const RunResult r = run({"replace", repo_, "--now"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(logged("drain --now: not waiting for turns to end its turn")) << log();
  EXPECT_EQ(mark("shop-1"), "before-idle\n");
}

TEST_F(DrainE2E, AJoiningReplaceNowEndsTheDrain) {
  const long base = up_working();
  auto first = run_async({"replace", repo_});
  ASSERT_TRUE(drain_waits(base));
  const RunResult now = run({"replace", repo_, "--now", "--json"});
  ASSERT_EQ(now.status, 0) << now.err;
  EXPECT_EQ(Json::parse(now.out)["session"]["id"], "shop-2") << now.out;
  const RunResult r = first.get();
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(logged("drain --now: stopped waiting for turns")) << log();
  EXPECT_EQ(mark("shop-1"), "before-idle\n");
  EXPECT_EQ(listeners(), base);
}

TEST_F(DrainE2E, DownDrainsAndDownNowDoesNot) {
  const long base = up_working();
  auto down = run_async({"down", repo_});
  ASSERT_TRUE(drain_waits(base));
  EXPECT_FALSE(fs::exists(marks_ + "/shop-1.stopped"));
  b({"send", "shop-1", "--", "idle\r"});
  const RunResult r = down.get();
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(logged("drain turns's turn ended")) << log();
  EXPECT_EQ(mark("shop-1"), "after-idle\n");

  ASSERT_EQ(run({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(eventually([&] { return status()["activity_source"] == "signal"; }));
  const std::string id = status()["orchestrator"]["id"];
  const RunResult now = run({"down", repo_, "--now"});
  ASSERT_EQ(now.status, 0) << now.err;
  EXPECT_TRUE(logged("drain --now")) << log();
  EXPECT_EQ(mark(id), "before-idle\n");
  EXPECT_EQ(listeners(), base);
}

TEST_F(DrainE2E, AGenericAgentWithoutHooksIsNotWaitedFor) {
  use("", "ok");
  ASSERT_EQ(run({"up", repo_, "--detach"}).status, 0);
  screen_of("shop-1");
  const RunResult r = run({"replace", repo_});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(logged("drain ok reports no turns: not waiting")) << log();
}

TEST_F(DrainE2E, KeystrokesOfAnAttachedClientReachTheDrainingAgent) {
  const long base = up_working();
  AttachProbe view(24, 100);
  ASSERT_EQ(view.attach(home_, repo_)["session"]["id"], "shop-1");
  auto replace = run_async({"replace", repo_});
  ASSERT_TRUE(drain_waits(base));
  ASSERT_TRUE(view.type("answer-while-draining\r"));
  EXPECT_TRUE(view.pump_until([](const std::string& s) {
    return has(s, "GOT answer-while-draining");
  })) << view.text();
  // The user ends the turn from the attached view: the drain ends with it.
  ASSERT_TRUE(view.type("idle\r"));
  const RunResult r = replace.get();
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(mark("shop-1"), "after-idle\n");
}

TEST_F(DrainE2E, AResponsiveAgentWritesItsNotesBeforeItIsStopped) {
  use("summarize_prompt = \"write your notes to {note_path} now\"\n", "writer");
  const long base = up_working();
  auto replace = run_async({"replace", repo_});
  ASSERT_TRUE(drain_waits(base));
  b({"send", "shop-1", "--", "idle\r"});
  const RunResult r = replace.get();
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string note = home_ + "/notes/shop/shop-2.md";
  EXPECT_TRUE(logged("drain asked writer for its handoff notes in " + note)) << log();
  EXPECT_TRUE(logged("drain writer wrote its handoff notes")) << log();
  // What the agent wrote comes first; baton's own part follows it.
  const std::string text = read_file(note);
  EXPECT_EQ(text.rfind("# notes of shop-1\n", 0), 0u) << text;
  EXPECT_TRUE(has(text, "## From baton")) << text;
  EXPECT_EQ(mark("shop-1"), "after-idle note-written\n");
  EXPECT_EQ(listeners(), base);
}

TEST_F(DrainE2E, AnAgentThatWritesNoNotesIsStoppedAfterSummarizeTimeout) {
  use("summarize_prompt = \"write your notes to {note_path} now\"\nsummarize_timeout = \"2s\"\n");
  const long base = up_working();
  b({"send", "shop-1", "--", "idle\r"});
  ASSERT_TRUE(eventually([&] { return status()["activity"] == "idle"; }));
  const RunResult r = run({"replace", repo_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string said = "turns wrote no handoff notes within 2 s (summarize_timeout)";
  EXPECT_TRUE(logged("drain " + said)) << log();
  EXPECT_TRUE(has(Json::parse(r.out)["notes"].dump(), said)) << r.out;
  EXPECT_EQ(mark("shop-1"), "after-idle\n");
  // The note is baton's part alone.
  const std::string text = read_file(home_ + "/notes/shop/shop-2.md");
  EXPECT_EQ(text.rfind("# Handoff note for shop-2", 0), 0u) << text;
  EXPECT_EQ(listeners(), base);
}

TEST_F(DrainE2E, FreshAsksForNoNotes) {
  use("summarize_prompt = \"write your notes to {note_path} now\"\n", "writer");
  up_working();
  b({"send", "shop-1", "--", "idle\r"});
  ASSERT_TRUE(eventually([&] { return status()["activity"] == "idle"; }));
  const RunResult r = run({"replace", repo_, "--fresh"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(logged("handoff notes")) << log();
  EXPECT_EQ(mark("shop-1"), "after-idle\n");
}

TEST_F(DrainE2E, AShutdownDuringTheDrainDoesNotKeepTheDaemonAlive) {
  const long base = up_working();
  const pid_t pid = daemon_pid();
  auto replace = run_async({"replace", repo_});
  ASSERT_TRUE(drain_waits(base));
  const auto asked = std::chrono::steady_clock::now();
  baton_ok({"shutdown"}, opts());
  EXPECT_TRUE(eventually([&] { return !process_exists(pid); }, 20000));
  // Well before the 60 s drain_timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(20));
  EXPECT_NE(replace.get().status, 0);
}

// Speaks codex's protocol: its turn's end is codex's notify (`baton signal --hook codex` with
// the agent-turn-complete payload); its start says working. It logs, one line each, its
// handoff note and initial prompt, every line it gets; when asked for its handoff notes it
// writes them to the path the request names.
constexpr const char* kCodexLikeAgent = R"SH(s=$BATON_SESSION; log="$MARKS/$s.log"
for last; do :; done
echo "AGENT codexlike session=$s"
echo "note=${BATON_HANDOFF_NOTE:-} prompt=$last" >> "$log"
turn_ends() {
  baton signal --hook codex "{\"type\":\"agent-turn-complete\",\"thread-id\":\"t-$s\"}" >/dev/null
}
baton signal working >/dev/null
if [ -n "${BATON_HANDOFF_NOTE:-}" ]; then
  grep -q '^# What I was doing' "$BATON_HANDOFF_NOTE" && echo "read-note" >> "$log"
  turn_ends
fi
while read -r line; do
  case "$line" in
    end-turn) turn_ends ;;
    *"You are being replaced"*)
      note=$(printf '%s\n' "$line" | sed -n 's/.* to \(\/[^ ,]*\.md\).*/\1/p')
      baton signal working >/dev/null
      printf '# What I was doing\n\nhalfway through the login fix\n' > "$note"
      turn_ends ;;
    *) echo "GOT $line" >> "$log"; baton signal working >/dev/null; turn_ends ;;
  esac
done
)SH";

// Issue 17's "done when", end to end: a codex orchestrator mid-turn is replaced; baton waits
// for the turn to end, has the old agent write its notes, hands the branch over, and the new
// agent starts by reading those notes, while messages told before and during all of it reach
// the new agent exactly once, in order, and never the old one.
TEST_F(DrainE2E, TheWorkIsHandedOverTurnNotesAndMessages) {
  agent("agent-codexlike", kCodexLikeAgent);
  config(
      "[orchestrator]\nagent = \"codexlike\"\nlaunch_grace = \"1s\"\ndrain_timeout = \"60s\"\n"
      "[agents.codexlike]\nkind = \"codex\"\ncommand = [\"agent-codexlike\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(run({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(eventually([&] { return status()["activity"] == "working"; }));
  const long base = listeners();
  // Mid-turn: the message waits for the turn's end.
  ASSERT_EQ(run({"tell", "shop", "first message"}).status, 0);
  auto replace = run_async({"replace", repo_, "--reason", "context full"});
  ASSERT_TRUE(drain_waits(base));
  // Told while the handoff drains: it goes to the new agent too.
  ASSERT_EQ(run({"tell", "shop", "second message"}).status, 0);
  b({"send", "shop-1", "--", "end-turn\r"});
  const RunResult r = replace.get();
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(logged("drain codexlike wrote its handoff notes")) << log();
  const std::string note = home_ + "/notes/shop/shop-2.md";
  const std::string text = read_file(note);
  EXPECT_EQ(text.rfind("# What I was doing\n", 0), 0u) << text;
  EXPECT_TRUE(has(text, "context full")) << text;
  EXPECT_TRUE(has(text, "first message")) << text;
  EXPECT_TRUE(has(text, "second message")) << text;
  // Both reach the new agent once each, in order, after it read the note.
  ASSERT_TRUE(eventually(
      [&] { return has(read_file(marks_ + "/shop-2.log"), "GOT second message"); }, 30000))
      << read_file(marks_ + "/shop-2.log") << log();
  const std::string got = read_file(marks_ + "/shop-2.log");
  EXPECT_EQ(got.rfind("note=" + note + " prompt=", 0), 0u) << got;
  EXPECT_TRUE(has(got.substr(0, got.find('\n')), note)) << "the initial prompt names the note";
  const auto read_at = got.find("read-note");
  const auto first = got.find("GOT first message");
  const auto second = got.find("GOT second message");
  ASSERT_NE(read_at, std::string::npos) << got;
  EXPECT_LT(read_at, first) << got;
  EXPECT_LT(first, second) << got;
  EXPECT_EQ(got.find("GOT first message", first + 1), std::string::npos) << got;
  EXPECT_EQ(got.find("GOT second message", second + 1), std::string::npos) << got;
  EXPECT_FALSE(has(read_file(marks_ + "/shop-1.log"), "GOT")) << read_file(marks_ + "/shop-1.log");
  EXPECT_EQ(Json::parse(baton_ok({"status", repo_, "--json"}, opts()))["outbox"], 0);
}

}  // namespace
}  // namespace baton::test
