#include "plugin/status_json.hpp"

#include "plugin/health.hpp"

namespace baton::plugin {

using runtime::protocol::Json;

namespace {

// How a restore would continue the agent's conversation, said plainly.
Json resume_note(const SessionRecord* current) {
  if (!current || current->resume_mode.empty()) return nullptr;
  if (!current->conversation_id.empty())
    return "conversation " + current->conversation_id +
           (current->conversation_source == "agent" ? " (reported by the agent)"
                                                    : " (chosen by baton)");
  if (current->resume_mode == "none") return "no resume: the agent has no resume command";
  return "no conversation id known: a restore continues the newest conversation";
}

// The next orchestrator's tree (standby.hpp): its state, its size once ready, and why it is
// off or failed.
Json standby_json(const ProjectState& p) {
  Json j{{"state", std::string(standby_state_name(p.standby_state))},
         {"bytes", p.standby_state == StandbyState::kReady ? p.standby_bytes : 0}};
  if (!p.standby_reason.empty() &&
      (p.standby_state == StandbyState::kOff || p.standby_state == StandbyState::kFailed))
    j["reason"] = p.standby_reason;
  return j;
}

}  // namespace

Json session_json(const SessionRecord& s, const Activity* activity) {
  Json j{
      {"id", s.id},
      {"role", std::string(wire_name(s.role))},
      {"project", s.project},
      {"agent", s.agent},
      {"command", s.argv},
      {"branch", s.branch},
      {"worktree", s.worktree},
      {"cwd", s.worktree},
      {"pid", s.pid},
      {"state", std::string(wire_name(s.state))},
      {"created_at", s.created_at},
      {"updated_at", s.updated_at},
      {"exit_status", s.exit_status ? Json(*s.exit_status) : Json(nullptr)},
      {"last_lines", s.last_lines},
      {"preserved_ref", s.preserved_ref.empty() ? Json(nullptr) : Json(s.preserved_ref)},
      {"preserved_commit", s.preserved_commit.empty() ? Json(nullptr) : Json(s.preserved_commit)}};
  if (s.role == SessionRole::kWorker) j["name"] = s.name;
  if (!s.last_error.empty()) j["error"] = s.last_error;
  j["conversation_id"] = s.conversation_id.empty() ? Json(nullptr) : Json(s.conversation_id);
  j["resume"] = s.resume_mode.empty() ? Json(nullptr) : Json(s.resume_mode);
  j["permissions"] = s.permissions.empty() ? Json("default") : Json(s.permissions);
  j["handoff_note"] = s.handoff_note.empty() ? Json(nullptr) : Json(s.handoff_note);
  if (activity) {
    j["activity"] = wire_name(activity->state);
    j["activity_since"] = activity->since;
  }
  return j;
}

Json status_json(const ProjectState& p, const std::vector<const SessionRecord*>& sessions,
                 const std::string& health, const ActivityTracker& activity) {
  int active = 0;
  for (const auto* s : sessions) active += s->state == SessionState::kActive;
  const SessionRecord* current = current_orchestrator(sessions);
  const Activity* act = current ? activity.get(current->id) : nullptr;
  std::string error = p.config_error;
  if (error.empty()) error = p.launch_error;
  for (const auto* s : sessions) {
    if (error.empty() && s->state == SessionState::kRetiring && !s->last_error.empty())
      error = s->last_error;
  }
  return Json{{"project", p.id},
              {"path", p.path},
              {"health", health},
              {"configured_agent", p.config ? Json(p.config->agent) : Json(nullptr)},
              {"orchestrator", current ? session_json(*current, act) : Json(nullptr)},
              {"active_count", active},
              // false while the newest content has repository settings nobody allowed
              {"allowed", p.config && p.trust_waiting.empty()},
              {"waiting_keys", p.trust_waiting},
              {"error", error.empty() ? Json(nullptr) : Json(error)},
              {"activity", act ? Json(wire_name(act->state)) : Json(nullptr)},
              {"activity_since", act ? Json(act->since) : Json(nullptr)},
              {"activity_source", act ? Json(wire_name(act->source)) : Json(nullptr)},
              {"permissions", current && !current->permissions.empty()
                                  ? Json(current->permissions)
                                  : Json(p.config ? p.config->permissions : "default")},
              {"resume", resume_note(current)},
              {"standby", standby_json(p)}};
}

}  // namespace baton::plugin
