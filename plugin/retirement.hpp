// What a handoff (plugin/handoff.cpp) and `baton down` (plugin/down.cpp) share: the run a
// project holds while its orchestrators are retired (ProjectState::handoff) — the commands
// that joined it and what they are told, its persisted steps, the gap's clock, the rollback
// of a failure before the first stop — and the retire phase itself, one session at a time:
// mark retiring → persist → stop → retire_tree off the loop → persist. Both end in
// put_away_trash: the retired trees deleted, their sessions marked retired and persisted. A
// handoff replies before that (its new agent runs) and holds the project until it ended;
// `down` replies after it.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/runner.hpp"
#include "plugin/handoff_steps.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/turn_wait.hpp"

namespace baton::plugin {

struct HandoffRequest {
  std::string project;
  std::string agent;                       // "" = the configured one
  std::map<std::string, std::string> env;  // the `baton` command's environment
  bool is_fallback = false;                // relaunching the previous agent: never falls back again
  bool is_now = false;                     // --now: no drain, no summary
  bool is_fresh = false;                   // --fresh: the new agent gets neither note nor prompt
  std::string reason;                      // --reason, for the handoff note
  std::string trigger = "replace";  // the note's reason without --reason: replace | up | recovery
};

// The steps of the no-orchestrator gap (DESIGN.md §5), in the order they first run. Every
// instant from the first stop signal to the new agent's exec is charged to exactly one of
// them, so they add up to the gap: the bench and a user can see which one grows.
enum class GapStep {
  kStop,      // stop signal → the old agent's exit seen (grace, SIGTERM, SIGKILL included)
  kPreserve,  // open the repository, scan for uncommitted work, commit it to a ref
  kRelease,   // rename the old tree aside, prune its admin entry, check the branch is free
  kPersist,   // the store written and fsynced between the steps
  kAdopt,     // prepared tree to the stable path, canonical branch adopted, work re-applied
  kSpawn,     // fork and exec of the new agent in its PTY
  kCount,
};
inline constexpr std::array<const char*, static_cast<std::size_t>(GapStep::kCount)> kGapStepNames =
    {"stop", "preserve", "release", "persist", "adopt", "spawn"};

struct HandoffOutcome {
  bool ok = false;
  Failure failure;
  std::string session;  // the new orchestrator
  std::vector<std::string> retired;
  std::vector<runtime::protocol::Json> preserved;  // {"session","ref","commit"}
  std::vector<std::string> notes;                  // conflicts on re-apply, mid-merge, ...
  long gap_ms = -1;
  // Microseconds per GapStep; meaningful when gap_ms >= 0.
  std::array<long, static_cast<std::size_t>(GapStep::kCount)> gap_steps_us{};
  std::string launch_error;  // set when the new agent died within launch_grace
  // The phases it went through, in order, as its progress named them: "standby" where a
  // standby was taken instead of a "prepare".
  std::vector<std::string> steps;
  // How the last retire's scan for uncommitted work went (change_record.hpp).
  std::optional<PreserveScan> preserve_scan;
};

// "120 s", "500 ms": a configured duration in a progress line.
std::string duration_text(int ms);

using ProgressFn = std::function<void(const std::string& step, const std::string& detail)>;
using OutcomeFn = std::function<void(const HandoffOutcome&)>;

class Retirement : public std::enable_shared_from_this<Retirement> {
 public:
  Retirement(Orchestrator& orch, HandoffRequest req);
  virtual ~Retirement() = default;
  Retirement(const Retirement&) = delete;
  Retirement& operator=(const Retirement&) = delete;

  virtual void start() = 0;
  // A second command joins: it gets progress from now on and the same outcome. `done` is
  // called when the run ended (a handoff: the new agent runs), `waited` after launch_grace
  // and the deletion of the retired trees too.
  void join(ProgressFn progress, OutcomeFn done, OutcomeFn waited);
  // The commands waiting for `done` were answered; a handoff may still hold the project while
  // it deletes its retired trees. A command arriving now waits for it instead of joining.
  bool has_replied() const { return is_done_; }
  const std::string& agent() const { return agent_; }
  const HandoffRequest& request() const { return req_; }
  // A joining `--now`: the drain stops waiting at once and the run goes on (a drain not yet
  // begun does not wait at all).
  virtual void skip_drain();

