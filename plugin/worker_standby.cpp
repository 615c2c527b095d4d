#include "plugin/worker_standby.hpp"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/standby_steps.hpp"
#include "plugin/workers.hpp"

namespace baton::plugin {

namespace {

struct PreparedWorkerTree {
  std::string unfit;  // why no standby is kept ("" when one is)
  Expected<PreparedStandby> tree = error(ErrorCode::kFailed, "not run");
};

std::string workers_dir_of(const ProjectConfig& cfg, const std::string& project) {
  return workers_dir(cfg.workspace_root + "/" + project);
}

}  // namespace

WorkerStandby::WorkerStandby(Orchestrator& orch, Workers& workers)
    : orch_(orch), workers_(workers) {}

void WorkerStandby::close() {
  is_closed_ = true;
  for (auto& [project, cancel] : cancels_) cancel->store(true);
  // A checkout still running finishes on its own; nothing waits for it any more.
  for (auto& [project, job] : jobs_)
    if (job) job->abandon();
  jobs_.clear();
}

void WorkerStandby::refresh(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (is_closed_ || !p || !p->config || orch_.daemon().is_shutting_down()) return;
  const ProjectConfig& cfg = *p->config;
  auto& rec = orch_.store().projects[project];
  if (p->is_scanning || p->is_recovering || p->handoff || !p->worker_op.empty()) return;
  // Kept while the project runs: an orchestrator or a worker that is not finished. After
  // `down` with no worker left, nothing of it stays on disk.
  bool is_running = newest_active(orch_.project_sessions(project)) != nullptr;
  for (const SessionRecord* w : orch_.registry().workers_of(project))
    is_running |= w->state != SessionState::kRetired;
  if (rec.worker_standby && (!is_running || cfg.standby == StandbyMode::kOff)) {
    p->worker_op = kOperation;
    return discard(project);
  }
  if (!cfg.is_allowed || cfg.standby == StandbyMode::kOff || rec.worker_standby ||
      failed_.count(project) || !is_running)
    return;
  // Only a project that spawned workers pays for a second checkout of them.
  if (orch_.registry().workers_of(project).empty()) return;
  // The orchestrator's standby is checked out or followed: after it, once, without
  // stopping it (a spawn would: Workers::when_git_free).
  if (p->is_standby_busy) {
    if (waiting_.insert(project).second)
      p->after_standby_job.push_back([this, project] {
        waiting_.erase(project);
        if (!is_closed_) refresh(project);
      });
    return;
  }
  prepare(project);
}

void WorkerStandby::prepare(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  const ProjectConfig cfg = *p->config;
  auto& rec = orch_.store().projects[project];
  unsigned n = rec.last_worker_number;
  for (const SessionRecord* w : orch_.registry().workers_of(project)) n = std::max(n, w->number);
  StandbyRecord sb;
  sb.number = n + 1;
  sb.id = worker_id(project, sb.number);
  rec.last_worker_number = sb.number;
  rec.worker_standby = sb;
  p->worker_op = kOperation;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  cancels_[project] = cancel;
  orch_.persist([this, project, cfg, sb, cancel,
                 repo_path = p->path](const tl::expected<void, std::string>& saved) {
    if (is_closed_) return;
    if (!saved || cancel->load()) return discard(project);
    jobs_[project] = BackgroundJob::start<PreparedWorkerTree>(
        orch_.loop(),
        [repo_path, dir = workers_dir_of(cfg, project), id = sb.id, branch = cfg.branch,
         symlinks = cfg.symlinks, mode = cfg.standby, cancel] {
          PreparedWorkerTree out;
          out.unfit = standby_unfit(repo_path, dir, mode == StandbyMode::kAuto);
          if (!out.unfit.empty()) return out;
          // A tree another id left at workers/.standby goes first.
          std::vector<std::string> others = standby_ids(dir, "");
          std::erase(others, id);
          others.push_back(id);
          if (auto d = discard_standby(repo_path, dir, others); !d) {
            out.tree = tl::make_unexpected(d.error());
            return out;
          }
          out.tree = prepare_standby(repo_path, dir, id, branch, symlinks,
                                     [cancel] { return cancel->load(); });
          return out;
        },
        [this, project, sb, cancel](PreparedWorkerTree out) {
          jobs_.erase(project);
          if (is_closed_) return;
          auto& rec = orch_.store().projects[project];
          if (!out.unfit.empty() || !out.tree) {
            const std::string why = !out.unfit.empty() ? out.unfit : out.tree.error().message;
            spdlog::info("next worker's tree of {}: {}", project, why);
            // A cancel is no failure: tried again once the repository is free.
            if (!cancel->load()) failed_[project] = why;
            return discard(project);
          }
          if (rec.worker_standby && rec.worker_standby->id == sb.id) {
            rec.worker_standby->is_ready = true;
            rec.worker_standby->bytes = out.tree->bytes;
          }
          spdlog::info("next worker's tree of {} ready ({})", project, sb.id);
          orch_.persist([this, project](const tl::expected<void, std::string>&) {
            cancels_.erase(project);
            workers_.end_git_work(project);
          });
        });
  });
}

// Off the loop: the standby's pieces removed; then its record and its number go.
void WorkerStandby::discard(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (!p || !p->config) return workers_.end_git_work(project);
  auto& rec = orch_.store().projects[project];
  const std::string recorded = rec.worker_standby ? rec.worker_standby->id : std::string();
  run_off_loop<Expected<void>>(
      orch_.loop(),
      [repo_path = p->path, dir = workers_dir_of(*p->config, project), recorded] {
        return discard_standby(repo_path, dir, standby_ids(dir, recorded));
      },
      [this, project, recorded](const Expected<void>& discarded) {
        if (!discarded)
          spdlog::warn("next worker's tree of {}: {}", project, discarded.error().message);
        auto& rec = orch_.store().projects[project];
        if (discarded && rec.worker_standby && rec.worker_standby->id == recorded) {
          rec.worker_standby.reset();
          give_back_number(project, recorded);
        }
        orch_.persist([this, project](const tl::expected<void, std::string>&) {
          cancels_.erase(project);
          workers_.end_git_work(project);
        });
      });
}

void WorkerStandby::give_back_number(const std::string& project, const std::string& id) {
  auto& rec = orch_.store().projects[project];
  const unsigned number = worker_number(project, id);
  if (number == 0 || rec.last_worker_number != number) return;
  for (const SessionRecord* w : orch_.registry().workers_of(project))
    if (w->number >= number) return;
  --rec.last_worker_number;
}

std::string WorkerStandby::take(const std::string& project) {
  auto& rec = orch_.store().projects[project];
  if (!rec.worker_standby || !rec.worker_standby->is_ready || jobs_.count(project)) return "";
  std::string id = rec.worker_standby->id;
  rec.worker_standby.reset();
  // A spawn taking it succeeded once: the next one is tried again.
  failed_.erase(project);
  return id;
}

void WorkerStandby::cancel(const std::string& project) {
  if (auto it = cancels_.find(project); it != cancels_.end()) it->second->store(true);
}

void WorkerStandby::recover(const std::string& project) {
  workers_.when_git_free(project, kOperation, [this, project](bool is_free) {
    ProjectState* p = orch_.find_project(project);
    if (!is_free || !p || !p->config) return;
    auto& rec = orch_.store().projects[project];
    const std::string kept =
        rec.worker_standby && rec.worker_standby->is_ready ? rec.worker_standby->id : "";
    // A spawn a daemon left half done owns the tree it took: recovery's spawn moves it.
    std::vector<std::string> spawning;
    for (const SessionRecord* w : orch_.registry().workers_of(project))
      if (w->state == SessionState::kActive && !w->restore_marker) spawning.push_back(w->id);
    run_off_loop<bool>(
        orch_.loop(),
        [repo_path = p->path, dir = workers_dir_of(*p->config, project), kept, spawning] {
          if (!kept.empty() && is_standby_of(dir, kept)) return true;
          std::vector<std::string> ids = standby_ids(dir, kept);
          std::erase_if(ids, [&spawning](const std::string& id) {
            return std::find(spawning.begin(), spawning.end(), id) != spawning.end();
          });
          if (!ids.empty()) {
            if (auto d = discard_standby(repo_path, dir, ids); !d)
              spdlog::warn("next worker's tree: {}", d.error().message);
          }
          return false;
        },
        [this, project, kept](bool is_kept) {
          auto& rec = orch_.store().projects[project];
          if (!is_kept && rec.worker_standby) {
            const std::string id = rec.worker_standby->id;
            rec.worker_standby.reset();
            give_back_number(project, id);
          }
          orch_.persist([this, project](const tl::expected<void, std::string>&) {
            workers_.end_git_work(project);
          });
        });
  });
}

}  // namespace baton::plugin
