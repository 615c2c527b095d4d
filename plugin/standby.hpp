// The standby (docs/orchestrator.md, "The standby"): after `up` and after every handoff,
// the next orchestrator's worktree is prepared in the background at <project dir>/.standby,
// under a session id reserved in the store, and follows the canonical branch while it moves.
// A `replace` then has no checkout: it takes the standby (a rename) instead of preparing a
// tree. Every step runs off the loop, the slow ones at idle priority; a handoff, `down` and
// start-up recovery hold the project, and the standby waits for them (a running job is
// cancelled where it can be, and waited for). A daemon killed anywhere converges: a tree at
// .standby that no ready record names is discarded and prepared again, never used, and never
// counts as a leftover of a handoff.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "plugin/config.hpp"
#include "plugin/project_registry.hpp"
#include "plugin/session_store.hpp"

namespace baton::plugin {

class Orchestrator;

// What the standby was prepared with: the canonical branch, symlinks, post_create and the
// configured agent. A standby recorded with another key is rebuilt.
std::string standby_config_key(const ProjectConfig& cfg);

class Standby {
 public:
  // How often a ready standby checks that it is at the canonical branch's tip.
  static constexpr std::uint64_t kFollowIntervalMs = 10'000;

  explicit Standby(Orchestrator& orch);
  Standby(const Standby&) = delete;
  Standby& operator=(const Standby&) = delete;

  // Brings the project's standby to what its config asks: prepared, followed, rebuilt or
  // removed. A no-op while a handoff, `down`, recovery or another standby job holds the
  // project; each of them calls it again when it ends, and so does a timer.
  void refresh(const std::string& project);
  // The standby a handoff of `project` may take: ready, prepared with `config_key`, and
  // holding `number`, the next session number. Null otherwise.
  const StandbyRecord* usable(const std::string& project, const std::string& config_key,
                              unsigned number);
  // Whether a standby job (prepare, follow, discard) runs for the project.
  bool is_busy(const std::string& project);
  // A handoff arrives: asks the running job, if any, to stop after its step. True when the
  // handoff should wait for it (when_idle): a checkout (taken as it is when it ends: no
  // longer than a checkout of the handoff's own) or a follow; false when no job runs, or it
  // runs post_create, which may take minutes: the handoff goes on without the standby, which
  // the job then discards.
  bool cancel_unless_quick(const std::string& project);
  // Asks the running job, if any, to stop after its step, and runs `then` on the loop once
  // none runs.
  void when_idle(const std::string& project, std::function<void()> then);
  // `down`: the standby is discarded; `then` runs once it is gone (or could not be deleted,
  // which the log says).
  void remove(const std::string& project, std::function<void()> then);
  // Shutdown: cancels the jobs, closes the timers, starts nothing new.
  void stop();

 private:
  void prepare(const std::string& project, const ProjectConfig& cfg);
  void run_post_create(const std::string& project, const ProjectConfig& cfg, std::size_t i);
  void become_ready(const std::string& project, std::uint64_t bytes);
  // A job that did not end ready: its pieces are discarded, the record and its number given
  // back, and the state says why.
  void give_up(const std::string& project, const std::string& id, StandbyState state,
               const std::string& reason);
  void follow(const std::string& project, const ProjectConfig& cfg);
  // Discards the recorded standby (and any tree at .standby), clears the record, then `then`.
  void discard(const std::string& project, const ProjectConfig& cfg, std::function<void()> then);
  void give_back_number(const std::string& project, const std::string& id);
  void start_job(const std::string& project);
  void end_job(const std::string& project);
  void arm_timer(const std::string& project);
  bool faulted(const std::string& project, const std::map<std::string, std::string>& env,
               std::string_view point);
  std::string failure_key(const std::string& project, const ProjectConfig& cfg);

  Orchestrator& orch_;
  bool is_stopped_ = false;
  // Set at shutdown: a checkout still planning its writes stops (prepare_standby).
  std::shared_ptr<std::atomic<bool>> abandoned_;
};

}  // namespace baton::plugin
