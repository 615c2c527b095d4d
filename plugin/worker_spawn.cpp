// `baton spawn` (docs/workers.md), top to bottom as its steps: check (the name, the config,
// the agent, [workers] max), then with the repository held (Workers::when_git_free) off the
// loop check_spawn; the record persisted (the worker exists, spawning); off the loop
// make_worker_tree; post_create and before_spawn; the agent launched and persisted with its
// restore marker; after_spawn. A failure before the agent runs undoes what the spawn made:
// the tree, the branch it created, the record.
#include <memory>

#include <spdlog/spdlog.h>

#include "plugin/agent_spec.hpp"
#include "plugin/fault.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/session_hook.hpp"
#include "plugin/worker_run.hpp"
#include "plugin/workers.hpp"
#include "runtime/iso_time.hpp"
#include "runtime/search_path.hpp"

namespace baton::plugin {

namespace {

class SpawnRun : public WorkerRun<Spawned>, public std::enable_shared_from_this<SpawnRun> {
 public:
  SpawnRun(Orchestrator& orch, Workers& workers, std::string project, SpawnRequest req,
           ProgressFn progress, Workers::SpawnedFn done)
      : WorkerRun(orch, workers, std::move(project), std::move(progress), std::move(done)),
        req_(std::move(req)) {}

  // A spawn a daemon left half done (Workers::resume): the record exists; the tree, the
  // hooks and the launch are done again (make_worker_tree takes a tree already in place).
  void resume(const SessionRecord& rec) {
    is_resumed_ = true;
    is_recorded_ = true;
    id_ = rec.id;
    req_.name = rec.name;
    req_.agent = rec.agent;
    req_.prompt = rec.prompt;
    // The branch exists by now, or the spawn is made again from the recorded base.
    req_.reuse_branch = true;
    req_.base = rec.base_commit;
    check_.base_commit = rec.base_commit;
    start();
  }

  // ---- 1. check: on the loop, then with the repository held, off it.
  void start() {
    if (auto problem = worker_name_problem(req_.name))
      return fail(ErrorCode::kInvalidName, "worker name '" + req_.name + "' " + *problem);
    ProjectState* p = orch_.find_project(project_);
    if (!p) return fail(ErrorCode::kNotFound, "project " + project_ + " is gone");
    auto self = shared_from_this();
    orch_.reload_config(*p, req_.env, [self](const tl::expected<ProjectConfig, std::string>& cfg) {
      self->on_config(cfg);
    });
  }

 private:
  void on_config(const tl::expected<ProjectConfig, std::string>& cfg) {
    ProjectState* p = orch_.find_project(project_);
    if (!p) return fail(ErrorCode::kNotFound, "project " + project_ + " is gone");
    if (!cfg) return fail(ErrorCode::kConfigError, cfg.error());
    if (!cfg->is_allowed) return fail(ErrorCode::kNotAllowed, not_allowed_message(*cfg, p->path));
    cfg_ = *cfg;
    agent_ = !req_.agent.empty()           ? req_.agent
             : !cfg_.workers_agent.empty() ? cfg_.workers_agent
                                           : cfg_.agent;
    if (auto runnable = runnable_agent(cfg_.agents, agent_, runtime::search_path(req_.env));
        !runnable)
      return fail(ErrorCode::kAgentNotFound, runnable.error());
    project_dir_ = cfg_.workspace_root + "/" + project_;
    branch_ = worker_branch(cfg_.session_prefix, req_.name);
    auto self = shared_from_this();
    workers_.when_git_free(project_, "the spawn of worker " + req_.name,
                           [self](bool is_free) { self->on_git_free(is_free); });
  }

  void on_git_free(bool is_free) {
    if (!is_free) return fail(ErrorCode::kFailed, "the daemon is shutting down");
    hold_git();
    if (is_resumed_) return make_tree();
    // Checked with the repository held: no other spawn can take the name or the last place.
    if (orch_.registry().live_worker(project_, req_.name))
      return fail(ErrorCode::kWorkerExists,
                  "worker " + req_.name + " of " + project_ +
                      " exists already: pick another name, or 'baton finish " + project_ + "/" +
                      req_.name + "' first");
    int live = 0;
    for (const SessionRecord* w : orch_.registry().workers_of(project_))
      live += w->state != SessionState::kRetired;
    if (live >= cfg_.workers_max)
      return fail(ErrorCode::kTooManyWorkers,
                  project_ + " has " + std::to_string(live) + " workers, its [workers] max: " +
                      "finish one first ('baton workers " + project_ + "')");
    progress_("prepare", "worker " + req_.name + " on " + branch_);
    CheckSpawn in{orch_.find_project(project_)->path,
                  project_dir_,
                  project_,
                  req_.name,
                  branch_,
                  req_.base,
                  cfg_.branch,
                  cfg_.base_branch,
                  req_.reuse_branch};
    auto self = shared_from_this();
    run_off_loop<Expected<SpawnCheck>>(
        orch_.loop(), [in] { return check_spawn(in); },
        [self](Expected<SpawnCheck> checked) { self->on_checked(std::move(checked)); });
  }

