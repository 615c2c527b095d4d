#include "runtime/child_reaper.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <vector>

namespace baton::runtime {

int exit_status_from_wait(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

ChildReaper::ChildReaper(uv_loop_t* loop) : signal_(make_owned<Signal>(loop)) {
  signal_->start(SIGCHLD, [this](int) { reap(); });
}

void ChildReaper::close() {
  signal_.reset();
}

void ChildReaper::watch(pid_t pid, ExitFn on_exit) {
  // Never reaped here: the caller is still wiring its exit callbacks. A child that already
  // exited is reaped on the next loop turn, when libuv delivers its SIGCHLD to our watcher.
  watched_[pid] = std::move(on_exit);
}

void ChildReaper::forget(pid_t pid) {
  watched_.erase(pid);
}

void ChildReaper::reap() {
  std::vector<std::pair<pid_t, int>> exited;
  for (const auto& [pid, fn] : watched_) {
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid) exited.emplace_back(pid, status);
  }
  for (auto [pid, status] : exited) {
    auto it = watched_.find(pid);
    if (it == watched_.end()) continue;
    ExitFn fn = std::move(it->second);
    watched_.erase(it);
    if (fn) fn(pid, status);
  }
}

}  // namespace baton::runtime
