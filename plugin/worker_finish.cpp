// `baton finish PROJECT/NAME` (docs/workers.md), top to bottom as its steps: drain (the
// worker's turn ends, as a replace drains, unless --now); with the repository held, the
// worker marked retiring and persisted; its agent stopped; off the loop finish_worker_tree
// (preserve, aside, prune, keep what no commit holds, delete, and the branch when asked and
// merged); the worker persisted retired. A failure after the stop leaves it retiring with the
// error (health stuck): `baton finish` again finishes it, never preserving twice.
#include <memory>

#include <spdlog/spdlog.h>

#include "plugin/fault.hpp"
#include "plugin/message_delivery.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/outlived_agent.hpp"
#include "plugin/turn_wait.hpp"
#include "plugin/worker_run.hpp"
#include "plugin/workers.hpp"
#include "runtime/iso_time.hpp"

namespace baton::plugin {

namespace {

class FinishRun : public WorkerRun<Finished>, public std::enable_shared_from_this<FinishRun> {
 public:
  FinishRun(Orchestrator& orch, Workers& workers, std::string project, FinishRequest req,
            ProgressFn progress, Workers::FinishedFn done)
      : WorkerRun(orch, workers, std::move(project), std::move(progress), std::move(done)),
        req_(std::move(req)) {}

  void start() {
    const SessionRecord* rec = orch_.registry().live_worker(project_, req_.name);
    if (!rec)
      return fail(ErrorCode::kNotFound, "no worker '" + req_.name + "' in " + project_ +
                                            " (see 'baton workers " + project_ + "')");
    id_ = rec->id;
    drain();
  }

 private:
  // ---- 1. drain: the worker's turn ends first, so its last edits are on disk.
  void drain() {
    const SessionRecord* rec = orch_.session(id_);
    ProjectState* p = orch_.find_project(project_);
    runtime::Session* live = orch_.daemon().find_session_exact(id_);
    const bool is_running = live && live->is_running();
    const AgentSpec* agent = nullptr;
    if (p && p->config && rec) {
      auto it = p->config->agents.find(rec->agent);
      if (it != p->config->agents.end()) agent = &it->second;
    }
    if (req_.is_now || !is_running || !agent || rec->state != SessionState::kActive ||
        !reports_turns(*agent, orch_.activity(), id_))
      return take_git();
    progress_("drain", "waiting for worker " + req_.name + "'s turn to end");
    turn_wait_ = std::make_unique<TurnWait>(orch_, id_);
    auto self = shared_from_this();
    turn_wait_->start(
        static_cast<std::uint64_t>(p->config->drain_timeout_ms), 10000,
        [self](const Activity*, long waited_s) {
          self->progress_("drain", "still waiting (" + std::to_string(waited_s) + " s)");
        },
        [self](WaitEnd end, ActivitySource) {
          // The wait ends here, its listener and timers with it.
          auto wait = std::move(self->turn_wait_);
          if (end == WaitEnd::kTimedOut)
            self->progress_("drain", "the turn did not end in drain_timeout: stopping anyway");
          self->take_git();
          (void)wait;
        });
  }

  // ---- 2. with the repository held: retiring on disk before the first stop signal.
  void take_git() {
    auto self = shared_from_this();
    workers_.when_git_free(project_, "the finish of worker " + req_.name,
                           [self](bool is_free) { self->on_git_free(is_free); });
  }

  void on_git_free(bool is_free) {
    if (!is_free) return fail(ErrorCode::kFailed, "the daemon is shutting down");
    hold_git();
    SessionRecord* rec = orch_.session(id_);
    if (!rec || rec->state == SessionState::kRetired)
      return fail(ErrorCode::kNotFound, "worker " + req_.name + " finished meanwhile");
    rec->state = SessionState::kRetiring;
    rec->restore_marker = false;
    rec->updated_at = runtime::iso8601_now();
    auto self = shared_from_this();
    orch_.persist([self](const tl::expected<void, std::string>& saved) {
      if (!saved) return self->fail(ErrorCode::kPersistFailed, saved.error());
      if (self->faulted("finish.persisted")) return;
      self->stop();
    });
  }

  // ---- 3. stop: SIGHUP, grace, SIGTERM, SIGKILL (or the agent that outlived a daemon).
  void stop() {
    progress_("retire", "stopping worker " + req_.name);
    runtime::Session* live = orch_.daemon().find_session_exact(id_);
    if (live && live->is_running()) {
      auto self = shared_from_this();
      live->on_exit([self](runtime::Session&) { self->on_stopped(); });
      live->stop();
      return;
    }
    if (const SessionRecord* rec = orch_.session(id_))
      kill_outlived_agent(rec->pid, rec->pid_start_time);
    on_stopped();
  }

