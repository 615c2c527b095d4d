#include "plugin/activity.hpp"

#include "runtime/iso_time.hpp"

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

ActivityTracker::ActivityTracker(SampleFn sample, IsKeptFn is_kept, ChangeFn on_change)
    : sample_(std::move(sample)), is_kept_(std::move(is_kept)), on_change_(std::move(on_change)) {}

ActivityTracker::~ActivityTracker() {
  close();
}

void ActivityTracker::start(uv_loop_t* loop) {
  if (timer_) return;
  timer_ = runtime::Timer::make(loop);
  timer_->start(
      kTickMs, [this] { tick(); }, kTickMs);
}

void ActivityTracker::close() {
  if (timer_) timer_->close();
  timer_ = nullptr;
}

void ActivityTracker::set(const std::string& session_id, const std::string& state,
                          const std::string& source) {
  Track& t = tracks_[session_id];
  if (t.now.state == state) return;
  t.now = Activity{state, runtime::iso8601_now(), source};
  if (on_change_) on_change_(session_id, t.now);
}

void ActivityTracker::launched(const std::string& session_id) {
  tracks_.erase(session_id);
  set(session_id, "working", "launch");
}

void ActivityTracker::on_hook(const std::string& session_id, const std::string& source,
                              const std::string& state) {
  Track& t = tracks_[session_id];
  if (source == "claude") t.has_hook = true;
  if (source == "codex") t.has_turn_signal = true;
  // An exited process's late hook (SessionEnd after the reap) must not revive it.
  if (t.now.state != "exited") set(session_id, state, source == "codex" ? "notify" : "hook");
}

const Activity* ActivityTracker::get(const std::string& session_id) const {
  auto it = tracks_.find(session_id);
  return it == tracks_.end() || it->second.now.state.empty() ? nullptr : &it->second.now;
}

void ActivityTracker::tick() {
  if (is_kept_) std::erase_if(tracks_, [this](const auto& kv) { return !is_kept_(kv.first); });
  for (const auto& s : sample_()) sample(s);
}

void ActivityTracker::sample(const ActivitySample& s) {
  if (!s.agent) return;
  const AgentSpec& agent = *s.agent;
  Track& t = tracks_[s.session_id];
  if (agent.kind == AgentKind::kClaude && t.has_hook) return;
  std::string screen;
  if ((!agent.working_patterns.empty() || !agent.waiting_patterns.empty()) && s.screen)
    for (const auto& line : s.screen()) screen += line + "\n";
  const bool may_say_idle = !(agent.kind == AgentKind::kCodex && t.has_turn_signal);
  const std::string state = t.screen.tick(s.output_bytes, screen, agent, may_say_idle);
  if (!state.empty()) set(s.session_id, state, "screen");
}

}  // namespace baton::plugin
