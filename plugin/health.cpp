#include "plugin/health.hpp"

#include <tuple>

namespace baton::plugin {

bool is_newer(const SessionRecord& a, const SessionRecord& b) {
  return std::tie(a.created_at, a.updated_at, a.number) >
         std::tie(b.created_at, b.updated_at, b.number);
}

const SessionRecord* newest_where(const std::vector<const SessionRecord*>& sessions,
                                  const std::function<bool(const SessionRecord&)>& is_wanted) {
  const SessionRecord* best = nullptr;
  for (const auto* s : sessions) {
    if (!is_wanted(*s)) continue;
    if (!best || is_newer(*s, *best)) best = s;
  }
  return best;
}

namespace {

const SessionRecord* newest_in_state(const std::vector<const SessionRecord*>& sessions,
                                     SessionState state) {
  return newest_where(sessions, [state](const SessionRecord& s) { return s.state == state; });
}

}  // namespace

const SessionRecord* newest_active(const std::vector<const SessionRecord*>& sessions) {
  return newest_in_state(sessions, SessionState::kActive);
}

const SessionRecord* current_orchestrator(const std::vector<const SessionRecord*>& sessions) {
  if (const auto* s = newest_active(sessions)) return s;
  return newest_in_state(sessions, SessionState::kExited);
}

std::string compute_health(const HealthInputs& in) {
  if (in.is_replacing) return "replacing";
  if (in.is_stuck) return "stuck";
  int active = 0;
  for (const auto* s : in.sessions) {
    if (s->state == SessionState::kRetiring && !s->last_error.empty()) return "stuck";
    if (s->state == SessionState::kActive) ++active;
  }
  if (active > 1) return "duplicate";
  const SessionRecord* current = current_orchestrator(in.sessions);
  if (!current) return "missing";
  if (current->state == SessionState::kExited) return "exited";
  if (!in.launch_error.empty() || current->agent != in.configured_agent) return "restart_needed";
  return "ok";
}

std::string_view worker_health(const SessionRecord& worker) {
  switch (worker.state) {
    case SessionState::kRetired:
      return "finished";
    case SessionState::kRetiring:
      return worker.last_error.empty() ? "finishing" : "stuck";
    case SessionState::kExited:
      return "exited";
    case SessionState::kActive:
      return worker.restore_marker ? "ok" : "spawning";
  }
  return "exited";
}

}  // namespace baton::plugin
