// A stuck cleanup (health `stuck`: a retiring session whose tree, already renamed aside, could
// not be deleted — an immutable file) is finished here without a handoff of the healthy
// orchestrator: the trash is deleted off the loop and the session marked retired, retried
// after 1 s, 2 s, 4 s … (at most kMaxDelayMs apart) until it succeeds, and whenever `status`
// is asked. A handoff or recovery under way finishes the same sessions itself.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "plugin/project_registry.hpp"
#include "runtime/daemon.hpp"

namespace baton::plugin {

class CleanupRetry {
 public:
  static constexpr std::uint64_t kMaxDelayMs = 60 * 1000;

  CleanupRetry(uv_loop_t* loop, ProjectRegistry& registry, runtime::Daemon& daemon);
  CleanupRetry(const CleanupRetry&) = delete;
  CleanupRetry& operator=(const CleanupRetry&) = delete;

  // Tries the project's stuck cleanups once now; `then` runs on the loop after.
  void retry(const std::string& project, const std::function<void()>& then = nullptr);
  // Retries after the next back-off; a no-op when nothing is stuck or a retry is pending.
  void schedule(const std::string& project);
  // Shutdown: closes the pending retries' timers and starts no new one.
  void stop();

 private:
  uv_loop_t* loop_;
  ProjectRegistry& registry_;
  runtime::Daemon& daemon_;
  bool is_stopped_ = false;
};

}  // namespace baton::plugin
