// The daemon's projects and its session store: what every part of the orchestrator plugin
// reads and writes (the orchestrator, start-up recovery, the handoff, the control methods).
// It persists the store (DESIGN.md §5: every transition on disk before the next step) and
// answers "which project is this": by id, by session id, or by a path inside the project.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "git/repository.hpp"
#include "plugin/config.hpp"
#include "plugin/session_store.hpp"
#include "runtime/uv_handles.hpp"

namespace baton::plugin {

class Retirement;
class BackgroundJob;

// A handoff whose new agent is inside its launch grace, as the orchestrator sees it: which
// session it watches, and how to end the watch at shutdown. The handoff (above) implements
// it, so the orchestrator needs no handoff header.
class LaunchWatch {
 public:
  virtual const std::string& new_session() const = 0;
  // Ends the watch without a fallback (the daemon is shutting down).
  virtual void end_launch_grace(const std::string& launch_error) = 0;

 protected:
  ~LaunchWatch() = default;
};

// What the project's standby (plugin/standby.hpp) is doing, for `status`.
enum class StandbyState { kOff, kPreparing, kReady, kFailed };
std::string_view standby_state_name(StandbyState state);

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
  std::string launch_error;  // the last failed launch (fell back to the previous agent)
  // The handoff or `down` holding the project, if any. A handoff holds it past its reply,
  // until its retired trees are deleted (docs/orchestrator.md, launch): no other handoff's
  // retire or sweep may touch .trash-* and the admin entries meanwhile.
  std::shared_ptr<Retirement> handoff;
  // `up`, `replace` and `down` that arrived while `handoff` had replied and only deleted its
  // retired trees: each runs again, in order, once the project is free.
  std::vector<std::function<void()>> after_handoff;
  // The handoff whose new agent is inside its launch grace: an exit there is the handoff's
  // (fallback), not a crash to relaunch.
  std::shared_ptr<LaunchWatch> launch_watch;
  // A handoff failed after the stop and no agent could be started again: launch_error says
  // what to run.
  bool is_stuck = false;
  bool is_recovering = false;
  // Start-up recovery is clearing stale git locks: a handoff started now could lose a lock it
  // just took, so commands that start one wait in after_scan until the scan is done.
  bool is_scanning = false;
  std::vector<std::function<void()>> after_scan;
  // A crashed orchestrator comes back after a back-off; owned here, closed at shutdown.
  runtime::Owned<runtime::Timer> relaunch_timer;
  // A stuck cleanup (a retired tree aside that could not be deleted) is retried with back-off.
  runtime::Owned<runtime::Timer> cleanup_timer;
  unsigned cleanup_attempts = 0;
  bool is_cleaning = false;
  // What `${VAR}` in [env] reads and the agent starts with: the environment of the last `up`,
  // `replace` or `down` for this project, else (a project restored at start-up) the daemon's
  // own. In memory only: it may hold secrets, and no file under BATON_HOME gets them.
  std::map<std::string, std::string> env;
  // The standby (plugin/standby.hpp): its state and why it is off or failed, its job off the
  // loop (a cancel flag the job reads, and who waits for it to end), and the follow timer.
  StandbyState standby_state = StandbyState::kOff;
  std::string standby_reason;
  std::uint64_t standby_bytes = 0;
  // Its index, read after its checkout or follow, so the handoff that takes it does not read
  // it inside the gap (use_index reads it again if it changed since).
  git::SharedIndex standby_index;
  // The config key and session number a preparation failed with: not tried again until
  // either changes (a config edit, a handoff).
  std::string standby_failed_for;
  bool is_standby_busy = false;
  std::shared_ptr<BackgroundJob> standby_job;  // its checkout or follow, while it runs
  // A standby whose checkout ended while a handoff waited for it: taken as it is, the
  // handoff runs its post_create.
  std::string standby_checked_out;
  // Its job runs post_create in the tree: a handoff does not wait for a hook (the job gives
  // up when it ends).
  bool is_standby_in_hook = false;
  std::shared_ptr<std::atomic<bool>> standby_cancel;
  std::vector<std::function<void()>> after_standby_job;
  runtime::Owned<runtime::Timer> standby_timer;
  // Test builds: the fault point (plugin/fault.hpp) of the `up` or `replace` whose handoff
  // ended last, which arms the standby prepared after it, once.
  std::map<std::string, std::string> standby_fault_env;
  // A worker's spawn or finish holds the repository's git work (docs/workers.md): a handoff,
  // the standby and another spawn or finish wait for it in after_worker_op, and it waits for
  // them (Workers::when_git_free). Describes the operation, for a progress line.
  std::string worker_op;
  std::vector<std::function<void()>> after_worker_op;
  runtime::Owned<runtime::FsEvent> config_watch;  // the repository root, for baton*.toml
  runtime::Owned<runtime::Timer> config_debounce;

