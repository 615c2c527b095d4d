#include "plugin/standby.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "plugin/fault.hpp"
#include "plugin/handoff_steps.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/recovery.hpp"
#include "plugin/session_hook.hpp"
#include "plugin/standby_steps.hpp"

namespace baton::plugin {

namespace {

std::string project_dir_of(const ProjectConfig& cfg, const std::string& project) {
  return cfg.workspace_root + "/" + project;
}

// What the prepare job off the loop found.
struct Prepared {
  std::string unfit;  // why no standby ("" when it fits): too large (auto), the disk short
  Expected<PreparedStandby> tree = PreparedStandby{};
  git::SharedIndex index;  // its index, read ahead for the handoff that takes it
};

// What the follow job found.
struct Followed {
  bool is_valid = true;  // the tree at .standby is the recorded one
  Expected<bool> moved = false;
  git::SharedIndex index;  // read again after a follow that moved it
};

}  // namespace

std::string standby_config_key(const ProjectConfig& cfg) {
  // A readable key, not a hash: the store shows what the standby was made with.
  std::string key = "branch=" + cfg.branch + ";agent=" + cfg.agent + ";symlinks=";
  for (const auto& s : cfg.symlinks) key += s + ",";
  key += ";post_create=";
  for (const auto& c : cfg.post_create) {
    for (const auto& a : c.argv) key += a + "\x1f";
    key += ",";
  }
  return key;
}

Standby::Standby(Orchestrator& orch)
    : orch_(orch), abandoned_(std::make_shared<std::atomic<bool>>(false)) {}

std::string Standby::failure_key(const std::string& project, const ProjectConfig& cfg) {
  unsigned n = 0;
  for (const auto* s : orch_.project_sessions(project)) n = std::max(n, s->number);
  return standby_config_key(cfg) + "#" + std::to_string(n);
}

void Standby::refresh(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (!p || is_stopped_ || orch_.daemon().is_shutting_down()) return;
  arm_timer(project);
  if (p->is_scanning) return when_scanned(*p, [this, project] { refresh(project); });
  // A worker's spawn or finish works in the repository: the standby starts once it ended
  // (Workers::end_git_work refreshes it).
  if (!p->config || p->handoff || p->is_recovering || p->is_standby_busy || !p->worker_op.empty())
    return;
  const ProjectConfig cfg = *p->config;
  auto& rec = orch_.store().projects[project];
  const bool has_orchestrator = newest_active(orch_.project_sessions(project)) != nullptr;
  std::string off_reason;
  if (cfg.standby == StandbyMode::kOff) {
    off_reason = "standby = \"off\"";
  } else if (!cfg.is_allowed) {
    off_reason = "the config waits for 'baton allow'";
  } else if (!has_orchestrator) {
    off_reason = "no orchestrator runs";
  }
  if (!off_reason.empty()) {
    p->standby_state = StandbyState::kOff;
    p->standby_reason = off_reason;
    if (rec.standby) discard(project, cfg, [] {});
    return;
  }
  // A failure is not retried on every tick: a config change (another key) or a handoff
  // (another session number) tries again.
  if (p->standby_state == StandbyState::kFailed && !rec.standby &&
      p->standby_failed_for == failure_key(project, cfg))
    return;
  if (rec.standby && rec.standby->is_ready &&
      usable(project, standby_config_key(cfg), rec.standby->number))
    return follow(project, cfg);
  if (rec.standby) {
    // Stale: another config, an interrupted preparation, or a number a session took since.
    return discard(project, cfg, [this, project] { refresh(project); });
  }
  prepare(project, cfg);
}

const StandbyRecord* Standby::usable(const std::string& project, const std::string& config_key,
                                     unsigned number) {
  ProjectState* p = orch_.find_project(project);
  if (!p || p->is_standby_busy) return nullptr;
  const auto& rec = orch_.store().projects[project];
  if (!rec.standby || !(rec.standby->is_ready || p->standby_checked_out == rec.standby->id) ||
      rec.standby->config != config_key || rec.standby->number != number ||
      rec.last_number != number)
    return nullptr;
  for (const auto* s : orch_.project_sessions(project))
    if (s->number >= number) return nullptr;
  return &*rec.standby;
}

bool Standby::is_busy(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  return p && p->is_standby_busy;
}

bool Standby::cancel_unless_quick(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (!p || !p->is_standby_busy) return false;
  if (p->standby_cancel) p->standby_cancel->store(true);
  return !p->is_standby_in_hook;
}

void Standby::when_idle(const std::string& project, std::function<void()> then) {
  ProjectState* p = orch_.find_project(project);
  if (!p || !p->is_standby_busy) return then();
  if (p->standby_cancel) p->standby_cancel->store(true);
  p->after_standby_job.push_back(std::move(then));
}

void Standby::remove(const std::string& project, std::function<void()> then) {
  when_idle(project, [this, project, then = std::move(then)] {
    ProjectState* p = orch_.find_project(project);
    if (!p || !p->config) return then();
    p->standby_state = StandbyState::kOff;
    p->standby_reason = "no orchestrator runs";
    discard(project, *p->config, then);
  });
}

void Standby::stop() {
  is_stopped_ = true;
  // A checkout still planning stops at once; one writing goes on without the daemon, which
  // does not wait for it: the next start discards what it left.
  abandoned_->store(true);
  for (auto& [id, p] : orch_.registry().projects()) {
    p.standby_timer.reset();
    if (p.standby_job) p.standby_job->abandon();
  }
}

// ---- prepare: reserve the id → persist → off the loop at idle priority, the tree → on the
// loop, post_create in it → ready, persisted.
void Standby::prepare(const std::string& project, const ProjectConfig& cfg) {
  ProjectState* p = orch_.find_project(project);
  auto& rec = orch_.store().projects[project];
  unsigned n = rec.last_number;
  for (const auto* s : orch_.project_sessions(project)) n = std::max(n, s->number);
  StandbyRecord sb;
  sb.number = n + 1;
  sb.id = project + "-" + std::to_string(sb.number);
  sb.config = standby_config_key(cfg);
  rec.last_number = sb.number;
  rec.standby = sb;
  start_job(project);
  p->standby_state = StandbyState::kPreparing;
  p->standby_reason.clear();
  auto cancel = p->standby_cancel;
  const auto env = std::exchange(p->standby_fault_env, {});
  orch_.persist([this, project, cfg, sb, cancel, env,
                 repo_path = p->path](const tl::expected<void, std::string>& saved) {
    // A daemon that is leaving starts no checkout: the next start finds the record not ready.
    if (is_stopped_) return end_job(project);
    if (!saved) return give_up(project, sb.id, StandbyState::kFailed, saved.error());
    if (faulted(project, env, "standby.reserved")) return;
    const FaultHit fault = [env](std::string_view point) { return fault_hit(env, point); };
    ProjectState* p = orch_.find_project(project);
    if (!p) return;
    p->standby_job = BackgroundJob::start<Prepared>(
        orch_.loop(),
        [repo_path, project_dir = project_dir_of(cfg, project), id = sb.id, branch = cfg.branch,
         symlinks = cfg.symlinks, mode = cfg.standby, abandoned = abandoned_, fault] {
          Prepared out;
          out.unfit = standby_unfit(repo_path, project_dir, mode == StandbyMode::kAuto);
          if (!out.unfit.empty()) return out;
          // Another id's tree at .standby (a store that lost its record) goes first.
          std::vector<std::string> others = standby_ids(project_dir, "");
          std::erase(others, id);
          if (is_standby_of(project_dir, id) || !others.empty() ||
              std::filesystem::exists(standby_path(project_dir))) {
            others.push_back(id);
            if (auto d = discard_standby(repo_path, project_dir, others); !d) {
              out.tree = tl::make_unexpected(d.error());
              return out;
            }
          }
          out.tree = prepare_standby(repo_path, project_dir, id, branch, symlinks,
                                     [abandoned] { return abandoned->load(); });
          if (out.tree && fault("standby.prepared"))
            out.tree = error(ErrorCode::kFault, "fault injected at standby.prepared");
          if (out.tree) {
            if (auto index = git::read_worktree_index(standby_path(project_dir)))
              out.index = std::move(*index);
          }
          return out;
        },
        [this, project, cfg, sb, cancel](Prepared out) {
          if (is_stopped_) return end_job(project);
          if (!out.unfit.empty()) return give_up(project, sb.id, StandbyState::kOff, out.unfit);
          if (!out.tree)
            return give_up(project, sb.id, StandbyState::kFailed, out.tree.error().message);
          for (const auto& n : out.tree->notes) spdlog::info("standby of {}: {}", project, n);
          ProjectState* p = orch_.find_project(project);
          if (!p) return;
          p->standby_bytes = out.tree->bytes;
          p->standby_index = std::move(out.index);
          // A handoff waits for it: it takes the tree as it is and runs post_create itself.
          if (cancel->load()) {
            p->standby_checked_out = sb.id;
            return end_job(project);
          }
          run_post_create(project, cfg, 0);
        });
  });
}

void Standby::run_post_create(const std::string& project, const ProjectConfig& cfg, std::size_t i) {
  ProjectState* p = orch_.find_project(project);
  const auto& rec = orch_.store().projects[project];
  if (!p || !rec.standby) return end_job(project);
  const std::string id = rec.standby->id;
  if (is_stopped_) return end_job(project);
  if (p->standby_cancel && p->standby_cancel->load())
    return give_up(project, id, StandbyState::kOff, "cancelled");
  if (i == cfg.post_create.size()) return become_ready(project, p->standby_bytes);
  const std::string path = standby_path(project_dir_of(cfg, project));
  const auto h = session_hook_request(cfg, "post_create", cfg.post_create[i],
                                      HookSubject{project, id, path, cfg.branch, cfg.agent},
                                      orch_.paths().logs_dir);
  p->is_standby_in_hook = true;
  hooks::run_hook(orch_.loop(), h, [this, project, cfg, i, id](const hooks::HookResult& hr) {
    if (ProjectState* p = orch_.find_project(project)) p->is_standby_in_hook = false;
    if (!hr.ok()) return give_up(project, id, StandbyState::kFailed, hr.describe("post_create"));
    run_post_create(project, cfg, i + 1);
  });
}

void Standby::become_ready(const std::string& project, std::uint64_t bytes) {
  auto& rec = orch_.store().projects[project];
  if (!rec.standby) return end_job(project);
  rec.standby->is_ready = true;
  rec.standby->bytes = bytes;
  const std::string id = rec.standby->id;
  orch_.persist([this, project, id](const tl::expected<void, std::string>& saved) {
    if (!saved) return give_up(project, id, StandbyState::kFailed, saved.error());
    ProjectState* p = orch_.find_project(project);
    if (!p) return;
    p->standby_state = StandbyState::kReady;
    spdlog::info("standby {} of {} is ready", id, project);
    end_job(project);
  });
}

void Standby::give_up(const std::string& project, const std::string& id, StandbyState state,
                      const std::string& reason) {
  ProjectState* p = orch_.find_project(project);
  if (!p || !p->config) return end_job(project);
  if (state == StandbyState::kFailed) spdlog::warn("standby {} of {}: {}", id, project, reason);
  const std::string project_dir = project_dir_of(*p->config, project);
  run_off_loop<Expected<void>>(
      orch_.loop(),
      [repo_path = p->path, project_dir, id] {
        return discard_standby(repo_path, project_dir, standby_ids(project_dir, id));
      },
      [this, project, id, state, reason](const Expected<void>& discarded) {
        ProjectState* p = orch_.find_project(project);
        if (!p) return;
        auto& rec = orch_.store().projects[project];
        if (rec.standby && rec.standby->id == id) rec.standby.reset();
        if (discarded) give_back_number(project, id);
        p->standby_checked_out.clear();
        if (!discarded)
          spdlog::warn("standby {} of {}: {}", id, project, discarded.error().message);
        p->standby_state = state;
        p->standby_reason = reason;
        if (state == StandbyState::kFailed && p->config)
          p->standby_failed_for = failure_key(project, *p->config);
        p->standby_bytes = 0;
        p->standby_index.reset();
        orch_.persist(
            [this, project](const tl::expected<void, std::string>&) { end_job(project); });
      });
}

// ---- follow: a ready standby at the canonical branch's tip, by a tree-to-tree checkout of
// what changed (nothing, most of the time).
void Standby::follow(const std::string& project, const ProjectConfig& cfg) {
  ProjectState* p = orch_.find_project(project);
  const auto& rec = orch_.store().projects[project];
  start_job(project);
  p->standby_state = StandbyState::kReady;
  p->standby_bytes = rec.standby->bytes;
  p->standby_job = BackgroundJob::start<Followed>(
      orch_.loop(),
      [project_dir = project_dir_of(cfg, project), id = rec.standby->id, branch = cfg.branch] {
        Followed out;
        out.is_valid = is_standby_of(project_dir, id);
        if (out.is_valid) out.moved = follow_standby(project_dir, id, branch);
        if (out.moved && *out.moved) {
          if (auto index = git::read_worktree_index(standby_path(project_dir)))
            out.index = std::move(*index);
        }
        return out;
      },
      [this, project, cfg, id = rec.standby->id](Followed out) {
        if (is_stopped_) return end_job(project);
        if (!out.is_valid || !out.moved) {
          const std::string why =
              !out.is_valid ? "its tree is gone, another, or left in the middle of a follow"
                            : out.moved.error().message;
          spdlog::warn("standby {} of {}: {}; preparing it again", id, project, why);
          end_job(project);
          return discard(project, cfg, [this, project] { refresh(project); });
        }
        if (*out.moved) {
          spdlog::info("standby {} of {} follows the branch", id, project);
          if (ProjectState* p = orch_.find_project(project))
            p->standby_index = std::move(out.index);
        }
        end_job(project);
      });
}

void Standby::discard(const std::string& project, const ProjectConfig& cfg,
                      std::function<void()> then) {
  ProjectState* p = orch_.find_project(project);
  if (!p) return then();
  auto& rec = orch_.store().projects[project];
  const std::string recorded = rec.standby ? rec.standby->id : std::string();
  start_job(project);
  run_off_loop<Expected<void>>(
      orch_.loop(),
      [repo_path = p->path, project_dir = project_dir_of(cfg, project), recorded] {
        return discard_standby(repo_path, project_dir, standby_ids(project_dir, recorded));
      },
      [this, project, recorded, then = std::move(then)](const Expected<void>& discarded) {
        if (!discarded) spdlog::warn("standby of {}: {}", project, discarded.error().message);
        auto& rec = orch_.store().projects[project];
        if (discarded && rec.standby && rec.standby->id == recorded) {
          rec.standby.reset();
          give_back_number(project, recorded);
        }
        if (ProjectState* p = orch_.find_project(project)) {
          p->standby_bytes = 0;
          p->standby_index.reset();
          p->standby_checked_out.clear();
        }
        orch_.persist([this, project, then](const tl::expected<void, std::string>&) {
          end_job(project);
          then();
        });
      });
}

// Nothing of the standby is left: its number goes back, so the next handoff (or standby)
// takes it as if none had been made, and session numbers stay 1, 2, 3 ...
void Standby::give_back_number(const std::string& project, const std::string& id) {
  auto& rec = orch_.store().projects[project];
  const unsigned number = number_suffix(id);
  if (number == 0 || rec.last_number != number) return;
  for (const auto* s : orch_.project_sessions(project))
    if (s->number >= number) return;
  --rec.last_number;
}

void Standby::start_job(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (!p) return;
  p->is_standby_busy = true;
  p->standby_cancel = std::make_shared<std::atomic<bool>>(false);
}

void Standby::end_job(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (!p) return;
  p->is_standby_busy = false;
  p->standby_cancel.reset();
  p->standby_job.reset();
  auto waiting = std::move(p->after_standby_job);
  p->after_standby_job.clear();
  for (auto& fn : waiting) fn();
}

void Standby::arm_timer(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (!p || p->standby_timer || is_stopped_) return;
  p->standby_timer = runtime::make_owned<runtime::Timer>(orch_.loop());
  p->standby_timer->start(kFollowIntervalMs, [this, project] {
    if (ProjectState* p = orch_.find_project(project)) p->standby_timer.reset();
    refresh(project);
  });
}

bool Standby::faulted(const std::string& project, const std::map<std::string, std::string>& env,
                      std::string_view point) {
  ProjectState* p = orch_.find_project(project);
  if (!p || !fault_hit(env, point)) return false;
  spdlog::error("standby of {}: fault injected at {}", project, point);
  // The record stays as it is on disk: the next refresh finds it stale and discards it.
  end_job(project);
  if (p->standby_state == StandbyState::kPreparing) {
    p->standby_state = StandbyState::kFailed;
    p->standby_reason = "fault injected at " + std::string(point);
  }
  return true;
}

}  // namespace baton::plugin
