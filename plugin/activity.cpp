#include "plugin/activity.hpp"

#include "runtime/iso_time.hpp"

namespace baton::plugin {

std::string_view wire_name(ActivityState state) {
  switch (state) {
    case ActivityState::kUnknown:
      return "";
    case ActivityState::kWorking:
      return "working";
    case ActivityState::kWaitingInput:
      return "waiting_input";
    case ActivityState::kIdle:
      return "idle";
    case ActivityState::kExited:
      return "exited";
  }
  return "";
}

std::string_view wire_name(ActivitySource source) {
  switch (source) {
    case ActivitySource::kLaunch:
      return "launch";
    case ActivitySource::kHook:
      return "hook";
    case ActivitySource::kNotify:
      return "notify";
    case ActivitySource::kScreen:
      return "screen";
    case ActivitySource::kSignal:
      return "signal";
    case ActivitySource::kExit:
      return "exit";
  }
  return "";
}

std::optional<ActivityState> activity_state_from_wire(std::string_view name) {
  for (auto state : {ActivityState::kWorking, ActivityState::kWaitingInput, ActivityState::kIdle,
                     ActivityState::kExited}) {
    if (wire_name(state) == name) return state;
  }
  return std::nullopt;
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
      sig.state = ActivityState::kIdle;
    } else if (event == "UserPromptSubmit" || event == "PostToolUse" || event == "PreToolUse") {
      sig.state = ActivityState::kWorking;
    } else if (event == "Notification") {
      // claude notifies for a permission prompt and, after a minute without input, that it
      // waits for the user: the second is the idle it already is.
      const std::string type = text("notification_type");
      const std::string message = text("message");
      const bool is_idle_reminder =
          type == "idle_prompt" || message.find("waiting for your input") != std::string::npos;
      sig.state = is_idle_reminder ? ActivityState::kIdle : ActivityState::kWaitingInput;
    } else if (event == "SessionEnd") {
      sig.state = ActivityState::kExited;
    } else {
      return std::nullopt;
    }
    return sig;
  }
  if (source == "codex") {
    // codex's notify fires once per finished turn.
    if (text("type") != "agent-turn-complete") return std::nullopt;
    sig.state = ActivityState::kIdle;
    sig.conversation_id = text("thread-id");
    return sig;
  }
  return std::nullopt;
}

void ScreenActivity::restart() {
  is_first_ = true;
  busy_ticks_ = 0;
  quiet_ticks_ = 0;
  waiting_ticks_ = 0;
  has_output_since_idle_ = false;
  is_turn_end_ = false;
}

bool ScreenActivity::take_turn_end() {
  const bool was = is_turn_end_;
  is_turn_end_ = false;
  return was;
}

