// Feeds a session's output to its screen model on a thread of its own. libvterm's screen
// layer parses ~14 MB/s where a PTY moves ~90 MB/s (DESIGN.md §8); parsed on the loop, it
// would hold the loop while the child blocks on a full PTY buffer, pacing every byte to the
// model's speed. Here the loop only appends to an inbox; the worker parses in small batches
// and the Screen resynchronises lossily when it falls too far behind.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "runtime/screen.hpp"

namespace baton::runtime {

class ScreenFeeder {
 public:
  static constexpr std::size_t kBatchBytes = 64u << 10;
  // The worker lets output gather for up to this long (or this many bytes) before it parses:
  // a flood then reaches it in large batches, of which Screen::pump skips all but the last
  // screenful of plain lines. Nothing waits for it: capture, repaint and query answers take
  // the inbox themselves.
  static constexpr std::chrono::milliseconds kGatherTime{10};
  static constexpr std::size_t kGatherBytes = 256u << 10;

  ScreenFeeder(int rows, int cols);
  ~ScreenFeeder();
  ScreenFeeder(const ScreenFeeder&) = delete;
  ScreenFeeder& operator=(const ScreenFeeder&) = delete;

  // Loop thread: never parses, never waits for a parse.
  void push(std::string_view bytes);

  // Runs fn on the screen after it parsed every byte pushed so far (capture, repaint,
  // resize, answering a query). Holds the worker off meanwhile.
  template <typename Fn>
  auto with_screen(Fn&& fn) {
    std::lock_guard<std::mutex> s(screen_mu_);
    take_inbox_locked();
    screen_.catch_up();
    return fn(screen_);
  }
  // Runs fn on the screen as far as the worker has parsed, without taking the bytes still
  // queued for it: for a look every second (activity prompts) that must not make the loop
  // parse a flood's backlog each time.
  template <typename Fn>
  auto with_screen_as_is(Fn&& fn) {
    std::lock_guard<std::mutex> s(screen_mu_);
    return fn(screen_);
  }

 private:
  void run();
  void take_inbox_locked();

  Screen screen_;
  std::mutex screen_mu_;  // guards screen_
  std::mutex inbox_mu_;   // guards inbox_ and is_stopping_
  std::condition_variable cv_;
  std::string inbox_;
  // The previous batch, kept (with its capacity) to become the next inbox: a flood does not
  // reallocate and page-fault a fresh buffer for every batch. Guarded by screen_mu_.
  std::string batch_;
  bool is_stopping_ = false;
  std::thread worker_;
};

}  // namespace baton::runtime
