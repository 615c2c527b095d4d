#include "plugin/retirement.hpp"

#include <malloc.h>

#include <optional>

#include <spdlog/spdlog.h>

#include "plugin/fault.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/outlived_agent.hpp"
#include "plugin/session_hook.hpp"
#include "plugin/standby_steps.hpp"
#include "runtime/iso_time.hpp"

namespace baton::plugin {

using runtime::protocol::Json;

Retirement::Retirement(Orchestrator& orch, HandoffRequest req)
    : orch_(orch), req_(std::move(req)) {}

ProjectState* Retirement::project() {
  return orch_.find_project(req_.project);
}

void Retirement::join(ProgressFn progress, OutcomeFn done, OutcomeFn waited) {
  if (progress) progress_fns_.push_back(std::move(progress));
  if (done) {
    if (is_done_)
      done(outcome_);
    else
      done_fns_.push_back(std::move(done));
  }
  if (waited) {
    if (is_waited_)
      waited(outcome_);
    else
      waited_fns_.push_back(std::move(waited));
  }
}

void Retirement::progress(const std::string& step, const std::string& detail) {
  step_ = step;
  if (outcome_.steps.empty() || outcome_.steps.back() != step) outcome_.steps.push_back(step);
  spdlog::info("handoff {}: {} {}", req_.project, step, detail);
  for (auto& fn : progress_fns_) fn(step, detail);
}

void Retirement::persist_then(std::function<void()> next) {
  auto self = shared_from_this();
  const GapStep resumed = gap_step_;
  gap_enter(GapStep::kPersist);
  orch_.persist([self, resumed, next = std::move(next)](tl::expected<void, std::string> r) {
    self->gap_enter(resumed);
    if (!r) return self->fail(ErrorCode::kPersistFailed, r.error());
    next();
  });
}

void Retirement::gap_enter(GapStep next, std::chrono::steady_clock::time_point at) {
  if (!is_in_gap_) return;
  outcome_.gap_steps_us[static_cast<std::size_t>(gap_step_)] += static_cast<long>(
      std::chrono::duration_cast<std::chrono::microseconds>(at - gap_mark_).count());
  gap_mark_ = at;
  gap_step_ = next;
}

hooks::HookRequest Retirement::hook_request(const std::string& event, const CommandSpec& cmd,
                                            const std::string& session,
                                            const std::string& worktree) {
  return session_hook_request(cfg_, event, cmd,
                              HookSubject{req_.project, session, worktree, cfg_.branch, agent_},
                              orch_.paths().logs_dir);
}

bool Retirement::faulted(std::string_view point) {
  if (!fault_hit(req_.env, point)) return false;
  fail(ErrorCode::kFault, "fault injected at " + std::string(point));
  return true;
}

// ---- the end of preflight

void Retirement::check_project() {
  project_dir_ = cfg_.workspace_root + "/" + req_.project;
  stable_path_ = stable_path(project_dir_);
  std::vector<std::string> known_trees;
  for (const auto* s : orch_.project_sessions(req_.project)) known_trees.push_back(s->worktree);
  auto self = shared_from_this();
  run_off_loop<Expected<Preflight>>(
      orch_.loop(),
      [repo_path = project()->path, state_dir = orch_.paths().state_dir, project_dir = project_dir_,
       cfg = cfg_, known_trees = std::move(known_trees)] {
        return check_preflight(repo_path, state_dir, project_dir, cfg, known_trees);
      },
      [self](Expected<Preflight> checked) { self->on_checked(std::move(checked)); });
}

void Retirement::take_over_sessions(const Preflight& checked) {
  // A tree at the stable path that no session owns: a handoff died between moving it there
  // and recording its session. It is retired like any other, so its work is kept.
  if (!checked.stable_owner.empty()) {
    const SessionRecord* owner = orch_.session(checked.stable_owner);
    if (!owner || owner->state == SessionState::kRetired) {
      SessionRecord orphan;
      orphan.id = checked.stable_owner;
      orphan.number = number_suffix(orphan.id);
      orphan.project = req_.project;
      orphan.agent = owner ? owner->agent : agent_;
      orphan.branch = cfg_.branch;
      orphan.worktree = stable_path_;
      orphan.state = SessionState::kRetiring;
      orphan.created_at = owner ? owner->created_at : runtime::iso8601_now();
      orphan.updated_at = runtime::iso8601_now();
      orch_.store().sessions[orphan.id] = orphan;
    }
  }
  for (const auto* s : orch_.project_sessions(req_.project)) {
    // Exited ones too: their tree may still hold the stable path and uncommitted work.
    if (s->state == SessionState::kActive || s->state == SessionState::kRetiring ||
        s->state == SessionState::kExited)
      to_retire_.push_back(s->id);
    if (s->state == SessionState::kRetiring && !s->last_error.empty()) was_stuck_.insert(s->id);
  }
}

void Retirement::run_before_retire(std::function<void()> then) {
  if (!cfg_.hooks.before_retire || to_retire_.empty()) return then();
  const auto* current = current_orchestrator(orch_.project_sessions(req_.project));
  const auto h =
      hook_request("before_retire", *cfg_.hooks.before_retire, current ? current->id : "",
                   current ? current->worktree : project()->path);
  auto self = shared_from_this();
  hooks::run_hook(orch_.loop(), h, [self, then = std::move(then)](const hooks::HookResult& r) {
    if (!r.ok()) return self->fail(ErrorCode::kHookFailed, r.describe("before_retire"));
    then();
  });
}

// ---- drain: wait for the old agent's turn to end before anything stops it

namespace {

constexpr std::uint64_t kDrainTickMs = 5000;  // how often the progress line says it still waits

std::string doing(const Activity* now) {
  if (!now) return "starting";
  switch (now->state) {
    case ActivityState::kWaitingInput:
      return "waiting for input";
    case ActivityState::kUnknown:
      return "starting";
    default:
      return std::string(wire_name(now->state));
  }
}

}  // namespace

std::string duration_text(int ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

void Retirement::skip_drain() {
  is_drain_skipped_ = true;
  if (turn_wait_) turn_wait_->skip();
}

void Retirement::drain_turn(const std::function<void(const Drained&)>& then) {
  if (req_.is_now) is_drain_skipped_ = true;
  if (faulted("drain.started")) return;
  Drained drained;
  // The first `up` has nothing to drain.
  const SessionRecord* current =
      to_retire_.empty() ? nullptr : newest_active(orch_.project_sessions(req_.project));
  runtime::Session* live = current ? orch_.daemon().find_session_exact(current->id) : nullptr;
  if (!current || !live || !live->is_running()) {
    if (faulted("drain.done")) return;
    return then(drained);
  }
  drained.session = current->id;
  drained.agent = current->agent;
  if (is_drain_skipped_) {
    progress("drain", "--now: not waiting for " + drained.agent + " to end its turn");
    if (faulted("drain.done")) return;
    return then(drained);
  }
  const auto spec = cfg_.agents.find(current->agent);
  if (spec == cfg_.agents.end() || !reports_turns(spec->second, orch_.activity(), current->id)) {
    // A generic agent without hooks never says its turn ended: nothing to wait for.
    progress("drain", drained.agent + " reports no turns: not waiting");
    if (faulted("drain.done")) return;
    return then(drained);
  }
  auto self = shared_from_this();
  const std::string agent = drained.agent;
  turn_wait_ = std::make_unique<TurnWait>(orch_, current->id);
  turn_wait_->start(
      static_cast<std::uint64_t>(cfg_.drain_timeout_ms), kDrainTickMs,
      [self, agent](const Activity* now, long waited_s) {
        self->progress("drain",
                       agent + " is " + doing(now) + " (" + std::to_string(waited_s) + " s)");
      },
      [self, drained, then](WaitEnd end, ActivitySource source) {
        self->on_drained(end, source, drained, then);
      });
}

void Retirement::on_drained(WaitEnd end, ActivitySource source, Drained drained,
                            const std::function<void(const Drained&)>& then) {
  // Destroyed here, in its own callback: it gave up its timers and listener before calling.
  turn_wait_.reset();
  const std::string& agent = drained.agent;
  switch (end) {
    case WaitEnd::kDone:
      drained.is_turn_reported = source != ActivitySource::kScreen;
      progress("drain", agent + "'s turn ended");
      break;
    case WaitEnd::kTimedOut: {
      const std::string note = agent + " did not end its turn within " +
                               duration_text(cfg_.drain_timeout_ms) +
                               " (drain_timeout): stopped mid-turn";
      progress("drain", note);
      outcome_.notes.push_back(note);
      break;
    }
    case WaitEnd::kSkipped:
      progress("drain", "--now: stopped waiting for " + agent);
      break;
    case WaitEnd::kExited:
      // `baton shutdown` stops every agent: the run ends with nothing stopped by it, and the
      // next start's recovery converges the project.
      if (orch_.daemon().is_shutting_down())
        return fail(ErrorCode::kFailed, "the daemon is shutting down");
      progress("drain", agent + " exited");
      break;
  }
  if (faulted("drain.done")) return;
  then(drained);
}

// ---- retire, one session at a time

void Retirement::retire_next() {
  if (to_retire_.empty()) return after_retire();
  const std::string id = to_retire_.front();
  to_retire_.erase(to_retire_.begin());
  retire_session(id);
}

void Retirement::retire_session(const std::string& id) {
  SessionRecord* rec = orch_.session(id);
  if (!rec) return retire_next();
  progress("retire", id);
  // Until its agent is stopped, a failure puts it back as it was (fail()).
  unstopped_.try_emplace(id, Unstopped{rec->state, rec->restore_marker});
  rec->state = SessionState::kRetiring;
  rec->restore_marker = false;
  rec->updated_at = runtime::iso8601_now();
  auto self = shared_from_this();
  persist_then([self, id] {
    if (self->faulted("retire.persisted")) return;
    self->stop_agent(id);
  });
}

void Retirement::stop_agent(const std::string& id) {
  runtime::Session* live = orch_.daemon().find_session_exact(id);
  if (live && live->is_running()) {
    is_past_stop_ = true;
    if (!has_stopped_any_) {
      // The gap starts with the first stop signal.
      has_stopped_any_ = true;
      first_stop_ = std::chrono::steady_clock::now();
      is_in_gap_ = true;
      gap_mark_ = first_stop_;
      gap_step_ = GapStep::kStop;
    } else {
      gap_enter(GapStep::kStop);
    }
    auto self = shared_from_this();
    live->on_exit([self, id](runtime::Session&) { self->on_agent_stopped(id); });
    live->stop();
    return;
  }
  if (const SessionRecord* rec = orch_.session(id))
    kill_outlived_agent(rec->pid, rec->pid_start_time);
  on_agent_stopped(id);
}

void Retirement::on_agent_stopped(const std::string& id) {
  is_past_stop_ = true;
  gap_enter(GapStep::kPreserve);
  if (faulted("retire.stopped")) return;
  const SessionRecord* rec = orch_.session(id);
  RetireTree in{project()->path, rec->worktree, trash_path(project_dir_, id), id,
                !rec->preserved_commit.empty()};
  if (auto hint = orch_.changes().take(req_.project, id)) {
    in.scan_limit = [hint = std::move(*hint)](std::string& why_not) {
      return scan_limit(hint, why_not);
    };
  }
  auto self = shared_from_this();
  run_off_loop<RetiredTree>(
      orch_.loop(),
      [in = std::move(in)]() mutable {
        RetiredTree out = retire_tree(in);
        // The record and its index (200,000 entries in a large tree) are freed after the
        // reply, off the loop: not inside the gap.
        if (in.scan_limit)
          out.used = std::make_shared<decltype(in.scan_limit)>(std::move(in.scan_limit));
        return out;
      },
      [self, id](RetiredTree out) { self->on_tree_retired(id, std::move(out)); });
}

void Retirement::on_tree_retired(const std::string& id, RetiredTree out) {
  if (out.preserved_at != std::chrono::steady_clock::time_point{})
    gap_enter(GapStep::kRelease, out.preserved_at);
  SessionRecord* rec = orch_.session(id);
  if (!out.commit.empty()) {
    rec->preserved_ref = out.ref;
    rec->preserved_commit = out.commit;
  }
  for (auto& n : out.notes) outcome_.notes.push_back(id + ": " + n);
  if (out.used) keep_until_reply(std::move(out.used));
  if (out.preserved_at != std::chrono::steady_clock::time_point{})
    outcome_.preserve_scan = out.scan;
  rec->updated_at = runtime::iso8601_now();
  auto self = shared_from_this();
  if (!out.result) {
    rec->last_error = out.result.error().message;
    return persist_then([self, e = out.result.error()] { self->fail(e); });
  }
  if (!rec->preserved_commit.empty()) {
    preserved_commits_.push_back(rec->preserved_commit);
    outcome_.preserved.push_back(
        Json{{"session", id}, {"ref", rec->preserved_ref}, {"commit", rec->preserved_commit}});
  }
  if (faulted("retire.released")) return;
  orch_.run_session_hook("after_retire", *rec);
  outcome_.retired.push_back(id);
  persist_then([self] { self->retire_next(); });
}

// ---- the end: the retired trees put away

void Retirement::put_away_trash(TrashMode mode) {
  is_putting_away_ = true;
  // trash.deleting fires on the worker thread, where a test may also pause the deletion.
  const FaultHit fault = [env = req_.env](std::string_view point) { return fault_hit(env, point); };
  auto self = shared_from_this();
  const auto& standby = orch_.store().projects[req_.project].standby;
  run_off_loop<std::optional<std::map<std::string, std::string>>>(
      orch_.loop(),
      [repo_path = project()->path, project_dir = project_dir_, ids = outcome_.retired, mode, fault,
       standby_id = standby
                        ? standby->id
                        : std::string()]() -> std::optional<std::map<std::string, std::string>> {
        if (fault("trash.deleting")) return std::nullopt;
        auto errors =
            delete_trash(repo_path, project_dir, ids, mode, standby_ids(project_dir, standby_id));
        // A handoff's git work leaves megabytes free in the worker threads' malloc arenas,
        // which glibc keeps: 32 MB of a daemon's 51 MB after 20,000-file handoffs
        // (docs/BENCHMARKS.md). Here, after the new agent runs, it costs the gap nothing.
        malloc_trim(0);
        return errors;
      },
      [self](const std::optional<std::map<std::string, std::string>>& errors) {
        self->is_putting_away_ = false;
        if (!errors) return self->fail(ErrorCode::kFault, "fault injected at trash.deleting");
        self->on_trash_deleted(*errors);
      });
}

void Retirement::on_trash_deleted(const std::map<std::string, std::string>& errors) {
  if (faulted("trash.deleted")) return;
  std::string first_error;
  for (const auto& id : outcome_.retired) {
    SessionRecord* rec = orch_.session(id);
    if (!rec) continue;
    rec->updated_at = runtime::iso8601_now();
    if (auto it = errors.find(id); it != errors.end()) {
      rec->last_error = it->second;  // stays retiring: health says stuck
      // A cleanup stuck before this run does not fail it: the new agent runs, and the daemon
      // goes on retrying the cleanup (Orchestrator::schedule_cleanup).
      if (was_stuck_.count(id))
        outcome_.notes.push_back("cleanup of " + id + " is still stuck (" + it->second +
                                 "); baton retries it");
      else if (first_error.empty())
        first_error = it->second;
    } else {
      rec->state = SessionState::kRetired;
      rec->last_error.clear();
      // Its record stays in the store; the exited runtime session (screen model, feeder
      // thread, scrollback: ~370 kB) would otherwise stay for the daemon's lifetime, one per
      // handoff (docs/BENCHMARKS.md, memory after 1,000 handoffs).
      runtime::Session* old = orch_.daemon().find_session_exact(id);
      if (old && !old->is_running()) orch_.daemon().remove_session(id);
    }
  }
  orch_.forget_old_retired(req_.project);
  auto self = shared_from_this();
  persist_then([self, first_error] {
    if (!first_error.empty()) return self->fail(ErrorCode::kStuck, first_error);
    self->succeed();
  });
}

void Retirement::answer_done() {
  outcome_.ok = true;
  is_done_ = true;
  if (ProjectState* p = project()) {
    p->is_stuck = false;  // an orchestrator runs again
    // A successful handoff with the configured agent clears an earlier launch failure.
    if (!req_.is_fallback) p->launch_error.clear();
  }
  auto fns = std::move(done_fns_);
  done_fns_.clear();
  for (auto& fn : fns) fn(outcome_);
  free_kept();
}

void Retirement::free_kept() {
  if (kept_.empty()) return;
  run_off_loop(
      orch_.loop(), [kept = std::move(kept_)]() mutable { kept.clear(); }, [] {});
  kept_.clear();
}

void Retirement::succeed() {
  if (!is_done_) answer_done();
  release_project();
  after_put_away();
}

void Retirement::release_project() {
  free_kept();
  ProjectState* p = project();
  if (!p) return;
  // A fallback (Handoff::fall_back) may have taken the project over: it releases it.
  if (p->handoff.get() == this) p->handoff.reset();
  orch_.schedule_cleanup(req_.project);
  if (p->handoff) return;
  // In order; the first may start a handoff, which the next ones then join (or wait for).
  auto queued = std::move(p->after_handoff);
  p->after_handoff.clear();
  for (auto& fn : queued) fn();
  // The next orchestrator's tree, for the next replace (a no-op when a queued command
  // started a handoff: that one ends here too).
  p->standby_fault_env.clear();
  for (const auto key : {kFaultEnv, kFaultReleaseEnv}) {
    if (auto armed = req_.env.find(std::string(key)); armed != req_.env.end())
      p->standby_fault_env.insert(*armed);
  }
  orch_.changes().refresh(req_.project);
  orch_.standby().refresh(req_.project);
  // After `down`, the next worker's tree goes unless a worker still runs.
  orch_.workers().standby().refresh(req_.project);
}

void Retirement::answer_waiting(const std::string& launch_error) {
  if (is_waited_) return;
  if (!launch_error.empty()) {
    outcome_.ok = false;
    outcome_.launch_error = launch_error;
    outcome_.failure = Failure{ErrorCode::kLaunchFailed, launch_error};
  }
  is_waited_ = true;
  auto fns = std::move(waited_fns_);
  waited_fns_.clear();
  for (auto& fn : fns) fn(outcome_);
}

// ---- failure

// A failure before any agent was stopped leaves the running orchestrator as it was.
void Retirement::fail(ErrorCode code, const std::string& message) {
  if (!is_past_stop_ && !is_done_) {
    for (const auto& [id, was] : unstopped_) {
      SessionRecord* rec = orch_.session(id);
      if (!rec || rec->state != SessionState::kRetiring) continue;
      rec->state = was.state;
      rec->restore_marker = was.has_restore_marker;
      rec->updated_at = runtime::iso8601_now();
    }
    if (!unstopped_.empty()) orch_.persist([](const tl::expected<void, std::string>&) {});
    unstopped_.clear();
    undo_before_stop();
  } else if (repair_after_stop(code, message)) {
    return;
  }
  finish_failure(code, message);
}

bool Retirement::repair_after_stop(ErrorCode /*code*/, const std::string& /*message*/) {
  return false;
}

void Retirement::finish_failure(ErrorCode code, const std::string& message) {
  spdlog::warn("handoff {} failed ({}): {}", req_.project, wire_name(code), message);
  outcome_.ok = false;
  outcome_.failure = Failure{code, message};
  if (is_done_) {
    // The reply said the new agent runs, and it does (the followers are on it already): the
    // deletion after it failed. `--wait` gets the failure.
    release_project();
    return after_put_away();
  }
  ProjectState* p = project();
  if (p && p->handoff.get() == this) {
    release_project();
    orch_.settle_followers(req_.project, "baton: orchestrator replace failed: " + message);
  }
  is_done_ = true;
  is_waited_ = true;
  auto done = std::move(done_fns_);
  auto waited = std::move(waited_fns_);
  done_fns_.clear();
  waited_fns_.clear();
  for (auto& fn : done) fn(outcome_);
  for (auto& fn : waited) fn(outcome_);
}

}  // namespace baton::plugin
