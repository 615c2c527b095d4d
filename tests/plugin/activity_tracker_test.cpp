// The activity tracker (plugin/activity.hpp, issue 8): which source wins, what a launch and an
// exit do to a session's activity, and that its tick timer closes with it.
#include "plugin/activity.hpp"

#include <uv.h>

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace baton::plugin {
namespace {

class ActivityTrackerTest : public ::testing::Test {
 protected:
  ActivityTrackerTest()
      : tracker_([this] { return samples_; },
                 [this](const std::string& id) { return gone_.count(id) == 0; },
                 [this](const std::string& id, const Activity& now) {
                   changes_.push_back(id + " " + std::string(wire_name(now.state)) + " " +
                                      std::string(wire_name(now.source)));
                 }) {}

  // One tick that sees `id` with `bytes` of output so far and `screen` on its screen.
  void tick(const std::string& id, const AgentSpec& agent, std::uint64_t bytes,
            const std::string& screen = "") {
    samples_ = {{id, &agent, bytes, [screen] { return std::vector<std::string>{screen}; }}};
    tracker_.tick();
  }
  std::string state(const std::string& id) const {
    const Activity* a = tracker_.get(id);
    return a ? std::string(wire_name(a->state)) + "/" + std::string(wire_name(a->source)) : "";
  }

  std::map<std::string, AgentSpec> presets_ = agent_presets();
  std::vector<ActivitySample> samples_;
  std::set<std::string> gone_;
  std::vector<std::string> changes_;
  ActivityTracker tracker_;
};

TEST_F(ActivityTrackerTest, ALaunchSaysWorkingAndAQuietScreenThenSaysIdle) {
  const AgentSpec generic;
  tracker_.launched("p-1");
  EXPECT_EQ(state("p-1"), "working/launch");
  tick("p-1", generic, 100);
  tick("p-1", generic, 100);
  EXPECT_EQ(state("p-1"), "working/launch");
  tick("p-1", generic, 100);
  EXPECT_EQ(state("p-1"), "idle/screen");
}

TEST_F(ActivityTrackerTest, ClaudesScreenIsNotReadOnceAHookArrived) {
  const AgentSpec& claude = presets_.at("claude-code");
  tick("p-1", claude, 0, "✻ Thinking… (esc to interrupt)");
  EXPECT_EQ(state("p-1"), "working/screen");
  tracker_.on_hook("p-1", "claude", ActivityState::kIdle);
  EXPECT_EQ(state("p-1"), "idle/hook");
  tick("p-1", claude, 10, "✻ Thinking… (esc to interrupt)");
  EXPECT_EQ(state("p-1"), "idle/hook");
}

// A generic agent that said `baton signal working` and then prints nothing for a while (a long
// build) is still working: the quiet screen does not end its turn for it. Its screen may still
// say it works (an agent may report only its turns' ends), but only its report says idle.
TEST_F(ActivityTrackerTest, AQuietScreenDoesNotEndTheTurnOfAnAgentThatReports) {
  const AgentSpec generic;
  tracker_.launched("p-1");
  tracker_.set("p-1", ActivityState::kWorking, ActivitySource::kSignal);
  for (int i = 0; i < 5; ++i) tick("p-1", generic, 100);
  EXPECT_EQ(state("p-1"), "working/signal");
  // Output up to the report is the turn it ended, not a new one.
  tick("p-1", generic, 150);
  tracker_.set("p-1", ActivityState::kIdle, ActivitySource::kSignal);
  tick("p-1", generic, 200);
  tick("p-1", generic, 200);
  EXPECT_EQ(state("p-1"), "idle/signal");
  for (std::uint64_t i = 0; i < 3; ++i) tick("p-1", generic, 300 + 10 * i);
  EXPECT_EQ(state("p-1"), "working/screen");
  for (int i = 0; i < 5; ++i) tick("p-1", generic, 300);
  EXPECT_EQ(state("p-1"), "working/screen");
  tracker_.set("p-1", ActivityState::kIdle, ActivitySource::kSignal);
  EXPECT_EQ(state("p-1"), "idle/signal");
}

// A turn's end is reported to whoever waits for one even when the agent looked idle all along:
// a second idle report, or a screen that printed briefly (an answer too short to be called
// working) and went quiet again. A quiet screen that printed nothing ends no turn.
TEST_F(ActivityTrackerTest, EveryTurnEndIsReportedEvenWhenTheStateStaysIdle) {
  const AgentSpec generic;
  tracker_.launched("p-1");
  tracker_.set("p-1", ActivityState::kIdle, ActivitySource::kSignal);
  tracker_.set("p-1", ActivityState::kIdle, ActivitySource::kSignal);
  EXPECT_EQ(changes_.size(), 3u);  // working (launch), idle, idle
  tracker_.launched("p-2");
  for (int i = 0; i < 3; ++i) tick("p-2", generic, 10);
  EXPECT_EQ(state("p-2"), "idle/screen");
  changes_.clear();
  for (int i = 0; i < 4; ++i) tick("p-2", generic, 10);
  EXPECT_TRUE(changes_.empty());
  tick("p-2", generic, 20);  // one tick of output: not yet working
  EXPECT_EQ(state("p-2"), "idle/screen");
  for (int i = 0; i < 3; ++i) tick("p-2", generic, 20);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0], "p-2 idle screen");
}