  // ---- 2. the record: from here on the worker exists, and a daemon killed finds it.
  void on_checked(Expected<SpawnCheck> checked) {
    if (!checked) return fail(checked.error());
    check_ = *checked;
    ProjectRecord& prec = orch_.store().projects[project_];
    SessionRecord rec;
    // From the canonical tip on a new branch: the next worker's tree, prepared ahead, is
    // taken under the id it reserved (make_worker_tree moves it into place).
    const bool can_take = req_.base.empty() && !req_.reuse_branch;
    if (const std::string taken = can_take ? workers_.standby().take(project_) : "";
        !taken.empty()) {
      rec.id = taken;
      rec.number = worker_number(project_, taken);
    } else {
      unsigned n = std::max(prec.last_worker_number, check_.max_number);
      for (const SessionRecord* w : orch_.registry().workers_of(project_))
        n = std::max(n, w->number);
      rec.number = n + 1;
      rec.id = worker_id(project_, rec.number);
    }
    rec.project = project_;
    rec.role = SessionRole::kWorker;
    rec.name = req_.name;
    rec.prompt = req_.prompt;
    rec.agent = agent_;
    rec.branch = branch_;
    rec.worktree = worker_path(project_dir_, req_.name);
    rec.base_commit = check_.base_commit;
    rec.state = SessionState::kActive;  // spawning: no restore marker yet
    rec.created_at = runtime::iso8601_now();
    rec.updated_at = rec.created_at;
    prec.last_worker_number = std::max(prec.last_worker_number, rec.number);
    id_ = rec.id;
    orch_.store().sessions[rec.id] = rec;
    is_recorded_ = true;
    auto self = shared_from_this();
    orch_.persist([self](const tl::expected<void, std::string>& saved) {
      // Not on disk: undone like any failure (a taken standby goes with it).
      if (!saved) return self->undo(Error{ErrorCode::kPersistFailed, saved.error()});
      if (self->faulted("spawn.recorded")) return;
      self->make_tree();
    });
  }

  // ---- 3. the tree, off the loop.
  void make_tree() {
    progress_("prepare", "checking out " + branch_ + " at workers/" + req_.name);
    auto self = shared_from_this();
    run_off_loop<Expected<MadeWorker>>(
        orch_.loop(), [in = make_input()] { return make_worker_tree(in); },
        [self](Expected<MadeWorker> made) { self->on_made(std::move(made)); });
  }

  void on_made(Expected<MadeWorker> made) {
    if (!made) return undo(made.error());
    notes_ = made->notes;
    if (faulted("spawn.made")) return;
    hooks_ = cfg_.post_create;
    post_create_count_ = hooks_.size();
    if (cfg_.hooks.before_spawn) hooks_.push_back(*cfg_.hooks.before_spawn);
    run_hook(0);
  }

  // ---- 4. post_create, then before_spawn, in the worker's tree.
  void run_hook(std::size_t i) {
    if (i == hooks_.size()) return launch();
    const std::string event = i < post_create_count_ ? "post_create" : "before_spawn";
    const SessionRecord* rec = orch_.session(id_);
    if (!rec) return fail(ErrorCode::kFailed, "worker " + id_ + " is gone");
    auto h = session_hook_request(cfg_, event, hooks_[i],
                                  HookSubject{project_, id_, rec->worktree, branch_, agent_},
                                  orch_.paths().logs_dir);
    auto self = shared_from_this();
    hooks::run_hook(orch_.loop(), h, [self, i, event](const hooks::HookResult& hr) {
      if (hr.ok()) return self->run_hook(i + 1);
      self->undo(Error{ErrorCode::kHookFailed, hr.describe(event)});
    });
  }

  // ---- 5. the agent, with the prompt, BATON_PROJECT and BATON_WORKER.
  void launch() {
    const SessionRecord* rec = orch_.session(id_);
    if (!rec) return fail(ErrorCode::kFailed, "worker " + id_ + " is gone");
    progress_("launch", "starting " + agent_);
    auto self = shared_from_this();
    orch_.prepare_launch(*rec, cfg_, req_.env, false,
                         [self](tl::expected<PreparedLaunch, std::string> prepared) {
                           self->on_prepared(std::move(prepared));
                         });
  }

