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
                   changes_.push_back(id + " " + now.state + " " + now.source);
                 }) {}

  // One tick that sees `id` with `bytes` of output so far and `screen` on its screen.
  void tick(const std::string& id, const AgentSpec& agent, std::uint64_t bytes,
            const std::string& screen = "") {
    samples_ = {{id, &agent, bytes, [screen] { return std::vector<std::string>{screen}; }}};
    tracker_.tick();
  }
  std::string state(const std::string& id) const {
    const Activity* a = tracker_.get(id);
    return a ? a->state + "/" + a->source : "";
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
  tracker_.on_hook("p-1", "claude", "idle");
  EXPECT_EQ(state("p-1"), "idle/hook");
  tick("p-1", claude, 10, "✻ Thinking… (esc to interrupt)");
  EXPECT_EQ(state("p-1"), "idle/hook");
}

TEST_F(ActivityTrackerTest, CodexIsIdleOnlyByItsNotifyOnceItFired) {
  const AgentSpec& codex = presets_.at("codex");
  tick("p-1", codex, 0, "Working (3s • esc to interrupt)");
  EXPECT_EQ(state("p-1"), "working/screen");
  for (int i = 0; i < 3; ++i) tick("p-1", codex, 0, "> ");
  EXPECT_EQ(state("p-1"), "idle/screen") << "before any notify the screen may say idle";
  tick("p-1", codex, 0, "Working (3s • esc to interrupt)");
  tracker_.on_hook("p-1", "codex", "idle");
  EXPECT_EQ(state("p-1"), "idle/notify");
  tick("p-1", codex, 9, "Working (3s • esc to interrupt)");
  EXPECT_EQ(state("p-1"), "working/screen");
  for (int i = 0; i < 5; ++i) tick("p-1", codex, 9, "> ");
  EXPECT_EQ(state("p-1"), "working/screen") << "a quiet screen is not the end of codex's turn";
  tracker_.on_hook("p-1", "codex", "idle");
  EXPECT_EQ(state("p-1"), "idle/notify");
}

TEST_F(ActivityTrackerTest, ALateHookDoesNotReviveAnExitedSession) {
  tracker_.set("p-1", "exited", "exit");
  tracker_.on_hook("p-1", "claude", "working");
  EXPECT_EQ(state("p-1"), "exited/exit");
}

TEST_F(ActivityTrackerTest, ALaunchForgetsWhatTheHooksOfTheLastProcessSaid) {
  const AgentSpec& claude = presets_.at("claude-code");
  tracker_.on_hook("p-1", "claude", "idle");
  tracker_.launched("p-1");
  EXPECT_EQ(state("p-1"), "working/launch");
  tick("p-1", claude, 0, "Do you want to proceed?");
  tick("p-1", claude, 0, "Do you want to proceed?");
  EXPECT_EQ(state("p-1"), "waiting_input/screen") << "the new process's screen is read again";
}

TEST_F(ActivityTrackerTest, ATrackIsDroppedAtTheTickAfterItsSessionIsGone) {
  tracker_.set("p-1", "idle", "signal");
  tracker_.set("p-2", "idle", "signal");
  gone_ = {"p-1"};
  tracker_.tick();
  EXPECT_EQ(tracker_.get("p-1"), nullptr);
  EXPECT_EQ(state("p-2"), "idle/signal");
}

TEST_F(ActivityTrackerTest, EachChangeIsReportedOnceThroughTheCallback) {
  tracker_.set("p-1", "working", "signal");
  tracker_.set("p-1", "working", "hook");
  tracker_.set("p-1", "idle", "signal");
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

}  // namespace
}  // namespace baton::plugin
