#include "plugin/recovery.hpp"

#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "git/inventory.hpp"
#include "git/locks.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"
#include "plugin/fault.hpp"
#include "plugin/handoff_steps.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/outlived_agent.hpp"
#include "plugin/standby_steps.hpp"
#include "runtime/iso_time.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

namespace {

// What the scan of a project's workspace found.
struct Scanned {
  bool has_leftovers = false;  // .prepare-*, .trash-*, baton/tmp/*, stale admin entries
  std::string stable_admin;    // admin name of the tree at the stable path, if any
};

// Off the loop: clears stale git locks in baton's own worktrees and refs, then looks at what
// an interrupted handoff may have left.
Scanned scan(const std::string& repo_path, const std::string& project_dir,
             const std::string& standby_id) {
  Scanned found;
  auto proj = git::open_project(repo_path);
  if (!proj) return found;
  std::vector<fs::path> trees;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(project_dir, ec)) trees.push_back(e.path());
  if (auto cleared = git::clear_stale_locks(proj->repo.get(), trees); cleared) {
    for (const auto& f : *cleared) spdlog::info("removed stale lock {}", f.string());
  }
  if (auto inv = git::inventory(proj->repo.get(), project_dir)) {
    // The standby is no handoff's leftover: kept when valid, else discarded by the standby
    // itself (standby.hpp), with no handoff of the running orchestrator.
    remove_standby_pieces(*inv, standby_ids(project_dir, standby_id));
    // Nor is the next worker's tree (docs/workers.md).
    remove_standby_pieces(*inv, standby_ids(workers_dir(project_dir), ""));
    found.has_leftovers = !inv->prepare_dirs.empty() || !inv->trash_dirs.empty() ||
                          !inv->temp_branches.empty() || !inv->stale_entries.empty();
  }
  found.stable_admin = git::worktree_owner(fs::path(project_dir) / git::kStableDirName).admin_name;
  return found;
}

}  // namespace

void when_scanned(ProjectState& p, std::function<void()> fn) {
  if (!p.is_scanning) return fn();
  p.after_scan.push_back(std::move(fn));
}

Recovery::Recovery(uv_loop_t* loop, ProjectRegistry& registry, RecoveryHost& host)
    : loop_(loop), registry_(registry), host_(host) {}

void Recovery::recover(const std::string& id) {
  ProjectState* p = registry_.find(id);
  if (!p) return;
  p->is_recovering = true;
  p->is_scanning = true;
  // Their terminal died with the old daemon; pid and start time tell them from a reused pid.
  for (auto& [sid, rec] : registry_.store().sessions) {
    if (rec.project != id || host_.has_session(sid)) continue;
    if (kill_outlived_agent(rec.pid, rec.pid_start_time))
      spdlog::info("stopped {} (pid {}), which outlived the daemon", sid, rec.pid);
  }
  if (faulted(id, "recovery.started")) return;
  const auto env = p->env;
  host_.reload_config(*p, env, [this, id, env](tl::expected<ProjectConfig, std::string> cfg) {
    ProjectState* p = registry_.find(id);
    if (!p) return;
    if (!cfg) {
      p->is_recovering = false;
      spdlog::error("recovery of {}: {}", id, cfg.error());
      return end_scan(id);
    }
    const std::string repo_path = p->path;
    const std::string project_dir = cfg->workspace_root + "/" + id;
    const auto& standby = registry_.store().projects[id].standby;
    run_off_loop<Scanned>(
        loop_,
        [repo_path, project_dir, standby_id = standby ? standby->id : std::string()] {
          return scan(repo_path, project_dir, standby_id);
        },
        [this, id, env](const Scanned& found) {
          if (faulted(id, "recovery.scanned")) return;
          decide(id, env, found.has_leftovers, found.stable_admin);
          // Commands that arrived during the scan run now, after recovery chose its course: a
          // replace joins the recovery's handoff or starts its own.
          end_scan(id);
        });
  });
}

void Recovery::end_scan(const std::string& id) {
  ProjectState* p = registry_.find(id);
  if (!p) return;
  p->is_scanning = false;
  auto deferred = std::move(p->after_scan);
  p->after_scan.clear();
  for (auto& fn : deferred) fn();
}

void Recovery::decide(const std::string& id, const Environment& env, bool has_leftovers,
                      const std::string& stable_admin) {
  ProjectState* p = registry_.find(id);
  if (!p) return;
  p->is_recovering = false;
  const auto& journal = registry_.store().projects[id].journal;
  bool is_retiring = false;
  int active = 0;
  bool owns_stable = stable_admin.empty();
  for (const auto* s : registry_.sessions_of(id)) {
    is_retiring |= s->state == SessionState::kRetiring;
    active += s->state == SessionState::kActive;
    if (s->state != SessionState::kRetired && git::worktree_name(s->id) == stable_admin)
      owns_stable = true;
  }
  // Of two actives, the newest one's agent goes on (the order of newest_active, not
  // the store's id order: shop-9 sorts after shop-10).
  const SessionRecord* newest = newest_active(registry_.sessions_of(id));
  const std::string newest_agent = newest ? newest->agent : std::string();
  const bool needs_handoff = journal.phase != HandoffPhase::kNone || is_retiring || active > 1 ||
                             !owns_stable || has_leftovers;
  // Workers are no part of the orchestrator's handoff: whatever it does, they come back.
  restore_workers(id);
  if (!needs_handoff) return restore_sessions(id);
  // A replace that arrived first finishes the job just as well.
  if (p->handoff) return;
  spdlog::info("recovery of {}: finishing an interrupted handoff", id);
  Environment handoff_env = env;
  // Test builds arm the resumed handoff's fault points from the daemon's environment.
  for (auto& [k, v] : daemon_fault_env()) handoff_env[k] = v;
  host_.resume_handoff(id, journal.phase == HandoffPhase::kNone ? newest_agent : journal.agent,
                       handoff_env);
}