  void on_prepared(tl::expected<PreparedLaunch, std::string> prepared) {
    SessionRecord* rec = orch_.session(id_);
    if (!rec) return fail(ErrorCode::kFailed, "worker " + id_ + " is gone");
    if (orch_.daemon().is_shutting_down())
      return undo(Error{ErrorCode::kFailed, "the daemon is shutting down"});
    if (!prepared) return undo(Error{ErrorCode::kLaunchFailed, prepared.error()});
    if (auto started = orch_.spawn(*rec, *prepared); !started)
      return undo(Error{ErrorCode::kLaunchFailed, started.error()});
    rec->restore_marker = true;
    rec->updated_at = runtime::iso8601_now();
    if (faulted("spawn.launched")) return;
    auto self = shared_from_this();
    orch_.persist([self](const tl::expected<void, std::string>& saved) {
      // The agent runs: the worker stands, whatever the disk said (the next persist retries).
      if (!saved) spdlog::warn("spawn of {}: {}", self->id_, saved.error());
      self->succeed();
    });
  }

  void succeed() {
    SessionRecord* rec = orch_.session(id_);
    if (rec) orch_.run_session_hook("after_spawn", *rec);
    release_git();
    Spawned out;
    out.id = id_;
    out.name = req_.name;
    out.branch = branch_;
    out.worktree = rec ? rec->worktree : "";
    out.pid = rec ? rec->pid : 0;
    out.notes = notes_;
    spdlog::info("spawned worker {} ({}) on {}", req_.name, id_, branch_);
    answer(std::move(out));
  }

  // ---- failures
  MakeWorker make_input() const {
    const ProjectState* p = orch_.find_project(project_);
    return MakeWorker{
        p ? p->path : std::string(), project_dir_, id_, req_.name, branch_, req_.base, cfg_.branch,
        req_.reuse_branch,           cfg_.symlinks};
  }

  // Nothing ran in the tree: it goes, the branch too when this spawn made it, then the record.
  // (A resumed spawn cannot tell whether it made the branch: it keeps it.)
  void undo(const Error& why) {
    if (!is_recorded_) return fail(why);
    // An agent already started is stopped first; marked retiring, its exit is no crash.
    runtime::Session* live = orch_.daemon().find_session_exact(id_);
    if (live && live->is_running()) {
      if (SessionRecord* rec = orch_.session(id_)) rec->state = SessionState::kRetiring;
      auto self = shared_from_this();
      live->on_exit([self, why](runtime::Session&) { self->undo(why); });
      live->stop();
      return;
    }
    const std::string made_at = req_.reuse_branch ? std::string() : check_.base_commit;
    auto self = shared_from_this();
    run_off_loop<Expected<void>>(
        orch_.loop(), [in = make_input(), made_at] { return discard_worker_tree(in, made_at); },
        [self, why](const Expected<void>& discarded) {
          // The stopped agent's screen is no use any more (removed here, not inside its own
          // exit callback).
          runtime::Session* stopped = self->orch_.daemon().find_session_exact(self->id_);
          if (stopped && !stopped->is_running()) self->orch_.daemon().remove_session(self->id_);
          if (!discarded) {
            // The record stays (exited, with both errors): `baton finish` clears it.
            if (SessionRecord* rec = self->orch_.session(self->id_)) {
              rec->state = SessionState::kExited;
              rec->last_error = why.message + "; " + discarded.error().message;
            }
          } else {
            self->orch_.store().sessions.erase(self->id_);
          }
          self->orch_.persist(
              [self, why](const tl::expected<void, std::string>&) { self->fail(why); });
        });
  }

  // A fault that fails the step undoes the spawn as a real failure there would.
  bool faulted(std::string_view point) {
    if (!fault_hit(req_.env, point)) return false;
    undo(Error{ErrorCode::kFault, "fault injected at " + std::string(point)});
    return true;
  }

  void fail(ErrorCode code, const std::string& message) { fail(Error{code, message}); }
  void fail(const Error& e) { answer(tl::make_unexpected(e)); }

  SpawnRequest req_;
  ProjectConfig cfg_;
  std::string agent_;
  std::string project_dir_;
  std::string branch_;
  std::string id_;
  SpawnCheck check_;
  bool is_recorded_ = false;
  bool is_resumed_ = false;
  std::vector<CommandSpec> hooks_;
  std::size_t post_create_count_ = 0;
  std::vector<std::string> notes_;
};

}  // namespace

void Workers::resume_spawn(const std::string& session_id) {
  const SessionRecord* rec = orch_.session(session_id);
  if (!rec) return;
  SpawnRequest req;
  req.env = orch_.find_project(rec->project) ? orch_.find_project(rec->project)->env
                                             : std::map<std::string, std::string>();
  auto run = std::make_shared<SpawnRun>(
      orch_, *this, rec->project, std::move(req), nullptr, [session_id](Expected<Spawned> out) {
        if (!out)
          spdlog::warn("recovery: the spawn of {} failed: {}", session_id, out.error().message);
      });
  run->resume(*rec);
}

void Workers::spawn(const std::string& project, SpawnRequest req, ProgressFn progress,
                    SpawnedFn done) {
  if (!progress) progress = [](const std::string&, const std::string&) {};
  std::make_shared<SpawnRun>(orch_, *this, project, std::move(req), std::move(progress),
                             std::move(done))
      ->start();
}

}  // namespace baton::plugin