  // ---- 4. the tree: preserved, kept, deleted, off the loop.
  void on_stopped() {
    if (faulted("finish.stopped")) return;
    const SessionRecord* rec = orch_.session(id_);
    ProjectState* p = orch_.find_project(project_);
    if (!rec || !p || !p->config)
      return fail(ErrorCode::kFailed, "project " + project_ + " is gone");
    progress_("retire", "preserving its work and removing workers/" + req_.name);
    FinishWorker in{p->path,
                    p->config->workspace_root + "/" + project_,
                    id_,
                    rec->worktree,
                    rec->branch,
                    p->config->branch,
                    !rec->preserved_commit.empty(),
                    req_.delete_branch};
    auto self = shared_from_this();
    run_off_loop<FinishedWorker>(
        orch_.loop(), [in] { return finish_worker_tree(in); },
        [self](FinishedWorker out) { self->on_finished(std::move(out)); });
  }

  void on_finished(FinishedWorker out) {
    SessionRecord* rec = orch_.session(id_);
    if (!rec) return fail(ErrorCode::kFailed, "worker " + id_ + " is gone");
    // Recorded even when a later step failed: a retry neither preserves twice nor forgets it.
    if (!out.commit.empty()) {
      rec->preserved_ref = out.ref;
      rec->preserved_commit = out.commit;
    }
    rec->updated_at = runtime::iso8601_now();
    const bool is_ok = static_cast<bool>(out.result);
    if (is_ok) {
      rec->state = SessionState::kRetired;
      rec->last_error.clear();
    } else {
      rec->last_error = out.result.error().message;
    }
    auto self = shared_from_this();
    auto result = std::make_shared<FinishedWorker>(std::move(out));
    orch_.persist([self, result, is_ok](const tl::expected<void, std::string>& saved) {
      if (!is_ok) return self->fail(result->result.error());
      if (!saved) return self->fail(ErrorCode::kPersistFailed, saved.error());
      self->orch_.forget_old_retired(self->project_);
      self->drop_messages();
      self->workers_.forget(self->id_);
      self->release_git();
      spdlog::info("finished worker {} ({})", self->req_.name, self->id_);
      self->answer(Finished{self->id_, std::move(*result)});
    });
  }

  // Messages told to the worker and not typed yet: no agent will read them now.
  void drop_messages() {
    const std::string recipient = project_ + "/" + req_.name;
    std::vector<std::string> ids;
    for (const auto& m : orch_.outbox().messages(recipient))
      if (m.state == DeliveryState::kQueued) ids.push_back(m.id);
    for (const auto& id : ids) {
      spdlog::info("message {} to {} dropped: the worker finished", id, recipient);
      orch_.outbox().remove(recipient, id, nullptr);
    }
    if (!ids.empty()) orch_.messages().kick();
  }

  bool faulted(std::string_view point) {
    if (!fault_hit(req_.env, point)) return false;
    fail(ErrorCode::kFault, "fault injected at " + std::string(point));
    return true;
  }

  void fail(ErrorCode code, const std::string& message) { fail(Error{code, message}); }
  // After the worker was marked retiring, the error stays on it (health stuck) until a finish
  // succeeds: `baton finish` again, or the next daemon's recovery.
  void fail(const Error& e) {
    SessionRecord* rec = id_.empty() ? nullptr : orch_.session(id_);
    if (rec && rec->state == SessionState::kRetiring && rec->last_error != e.message) {
      rec->last_error = e.message;
      rec->updated_at = runtime::iso8601_now();
      orch_.persist([](const tl::expected<void, std::string>&) {});
    }
    // A tree that could not be deleted (an immutable file) may be fixed by the user: tried
    // again with back-off, as the orchestrator's stuck cleanup is.
    if (rec && rec->state == SessionState::kRetiring && e.code == ErrorCode::kStuck)
      workers_.schedule_finish_retry(id_);
    answer(tl::make_unexpected(e));
  }

  FinishRequest req_;
  std::string id_;
  std::unique_ptr<TurnWait> turn_wait_;
};

}  // namespace

void Workers::finish(const std::string& project, FinishRequest req, ProgressFn progress,
                     FinishedFn done) {
  if (!progress) progress = [](const std::string&, const std::string&) {};
  std::make_shared<FinishRun>(orch_, *this, project, std::move(req), std::move(progress),
                              std::move(done))
      ->start();
}

}  // namespace baton::plugin
