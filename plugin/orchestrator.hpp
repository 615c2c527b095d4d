// The orchestrator plugin on top of the runtime: projects, their orchestrator sessions and
// the persisted store, health, and the control methods (up, replace, down, status, ls,
// allow, config_check). The runtime never names orchestrators; this is where they live.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "plugin/activity.hpp"
#include "plugin/agent_launch.hpp"
#include "plugin/config.hpp"
#include "plugin/error_code.hpp"
#include "plugin/session_store.hpp"
#include "runtime/control_server.hpp"
#include "runtime/daemon.hpp"

namespace baton::plugin {

class Handoff;
class Retirement;

// Why a handoff or a command failed, for the user (one line) and the protocol (a code).
using Failure = Error;

struct ProjectState {
  std::string id;
  std::string path;  // main worktree
  // The config in force: the last one read that is allowed, or, while none was ever allowed,
  // the last one read (with is_allowed false, so nothing launches from it). Content a pull or
  // an edit brought in takes effect only once allowed (trust_waiting says what waits).
  std::optional<ProjectConfig> config;
  std::string config_error;  // set while the config does not parse
  // The repository keys of the newest content read that wait for `baton allow`; empty when
  // that content is allowed or needs no trust.
  std::vector<std::string> trust_waiting;
  std::string launch_error;             // the last failed launch (fell back to the previous agent)
  std::shared_ptr<Retirement> handoff;  // the handoff or `down` running, if any
  // The handoff whose new agent is inside its launch grace: an exit there is the handoff's
  // (fallback), not a crash to relaunch.
  std::shared_ptr<Handoff> launch_watch;
  // A handoff failed after the stop and no agent could be started again: launch_error says
  // what to run.
  bool is_stuck = false;
  bool is_recovering = false;
  // Start-up recovery is clearing stale git locks: a handoff started now could lose a lock it
  // just took, so commands that start one wait in after_scan until the scan is done.
  bool is_scanning = false;
  std::vector<std::function<void()>> after_scan;
  // A crashed orchestrator comes back after a back-off; owned here, closed at shutdown.
  runtime::Timer* relaunch_timer = nullptr;
  // A stuck cleanup (a retired tree aside that could not be deleted) is retried with back-off.
  runtime::Timer* cleanup_timer = nullptr;
  unsigned cleanup_attempts = 0;
  bool is_cleaning = false;
  // What `${VAR}` in [env] reads and the agent starts with: the environment of the last `up`,
  // `replace` or `down` for this project, else (a project restored at start-up) the daemon's
  // own. In memory only: it may hold secrets, and no file under BATON_HOME gets them.
  std::map<std::string, std::string> env;
  runtime::FsEvent* config_watch = nullptr;  // the repository root, for baton*.toml
  runtime::Timer* config_debounce = nullptr;
};

class Orchestrator {
 public:
  // `start_env`: the environment the daemon was started with (the one of the `baton` command
  // that started it), which projects restored at start-up get.
  Orchestrator(runtime::Daemon& daemon, std::map<std::string, std::string> start_env);
  ~Orchestrator();
  Orchestrator(const Orchestrator&) = delete;
  Orchestrator& operator=(const Orchestrator&) = delete;

  // Loads the store (off the loop) and relaunches what was active; registers the methods.
  void start();

  uv_loop_t* loop() { return daemon_.loop(); }
  runtime::Daemon& daemon() { return daemon_; }
  const runtime::Paths& paths() const { return daemon_.paths(); }

  StoreData& store() { return store_; }
  // Persists the store atomically off the loop; `then` runs once this state is on disk.
  // Saves are serialised, so an older snapshot never lands after a newer one.
  void persist(std::function<void(tl::expected<void, std::string>)> then);

  ProjectState* find_project(const std::string& id);
  ProjectState& add_project(const std::string& id, const std::string& path);
  // Watches the project's config directory and re-reads the config when baton.toml or
  // baton.local.toml changes, so health follows an edit without a command.
  void watch_config(ProjectState& p);
  void close_watches();
  std::vector<const SessionRecord*> project_sessions(const std::string& project) const;
  SessionRecord* session(const std::string& id);
  // Drops all but the newest kRetiredKept retired records of a project. Every persist writes
  // the whole store, so a record kept per handoff forever made each save, and the heap it
  // leaves in the worker threads' arenas, grow with the number of handoffs. A preserved
  // commit stays reachable from its ref (`baton preserved ls` reads the refs, not records).
  void forget_old_retired(const std::string& project);
  static constexpr std::size_t kRetiredKept = 20;

  // Reloads the project's config off the loop with the environment `env` (the one of the
  // `baton` command); keeps the last good one when the new one fails.
  void reload_config(ProjectState& p, const std::map<std::string, std::string>& env,
                     std::function<void(tl::expected<ProjectConfig, std::string>)> then);

  // The status object of a project (DESIGN.md §6, issue 4's contract).
  runtime::protocol::Json status_json(ProjectState& p);
  runtime::protocol::Json session_json(const SessionRecord& s) const;
  std::string health(ProjectState& p);

