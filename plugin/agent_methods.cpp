// Methods about the agents' sessions: sessions (with the orchestrator fields), signal (an
// agent's hooks say what it does) and kill (which refuses an orchestrator and a worker).
#include <algorithm>
#include <utility>
#include <vector>

#include "plugin/activity.hpp"
#include "plugin/control_methods.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/status_json.hpp"

namespace baton::plugin {

namespace proto = runtime::protocol;
using proto::Json;
using runtime::RequestPtr;

namespace {

// Orchestrator sessions from the store; with no TARGET also the runtime's plain sessions.
// Oldest first.
void list_sessions(Orchestrator& orch, const RequestPtr& req) {
  const bool all = bool_param(req, "all");
  const std::string target = string_param(req, "target");
  ProjectState* only = nullptr;
  if (!target.empty()) {
    only = orch.resolve_project(target);
    if (!only) return req->fail(proto::code::kNotFound, "no project at '" + target + "'");
  }
  std::vector<std::pair<std::string, Json>> rows;
  for (const auto& [id, s] : orch.store().sessions) {
    if (only && s.project != only->id) continue;
    if (!all && s.state != SessionState::kActive && s.state != SessionState::kRetiring) continue;
    Json row = session_json(s, orch.activity().get(id));
    if (const runtime::Session* live = orch.daemon().find_session_exact(id)) {
      row["holder_pid"] = live->holder_pid();
      row["adopted"] = live->is_adopted();
    }
    rows.emplace_back(s.created_at, std::move(row));
  }
  if (!only) {
    for (const auto& [id, s] : orch.daemon().sessions()) {
      if (orch.store().sessions.count(id)) continue;
      if (!all && !s->is_running()) continue;
      rows.emplace_back(s->created_at(), runtime::session_json(*s));
    }
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  Json list = Json::array();
  for (auto& r : rows) list.push_back(std::move(r.second));
  req->reply(Json{{"sessions", list}});
}

// `baton signal`: an agent (or its hook) says what it is doing. The session comes from
// BATON_SESSION in the agent's environment; a hook's payload is the agent's own JSON.
void take_signal(Orchestrator& orch, const RequestPtr& req) {
  const std::string id = string_param(req, "session");
  const std::string state = string_param(req, "state");
  const std::string source = string_param(req, "source");
  const std::string event = string_param(req, "event");
  SessionRecord* rec = orch.session(id);
  if (!rec)
    return req->fail(proto::code::kNotFound,
                     id.empty() ? std::string("signal: no session (BATON_SESSION is not set)")
                                : "signal: no orchestrator session '" + id + "'");
  if (!source.empty()) {
    const Json& params = req->params();
    const Json payload = params.contains("payload") ? params["payload"] : Json(nullptr);
    auto sig = map_hook(source, event, payload);
    if (!sig) return req->reply(Json{{"session", id}, {"activity", nullptr}});
    orch.on_agent_signal(*rec, source, *sig);
  } else {
    const auto named = activity_state_from_wire(state);
    if (!named)
      return req->fail(
          proto::code::kBadParams,
          "signal: state '" + state + "' must be working, waiting_input, idle or exited");
    orch.activity().set(id, *named, ActivitySource::kSignal);
  }
  const Activity* a = orch.activity().get(id);
  req->reply(Json{{"session", id}, {"activity", a ? Json(wire_name(a->state)) : Json(nullptr)}});
}

// The runtime's kill, refused for an orchestrator: `down` retires it with its work.
void kill_session(Orchestrator& orch, const runtime::MethodFn& runtime_kill,
                  const RequestPtr& req) {
  const std::string target = string_param(req, "target");
  if (const SessionRecord* s = orch.session(target); s && s->state != SessionState::kRetired) {
    // A worker is finished, never killed: its work is preserved first (docs/workers.md).
    if (s->role == SessionRole::kWorker)
      return req->fail(wire_name(ErrorCode::kIsOrchestrator),
                       "session '" + target + "' is worker " + s->name + " of " + s->project +
                           ": use 'baton finish " + s->project + "/" + s->name + "'");
    return req->fail(wire_name(ErrorCode::kIsOrchestrator),
                     "session '" + target + "' is the orchestrator of " + s->project +
                         ": use 'baton down " + s->project + "'");
  }
  if (runtime_kill) runtime_kill(req);
}

}  // namespace

void register_agent_methods(Orchestrator& orch) {
  runtime::Daemon& d = orch.daemon();
  d.add_method("sessions", [&orch](const RequestPtr& req) { list_sessions(orch, req); });
  d.add_method("signal", [&orch](const RequestPtr& req) { take_signal(orch, req); });
  d.add_method("kill", [&orch, runtime_kill = d.server().method("kill")](const RequestPtr& req) {
    kill_session(orch, runtime_kill, req);
  });
}

}  // namespace baton::plugin