TEST_F(ActivityTrackerTest, CodexIsIdleOnlyByItsNotifyOnceItFired) {
  const AgentSpec& codex = presets_.at("codex");
  tick("p-1", codex, 0, "Working (3s • esc to interrupt)");
  EXPECT_EQ(state("p-1"), "working/screen");
  for (int i = 0; i < 3; ++i) tick("p-1", codex, 0, "> ");
  EXPECT_EQ(state("p-1"), "idle/screen") << "before any notify the screen may say idle";
  tick("p-1", codex, 0, "Working (3s • esc to interrupt)");
  tracker_.on_hook("p-1", "codex", ActivityState::kIdle);
  EXPECT_EQ(state("p-1"), "idle/notify");
  tick("p-1", codex, 9, "Working (3s • esc to interrupt)");
  EXPECT_EQ(state("p-1"), "working/screen");
  for (int i = 0; i < 5; ++i) tick("p-1", codex, 9, "> ");
  EXPECT_EQ(state("p-1"), "working/screen") << "a quiet screen is not the end of codex's turn";
  tracker_.on_hook("p-1", "codex", ActivityState::kIdle);
  EXPECT_EQ(state("p-1"), "idle/notify");
}

TEST_F(ActivityTrackerTest, ALateHookDoesNotReviveAnExitedSession) {
  tracker_.set("p-1", ActivityState::kExited, ActivitySource::kExit);
  tracker_.on_hook("p-1", "claude", ActivityState::kWorking);
  EXPECT_EQ(state("p-1"), "exited/exit");
}

TEST_F(ActivityTrackerTest, ALaunchForgetsWhatTheHooksOfTheLastProcessSaid) {
  const AgentSpec& claude = presets_.at("claude-code");
  tracker_.on_hook("p-1", "claude", ActivityState::kIdle);
  tracker_.launched("p-1");
  EXPECT_EQ(state("p-1"), "working/launch");
  tick("p-1", claude, 0, "Do you want to proceed?");
  tick("p-1", claude, 0, "Do you want to proceed?");
  EXPECT_EQ(state("p-1"), "waiting_input/screen") << "the new process's screen is read again";
}

TEST_F(ActivityTrackerTest, ATrackIsDroppedAtTheTickAfterItsSessionIsGone) {
  tracker_.set("p-1", ActivityState::kIdle, ActivitySource::kSignal);
  tracker_.set("p-2", ActivityState::kIdle, ActivitySource::kSignal);
  gone_ = {"p-1"};
  tracker_.tick();
  EXPECT_EQ(tracker_.get("p-1"), nullptr);
  EXPECT_EQ(state("p-2"), "idle/signal");
}

TEST_F(ActivityTrackerTest, EachChangeIsReportedOnceThroughTheCallback) {
  tracker_.set("p-1", ActivityState::kWorking, ActivitySource::kSignal);
  tracker_.set("p-1", ActivityState::kWorking, ActivitySource::kHook);
  tracker_.set("p-1", ActivityState::kIdle, ActivitySource::kSignal);
  EXPECT_EQ(changes_, (std::vector<std::string>{"p-1 working signal", "p-1 idle signal"}));
  EXPECT_FALSE(tracker_.get("p-1")->since.empty());
}

TEST(ActivityTrackerTimer, ItTicksOnTheLoopAndCloseLetsTheLoopEnd) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int ticks = 0;
  ActivityTracker* self = nullptr;
  ActivityTracker tracker(
      [&] {
        // The first tick closes the timer: uv_run returns only once its handle is closed.
        if (++ticks == 1) self->close();
        return std::vector<ActivitySample>{};
      },
      [](const std::string&) { return true; }, nullptr);
  self = &tracker;
  tracker.start(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(ticks, 1);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(ActivityWire, EveryStateIsReadBackByItsWireNameAndNothingElseIsAState) {
  for (auto state : {ActivityState::kWorking, ActivityState::kWaitingInput, ActivityState::kIdle,
                     ActivityState::kExited}) {
    const auto name = wire_name(state);
    ASSERT_FALSE(name.empty());
    EXPECT_EQ(activity_state_from_wire(name), state) << name;
  }
  EXPECT_EQ(wire_name(ActivityState::kUnknown), "");
  EXPECT_EQ(activity_state_from_wire(""), std::nullopt) << "unknown is no state to signal";
  EXPECT_EQ(activity_state_from_wire("busy"), std::nullopt);
  EXPECT_EQ(activity_state_from_wire("Idle"), std::nullopt);
}

}  // namespace
}  // namespace baton::plugin
