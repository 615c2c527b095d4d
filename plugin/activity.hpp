// What the orchestrator is doing (issue 8): working, waiting_input (it asks the user
// something), idle (its turn ended), exited. Best source first: the agent's own hooks
// (claude's lifecycle hooks, codex's `notify` at the end of a turn) through `baton signal`;
// then the screen: prompt patterns and output activity, debounced so one redraw never
// flips the state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "plugin/config.hpp"

namespace baton::plugin {

inline constexpr const char* kActivityStates[] = {"working", "waiting_input", "idle", "exited"};
bool is_activity_state(const std::string& state);

struct Activity {
  std::string state;   // one of kActivityStates; "" before anything is known
  std::string since;   // ISO 8601
  std::string source;  // launch | hook | notify | screen | signal | exit
};

// What an agent hook says: the state, and the agent's conversation id when it names one.
struct HookSignal {
  std::string state;
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

  // "" when the screen has no opinion. `may_say_idle` is false where a hook reports idle
  // (codex's notify) and the screen must not pre-empt it.
  std::string tick(std::uint64_t output_bytes, const std::string& screen, const AgentSpec& agent,
                   bool may_say_idle);

 private:
  std::uint64_t last_bytes_ = 0;
  bool is_first_ = true;
  int busy_ticks_ = 0;
  int quiet_ticks_ = 0;
  int waiting_ticks_ = 0;
};

}  // namespace baton::plugin
