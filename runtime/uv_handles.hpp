// libuv handles owned the uvw way: each handle lives inside exactly one non-copyable,
// non-movable object that sets handle.data = this and is freed only in its close callback.
// Objects are created with make() and released with close(), which is idempotent and drops
// the callback at once, so an owner that goes away never gets called back. An owner keeps
// its handle in an Owned<T>, which closes it on reset and destruction: closing a timer at
// shutdown is the member's type's job, not a call someone has to remember.
#pragma once

#include <uv.h>

#include <unistd.h>

#include <functional>
#include <string>
#include <utility>

namespace baton::runtime {

namespace detail {

// The callback a handle forwards its event to. Called through a copy: the callback may close
// its own handle (dropping the stored one) and must still run to its end.
template <typename Signature>
class CallbackSlot {
 public:
  using Callback = std::function<Signature>;
  void set(Callback cb) { cb_ = std::move(cb); }
  void drop() { cb_ = nullptr; }
  template <typename... Args>
  void operator()(Args&&... args) const {
    if (!cb_) return;
    auto cb = cb_;
    cb(std::forward<Args>(args)...);
  }

 private:
  Callback cb_;
};

// A handle whose owner handles its events itself (a connection, the control server).
template <>
class CallbackSlot<void> {
 public:
  using Callback = void;
  void drop() {}
};

}  // namespace detail

// Signature is the callback's type (void() for a timer), or void for a handle without one.
template <typename Derived, typename UvT, typename Signature = void>
class HandleBase {
 public:
  using Callback = typename detail::CallbackSlot<Signature>::Callback;

  HandleBase(const HandleBase&) = delete;
  HandleBase& operator=(const HandleBase&) = delete;
  HandleBase(HandleBase&&) = delete;
  HandleBase& operator=(HandleBase&&) = delete;

  void close() {
    callback_.drop();
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
  [[no_unique_address]] detail::CallbackSlot<Signature> callback_;

 private:
  static void on_close_cb(uv_handle_t* h) { delete self(h); }
};

// The one owner of a handle made with T::make(): move-only, and closing the handle (T's own
// close()) on reset() and on destruction, so the handle is closed exactly once and the owner
// is never called back after it let go. The pointer is null once closed.
template <typename T>
class Owned {
 public:
  Owned() = default;
  explicit Owned(T* handle) : handle_(handle) {}
  ~Owned() { reset(); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) reset(std::exchange(other.handle_, nullptr));
    return *this;
  }

  // Closes the handle held (if any) and holds `handle` instead.
  void reset(T* handle = nullptr) {
    // Cleared before the close: a close that calls back into the owner sees it gone.
    T* old = std::exchange(handle_, handle);
    if (old) old->close();
  }
  T* get() const { return handle_; }
  T* operator->() const { return handle_; }
  T& operator*() const { return *handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  T* handle_ = nullptr;
};

template <typename T, typename... Args>
Owned<T> make_owned(Args&&... args) {
  return Owned<T>(T::make(std::forward<Args>(args)...));
}

class Timer final : public HandleBase<Timer, uv_timer_t, void()> {
 public:
  static Timer* make(uv_loop_t* loop) { return new Timer(loop); }
  void start(uint64_t timeout_ms, Callback cb, uint64_t repeat_ms = 0) {
    callback_.set(std::move(cb));
    uv_timer_start(&handle_, on_timer_cb, timeout_ms, repeat_ms);
  }
  void stop() { uv_timer_stop(&handle_); }

 private:
  friend HandleBase;
  explicit Timer(uv_loop_t* loop) { uv_timer_init(loop, &handle_); }
  ~Timer() = default;
  static void on_timer_cb(uv_timer_t* t) { self(t)->callback_(); }
};

// Wakes the loop from another thread: send() is the one call another thread may make, and
// only while the handle is open (its owner guarantees that; see plugin/off_loop.hpp).
class Async final : public HandleBase<Async, uv_async_t, void()> {
 public:
  static Async* make(uv_loop_t* loop, Callback cb) { return new Async(loop, std::move(cb)); }
  void send() { uv_async_send(&handle_); }

