// Worker methods (docs/workers.md): spawn, workers and finish. Names and JSON fields are a
// contract, like the other methods'.
#include <spdlog/spdlog.h>

#include "git/repository.hpp"
#include "git/worker_branch.hpp"
#include "plugin/control_methods.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/worker_notice.hpp"

namespace baton::plugin {

namespace proto = runtime::protocol;
using proto::Json;
using runtime::RequestPtr;

namespace {

ProgressFn progress_of(const RequestPtr& req) {
  return [req](const std::string& step, const std::string& detail) {
    req->event("progress", Json{{"step", step}, {"detail", detail}});
  };
}

// `baton spawn [PROJECT] --name NAME ...`: PROJECT defaults to the directory the command ran
// in, so the orchestrator agent, which runs in its own tree, names none.
void spawn(Orchestrator& orch, const RequestPtr& req) {
  SpawnRequest sreq;
  sreq.name = string_param(req, "name");
  sreq.agent = string_param(req, "agent");
  sreq.base = string_param(req, "base");
  sreq.prompt = string_param(req, "prompt");
  sreq.reuse_branch = bool_param(req, "reuse_branch");
  sreq.env = env_param(req);
  with_project(orch, req, true, [&orch, req, sreq](ProjectState& p) {
    orch.workers().spawn(p.id, sreq, progress_of(req), [req](Expected<Spawned> out) {
      if (!out) return req->fail(wire_name(out.error().code), out.error().message);
      req->reply(Json{{"id", out->id},
                      {"name", out->name},
                      {"branch", out->branch},
                      {"worktree", out->worktree},
                      {"pid", out->pid},
                      {"notes", out->notes}});
    });
  });
}

// The last line of text a worker's screen shows (its last lines once it exited).
std::string last_line(Orchestrator& orch, const SessionRecord& w) {
  runtime::Session* s = orch.daemon().find_session_exact(w.id);
  if (s && s->is_running()) return last_screen_line(s->peek_capture());
  return last_screen_line(w.last_lines);
}

struct Counts {
  std::string id;
  std::optional<git::AheadBehind> counts;
};

// `baton workers [PROJECT]`: the workers not finished, oldest first, with their commits
// against the canonical branch (counted off the loop).
void workers(Orchestrator& orch, const RequestPtr& req) {
  with_project(orch, req, false, [&orch, req](ProjectState& p) {
    std::vector<std::pair<std::string, std::string>> branches;  // id, branch
    for (const SessionRecord* w : orch.registry().workers_of(p.id))
      if (w->state != SessionState::kRetired) branches.emplace_back(w->id, w->branch);
    const std::string canonical = p.config ? p.config->branch : std::string();
    run_off_loop<std::vector<Counts>>(
        orch.loop(),
        [repo_path = p.path, branches, canonical] {
          std::vector<Counts> out;
          auto proj = git::open_project(repo_path);
          for (const auto& [id, branch] : branches) {
            Counts c{id, std::nullopt};
            if (proj && !canonical.empty())
              if (auto ab = git::ahead_behind(proj->repo.get(), branch, canonical)) c.counts = *ab;
            out.push_back(std::move(c));
          }
          return out;
        },
        [&orch, req, project = p.id](const std::vector<Counts>& counted) {
          std::vector<std::pair<std::string, Json>> rows;
          for (const Counts& c : counted) {
            const SessionRecord* w = orch.session(c.id);
            if (!w || w->state == SessionState::kRetired) continue;
            const Activity* a = orch.activity().get(w->id);
            runtime::Session* s = orch.daemon().find_session_exact(w->id);
            const bool is_running = s && s->is_running();
            rows.emplace_back(w->created_at,
                              Json{{"name", w->name},
                                   {"id", w->id},
                                   {"agent", w->agent},
                                   {"branch", w->branch},
                                   {"worktree", w->worktree},
                                   {"pid", is_running ? Json(w->pid) : Json(nullptr)},
                                   {"state", std::string(wire_name(w->state))},
                                   {"health", std::string(worker_health(*w))},
                                   {"activity", a ? Json(wire_name(a->state)) : Json(nullptr)},
                                   {"ahead", c.counts ? Json(c.counts->ahead) : Json(nullptr)},
                                   {"behind", c.counts ? Json(c.counts->behind) : Json(nullptr)},
                                   {"last_line", last_line(orch, *w)},
                                   {"created_at", w->created_at}});
            if (!w->last_error.empty()) rows.back().second["error"] = w->last_error;
          }
          std::sort(rows.begin(), rows.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
          Json list = Json::array();
          for (auto& r : rows) list.push_back(std::move(r.second));
          req->reply(Json{{"project", project}, {"workers", list}});
        });
  });
}

// `baton finish PROJECT/NAME`.
void finish(Orchestrator& orch, const RequestPtr& req) {
  const std::string target = string_param(req, "target");
  const SessionRecord* w = orch.registry().resolve_worker(target);
  if (!w || w->state == SessionState::kRetired)
    return req->fail(wire_name(ErrorCode::kNotFound),
                     "no worker '" + target + "' (give PROJECT/NAME; see 'baton workers')");
  FinishRequest freq;
  freq.name = w->name;
  freq.delete_branch = bool_param(req, "delete_branch");
  freq.is_now = bool_param(req, "now");
  freq.env = env_param(req);
  orch.workers().finish(w->project, freq, progress_of(req), [req](Expected<Finished> out) {
    if (!out) return req->fail(wire_name(out.error().code), out.error().message);
    const FinishedWorker& t = out->tree;
    Json preserved = nullptr;
    if (!t.commit.empty()) preserved = Json{{"ref", t.ref}, {"commit", t.commit}};
    req->reply(
        Json{{"id", out->id},
             {"preserved", preserved},
             {"kept", t.kept},
             {"kept_dir", t.kept_dir.empty() ? Json(nullptr) : Json(t.kept_dir)},
             {"branch_deleted", t.is_branch_deleted},
             {"branch_kept", t.why_branch_kept.empty() ? Json(nullptr) : Json(t.why_branch_kept)},
             {"notes", t.notes}});
  });
}

}  // namespace

void register_worker_methods(Orchestrator& orch) {
  runtime::Daemon& d = orch.daemon();
  d.add_method("spawn", [&orch](const RequestPtr& req) { spawn(orch, req); });
  d.add_method("workers", [&orch](const RequestPtr& req) { workers(orch, req); });
  d.add_method("finish", [&orch](const RequestPtr& req) { finish(orch, req); });
}

}  // namespace baton::plugin
