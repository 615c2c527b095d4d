// A real libuv loop for in-process runtime tests: run it until a condition holds (a tick timer
// wakes it, so a loop whose only handle is the SIGCHLD watcher never blocks for good), then
// close it once every handle the test owned has been closed.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

namespace baton::runtime::test {

class TestLoop {
 public:
  TestLoop() {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &tick_);
  }
  ~TestLoop() {
    // A test that failed before close(): leave no handle behind for the next one.
    if (!is_closed_) close();
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }

  // Runs the loop until done() holds or timeout_ms passed; returns done().
  bool run_until(const std::function<bool()>& done, int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    uv_timer_start(&tick_, on_tick_cb, kTickMs, kTickMs);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&tick_);
    return done();
  }

  void run_for(int duration_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(duration_ms);
    run_until([until] { return std::chrono::steady_clock::now() >= until; }, duration_ms + 1000);
  }

  // Closes the tick timer and lets every pending close callback run; returns uv_loop_close(),
  // which is UV_EBUSY while any handle of the test is still open.
  int close() {
    is_closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    // Bounded, not UV_RUN_DEFAULT: a handle leaked by the code under test must fail the
    // test, not hang it.
    for (int i = 0; i < 100 && uv_loop_alive(&loop_); ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    return uv_loop_close(&loop_);
  }

 private:
  static constexpr std::uint64_t kTickMs = 5;
  static void on_tick_cb(uv_timer_t*) {}

  uv_loop_t loop_{};
  uv_timer_t tick_{};
  bool is_closed_ = false;
};

}  // namespace baton::runtime::test
