// Start-up recovery (DESIGN.md §5; docs/orchestrator.md "Recovery and fault points"): for
// each project of the store, stop the agents that outlived the daemon, clear stale git locks
// in baton's own worktrees and refs, then either finish an interrupted handoff (a handoff
// that converges) or relaunch the orchestrator recorded active. It works on the project
// registry and the store, and asks its owner, through RecoveryHost, for what only the owner
// does: read a config, launch an agent, start a handoff.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "plugin/agent_launch.hpp"
#include "plugin/config.hpp"
#include "plugin/project_registry.hpp"
#include "plugin/session_store.hpp"

namespace baton::plugin {

using Environment = std::map<std::string, std::string>;
using ConfigFn = std::function<void(tl::expected<ProjectConfig, std::string>)>;
using PreparedFn = std::function<void(tl::expected<PreparedLaunch, std::string>)>;

// What recovery asks of the orchestrator that owns it.
class RecoveryHost {
 public:
  // Reads the project's config off the loop; keeps the last good one when it fails.
  virtual void reload_config(ProjectState& p, const Environment& env, ConfigFn then) = 0;
  // The two halves of a launch: its files written off the loop, then the spawn on it.
  virtual void prepare_launch(const SessionRecord& rec, const ProjectConfig& cfg,
                              const Environment& env, bool resume, PreparedFn then) = 0;
  virtual tl::expected<void, std::string> spawn(SessionRecord& rec,
                                                const PreparedLaunch& launch) = 0;
  // Starts the handoff that converges `project` on one orchestrator running `agent` (a
  // failure is logged: nobody waits for it).
  virtual void resume_handoff(const std::string& project, const std::string& agent,
                              const Environment& env) = 0;
  // The runtime has a session of this id (running or kept for its last screen).
  virtual bool has_session(const std::string& id) = 0;
  virtual bool is_leaving() = 0;  // the daemon is shutting down
  // The project's recovery ended without a handoff (which, when it runs, ends the same way):
  // what waited for it (the standby) goes on.
  virtual void recovered(const std::string& project) = 0;
  // A worker a daemon left in the middle of its spawn or finish: the same operation is run
  // again to its end (workers.hpp, Workers::resume).
  virtual void resume_worker(const std::string& session_id) = 0;
  // The project's workers were looked at: the next worker's tree is checked (kept or
  // discarded) after what resumed.
  virtual void workers_recovered(const std::string& project) = 0;

 protected:
  ~RecoveryHost() = default;
};

class Recovery {
 public:
  Recovery(uv_loop_t* loop, ProjectRegistry& registry, RecoveryHost& host);
  Recovery(const Recovery&) = delete;
  Recovery& operator=(const Recovery&) = delete;

  // Recovers one project of the loaded store; the project is `replacing` until it is done.
  void recover(const std::string& project);

 private:
  // After the scan: finish an interrupted handoff, or relaunch what was active.
  void decide(const std::string& project, const Environment& env, bool has_leftovers,
              const std::string& stable_admin);
  // Sessions recorded active with a restore marker come back, with the agent's resume command.
  void restore_sessions(const std::string& project);
  // Workers recorded active whose agent is gone come back, whatever the orchestrator does;
  // a spawn or finish a daemon left half done is finished.
  void restore_workers(const std::string& project);
  void restore(ProjectState& p, const std::string& session_id);
  void end_scan(const std::string& project);
  // True (and recovery of `project` stopped) when the test-only fault point is armed.
  bool faulted(const std::string& project, std::string_view point);

  uv_loop_t* loop_;
  ProjectRegistry& registry_;
  RecoveryHost& host_;
};

// Runs fn now, or once start-up recovery's scan of the project is done (the scan clears stale
// lock files, and would delete a lock a handoff started meanwhile had just taken).
void when_scanned(ProjectState& p, std::function<void()> fn);

}  // namespace baton::plugin