 private:
  friend HandleBase;
  Async(uv_loop_t* loop, Callback cb) {
    callback_.set(std::move(cb));
    uv_async_init(loop, &handle_, on_async_cb);
  }
  ~Async() = default;
  static void on_async_cb(uv_async_t* a) { self(a)->callback_(); }
};

// Runs a callback once per loop iteration while started (batch work after I/O).
class Idle final : public HandleBase<Idle, uv_idle_t, void()> {
 public:
  static Idle* make(uv_loop_t* loop, Callback cb) { return new Idle(loop, std::move(cb)); }
  void start() { uv_idle_start(&handle_, on_idle_cb); }
  void stop() { uv_idle_stop(&handle_); }
  bool is_active() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&handle_)); }

 private:
  friend HandleBase;
  Idle(uv_loop_t* loop, Callback cb) {
    callback_.set(std::move(cb));
    uv_idle_init(loop, &handle_);
  }
  ~Idle() = default;
  static void on_idle_cb(uv_idle_t* h) { self(h)->callback_(); }
};

// Readiness of a raw fd (the PTY master): the owner reads and writes it itself, so it sees
// EIO and EAGAIN exactly and can drain it after the child is reaped (DESIGN.md §8).
// The Poll owns the fd and closes it only after the handle is closed: closing it earlier
// would let libuv's epoll removal hit whatever file reuses the number.
class Poll final : public HandleBase<Poll, uv_poll_t, void(int status, int events)> {
 public:
  static Poll* make(uv_loop_t* loop, int fd, Callback cb) {
    return new Poll(loop, fd, std::move(cb));
  }
  void start(int events) { uv_poll_start(&handle_, events, on_poll_cb); }
  void stop() { uv_poll_stop(&handle_); }
  int fd() const { return fd_; }

 private:
  friend HandleBase;
  Poll(uv_loop_t* loop, int fd, Callback cb) : fd_(fd) {
    callback_.set(std::move(cb));
    uv_poll_init(loop, &handle_, fd);
  }
  ~Poll() { ::close(fd_); }
  static void on_poll_cb(uv_poll_t* h, int status, int events) {
    self(h)->callback_(status, events);
  }
  int fd_;
};

class Signal final : public HandleBase<Signal, uv_signal_t, void(int signum)> {
 public:
  static Signal* make(uv_loop_t* loop) { return new Signal(loop); }
  void start(int signum, Callback cb) {
    callback_.set(std::move(cb));
    uv_signal_start(&handle_, on_signal_cb, signum);
  }

 private:
  friend HandleBase;
  explicit Signal(uv_loop_t* loop) { uv_signal_init(loop, &handle_); }
  ~Signal() = default;
  static void on_signal_cb(uv_signal_t* h, int signum) { self(h)->callback_(signum); }
};

// Changes in a directory. Watch the directory, never the file: an editor's or `sed -i`'s
// rename-over kills a watch on the file itself (DESIGN.md §8).
class FsEvent final : public HandleBase<FsEvent, uv_fs_event_t, void(const std::string& filename)> {
 public:
  static FsEvent* make(uv_loop_t* loop) { return new FsEvent(loop); }
  int start(const std::string& dir, Callback cb) {
    callback_.set(std::move(cb));
    return uv_fs_event_start(&handle_, on_event_cb, dir.c_str(), 0);
  }

 private:
  friend HandleBase;
  explicit FsEvent(uv_loop_t* loop) { uv_fs_event_init(loop, &handle_); }
  ~FsEvent() = default;
  static void on_event_cb(uv_fs_event_t* h, const char* filename, int /*events*/, int status) {
    self(h)->callback_(std::string(status < 0 || !filename ? "" : filename));
  }
};

}  // namespace baton::runtime
