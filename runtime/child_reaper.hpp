// One SIGCHLD watcher that reaps only the pids it was told about (never waitpid(-1): libuv
// and the hook runner reap their own children; DESIGN.md §8).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <map>

#include "runtime/uv_handles.hpp"

namespace baton::runtime {

class ChildReaper {
 public:
  // status is the raw wait status.
  using ExitFn = std::function<void(pid_t pid, int status)>;

  explicit ChildReaper(uv_loop_t* loop);
  ChildReaper(const ChildReaper&) = delete;
  ChildReaper& operator=(const ChildReaper&) = delete;

  void watch(pid_t pid, ExitFn on_exit);
  void forget(pid_t pid);
  // Reaps every watched pid that has exited; called on SIGCHLD and usable on demand.
  void reap();
  // Closes the SIGCHLD watcher before the loop's last run (destruction closes it too).
  void close();

 private:
  Owned<Signal> signal_;
  std::map<pid_t, ExitFn> watched_;
};

// Exit status as a shell reports it: the code, or 128 + the signal.
int exit_status_from_wait(int wait_status);

}  // namespace baton::runtime