  // A handoff or `down` runs and has not replied yet: health `replacing`, no crash relaunch,
  // no message typed. False while a handoff that replied deletes its retired trees in the
  // background: its new agent runs, and is an orchestrator like any other.
  bool is_handing_off() const;
};

class ProjectRegistry {
 public:
  using SavedFn = std::function<void(tl::expected<void, std::string>)>;

  ProjectRegistry(uv_loop_t* loop, std::string state_dir);
  ProjectRegistry(const ProjectRegistry&) = delete;
  ProjectRegistry& operator=(const ProjectRegistry&) = delete;

  StoreData& store() { return store_; }
  // Persists the store atomically off the loop; `then` runs once this state is on disk.
  // Saves are serialised, so an older snapshot never lands after a newer one.
  void persist(SavedFn then);

  ProjectState* find(const std::string& id);
  // Registers project `id` at `path` (a new one starts with the environment `env`), or moves
  // a known one to `path`; the store's record follows.
  ProjectState& add(const std::string& id, const std::string& path,
                    const std::map<std::string, std::string>& env);
  std::map<std::string, ProjectState>& projects() { return projects_; }
  // Resolves TARGET (a project id, a session id, or a path inside a project or one of its
  // worktrees) to a registered project; paths are matched without touching git.
  ProjectState* resolve(const std::string& target);
  // The worker TARGET names: its session id, PROJECT/NAME, or a path inside its tree
  // (<root>/<project>/workers/<name>); nullptr for anything else (docs/workers.md).
  SessionRecord* resolve_worker(const std::string& target);

  // The project's orchestrator sessions: never a worker (DESIGN.md §9). Every selection of
  // "the orchestrator" (health, newest_active, the handoff's retire, recovery) reads these.
  std::vector<const SessionRecord*> sessions_of(const std::string& project) const;
  // The project's workers (docs/workers.md), finished ones included.
  std::vector<SessionRecord*> workers_of(const std::string& project);
  // The worker called `name` that is not finished, or nullptr.
  SessionRecord* live_worker(const std::string& project, const std::string& name);
  SessionRecord* session(const std::string& id);
  // Drops all but the newest kRetiredKept retired records of a project. Every persist writes
  // the whole store, so a record kept per handoff forever made each save, and the heap it
  // leaves in the worker threads' arenas, grow with the number of handoffs. A preserved
  // commit stays reachable from its ref (`baton preserved ls` reads the refs, not records).
  // Returns the handoff notes the dropped records named that no kept record names: the
  // caller deletes them off the loop.
  std::vector<std::string> forget_old_retired(const std::string& project);
  static constexpr std::size_t kRetiredKept = 20;

 private:
  void start_persist();

  uv_loop_t* loop_;
  std::string state_dir_;
  StoreData store_;
  std::map<std::string, ProjectState> projects_;
  bool is_saving_ = false;
  bool needs_save_ = false;
  std::vector<SavedFn> waiting_;  // for the next save
  std::vector<SavedFn> in_flight_;
};

}  // namespace baton::plugin
