// The orchestrator's team (docs/workers.md): worker agents, each on a branch
// (baton/<prefix>-<name>) and in a worktree (<project dir>/workers/<name>) of its own, spawned
// and finished on request (`baton spawn`, `baton finish`, usually run by the orchestrator
// agent itself). Workers are sessions of role worker: no selection of "the orchestrator"
// sees them, and no handoff touches them. Here: the spawn (worker_spawn.cpp), the finish
// (worker_finish.cpp), and what the team needs besides (this file's .cpp): git work on one
// repository one at a time, a crashed worker's relaunch with back-off, and the one-line
// messages that tell the orchestrator when a worker waits, ends its turn or exits.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "plugin/activity.hpp"
#include "plugin/error_code.hpp"
#include "plugin/worker_standby.hpp"
#include "plugin/worker_steps.hpp"
#include "runtime/uv_handles.hpp"

namespace baton::plugin {

class Orchestrator;
struct ProjectState;
struct SessionRecord;

struct SpawnRequest {
  std::string name;
  std::string agent;   // "" = [workers] agent, else the orchestrator's
  std::string base;    // "" = the canonical branch's tip
  std::string prompt;  // the worker's initial prompt
  bool reuse_branch = false;
  std::map<std::string, std::string> env;  // the `baton` command's environment
};

struct Spawned {
  std::string id;
  std::string name;
  std::string branch;
  std::string worktree;
  long pid = 0;
  std::vector<std::string> notes;
};

struct FinishRequest {
  std::string name;
  bool delete_branch = false;
  bool is_now = false;  // no wait for the worker's turn to end
  std::map<std::string, std::string> env;
};

struct Finished {
  std::string id;
  FinishedWorker tree;
};

using ProgressFn = std::function<void(const std::string& step, const std::string& detail)>;

class Workers {
 public:
  explicit Workers(Orchestrator& orch);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  using SpawnedFn = std::function<void(Expected<Spawned>)>;
  void spawn(const std::string& project, SpawnRequest req, ProgressFn progress, SpawnedFn done);
  using FinishedFn = std::function<void(Expected<Finished>)>;
  void finish(const std::string& project, FinishRequest req, ProgressFn progress, FinishedFn done);

  // The next worker's tree, prepared ahead (worker_standby.hpp).
  WorkerStandby& standby() { return standby_; }

  // Start-up recovery found the worker in the middle of its spawn (recorded, no restore
  // marker) or its finish (retiring): the operation runs again to its end. A spawn whose agent
  // a living holder kept is done: its restore marker is persisted.
  void resume(const std::string& session_id);

  // Runs fn once no handoff, standby job, start-up scan or other spawn or finish of the
  // project works in its repository, holding it for fn's operation (`what`, for a progress
  // line) until end_git_work. A project that is gone, or a daemon that is leaving, gets fn
  // with false.
  void when_git_free(const std::string& project, const std::string& what,
                     const std::function<void(bool is_free)>& fn);
  void end_git_work(const std::string& project);

  // A worker's agent exited outside a finish: recorded exited with its last lines, the
  // orchestrator told, and a crash (status not 0) relaunched with back-off like the
  // orchestrator's (relaunch_backoff.hpp).
  void on_exit(SessionRecord& rec, int exit_status, std::vector<std::string> last_lines);
  // A finish whose tree could not be deleted (kStuck: an immutable file) is tried again after
  // 1 s, 2 s, 4 s … (at most kMaxRetryDelayMs apart) until it succeeds, as the orchestrator's
  // stuck cleanup is.
  void schedule_finish_retry(const std::string& session_id);
  static constexpr std::uint64_t kMaxRetryDelayMs = 60 * 1000;

  // A worker's activity changed: a turn that ended or a question that waits is told to the
  // orchestrator once it has held for kNotifySettleMs ([workers] notify_orchestrator).
  void on_activity(const std::string& session_id, const Activity& now);
  // Shutdown: every timer.
  void close();

  // A finished worker: its pending notice, relaunch and retry go, and what was kept of it.
  void forget(const std::string& session_id);
  // Its timers: notices waiting to be told, relaunches and finish retries pending (`baton
  // debug waits`: a finished worker leaves none).
  std::size_t pending_count() const {
    return notify_timers_.size() + relaunch_timers_.size() + retry_timers_.size();
  }

  static constexpr std::uint64_t kNotifySettleMs = 2000;

 private:
  void relaunch(const std::string& session_id);
  // The spawn of a worker already recorded, from its tree on (worker_spawn.cpp).
  void resume_spawn(const std::string& session_id);
  void notify(const std::string& session_id, const std::string& what);

  Orchestrator& orch_;
  WorkerStandby standby_;
  bool is_closed_ = false;
  std::map<std::string, runtime::Owned<runtime::Timer>> relaunch_timers_;  // by worker id
  std::map<std::string, std::vector<std::uint64_t>> relaunches_;           // by worker id
  std::map<std::string, runtime::Owned<runtime::Timer>> notify_timers_;    // by worker id
  std::map<std::string, runtime::Owned<runtime::Timer>> retry_timers_;     // by worker id
  std::map<std::string, unsigned> retries_;                                // by worker id
  // The last thing told of each worker ("waits", "idle"): told once until it works again.
  std::map<std::string, std::string> told_;
};

}  // namespace baton::plugin
