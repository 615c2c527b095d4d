// The orchestrator plugin on top of the runtime: it owns the parts that keep each project's
// orchestrator alive — the project registry and its store, the config watch, start-up
// recovery, the activity tracker, the stuck-cleanup retry — and does what only it does: launch
// an agent, relaunch a crashed one with back-off, run a session's hooks, and move attached
// clients along to the current orchestrator. The control methods (control_methods.hpp) and
// the handoff (handoff.hpp) sit above it. The runtime never names orchestrators; this is
// where they live.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "plugin/activity.hpp"
#include "plugin/agent_launch.hpp"
#include "plugin/change_record.hpp"
#include "plugin/cleanup_retry.hpp"
#include "plugin/config.hpp"
#include "plugin/error_code.hpp"
#include "plugin/outbox.hpp"
#include "plugin/project_registry.hpp"
#include "plugin/recovery.hpp"
#include "plugin/session_store.hpp"
#include "plugin/standby.hpp"
#include "plugin/workers.hpp"
#include "runtime/daemon.hpp"
#include "runtime/iso_time.hpp"

namespace baton::plugin {

class MessageDelivery;

// Why a handoff or a command failed, for the user (one line) and the protocol (a code).
using Failure = Error;

class Orchestrator final : private RecoveryHost {
 public:
  // `start_env`: the environment the daemon was started with (the one of the `baton` command
  // that started it), which projects restored at start-up get.
  Orchestrator(runtime::Daemon& daemon, std::map<std::string, std::string> start_env);
  ~Orchestrator();
  Orchestrator(const Orchestrator&) = delete;
  Orchestrator& operator=(const Orchestrator&) = delete;

  // Loads the store and recovers every project in it (DESIGN.md §5); starts the activity
  // tick. The control methods are registered by their own part (control_methods.hpp).
  void start();

  uv_loop_t* loop() { return daemon_.loop(); }
  runtime::Daemon& daemon() { return daemon_; }
  const runtime::Paths& paths() const { return daemon_.paths(); }

  ProjectRegistry& registry() { return registry_; }
  StoreData& store() { return registry_.store(); }
  void persist(ProjectRegistry::SavedFn then) { registry_.persist(std::move(then)); }
  ProjectState* find_project(const std::string& id) { return registry_.find(id); }
  // Registers the project (registry) and watches its config.
  ProjectState& add_project(const std::string& id, const std::string& path);
  ProjectState* resolve_project(const std::string& target) { return registry_.resolve(target); }
  std::vector<const SessionRecord*> project_sessions(const std::string& project) const {
    return registry_.sessions_of(project);
  }
  SessionRecord* session(const std::string& id) { return registry_.session(id); }
  // Drops the oldest retired records (ProjectRegistry::forget_old_retired) and deletes, off
  // the loop, the handoff notes no kept record names.
  void forget_old_retired(const std::string& project);

  // Reloads the project's config off the loop with the environment `env` (the one of the
  // `baton` command); keeps the last good one when the new one fails. Content nobody allowed
  // is read (status shows what waits) but never takes the allowed config's place.
  void reload_config(ProjectState& p, const std::map<std::string, std::string>& env,
                     ConfigFn then) override;

  // compute_health() of the project (DESIGN.md §6).
  std::string health(ProjectState& p);

  // A launch in two halves. prepare_launch plans the agent's start and writes the files it
  // reads off the loop, which never fsyncs (DESIGN.md §8; agent_launch.hpp's
  // prepare_launch_files); `then` runs on the loop. spawn then starts the agent in a PTY.
  // Between the two, callers check the launch is still wanted (a handoff or shutdown may have
  // begun while the files were written).
  using PreparedLaunch = plugin::PreparedLaunch;
  using PreparedFn = plugin::PreparedFn;
  void prepare_launch(const SessionRecord& rec, const ProjectConfig& cfg,
                      const std::map<std::string, std::string>& env, bool resume,
                      PreparedFn then) override;
  // Starts the prepared agent of `rec` in a PTY at its worktree; fills pid, start time, argv
  // and what the plan chose. Touches no file.
  tl::expected<void, std::string> spawn(SessionRecord& rec, const PreparedLaunch& launch) override;

  // Runs one of the project's hooks for a session, in the background (the result is logged).
  void run_session_hook(const std::string& event, const SessionRecord& rec);
  // A crashed orchestrator comes back with back-off (relaunch_backoff.hpp), then it is left
  // exited.
  void schedule_relaunch(const std::string& session_id);

