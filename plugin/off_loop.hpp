// Runs blocking work (git, fsync, config parsing) on libuv's thread pool and continues on
// the loop thread: the loop never blocks (DESIGN.md §8).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "runtime/uv_handles.hpp"

namespace baton::plugin {

// `work` runs on a pool thread and must not touch loop-owned state; `after` runs on the loop.
void run_off_loop(uv_loop_t* loop, std::function<void()> work, std::function<void()> after);

// Runs work off the loop and hands its result to `after` on the loop.
template <typename T>
void run_off_loop(uv_loop_t* loop, std::function<T()> work, std::function<void(T)> after) {
  auto result = std::make_shared<T>();
  run_off_loop(
      loop, [work = std::move(work), result] { *result = work(); },
      [after = std::move(after), result] { after(std::move(*result)); });
}

// Background work that may take minutes (the standby's checkout): on a detached thread of its
// own at idle CPU and I/O priority (nice 19, the idle I/O class, which a pool thread could not
// drop back from), so it yields to the agents and to a handoff's own steps, and never holds
// up the loop's end: abandon() (shutdown) lets the loop finish without it, `after` is then
// never called, and the thread ends on its own or with the process. Its async handle is the
// job's, closed when the job ended or was abandoned.
class BackgroundJob {
 public:
  BackgroundJob(const BackgroundJob&) = delete;
  BackgroundJob& operator=(const BackgroundJob&) = delete;
  ~BackgroundJob();

  static std::shared_ptr<BackgroundJob> start(uv_loop_t* loop, std::function<void()> work,
                                              std::function<void()> after);
  template <typename T>
  static std::shared_ptr<BackgroundJob> start(uv_loop_t* loop, std::function<T()> work,
                                              std::function<void(T)> after) {
    auto result = std::make_shared<T>();
    return start(
        loop, [work = std::move(work), result] { *result = work(); },
        [after = std::move(after), result] { after(std::move(*result)); });
  }
  // `after` will not be called; the loop no longer waits for the thread.
  void abandon();
  // Threads still working, abandoned ones included: a daemon leaving with one running exits
  // without running static destructors under it (plugin/daemon_main.cpp).
  static int running();

 private:
  struct Shared;
  BackgroundJob() = default;
  void on_done();

  std::shared_ptr<Shared> shared_;
  runtime::Owned<runtime::Async> async_;
  std::function<void()> after_;
};

}  // namespace baton::plugin
