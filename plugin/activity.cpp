#include "plugin/activity.hpp"

namespace baton::plugin {

bool is_activity_state(const std::string& state) {
  for (const char* s : kActivityStates)
    if (state == s) return true;
  return false;
}

std::optional<HookSignal> map_hook(const std::string& source, const std::string& event,
                                   const nlohmann::json& payload) {
  HookSignal sig;
  auto text = [&](const char* key) {
    return payload.is_object() && payload.contains(key) && payload[key].is_string()
               ? payload[key].get<std::string>()
               : std::string();
  };
  if (source == "claude") {
    sig.conversation_id = text("session_id");
    if (event == "SessionStart" || event == "Stop") {
      sig.state = "idle";
    } else if (event == "UserPromptSubmit" || event == "PostToolUse" || event == "PreToolUse") {
      sig.state = "working";
    } else if (event == "Notification") {
      // claude notifies for a permission prompt and, after a minute without input, that it
      // waits for the user: the second is the idle it already is.
      const std::string type = text("notification_type");
      const std::string message = text("message");
      const bool is_idle_reminder =
          type == "idle_prompt" || message.find("waiting for your input") != std::string::npos;
      sig.state = is_idle_reminder ? "idle" : "waiting_input";
    } else if (event == "SessionEnd") {
      sig.state = "exited";
    } else {
      return std::nullopt;
    }
    return sig;
  }
  if (source == "codex") {
    // codex's notify fires once per finished turn.
    if (text("type") != "agent-turn-complete") return std::nullopt;
    sig.state = "idle";
    sig.conversation_id = text("thread-id");
    return sig;
  }
  return std::nullopt;
}

std::string ScreenActivity::tick(std::uint64_t output_bytes, const std::string& screen,
                                 const AgentSpec& agent, bool may_say_idle) {
  const bool is_busy = !is_first_ && output_bytes != last_bytes_;
  is_first_ = false;
  last_bytes_ = output_bytes;
  if (is_busy) {
    ++busy_ticks_;
    quiet_ticks_ = 0;
  } else {
    ++quiet_ticks_;
    busy_ticks_ = 0;
  }
  auto shows_any = [&](const std::vector<std::string>& patterns) {
    for (const auto& p : patterns)
      if (screen.find(p) != std::string::npos) return true;
    return false;
  };
  waiting_ticks_ = shows_any(agent.waiting_patterns) ? waiting_ticks_ + 1 : 0;
  if (waiting_ticks_ >= kWaitingTicks) return "waiting_input";
  if (shows_any(agent.working_patterns)) return "working";
  // An agent that shows when it works (codex's "esc to interrupt"): output alone is the
  // user typing or a redraw, not work.
  if (agent.working_patterns.empty() && busy_ticks_ >= kBusyTicks) return "working";
  if (may_say_idle && quiet_ticks_ >= kQuietTicks) return "idle";
  return "";
}

}  // namespace baton::plugin
