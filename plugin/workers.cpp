#include "plugin/workers.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "plugin/message_delivery.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/relaunch_backoff.hpp"
#include "plugin/worker_notice.hpp"
#include "runtime/iso_time.hpp"

namespace baton::plugin {

Workers::Workers(Orchestrator& orch) : orch_(orch), standby_(orch, *this) {}

Workers::~Workers() {
  close();
}

void Workers::close() {
  is_closed_ = true;
  standby_.close();
  relaunch_timers_.clear();
  notify_timers_.clear();
  retry_timers_.clear();
}

// ---- git work on one repository, one operation at a time

void Workers::when_git_free(const std::string& project, const std::string& what,
                            const std::function<void(bool is_free)>& fn) {
  ProjectState* p = orch_.find_project(project);
  if (!p || is_closed_ || orch_.daemon().is_shutting_down()) return fn(false);
  auto again = [this, project, what, fn] { when_git_free(project, what, fn); };
  if (p->is_scanning) return when_scanned(*p, again);
  // A handoff holds the repository until it deleted its old trees and swept (its own after_
  // handoff list runs once it let go); the standby's checkout or follow until its job ends.
  if (p->handoff) return p->after_handoff.push_back(again);
  if (!p->worker_op.empty()) {
    // The next worker's tree can be made later: it gives way.
    if (p->worker_op == WorkerStandby::kOperation) standby_.cancel(project);
    return p->after_worker_op.push_back(again);
  }
  if (p->is_standby_busy) return orch_.standby().when_idle(project, again);
  p->worker_op = what;
  fn(true);
}

void Workers::end_git_work(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (!p) return;
  p->worker_op.clear();
  auto waiting = std::move(p->after_worker_op);
  p->after_worker_op.clear();
  for (auto& fn : waiting) fn();
  // The standbys did not start their work meanwhile; a handoff that waited has begun by now.
  if (p->worker_op.empty() && !p->handoff) orch_.standby().refresh(project);
  if (!is_closed_) standby_.refresh(project);
}

// ---- a spawn or finish a daemon left half done

void Workers::resume(const std::string& session_id) {
  SessionRecord* rec = orch_.session(session_id);
  if (!rec || is_closed_) return;
  if (rec->state == SessionState::kRetiring) {
    spdlog::info("recovery: finishing worker {} ({})", rec->name, session_id);
    FinishRequest req;
    req.name = rec->name;
    req.is_now = true;
    return finish(rec->project, req, nullptr, [session_id](Expected<Finished> out) {
      if (!out) spdlog::warn("recovery: finish of {} failed: {}", session_id, out.error().message);
    });
  }
  if (orch_.daemon().find_session_exact(session_id)) {
    // Its agent started and a living holder kept it: only the restore marker was missing.
    rec->restore_marker = true;
    rec->updated_at = runtime::iso8601_now();
    return orch_.persist([](const tl::expected<void, std::string>&) {});
  }
  spdlog::info("recovery: finishing the spawn of worker {} ({})", rec->name, session_id);
  resume_spawn(session_id);
}

void Workers::schedule_finish_retry(const std::string& session_id) {
  if (is_closed_ || retry_timers_.count(session_id)) return;
  const unsigned n = retries_[session_id]++;
  const std::uint64_t delay_ms =
      std::min<std::uint64_t>(1000ull << std::min(n, 16u), kMaxRetryDelayMs);
  auto& timer = retry_timers_[session_id];
  timer = runtime::make_owned<runtime::Timer>(orch_.loop());
  timer->start(delay_ms, [this, session_id] {
    retry_timers_.erase(session_id);
    const SessionRecord* rec = orch_.session(session_id);
    if (!rec || rec->state != SessionState::kRetiring) return (void)retries_.erase(session_id);
    FinishRequest req;
    req.name = rec->name;
    req.is_now = true;
    finish(rec->project, req, nullptr, [this, session_id](const Expected<Finished>& out) {
      if (out) retries_.erase(session_id);
    });
  });
}

void Workers::forget(const std::string& session_id) {
  notify_timers_.erase(session_id);
  relaunch_timers_.erase(session_id);
  retry_timers_.erase(session_id);
  relaunches_.erase(session_id);
  retries_.erase(session_id);
  told_.erase(session_id);
}

// ---- a worker that exited on its own

void Workers::on_exit(SessionRecord& rec, int exit_status, std::vector<std::string> last_lines) {
  rec.state = SessionState::kExited;
  rec.exit_status = exit_status;
  rec.restore_marker = false;
  rec.updated_at = runtime::iso8601_now();
  rec.last_lines = std::move(last_lines);
  spdlog::info("worker {} ({}) exited with status {}", rec.name, rec.id, exit_status);
  orch_.persist([](const tl::expected<void, std::string>&) {});
  notify(rec.id, "exited with status " + std::to_string(exit_status));
  if (exit_status != 0) relaunch(rec.id);
}

void Workers::relaunch(const std::string& session_id) {
  if (is_closed_) return;
  const auto now = static_cast<std::uint64_t>(uv_now(orch_.loop()));
  const auto delay_ms = next_relaunch_delay(relaunches_[session_id], now);
  if (!delay_ms) {
    spdlog::warn("worker {} crashed {} times in 10 minutes; left exited", session_id,
                 kMaxRelaunches);
    // Stuck: the orchestrator decides (finish it, or spawn it again with another task).
    notify(session_id, "is stuck: it crashed " + std::to_string(kMaxRelaunches) +
                           " times in 10 minutes and is left exited");
    return;
  }
  auto& timer = relaunch_timers_[session_id];
  timer = runtime::make_owned<runtime::Timer>(orch_.loop());
  timer->start(*delay_ms, [this, session_id] {
    relaunch_timers_.erase(session_id);
    // Still exited, its project's config allowed, the daemon staying: checked again once the
    // launch files are written.
    auto is_wanted = [this, session_id]() -> SessionRecord* {
      SessionRecord* rec = orch_.session(session_id);
      ProjectState* p = rec ? orch_.find_project(rec->project) : nullptr;
      if (!rec || !p || !p->config || rec->state != SessionState::kExited || is_closed_ ||
          orch_.daemon().is_shutting_down())
        return nullptr;
      return rec;
    };
    SessionRecord* rec = is_wanted();
    if (!rec) return;
    ProjectState* p = orch_.find_project(rec->project);
    orch_.prepare_launch(
        *rec, *p->config, p->env, true,
        [this, session_id, is_wanted](tl::expected<PreparedLaunch, std::string> prepared) {
          SessionRecord* rec = is_wanted();
          if (!rec) return;
          auto r = prepared
                       ? orch_.spawn(*rec, *prepared)
                       : tl::expected<void, std::string>(tl::make_unexpected(prepared.error()));
          if (!r) {
            rec->last_error = r.error();
            spdlog::warn("relaunch of worker {} failed: {}", session_id, r.error());
          } else {
            rec->state = SessionState::kActive;
            rec->restore_marker = true;
            rec->last_error.clear();
            told_.erase(session_id);
            spdlog::info("relaunched worker {} after a crash (pid {})", session_id, rec->pid);
          }
          rec->updated_at = runtime::iso8601_now();
          orch_.persist([](const tl::expected<void, std::string>&) {});
        });
  });
}

// ---- telling the orchestrator

void Workers::on_activity(const std::string& session_id, const Activity& now) {
  if (is_closed_) return;
  const SessionRecord* rec = orch_.session(session_id);
  if (!rec || rec->role != SessionRole::kWorker) return;
  const bool is_telling =
      now.state == ActivityState::kIdle || now.state == ActivityState::kWaitingInput;
  if (!is_telling) {
    // Working again: what it does next is news again.
    notify_timers_.erase(session_id);
    if (now.state == ActivityState::kWorking) told_.erase(session_id);
    return;
  }
  const std::string what =
      now.state == ActivityState::kWaitingInput ? "waits for input" : "ended its turn";
  if (told_[session_id] == what) return;
  // A state that flickers (a question answered at once) is not worth a message: told once it
  // held for kNotifySettleMs.
  auto& timer = notify_timers_[session_id];
  timer = runtime::make_owned<runtime::Timer>(orch_.loop());
  timer->start(kNotifySettleMs, [this, session_id, what] {
    notify_timers_.erase(session_id);
    const Activity* a = orch_.activity().get(session_id);
    const std::string still = !a                                         ? ""
                              : a->state == ActivityState::kWaitingInput ? "waits for input"
                              : a->state == ActivityState::kIdle         ? "ended its turn"
                                                                         : "";
    if (still != what) return;
    notify(session_id, what);
  });
}

void Workers::notify(const std::string& session_id, const std::string& what) {
  SessionRecord* rec = orch_.session(session_id);
  ProjectState* p = rec ? orch_.find_project(rec->project) : nullptr;
  if (!rec || !p || !p->config || !p->config->notify_orchestrator) return;
  told_[session_id] = what;
  std::string line;
  if (runtime::Session* s = orch_.daemon().find_session_exact(session_id); s && s->is_running())
    line = last_screen_line(s->peek_capture());
  else
    line = last_screen_line(rec->last_lines);
  const std::string text = worker_notice(rec->name, what, line);
  const std::string recipient = rec->project;
  orch_.outbox().add(recipient, text, [this](const tl::expected<void, std::string>& saved) {
    if (!saved) return spdlog::warn("a worker's notice was not queued: {}", saved.error());
    if (!is_closed_) orch_.messages().kick();
  });
}

}  // namespace baton::plugin