ActivityState ScreenActivity::tick(std::uint64_t output_bytes, const std::string& screen,
                                   const AgentSpec& agent, bool may_say_idle) {
  const bool is_busy = !is_first_ && output_bytes != last_bytes_;
  is_first_ = false;
  last_bytes_ = output_bytes;
  if (is_busy) {
    ++busy_ticks_;
    quiet_ticks_ = 0;
    has_output_since_idle_ = true;
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
  if (waiting_ticks_ >= kWaitingTicks) return ActivityState::kWaitingInput;
  if (shows_any(agent.working_patterns)) return ActivityState::kWorking;
  // An agent that shows when it works (codex's "esc to interrupt"): output alone is the
  // user typing or a redraw, not work.
  if (agent.working_patterns.empty() && busy_ticks_ >= kBusyTicks) return ActivityState::kWorking;
  if (may_say_idle && quiet_ticks_ >= kQuietTicks) {
    is_turn_end_ = has_output_since_idle_;
    has_output_since_idle_ = false;
    return ActivityState::kIdle;
  }
  return ActivityState::kUnknown;
}

ActivityTracker::ActivityTracker(SampleFn sample, IsKeptFn is_kept, ChangeFn on_change)
    : sample_(std::move(sample)), is_kept_(std::move(is_kept)), on_change_(std::move(on_change)) {}

ActivityTracker::~ActivityTracker() {
  close();
}

void ActivityTracker::start(uv_loop_t* loop) {
  if (timer_) return;
  timer_ = runtime::make_owned<runtime::Timer>(loop);
  timer_->start(
      kTickMs, [this] { tick(); }, kTickMs);
}

void ActivityTracker::close() {
  timer_.reset();
}

void ActivityTracker::set(const std::string& session_id, ActivityState state,
                          ActivitySource source) {
  Track& t = tracks_[session_id];
  const bool is_report = source == ActivitySource::kHook || source == ActivitySource::kNotify ||
                         source == ActivitySource::kSignal;
  if (is_report) {
    t.has_reported = true;
    t.screen.restart();
  }
  // Every turn's end is news, even to an agent that was idle already: a turn too short to be
  // seen working (a message answered at once) still ended, and a message waits for that.
  const bool is_turn_end = state == ActivityState::kIdle && is_report;
  if (t.now.state == state && !is_turn_end) {
    // The agent's own word confirms what the screen guessed or the launch assumed: the
    // drain asks who said it.
    if (is_report &&
        (t.now.source == ActivitySource::kScreen || t.now.source == ActivitySource::kLaunch))
      t.now.source = source;
    return;
  }
  t.now = Activity{state, runtime::iso8601_now(), source};
  if (on_change_) on_change_(session_id, t.now);
}

void ActivityTracker::launched(const std::string& session_id) {
  tracks_.erase(session_id);
  set(session_id, ActivityState::kWorking, ActivitySource::kLaunch);
}

void ActivityTracker::on_hook(const std::string& session_id, const std::string& source,
                              ActivityState state) {
  Track& t = tracks_[session_id];
  // An exited process's late hook (SessionEnd after the reap) must not revive it.
  if (t.now.state != ActivityState::kExited)
    set(session_id, state, source == "codex" ? ActivitySource::kNotify : ActivitySource::kHook);
}

const Activity* ActivityTracker::get(const std::string& session_id) const {
  auto it = tracks_.find(session_id);
  return it == tracks_.end() || it->second.now.state == ActivityState::kUnknown ? nullptr
                                                                                : &it->second.now;
}

bool ActivityTracker::has_reported(const std::string& session_id) const {
  auto it = tracks_.find(session_id);
  return it != tracks_.end() && it->second.has_reported;
}

void ActivityTracker::tick() {
  if (is_kept_) std::erase_if(tracks_, [this](const auto& kv) { return !is_kept_(kv.first); });
  for (const auto& s : sample_()) sample(s);
}

void ActivityTracker::sample(const ActivitySample& s) {
  if (!s.agent) return;
  const AgentSpec& agent = *s.agent;
  Track& t = tracks_[s.session_id];
  // claude's hooks say every change: its screen has nothing to add.
  if (agent.kind == AgentKind::kClaude && t.has_reported) return;
  std::string screen;
  if ((!agent.working_patterns.empty() || !agent.waiting_patterns.empty()) && s.screen)
    for (const auto& line : s.screen()) screen += line + "\n";
  // An agent that reports its own turns (codex's notify, `baton signal`) says when one ends: a
  // quiet screen is no turn's end (it may build for minutes), and a drain or a message must
  // not act on that guess. Its screen may still say it works (codex reports only the end).
  const bool may_say_idle = !t.has_reported;
  const ActivityState state = t.screen.tick(s.output_bytes, screen, agent, may_say_idle);
  if (state == ActivityState::kIdle && t.screen.take_turn_end() &&
      t.now.state == ActivityState::kIdle) {
    t.now = Activity{state, runtime::iso8601_now(), ActivitySource::kScreen};
    if (on_change_) on_change_(s.session_id, t.now);
    return;
  }
  if (state != ActivityState::kUnknown) set(s.session_id, state, ActivitySource::kScreen);
}

}  // namespace baton::plugin