  // The stuck-cleanup retry (cleanup_retry.hpp), which the handoff and `status` start.
  void retry_cleanup(const std::string& project, const std::function<void()>& then = nullptr) {
    cleanup_.retry(project, then);
  }
  void schedule_cleanup(const std::string& project) { cleanup_.schedule(project); }

  // The next orchestrator's tree, prepared ahead (standby.hpp).
  Standby& standby() { return standby_; }
  // What changed in each orchestrator's tree since its full scan (change_record.hpp).
  ChangeRecords& changes() { return changes_; }
  // The orchestrators' workers (workers.hpp).
  Workers& workers() { return workers_; }

  // Activity of the orchestrator sessions (issue 8): hooks through `baton signal`, launch and
  // exit, and the screen on a one-second tick.
  ActivityTracker& activity() { return activity_; }
  // Whoever waits for an orchestrator's turn to end (a handoff's drain, message delivery)
  // listens to activity changes; a listener is removed by the one who added it when its wait
  // ends, so none outlives its owner. Listeners run on the loop, after the change.
  using ActivityFn = std::function<void(const std::string& session_id, const Activity& now)>;
  using ActivityListener = std::uint64_t;
  ActivityListener on_activity(ActivityFn fn);
  // Unknown or already removed listeners are ignored.
  void remove_activity_listener(ActivityListener listener);
  // How many are registered (`baton debug waits`): a wait that ended left none behind.
  std::size_t activity_listener_count() const { return activity_fns_.size(); }
  // A hook or notify of the session's agent: its state and conversation id.
  void on_agent_signal(SessionRecord& rec, const std::string& source, const HookSignal& sig);

  // The messages `baton tell` queued, per recipient (outbox.hpp), and their delivery at the
  // recipient's turn end (message_delivery.hpp).
  Outbox& outbox() { return outbox_; }
  MessageDelivery& messages() { return *messages_; }

  // Clients attached to the project (not to a session id) follow its orchestrator: they
  // continue on the active one with `notice`, or, when none runs and none is coming (no
  // handoff, no relaunch pending), get the exit.
  void settle_followers(const std::string& project, const std::string& notice);
  static std::string follow_key(const std::string& project) { return "project:" + project; }

  // How start-up recovery starts the handoff that converges a project (`agent`: the one to
  // run, "" for the configured one). The handoff sits above the orchestrator, so the control
  // methods, which know both, give it here before start().
  using HandoffStarter = std::function<void(ProjectState&, const std::string& agent,
                                            const std::map<std::string, std::string>& env)>;
  void set_handoff_starter(HandoffStarter starter) { handoff_starter_ = std::move(starter); }

 private:
  // RecoveryHost: what start-up recovery asks of its owner.
  void resume_handoff(const std::string& project, const std::string& agent,
                      const std::map<std::string, std::string>& env) override;
  bool has_session(const std::string& id) override;
  bool is_leaving() override;
  void recovered(const std::string& project) override {
    changes_.refresh(project);
    standby_.refresh(project);
  }
  void resume_worker(const std::string& session_id) override { workers_.resume(session_id); }
  void workers_recovered(const std::string& project) override {
    workers_.standby().recover(project);
  }

  // Watches the project's config directory and re-reads the config when baton.toml or
  // baton.local.toml changes, so health follows an edit without a command.
  void watch_config(ProjectState& p);
  // Shutdown: every timer and watch that would keep the loop, and so the daemon, alive.
  void close_watches();
  void on_session_exit(runtime::Session& s);
  void notify_activity(const std::string& session_id, const Activity& now);
  // The running orchestrators, for the activity tick.
  std::vector<ActivitySample> activity_samples();

  // The lines of an agent's screen kept when it exits.
  static constexpr std::size_t kLastLinesKept = 20;

  runtime::Daemon& daemon_;
  std::map<std::string, std::string> start_env_;
  ProjectRegistry registry_;
  ActivityTracker activity_;
  Recovery recovery_;
  CleanupRetry cleanup_;
  Standby standby_;
  ChangeRecords changes_;
  std::map<std::string, std::vector<std::uint64_t>> relaunches_;  // project → times (ms)
  bool is_shutting_down_ = false;
  HandoffStarter handoff_starter_;
  std::vector<std::pair<ActivityListener, ActivityFn>> activity_fns_;
  ActivityListener next_activity_listener_ = 1;
  Outbox outbox_;
  std::unique_ptr<MessageDelivery> messages_;  // after the listeners it registers in
  Workers workers_;
};

}  // namespace baton::plugin
