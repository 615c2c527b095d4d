// What the orchestrator is doing (issue 8): working, waiting_input (it asks the user
// something), idle (its turn ended), exited. Best source first: the agent's own hooks
// (claude's lifecycle hooks, codex's `notify` at the end of a turn) through `baton signal`;
// then the screen: prompt patterns and output activity, debounced so one redraw never
// flips the state. ActivityTracker keeps it per session for the orchestrator.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugin/config.hpp"
#include "runtime/uv_handles.hpp"

namespace baton::plugin {

enum class ActivityState { kUnknown, kWorking, kWaitingInput, kIdle, kExited };
// Where the state came from, best first after launch: the agent's hooks or notify, `baton
// signal`, the screen; launch and exit are baton's own.
enum class ActivitySource { kLaunch, kHook, kNotify, kScreen, kSignal, kExit };

// The protocol's names (`status --json` "activity", `baton signal STATE`): working,
// waiting_input, idle, exited; "" for kUnknown. One place maps them.
std::string_view wire_name(ActivityState state);
std::string_view wire_name(ActivitySource source);
// The state a `baton signal` names; nullopt for anything else (and for "").
std::optional<ActivityState> activity_state_from_wire(std::string_view name);

struct Activity {
  ActivityState state = ActivityState::kUnknown;
  std::string since;  // ISO 8601
  ActivitySource source = ActivitySource::kLaunch;
};

// What an agent hook says: the state, and the agent's conversation id when it names one.
struct HookSignal {
  ActivityState state = ActivityState::kUnknown;
  std::string conversation_id;
};

// `baton signal --hook claude <Event>` with claude's hook JSON on stdin, or
// `baton signal --hook codex <json>` with codex's notify payload. nullopt: not a state
// change (an unknown event).
std::optional<HookSignal> map_hook(const std::string& source, const std::string& event,
                                   const nlohmann::json& payload);

// The screen source for one session, ticked about once a second.
class ScreenActivity {
 public:
  static constexpr int kBusyTicks = 2;     // output in this many ticks in a row: working
  static constexpr int kQuietTicks = 3;    // no output for this many: idle
  static constexpr int kWaitingTicks = 2;  // a waiting prompt this many ticks: waiting_input

  // kUnknown when the screen has no opinion. `may_say_idle` is false where a hook reports
  // idle (codex's notify) and the screen must not pre-empt it.
  ActivityState tick(std::uint64_t output_bytes, const std::string& screen, const AgentSpec& agent,
                     bool may_say_idle);
  // The agent reported its state itself: what it printed before belongs to that report, so
  // the screen counts its ticks afresh (dots printed before an idle report are no new work).
  void restart();
  // True once after the tick that said idle following output: that output was a turn (a
  // message's answer, say) even if too short for the screen to call it working, and its end
  // is news to whoever waits for a turn's end.
  bool take_turn_end();

 private:
  std::uint64_t last_bytes_ = 0;
  bool is_first_ = true;
  int busy_ticks_ = 0;
  int quiet_ticks_ = 0;
  int waiting_ticks_ = 0;
  bool has_output_since_idle_ = false;
  bool is_turn_end_ = false;
};

// What one tick reads of a running orchestrator.
struct ActivitySample {
  std::string session_id;
  const AgentSpec* agent = nullptr;  // valid during the tick
  std::uint64_t output_bytes = 0;
  // The visible lines, asked only of an agent with working or waiting patterns.
  std::function<std::vector<std::string>()> screen;
};

// The activity of each orchestrator session, from every source, best first: the agent's
// hooks, then its screen on a one-second tick. Owned by the orchestrator, which tells it of
// launches, exits and hooks and gives it the sessions to sample; it knows no project and no
// store, and says when a session's activity changed through `on_change`.
class ActivityTracker {
 public:
  // The running orchestrators to sample on this tick.
  using SampleFn = std::function<std::vector<ActivitySample>()>;
  // False for a session whose track can go (retired or forgotten): the map would otherwise
  // grow by one track per handoff.
  using IsKeptFn = std::function<bool(const std::string& session_id)>;
  using ChangeFn = std::function<void(const std::string& session_id, const Activity& now)>;
  static constexpr std::uint64_t kTickMs = 1000;

  ActivityTracker(SampleFn sample, IsKeptFn is_kept, ChangeFn on_change);
  ~ActivityTracker();
  ActivityTracker(const ActivityTracker&) = delete;
  ActivityTracker& operator=(const ActivityTracker&) = delete;

  // Ticks every kTickMs on `loop` until close().
  void start(uv_loop_t* loop);
  // Closes the tick timer (shutdown: it would keep the loop alive); idempotent.
  void close();

  void set(const std::string& session_id, ActivityState state, ActivitySource source);
  // A new process: what the screen and the hooks knew of the last one no longer holds.
  void launched(const std::string& session_id);
  // A hook ("claude") or notify ("codex") of the agent said `state`.
  void on_hook(const std::string& session_id, const std::string& source, ActivityState state);
  // Null before anything is known.
  const Activity* get(const std::string& session_id) const;
  // True once the session's process reported through a hook, notify or `baton signal`: only
  // then does an idle mean its turn ended (a generic agent without hooks never reports).
  bool has_reported(const std::string& session_id) const;
  // What the timer runs: drops the tracks is_kept refuses, then samples.
  void tick();

 private:
  struct Track {
    Activity now;
    ScreenActivity screen;
    bool has_reported = false;  // a hook, notify or `baton signal` said something
  };
  void sample(const ActivitySample& s);

  SampleFn sample_;
  IsKeptFn is_kept_;
  ChangeFn on_change_;
  std::map<std::string, Track> tracks_;   // by session id
  runtime::Owned<runtime::Timer> timer_;  // owned until close()
};

}  // namespace baton::plugin