  // A launch in two halves. prepare_launch plans the agent's start and writes the files it
  // reads (claude's hook settings, its trust entry in ~/.claude.json) off the loop, which
  // never fsyncs (DESIGN.md §8); `then` runs on the loop. spawn then starts the agent in a
  // PTY. Between the two, callers check the launch is still wanted (a handoff or shutdown
  // may have begun while the files were written).
  struct PreparedLaunch {
    LaunchPlan plan;
    std::vector<std::string> env;  // KEY=VALUE for the session: command, [env], agent's, baton's
    std::string permissions;
  };
  using PreparedFn = std::function<void(tl::expected<PreparedLaunch, std::string>)>;
  void prepare_launch(const SessionRecord& rec, const ProjectConfig& cfg,
                      const std::map<std::string, std::string>& env, bool resume, PreparedFn then);
  // Starts the prepared agent of `rec` in a PTY at its worktree; fills pid, start time, argv
  // and what the plan chose. Touches no file.
  tl::expected<void, std::string> spawn(SessionRecord& rec, const PreparedLaunch& launch);

  // Runs one of the project's hooks for a session, in the background (the result is logged).
  void run_session_hook(const std::string& event, const SessionRecord& rec);
  // A crashed orchestrator comes back with back-off: 1 s, 2 s, 4 s ... at most
  // kMaxRelaunches times in kRelaunchWindowMs, then it is left exited.
  void schedule_relaunch(const std::string& session_id);

  // A session left `retiring` because its tree, already aside, could not be deleted (health
  // `stuck`) is finished here without a handoff of the healthy orchestrator: the trash is
  // deleted off the loop and the session marked retired. `then` runs on the loop after.
  void retry_cleanup(const std::string& project, std::function<void()> then = nullptr);
  // Retries a stuck cleanup after 1 s, 2 s, 4 s ... (at most kCleanupMaxDelayMs apart) until
  // it succeeds; a no-op when nothing is stuck or a retry is already pending.
  void schedule_cleanup(const std::string& project);
  static constexpr std::uint64_t kCleanupMaxDelayMs = 60 * 1000;

  // Activity of an orchestrator session (issue 8): set by hooks through `baton signal`, by
  // launch and exit, and by the screen on a one-second tick.
  void set_activity(const std::string& session_id, const std::string& state,
                    const std::string& source);
  const Activity* activity(const std::string& session_id) const;
  // A hook or notify of the session's agent: its state and conversation id.
  void on_agent_signal(SessionRecord& rec, const std::string& source, const HookSignal& sig);

  // Clients attached to the project (not to a session id) follow its orchestrator: they
  // continue on the active one with `notice`, or, when none runs and none is coming (no
  // handoff, no relaunch pending), get the exit.
  void settle_followers(const std::string& project, const std::string& notice);
  static std::string follow_key(const std::string& project) { return "project:" + project; }

  // Resolves TARGET (a session id, a project id, or a path inside a project or one of its
  // worktrees) to a registered project; paths are matched without touching git.
  ProjectState* resolve_project(const std::string& target);

 private:
  void register_methods();
  void on_session_exit(runtime::Session& s);
  void restore_sessions(const std::string& project);
  // Start-up recovery of one project: stop agents that outlived the daemon, clear stale git
  // locks, then either finish an interrupted handoff (a replace that converges) or relaunch
  // the orchestrator recorded active.
  void recover_project(const std::string& id);
  // After the scan: finish an interrupted handoff, or relaunch what was active.
  void decide_recovery(const std::string& id, const std::map<std::string, std::string>& env,
                       bool has_leftovers, const std::string& stable_admin);
  void end_scan(const std::string& id);

 public:
  // Runs fn now, or once start-up recovery's scan of the project is done.
  void when_scanned(ProjectState& p, std::function<void()> fn);

 private:
  void start_persist();
  void on_activity_tick();

  struct ActivityTrack {
    Activity now;
    ScreenActivity screen;
    bool has_hook = false;         // claude reported through its hooks: the screen is not asked
    bool has_turn_signal = false;  // codex's notify reported a turn's end: idle comes from it
  };
  std::map<std::string, ActivityTrack> activity_;  // by session id
  runtime::Timer* activity_timer_ = nullptr;
  static constexpr std::uint64_t kActivityTickMs = 1000;

  // True (and recovery of `project` stopped) when the test-only fault point is armed.
  bool recovery_faulted(const std::string& project, std::string_view point);

  static constexpr int kMaxRelaunches = 5;
  static constexpr std::uint64_t kRelaunchWindowMs = 10 * 60 * 1000;

  runtime::Daemon& daemon_;
  std::map<std::string, std::string> start_env_;
  StoreData store_;
  std::map<std::string, std::vector<std::uint64_t>> relaunches_;  // project → times (ms)
  std::map<std::string, ProjectState> projects_;
  bool is_saving_ = false;
  bool is_shutting_down_ = false;
  bool needs_save_ = false;
  std::vector<std::function<void(tl::expected<void, std::string>)>> waiting_;  // for the next save
  std::vector<std::function<void(tl::expected<void, std::string>)>> in_flight_;
};

std::string now_iso8601();
// Start time of a process from /proc/<pid>/stat (field 22), 0 when it is gone.
std::uint64_t process_start_time(long pid);

}  // namespace baton::plugin
