// What a worker's spawn and finish (worker_spawn.cpp, worker_finish.cpp) share as runs: their
// owner, the project, the progress lines, the repository they hold (Workers::when_git_free)
// and the one answer they give. Internal to those two files.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "plugin/workers.hpp"

namespace baton::plugin {

template <typename Result>
class WorkerRun {
 public:
  using DoneFn = std::function<void(Expected<Result>)>;
  WorkerRun(const WorkerRun&) = delete;
  WorkerRun& operator=(const WorkerRun&) = delete;

 protected:
  WorkerRun(Orchestrator& orch, Workers& workers, std::string project, ProgressFn progress,
            DoneFn done)
      : orch_(orch),
        workers_(workers),
        project_(std::move(project)),
        progress_(std::move(progress)),
        done_(std::move(done)) {
    if (!progress_) progress_ = [](const std::string&, const std::string&) {};
  }
  ~WorkerRun() = default;

  // The repository is this run's until release_git (once, whatever happens after).
  void hold_git() { holds_git_ = true; }
  void release_git() {
    if (!holds_git_) return;
    holds_git_ = false;
    workers_.end_git_work(project_);
  }
  // The one answer: the repository let go first, so what waited runs.
  void answer(Expected<Result> out) {
    release_git();
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(out));
  }

  Orchestrator& orch_;
  Workers& workers_;
  const std::string project_;
  ProgressFn progress_;

 private:
  DoneFn done_;
  bool holds_git_ = false;
};

}  // namespace baton::plugin
