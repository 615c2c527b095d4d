// Runs blocking work (git, fsync, config parsing) on libuv's thread pool and continues on
// the loop thread: the loop never blocks (DESIGN.md §8).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

namespace baton::plugin {

// `work` runs on a pool thread and must not touch loop-owned state; `after` runs on the loop.
void run_off_loop(uv_loop_t* loop, std::function<void()> work, std::function<void()> after);

// As run_off_loop, but `work` runs in a thread of its own at idle CPU and I/O priority (nice
// 19, the idle I/O class), which a pool thread could not drop back from: background work (the
// standby's checkout) yields to the agents and to a handoff's own steps.
void run_off_loop_idle(uv_loop_t* loop, std::function<void()> work, std::function<void()> after);

template <typename T>
void run_off_loop_idle(uv_loop_t* loop, std::function<T()> work, std::function<void(T)> after) {
  auto result = std::make_shared<T>();
  run_off_loop_idle(
      loop, [work = std::move(work), result] { *result = work(); },
      [after = std::move(after), result] { after(std::move(*result)); });
}

// Runs work off the loop and hands its result to `after` on the loop.
template <typename T>
void run_off_loop(uv_loop_t* loop, std::function<T()> work, std::function<void(T)> after) {
  auto result = std::make_shared<T>();
  run_off_loop(
      loop, [work = std::move(work), result] { *result = work(); },
      [after = std::move(after), result] { after(std::move(*result)); });
}

}  // namespace baton::plugin
