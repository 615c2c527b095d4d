// Project methods: up, replace, down (each a handoff, or joining the one running), status
// and ls. A handoff never starts while start-up recovery clears stale git locks
// (when_scanned), nor while a handoff that replied still deletes its old trees
// (queued_behind_handoff).
#include <cmath>
#include <functional>
#include <memory>

#include <spdlog/spdlog.h>

#include "plugin/control_methods.hpp"
#include "plugin/down.hpp"
#include "plugin/fault.hpp"
#include "plugin/handoff.hpp"
#include "plugin/health.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/recovery.hpp"
#include "plugin/status_json.hpp"

namespace baton::plugin {

namespace proto = runtime::protocol;
using proto::Json;
using runtime::RequestPtr;

namespace {

Json outcome_json(Orchestrator& orch, const std::string& project, const HandoffOutcome& o,
                  bool joined) {
  Json j{{"project", project},
         {"session", nullptr},
         {"retired", o.retired},
         {"preserved", o.preserved},
         {"gap_ms", o.gap_ms < 0 ? Json(nullptr) : Json(o.gap_ms)},
         {"gap_steps_ms", nullptr},
         {"joined", joined},
         {"steps", o.steps},
         {"notes", o.notes}};
  if (o.gap_ms >= 0) {
    Json steps = Json::object();
    for (std::size_t i = 0; i < kGapStepNames.size(); ++i)
      steps[kGapStepNames[i]] = std::floor(static_cast<double>(o.gap_steps_us[i]) / 100.0) / 10.0;
    j["gap_steps_ms"] = steps;
  }
  if (o.preserve_scan) {
    j["preserve_scan"] =
        Json{{"limited", o.preserve_scan->is_limited}, {"paths", o.preserve_scan->paths}};
    if (!o.preserve_scan->is_limited) j["preserve_scan"]["reason"] = o.preserve_scan->why_full;
  }
  if (const SessionRecord* s = orch.session(o.session))
    j["session"] = session_json(*s, orch.activity().get(s->id));
  return j;
}

Json project_status(Orchestrator& orch, ProjectState& p) {
  Json j = status_json(p, orch.project_sessions(p.id), orch.health(p), orch.activity());
  j["outbox"] = orch.outbox().count(p.id);  // messages `baton tell` queued, not yet typed
  // Whether the next replace scans only what changed in the tree (change_record.hpp).
  j["change_record"] = std::string(orch.changes().state(p.id));
  // The team (docs/workers.md): names, health and activity; `baton workers` has the rest.
  Json workers = Json::array();
  for (const SessionRecord* w : orch.registry().workers_of(p.id)) {
    if (w->state == SessionState::kRetired) continue;
    const Activity* a = orch.activity().get(w->id);
    workers.push_back(Json{{"name", w->name},
                           {"health", std::string(worker_health(*w))},
                           {"activity", a ? Json(wire_name(a->state)) : Json(nullptr)}});
  }
  j["workers"] = workers;
  // The next worker's tree (worker_standby.hpp): "ready", "preparing" or "off".
  const auto& sb = orch.store().projects[p.id].worker_standby;
  j["worker_standby"] = !sb ? "off" : sb->is_ready ? "ready" : "preparing";
  return j;
}

// Starts the handoff, or joins the one running: a mashed keybinding replaces once. With
// `wait`, the answer comes after the new agent's launch grace and the deletion of the old
// trees too.
void run_handoff(Orchestrator& orch, const RequestPtr& req, ProjectState& p,
                 const std::shared_ptr<Retirement>& h, bool wait) {
  const HandoffRequest& hreq = h->request();
  const std::string project = p.id;
  auto progress = [req](const std::string& step, const std::string& detail) {
    req->event("progress", Json{{"step", step}, {"detail", detail}});
  };
  auto reply = [&orch, req, project](bool joined) {
    return [&orch, req, project, joined](const HandoffOutcome& o) {
      if (!o.ok) return req->fail(wire_name(o.failure.code), o.failure.message);
      req->reply(outcome_json(orch, project, o, joined));
    };
  };
  auto join = [&](Retirement& h, bool joined) {
    if (wait)
      h.join(progress, nullptr, reply(joined));
    else
      h.join(progress, reply(joined), nullptr);
  };
  if (p.handoff) {
    const std::string want = hreq.agent;
    if (!want.empty() && !p.handoff->agent().empty() && want != p.handoff->agent()) {
      return req->fail(wire_name(ErrorCode::kHandoffRunning),
                       "a handoff to " + p.handoff->agent() + " is already running for " + project);
    }
    join(*p.handoff, true);
    // A joining --now ends the drain's wait: the user chose not to wait any longer.
    if (hreq.is_now) p.handoff->skip_drain();
    return;
  }
  // Kept in memory only (ProjectState::env): a relaunch and a config reload read it.
  p.env = hreq.env;
  // A fault point arms one handoff; recovery after a kill must run unarmed.
  p.env.erase(std::string(kFaultEnv));
  p.handoff = h;
  join(*h, false);
  h->start();
}

// A handoff that replied holds the project until its retired trees are deleted: a command
// that would start or join one runs again once the project is free (Retirement::
// release_project), and starts a fresh handoff then. True when it was queued.
bool queued_behind_handoff(Orchestrator& orch, const RequestPtr& req, ProjectState& p,
                           std::function<void()> again) {
  // A worker's spawn or finish works in the repository (docs/workers.md): one at a time.
  if (!p.handoff && !p.worker_op.empty()) {
    // The next worker's tree can be made later: it gives way to the handoff.
    if (p.worker_op == WorkerStandby::kOperation) orch.workers().standby().cancel(p.id);
    req->event("progress", Json{{"step", "preflight"}, {"detail", "waiting for " + p.worker_op}});
    p.after_worker_op.push_back([&orch, req, again = std::move(again)] {
      if (orch.daemon().is_shutting_down())
        return req->fail(wire_name(ErrorCode::kFailed), "the daemon is shutting down");
      again();
    });
    return true;
  }
  if (!p.handoff || !p.handoff->has_replied()) return false;
  req->event("progress", Json{{"step", "preflight"},
                              {"detail",
                               "waiting for the previous handoff to delete the old "
                               "orchestrator's tree"}});
  p.after_handoff.push_back([&orch, req, again = std::move(again)] {
    if (orch.daemon().is_shutting_down())
      return req->fail(wire_name(ErrorCode::kFailed), "the daemon is shutting down");
    again();
  });
  return true;
}

// `up` of a project whose orchestrator runs: nothing to start, but it still refuses while
// newer content waits for `baton allow`, so the user learns of it (`baton attach` reaches the
// running agent meanwhile).
void answer_running(Orchestrator& orch, const RequestPtr& req, ProjectState& p) {
  orch.reload_config(
      p, env_param(req), [&orch, req, id = p.id](tl::expected<ProjectConfig, std::string> cfg) {
        ProjectState* p = orch.find_project(id);
        if (!p) return req->fail(wire_name(ErrorCode::kNotFound), "project " + id + " is gone");
        if (!cfg) return req->fail(wire_name(ErrorCode::kConfigError), cfg.error());
        if (!cfg->is_allowed)
          return req->fail(wire_name(ErrorCode::kNotAllowed), not_allowed_message(*cfg, p->path));
        const SessionRecord* current = newest_active(orch.project_sessions(id));
        if (!current)
          return req->fail(wire_name(ErrorCode::kFailed), "the orchestrator of " + id + " is gone");
        req->reply(Json{{"project", id},
                        {"session", session_json(*current, orch.activity().get(current->id))},
                        {"started", false}});
      });
}

void start_up(Orchestrator& orch, const RequestPtr& req, const std::string& id) {
  ProjectState* p = orch.find_project(id);
  if (!p) return;
  // While a handoff that replied deletes its old trees, its new agent is the running one.
  const SessionRecord* current = newest_active(orch.project_sessions(p->id));
  if (current && orch.daemon().find_session_exact(current->id) && !p->is_handing_off())
    return answer_running(orch, req, *p);
  if (queued_behind_handoff(orch, req, *p, [&orch, req, id] { start_up(orch, req, id); })) return;
  HandoffRequest h{p->id, string_param(req, "agent"), env_param(req)};
  h.trigger = "up";
  run_handoff(orch, req, *p, std::make_shared<Handoff>(orch, std::move(h)),
              bool_param(req, "wait"));
}

void start_replace(Orchestrator& orch, const RequestPtr& req, const std::string& id) {
  ProjectState* p = orch.find_project(id);
  if (!p) return;
  if (queued_behind_handoff(orch, req, *p, [&orch, req, id] { start_replace(orch, req, id); }))
    return;
  HandoffRequest h{p->id, string_param(req, "agent"), env_param(req)};
  h.is_now = bool_param(req, "now");
  h.is_fresh = bool_param(req, "fresh");
  h.reason = string_param(req, "reason");
  run_handoff(orch, req, *p, std::make_shared<Handoff>(orch, std::move(h)),
              bool_param(req, "wait"));
}

void start_down(Orchestrator& orch, const RequestPtr& req, const std::string& id) {
  ProjectState* p = orch.find_project(id);
  if (!p) return;
  if (queued_behind_handoff(orch, req, *p, [&orch, req, id] { start_down(orch, req, id); })) return;
  HandoffRequest h{p->id, "", env_param(req)};
  h.is_now = bool_param(req, "now");
  run_handoff(orch, req, *p, std::make_shared<Down>(orch, std::move(h)), false);
}

void up(Orchestrator& orch, const RequestPtr& req) {
  with_project(orch, req, true, [&orch, req](ProjectState& p) {
    when_scanned(p, [&orch, req, id = p.id] { start_up(orch, req, id); });
  });
}

void replace(Orchestrator& orch, const RequestPtr& req) {
  with_project(orch, req, true, [&orch, req](ProjectState& p) {
    when_scanned(p, [&orch, req, id = p.id] { start_replace(orch, req, id); });
  });
}

void down(Orchestrator& orch, const RequestPtr& req) {
  with_project(orch, req, false, [&orch, req](ProjectState& p) {
    when_scanned(p, [&orch, req, id = p.id] { start_down(orch, req, id); });
  });
}

void status(Orchestrator& orch, const RequestPtr& req) {
  with_project(orch, req, false, [&orch, req](ProjectState& p) {
    const std::string id = p.id;
    // A stuck cleanup is tried once more first: a user who fixed the file sees `ok` at once.
    if (p.config && orch.health(p) == "stuck") {
      return orch.retry_cleanup(id, [&orch, req, id] {
        if (ProjectState* p = orch.find_project(id)) req->reply(project_status(orch, *p));
      });
    }
    // The config watch keeps p.config current; read it here only when it was never read.
    if (p.config || !p.config_error.empty()) return req->reply(project_status(orch, p));
    orch.reload_config(p, p.env, [&orch, req, id](const tl::expected<ProjectConfig, std::string>&) {
      if (ProjectState* p = orch.find_project(id)) req->reply(project_status(orch, *p));
    });
  });
}

void ls(Orchestrator& orch, const RequestPtr& req) {
  Json list = Json::array();
  for (auto& [id, p] : orch.registry().projects()) {
    const SessionRecord* current = current_orchestrator(orch.project_sessions(id));
    // A narrow summary: never env, hooks or other config.
    list.push_back(Json{{"id", id},
                        {"path", p.path},
                        {"orchestrator_agent", p.config ? Json(p.config->agent) : Json(nullptr)},
                        {"health", orch.health(p)},
                        {"orchestrator", current ? Json(current->id) : Json(nullptr)}});
    const Activity* a = current ? orch.activity().get(current->id) : nullptr;
    list.back()["activity"] = a ? Json(wire_name(a->state)) : Json(nullptr);
    // The names `--agent` takes (shell completion offers them); never their commands.
    Json agents = Json::array();
    if (p.config)
      for (const auto& [name, spec] : p.config->agents) agents.push_back(name);
    list.back()["agents"] = agents;
  }
  req->reply(Json{{"projects", list}});
}

}  // namespace

void start_recovery_handoff(Orchestrator& orch, ProjectState& p, const std::string& agent,
                            const std::map<std::string, std::string>& env) {
  const std::string project = p.id;
  HandoffRequest hreq{project, agent, env};
  hreq.trigger = "recovery";
  auto h = std::make_shared<Handoff>(orch, std::move(hreq));
  p.handoff = h;
  h->join(
      nullptr,
      [project](const HandoffOutcome& o) {
        if (!o.ok) spdlog::error("recovery of {} failed: {}", project, o.failure.message);
      },
      nullptr);
  h->start();
}

void register_project_methods(Orchestrator& orch) {
  runtime::Daemon& d = orch.daemon();
  d.add_method("up", [&orch](const RequestPtr& req) { up(orch, req); });
  d.add_method("replace", [&orch](const RequestPtr& req) { replace(orch, req); });
  d.add_method("down", [&orch](const RequestPtr& req) { down(orch, req); });
  d.add_method("status", [&orch](const RequestPtr& req) { status(orch, req); });
  d.add_method("ls", [&orch](const RequestPtr& req) { ls(orch, req); });
}

}  // namespace baton::plugin
