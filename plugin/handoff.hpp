// The handoff (DESIGN.md §5): replace a project's orchestrator(s) with a new one, in five
// phases — preflight, prepare, retire, handoff, launch — each persisted before the next, so
// nothing destructive happens before preflight and prepare succeeded and a failure leaves a
// state the next `replace` finishes.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "hooks/runner.hpp"
#include "plugin/orchestrator.hpp"

namespace baton::plugin {

struct HandoffRequest {
  std::string project;
  std::string agent;                       // "" = the configured one
  std::map<std::string, std::string> env;  // the `baton` command's environment
  bool is_fallback = false;                // relaunching the previous agent: never falls back again
  bool is_down = false;                    // `baton down`: retire for good, start nothing
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
};

using ProgressFn = std::function<void(const std::string& step, const std::string& detail)>;
using OutcomeFn = std::function<void(const HandoffOutcome&)>;

class Handoff : public std::enable_shared_from_this<Handoff> {
 public:
  Handoff(Orchestrator& orch, HandoffRequest req);

  void start();
  // A second replace joins: it gets progress from now on and the same outcome.
  void join(ProgressFn progress, OutcomeFn done, std::function<void(const HandoffOutcome&)> waited);
  const std::string& agent() const { return agent_; }
  // The session this handoff started (or is starting).
  const std::string& new_session() const { return new_id_; }
  // Ends the launch-grace watch without a fallback (the daemon is shutting down).
  void end_launch_grace(const std::string& launch_error);
  const HandoffRequest& request() const { return req_; }

 private:
  void preflight();
  void prepare();
  // Runs post_create then before_spawn, from the i-th on, then retires or hands off.
  void run_prepare_hook(std::size_t i);
  void retire_next();
  void retire(const std::string& id);
  void check_branch_free();
  void handoff();
  void launch();
  // The rest of launch, on the loop once the agent was spawned (or could not be).
  void launched(SessionRecord rec, tl::expected<void, std::string> started);
  void after_launch();
  void finish_trash();
  void watch_launch_grace();
  // The new agent exited while its launch grace was watched.
  void on_launch_grace_exit(int status);
  // Closes the grace timer and removes the exit listener; idempotent.
  void stop_watching_launch_grace();
  // Starts the previous agent on the branch after a failed launch; `then` gets the message
  // once that fallback handoff has ended (at once when there is none to start).
  void fall_back(const std::string& why, std::function<void(const std::string&)> then);
  void fail(ErrorCode code, const std::string& message);
  // Answers the commands with the failure; fail() decides first what to repair.
  void finish_failure(ErrorCode code, const std::string& message);
  bool has_running_orchestrator();
  // The step a failure happened in, for the error `status` shows.
  std::string failed_step(ErrorCode code) const;
  // True (and the handoff failed) when the test-only fault point is armed (plugin/fault.hpp).
  bool faulted(std::string_view point);
  hooks::HookRequest hook_request(const std::string& event, const CommandSpec& cmd,
                                  const std::string& session, const std::string& worktree);
  void succeed();
  void progress(const std::string& step, const std::string& detail);
  void persist_then(std::function<void()> next);
  // Charges the time since the last mark to the current gap step, then makes `next` current.
  void gap_enter(GapStep next,
                 std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now());
  ProjectState* project();

  Orchestrator& orch_;
  HandoffRequest req_;
  std::string agent_;
  ProjectConfig cfg_;
  std::string project_dir_;  // <root>/<project>
  std::string stable_path_;  // <project dir>/orchestrator
  std::string new_id_;
  unsigned new_number_ = 0;
  std::string prepared_path_;
  std::string prepared_name_;
  std::string temp_branch_;
  std::vector<CommandSpec> prepare_hooks_;  // post_create, then before_spawn
  std::vector<std::string> to_retire_;
  std::set<std::string> was_stuck_;  // retiring with an error when this handoff began
  std::vector<std::string> trash_;
  std::vector<std::string> preserved_commits_;
  std::chrono::steady_clock::time_point first_stop_;
  bool has_stopped_any_ = false;
  // From the first stop signal (or the first retire of an agent that was not running): a
  // failure from here on must leave an orchestrator running or say what to run.
  bool is_past_stop_ = false;
  bool has_fallen_back_ = false;
  struct Unstopped {
    SessionState state = SessionState::kActive;
    bool has_restore_marker = false;
  };
  std::map<std::string, Unstopped> unstopped_;  // marked retiring, by id, as they were before
  std::string step_;                            // the phase last reported by progress()
  bool is_in_gap_ = false;  // from the first stop signal to the new agent's exec
  GapStep gap_step_ = GapStep::kStop;
  std::chrono::steady_clock::time_point gap_mark_;
  HandoffOutcome outcome_;
  std::vector<ProgressFn> progress_fns_;
  std::vector<OutcomeFn> done_fns_;    // called when the new agent runs (or on failure)
  std::vector<OutcomeFn> waited_fns_;  // called after launch_grace too (--wait)
  bool is_done_ = false;
  bool is_waited_ = false;
  runtime::Timer* grace_timer_ = nullptr;  // owned until end_launch_grace
  runtime::Session::ExitListener grace_listener_ = 0;
};

}  // namespace baton::plugin