 protected:
  // Off the loop: check_preflight of the project under cfg_ (which sets project_dir_ and
  // stable_path_); then on_checked() on the loop.
  void check_project();
  virtual void on_checked(Expected<Preflight> checked) = 0;
  // The end of preflight, after check_preflight: a tree at the stable path that no session
  // owns becomes a retiring session; every active, retiring or exited one is to retire.
  void take_over_sessions(const Preflight& checked);
  // before_retire in the current orchestrator's tree, when set and something is to retire.
  void run_before_retire(std::function<void()> then);
  // How the drain ended, for what follows it (the handoff's summary).
  struct Drained {
    std::string session;            // the orchestrator drained; "" when none was waited for
    std::string agent;              // its agent's name
    bool is_turn_reported = false;  // its turn ended by its own report, not the screen
  };
  // The drain (docs/orchestrator.md): before the first stop signal, waits up to drain_timeout
  // for the newest active orchestrator's turn to end — unless nothing is to retire, the
  // request or a joining one says --now, the agent is not running, or it reports no turns.
  // A timeout goes on (and says so); the daemon shutting down fails the run, nothing stopped.
  void drain_turn(const std::function<void(const Drained&)>& then);
  // Retires the sessions of to_retire_ one at a time, then calls after_retire().
  void retire_next();
  virtual void after_retire() = 0;
  // Deletes the retired trees off the loop (delete_trash), marks their sessions retired (or
  // leaves them retiring with the error), persists, then succeeds or fails with kStuck.
  void put_away_trash(TrashMode mode);
  // Answers the commands waiting for `done` with success (a handoff calls it before
  // put_away_trash, once its new agent runs); the project stays held.
  void answer_done();
  // The trash was put away: answers `done` unless answered already, frees the project.
  void succeed();
  // After the trash was put away — or a failure after answer_done, which outcome_ holds —
  // and the project freed: what the run does until it answers `waited`.
  virtual void after_put_away() = 0;
  // Answers the commands that wait (--wait) with the outcome, failed when `launch_error` is set.
  void answer_waiting(const std::string& launch_error);
  // Before the first stop signal, puts every session marked retiring back as it was; after
  // it, repair_after_stop decides. Then the commands get the failure.
  void fail(ErrorCode code, const std::string& message);
  void fail(const Error& e) { fail(e.code, e.message); }
  // A failure after the first stop: true when the override answers the commands itself (it
  // calls finish_failure later, once its repair ended).
  virtual bool repair_after_stop(ErrorCode code, const std::string& message);
  // A failure before the stop: what the run made for the stop that did not come is undone.
  virtual void undo_before_stop() {}
  // After answer_done, the reply stands: only the commands that wait get the failure.
  void finish_failure(ErrorCode code, const std::string& message);
  // Gives up the project (ProjectState::handoff) when this run holds it: the cleanup retry
  // is scheduled and the commands that waited for the project (after_handoff) run.
  void release_project();
  // True (and the run failed) when the test-only fault point is armed (plugin/fault.hpp).
  bool faulted(std::string_view point);
  void progress(const std::string& step, const std::string& detail);
  void persist_then(std::function<void()> next);
  // What a step of the gap read ahead and no longer needs (an index of 200,000 entries takes
  // ~20 ms to free): kept until the reply, then freed off the loop (free_kept()).
  void keep_until_reply(std::shared_ptr<void> kept) { kept_.push_back(std::move(kept)); }
  void free_kept();
  // Charges the time since the last mark to the current gap step, then makes `next` current.
  void gap_enter(GapStep next,
                 std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now());
  hooks::HookRequest hook_request(const std::string& event, const CommandSpec& cmd,
                                  const std::string& session, const std::string& worktree);
  ProjectState* project();

  Orchestrator& orch_;
  HandoffRequest req_;
  std::string agent_;
  ProjectConfig cfg_;
  std::string project_dir_;  // <root>/<project>
  std::string stable_path_;  // <project dir>/orchestrator
  std::vector<std::string> to_retire_;
  std::set<std::string> was_stuck_;  // retiring with an error when this run began
  std::vector<std::string> preserved_commits_;
  std::chrono::steady_clock::time_point first_stop_;
  bool has_stopped_any_ = false;
  // From the first stop signal (or the first retire of an agent that was not running): a
  // failure from here on must leave an orchestrator running or say what to run.
  bool is_past_stop_ = false;
  std::string step_;        // the phase last reported by progress()
  bool is_in_gap_ = false;  // from the first stop signal to the new agent's exec
  GapStep gap_step_ = GapStep::kStop;
  std::chrono::steady_clock::time_point gap_mark_;
  HandoffOutcome outcome_;
  bool is_waited_ = false;
  bool is_drain_skipped_ = false;            // --now, or a joining --now
  bool is_putting_away_ = false;             // delete_trash runs off the loop
  std::unique_ptr<TurnWait> turn_wait_;      // while the drain waits for the turn to end
  std::vector<std::shared_ptr<void>> kept_;  // keep_until_reply

 private:
  // Marks the session retiring and persists it, then stops its agent.
  void retire_session(const std::string& id);
  void stop_agent(const std::string& id);
  // The agent is gone: retire_tree off the loop.
  void on_agent_stopped(const std::string& id);
  void on_tree_retired(const std::string& id, RetiredTree out);
  void on_trash_deleted(const std::map<std::string, std::string>& errors);
  void on_drained(WaitEnd end, ActivitySource source, Drained drained,
                  const std::function<void(const Drained&)>& then);

  struct Unstopped {
    SessionState state = SessionState::kActive;
    bool has_restore_marker = false;
  };
  std::map<std::string, Unstopped> unstopped_;  // marked retiring, by id, as they were before
  std::vector<ProgressFn> progress_fns_;
  std::vector<OutcomeFn> done_fns_;    // called when the run ended (or failed)
  std::vector<OutcomeFn> waited_fns_;  // called after launch_grace too (--wait)
  bool is_done_ = false;
};

}  // namespace baton::plugin
