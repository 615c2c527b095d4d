// The next worker's tree, prepared ahead (docs/workers.md, "The next worker's tree"): once a
// project has spawned a worker, a checkout at <project dir>/workers/.standby on a temporary
// branch at the canonical tip waits under a reserved worker id, made in the background at
// idle priority with the repository held (Workers::when_git_free). A spawn from the canonical
// tip takes it (make_worker_tree: follow, branch, rename) instead of checking out the whole
// tree. It follows `[orchestrator] standby` ("off" makes none) and is discarded when its
// record and its tree disagree after a daemon kill.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace baton::plugin {

class Orchestrator;
class Workers;
class BackgroundJob;

class WorkerStandby {
 public:
  WorkerStandby(Orchestrator& orch, Workers& workers);
  WorkerStandby(const WorkerStandby&) = delete;
  WorkerStandby& operator=(const WorkerStandby&) = delete;

  // Prepares the project's next worker tree when it has none, has spawned a worker before,
  // its config is allowed and keeps a standby, and nothing works in its repository now.
  void refresh(const std::string& project);
  // The ready standby's id for a spawn to take, forgotten by the store (the caller persists
  // the worker under that id); "" when none is ready.
  std::string take(const std::string& project);
  // A preparation under way stops where it can: a spawn, a finish or a handoff wants the
  // repository.
  void cancel(const std::string& project);
  // Start-up: a recorded standby whose tree is there and ready is kept; any other tree at
  // workers/.standby, and a record without its tree, are discarded.
  void recover(const std::string& project);
  void close();

  static constexpr const char* kOperation = "the preparation of the next worker's tree";

 private:
  void prepare(const std::string& project);
  void discard(const std::string& project);
  // Its number goes back when nothing took a later one.
  void give_back_number(const std::string& project, const std::string& id);

  Orchestrator& orch_;
  Workers& workers_;
  bool is_closed_ = false;
  std::map<std::string, std::shared_ptr<BackgroundJob>> jobs_;  // by project
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> cancels_;
  // Why the last preparation failed (unfit, an error): not tried again until a spawn.
  std::map<std::string, std::string> failed_;
  std::set<std::string> waiting_;  // projects whose orchestrator standby job it waits for
};

}  // namespace baton::plugin