bool Recovery::faulted(const std::string& project, std::string_view point) {
  if (!fault_hit(daemon_fault_env(), point)) return false;
  spdlog::error("recovery of {} failed: fault injected at {}", project, point);
  if (ProjectState* p = registry_.find(project)) p->is_recovering = false;
  end_scan(project);
  return true;
}

// An agent that outlived the daemon (pid and start time match) is stopped first: its
// terminal died with the old daemon.
void Recovery::restore_sessions(const std::string& project) {
  bool is_restoring = false;
  for (auto& [id, rec] : registry_.store().sessions) {
    if (rec.project != project || rec.role != SessionRole::kOrchestrator ||
        rec.state != SessionState::kActive || !rec.restore_marker)
      continue;
    if (host_.has_session(id)) continue;
    kill_outlived_agent(rec.pid, rec.pid_start_time);
    ProjectState* p = registry_.find(rec.project);
    if (!p) continue;
    p->is_recovering = true;
    is_restoring = true;
    restore(*p, id);
  }
  if (!is_restoring) host_.recovered(project);
}

// A worker whose holder lived was adopted by the runtime already (has_session): only one whose
// holder is gone starts again, with its agent's resume command.
void Recovery::restore_workers(const std::string& project) {
  std::vector<std::string> unfinished;
  for (auto& [id, rec] : registry_.store().sessions) {
    if (rec.project != project || rec.role != SessionRole::kWorker) continue;
    const bool is_spawning = rec.state == SessionState::kActive && !rec.restore_marker;
    if (is_spawning || rec.state == SessionState::kRetiring) {
      unfinished.push_back(id);
      continue;
    }
    if (rec.state != SessionState::kActive || host_.has_session(id)) continue;
    kill_outlived_agent(rec.pid, rec.pid_start_time);
    if (ProjectState* p = registry_.find(rec.project)) restore(*p, id);
  }
  for (const auto& id : unfinished) host_.resume_worker(id);
  host_.workers_recovered(project);
}

void Recovery::restore(ProjectState& p, const std::string& sid) {
  const Environment env = p.env;
  // A worker's restore is no part of the project's recovery: it neither holds the project
  // `replacing` nor ends its recovery.
  const bool is_worker =
      registry_.session(sid) && registry_.session(sid)->role == SessionRole::kWorker;
  auto persisted = [this, is_worker](const std::string& project) {
    registry_.persist([this, project, is_worker](const tl::expected<void, std::string>&) {
      if (is_worker) return;
      if (!faulted(project, "recovery.restored")) host_.recovered(project);
    });
  };
  auto end_recovering = [this, is_worker](const std::string& project) {
    if (ProjectState* p = registry_.find(project); p && !is_worker) p->is_recovering = false;
  };
  auto finish = [this, sid, persisted, end_recovering](tl::expected<void, std::string> started) {
    SessionRecord* rec = registry_.session(sid);
    if (!rec) return;
    end_recovering(rec->project);
    if (!started) {
      rec->last_error = started.error();
      rec->state = SessionState::kExited;
      rec->restore_marker = false;
    } else {
      spdlog::info("restored {} {} (pid {})", wire_name(rec->role), sid, rec->pid);
      if (faulted(rec->project, "recovery.relaunched")) return;
    }
    rec->updated_at = runtime::iso8601_now();
    persisted(rec->project);
  };
  host_.reload_config(p, env,
                      [this, sid, env, finish, persisted,
                       end_recovering](tl::expected<ProjectConfig, std::string> cfg) {
                        SessionRecord* rec = registry_.session(sid);
                        if (!rec) return;
                        if (!cfg) {
                          end_recovering(rec->project);
                          rec->last_error = cfg.error();
                          rec->state = SessionState::kExited;
                          rec->updated_at = runtime::iso8601_now();
                          return persisted(rec->project);
                        }
                        host_.prepare_launch(
                            *rec, *cfg, env, true,
                            [this, sid, finish,
                             end_recovering](tl::expected<PreparedLaunch, std::string> prepared) {
                              SessionRecord* rec = registry_.session(sid);
                              ProjectState* p = rec ? registry_.find(rec->project) : nullptr;
                              if (!rec || !p) return;
                              // A replace that arrived meanwhile retires it (never a worker); a
                              // shutdown keeps it for next time.
                              const bool is_retired_by_handoff =
                                  p->handoff && rec->role == SessionRole::kOrchestrator;
                              if (is_retired_by_handoff || rec->state != SessionState::kActive ||
                                  host_.has_session(sid) || host_.is_leaving()) {
                                end_recovering(rec->project);
                                return;
                              }
                              if (!prepared) return finish(tl::make_unexpected(prepared.error()));
                              finish(host_.spawn(*rec, *prepared));
                            });
                      });
}

}  // namespace baton::plugin
