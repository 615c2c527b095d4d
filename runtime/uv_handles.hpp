// libuv handles owned the uvw way: each handle lives inside exactly one non-copyable,
// non-movable object that sets handle.data = this and is freed only in its close callback.
// Objects are created with make() and released with close(), which is idempotent and drops
// the callback at once, so an owner that goes away never gets called back.
#pragma once

#include <uv.h>

#include <unistd.h>

#include <functional>
#include <string>
#include <utility>

namespace baton::runtime {

template <typename Derived, typename UvT>
class HandleBase {
 public:
  HandleBase(const HandleBase&) = delete;
  HandleBase& operator=(const HandleBase&) = delete;
  HandleBase(HandleBase&&) = delete;
  HandleBase& operator=(HandleBase&&) = delete;

  void close() {
    auto* h = reinterpret_cast<uv_handle_t*>(&handle_);
    if (!uv_is_closing(h)) uv_close(h, on_close_cb);
  }
  UvT* raw() { return &handle_; }

 protected:
  // data points at this base, and self() casts it down in the callbacks. A cast to Derived
  // here would be undefined (UBSan's vptr check): the object is not a Derived yet. Casting
  // through the base keeps the right address even when a polymorphic base comes first.
  HandleBase() { handle_.data = static_cast<HandleBase*>(this); }
  ~HandleBase() = default;
  template <typename H>
  static Derived* self(H* h) {
    return static_cast<Derived*>(static_cast<HandleBase*>(h->data));
  }
  UvT handle_{};

 private:
  static void on_close_cb(uv_handle_t* h) { delete self(h); }
};

class Timer final : public HandleBase<Timer, uv_timer_t> {
 public:
  using Callback = std::function<void()>;
  static Timer* make(uv_loop_t* loop) { return new Timer(loop); }
  void start(uint64_t timeout_ms, Callback cb, uint64_t repeat_ms = 0) {
    cb_ = std::move(cb);
    uv_timer_start(&handle_, on_timer_cb, timeout_ms, repeat_ms);
  }
  void stop() { uv_timer_stop(&handle_); }
  void close() {
    cb_ = nullptr;
    HandleBase::close();
  }

 private:
  friend class HandleBase<Timer, uv_timer_t>;
  explicit Timer(uv_loop_t* loop) { uv_timer_init(loop, &handle_); }
  ~Timer() = default;
  static void on_timer_cb(uv_timer_t* t) { self(t)->on_timer(); }
  void on_timer() {
    if (cb_) {
      auto cb = cb_;  // the callback may close this timer
      cb();
    }
  }
  Callback cb_;
};

// Runs a callback once per loop iteration while started (batch work after I/O).
class Idle final : public HandleBase<Idle, uv_idle_t> {
 public:
  using Callback = std::function<void()>;
  static Idle* make(uv_loop_t* loop, Callback cb) { return new Idle(loop, std::move(cb)); }
  void start() { uv_idle_start(&handle_, on_idle_cb); }
  void stop() { uv_idle_stop(&handle_); }
  bool is_active() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&handle_)); }
  void close() {
    cb_ = nullptr;
    HandleBase::close();
  }

 private:
  friend class HandleBase<Idle, uv_idle_t>;
  Idle(uv_loop_t* loop, Callback cb) : cb_(std::move(cb)) { uv_idle_init(loop, &handle_); }
  ~Idle() = default;
  static void on_idle_cb(uv_idle_t* h) { self(h)->on_idle(); }
  void on_idle() {
    if (cb_) {
      auto cb = cb_;
      cb();
    }
  }
  Callback cb_;
};

// Readiness of a raw fd (the PTY master): the owner reads and writes it itself, so it sees
// EIO and EAGAIN exactly and can drain it after the child is reaped (DESIGN.md §8).
// The Poll owns the fd and closes it only after the handle is closed: closing it earlier
// would let libuv's epoll removal hit whatever file reuses the number.
class Poll final : public HandleBase<Poll, uv_poll_t> {
 public:
  using Callback = std::function<void(int status, int events)>;
  static Poll* make(uv_loop_t* loop, int fd, Callback cb) {
    return new Poll(loop, fd, std::move(cb));
  }
  void start(int events) { uv_poll_start(&handle_, events, on_poll_cb); }
  void stop() { uv_poll_stop(&handle_); }
  int fd() const { return fd_; }
  void close() {
    cb_ = nullptr;
    HandleBase::close();
  }

 private:
  friend class HandleBase<Poll, uv_poll_t>;
  Poll(uv_loop_t* loop, int fd, Callback cb) : fd_(fd), cb_(std::move(cb)) {
    uv_poll_init(loop, &handle_, fd);
  }
  ~Poll() { ::close(fd_); }
  static void on_poll_cb(uv_poll_t* h, int status, int events) { self(h)->on_poll(status, events); }
  void on_poll(int status, int events) {
    if (cb_) {
      auto cb = cb_;
      cb(status, events);
    }
  }
  int fd_;
  Callback cb_;
};

class Signal final : public HandleBase<Signal, uv_signal_t> {
 public:
  using Callback = std::function<void(int signum)>;
  static Signal* make(uv_loop_t* loop) { return new Signal(loop); }
  void start(int signum, Callback cb) {
    cb_ = std::move(cb);
    uv_signal_start(&handle_, on_signal_cb, signum);
  }
  void close() {
    cb_ = nullptr;
    HandleBase::close();
  }

 private:
  friend class HandleBase<Signal, uv_signal_t>;
  explicit Signal(uv_loop_t* loop) { uv_signal_init(loop, &handle_); }
  ~Signal() = default;
  static void on_signal_cb(uv_signal_t* h, int signum) { self(h)->on_signal(signum); }
  void on_signal(int signum) {
    if (cb_) {
      auto cb = cb_;
      cb(signum);
    }
  }
  Callback cb_;
};

// Changes in a directory. Watch the directory, never the file: an editor's or `sed -i`'s
// rename-over kills a watch on the file itself (DESIGN.md §8).
class FsEvent final : public HandleBase<FsEvent, uv_fs_event_t> {
 public:
  using Callback = std::function<void(const std::string& filename)>;
  static FsEvent* make(uv_loop_t* loop) { return new FsEvent(loop); }
  int start(const std::string& dir, Callback cb) {
    cb_ = std::move(cb);
    return uv_fs_event_start(&handle_, on_event_cb, dir.c_str(), 0);
  }
  void close() {
    cb_ = nullptr;
    HandleBase::close();
  }

 private:
  friend class HandleBase<FsEvent, uv_fs_event_t>;
  explicit FsEvent(uv_loop_t* loop) { uv_fs_event_init(loop, &handle_); }
  ~FsEvent() = default;
  static void on_event_cb(uv_fs_event_t* h, const char* filename, int /*events*/, int status) {
    self(h)->on_event(status < 0 || !filename ? "" : filename);
  }
  void on_event(const std::string& filename) {
    if (cb_) {
      auto cb = cb_;
      cb(filename);
    }
  }
  Callback cb_;
};

}  // namespace baton::runtime
