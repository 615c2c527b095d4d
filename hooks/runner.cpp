#include "hooks/runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include "runtime/iso_time.hpp"

extern char** environ;

namespace baton::hooks {
namespace {

constexpr std::size_t kTailBytes = 4096;
constexpr std::size_t kTailLines = 20;
constexpr std::size_t kLastLineBytes = 200;
// A grandchild the hook put in the background may hold the output pipe open for ever; the
// run is over this long after the hook itself exited.
constexpr uint64_t kDrainAfterExitMs = 1000;

// Drops bytes from the front of `s` until it starts on a UTF-8 character boundary.
void drop_partial_utf8_prefix(std::string& s) {
  std::size_t i = 0;
  while (i < s.size() && i < 4 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  s.erase(0, i);
}

std::string trim_tail(std::string tail) {
  if (tail.size() > kTailBytes) {
    tail.erase(0, tail.size() - kTailBytes);
    drop_partial_utf8_prefix(tail);
  }
  // Count lines from the end; a final newline does not start another line.
  std::size_t end = tail.size();
  if (end > 0 && tail[end - 1] == '\n') --end;
  std::size_t lines = 0;
  for (std::size_t i = end; i > 0; --i) {
    if (tail[i - 1] == '\n' && ++lines == kTailLines) {
      tail.erase(0, i);
      break;
    }
  }
  return tail;
}

std::string last_nonempty_line(const std::string& text) {
  std::size_t end = text.size();
  while (end > 0) {
    const std::size_t start = text.rfind('\n', end - 1);
    const std::size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(from, end - from);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    std::size_t lead = 0;
    while (lead < line.size() && std::isspace(static_cast<unsigned char>(line[lead]))) ++lead;
    line.erase(0, lead);
    if (!line.empty()) {
      if (line.size() > kLastLineBytes) {
        std::size_t cut = kLastLineBytes;
        while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
        line.resize(cut);
        line += "...";
      }
      return line;
    }
    if (start == std::string::npos) break;
    end = start;
  }
  return {};
}

std::string format_duration(int ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string join_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

// The hooks log, written synchronously from the loop thread. Why not uv_fs_write: the file is
// only ever a regular file (anything else is refused at open, so a FIFO can never block us),
// a write to a regular file lands in the page cache in microseconds, each write is one read's
// worth (at most 64 KiB) and a run writes at most log_limit_bytes in all. Asynchronous writes
// would have to be serialised by hand (two in flight on the thread pool may land out of order
// even with O_APPEND), would compete with the handoff's fsyncs for the 4 pool threads
// (DESIGN.md §8), and would keep the run alive after its result. Nothing here fsyncs: a lost
// log tail after a power cut is acceptable, a stalled loop is not.
class HookLog {
 public:
  HookLog() = default;
  HookLog(const HookLog&) = delete;
  HookLog& operator=(const HookLog&) = delete;
  ~HookLog() {
    if (fd_ >= 0) ::close(fd_);
  }

  // An unusable log (missing directory, not a regular file) is silently skipped: the hook
  // still runs and its tail still reaches the result.
  void open(const std::string& path) {
    if (path.empty()) return;
    // O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader.
    const int fd = ::open(path.c_str(),
                          O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
    if (fd < 0) return;
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return;
    }
    fd_ = fd;
  }

  bool is_open() const { return fd_ >= 0; }

  void write(std::string_view data) {
    while (fd_ >= 0 && !data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A full disk or an I/O error: stop logging this run rather than retry on the loop.
        ::close(fd_);
        fd_ = -1;
        return;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
};

// One run of one hook. It owns its four libuv handles (each with data = this) and is freed
// only in the close callback of the last of them; `done` is called from there, so the caller
// hears of the result only once nothing of the run is left on the loop, and never from inside
// run_hook().
class HookRun {
 public:
  static void start(uv_loop_t* loop, HookRequest req, HookDone done) {
    auto* run = new HookRun(loop, std::move(req), std::move(done));
    run->spawn();
  }

  HookRun(const HookRun&) = delete;
  HookRun& operator=(const HookRun&) = delete;
  HookRun(HookRun&&) = delete;
  HookRun& operator=(HookRun&&) = delete;

 private:
  HookRun(uv_loop_t* loop, HookRequest req, HookDone done)
      : loop_(loop), req_(std::move(req)), done_(std::move(done)) {
    uv_pipe_init(loop_, &pipe_, 0);
    uv_timer_init(loop_, &kill_timer_);
    uv_timer_init(loop_, &drain_timer_);
    pipe_.data = this;
    kill_timer_.data = this;
    drain_timer_.data = this;
    open_handles_ = 3;
    result_.timeout_ms = req_.timeout_ms;
  }
  ~HookRun() = default;

  void spawn() {
    log_.open(req_.log_path);
    if (req_.argv.empty()) {
      fail_to_start("cannot start hook: empty command");
      return;
    }

    // stdout and stderr share one pipe, so the tail keeps their real interleaving. The read
    // end is non-blocking for the loop; the write end stays blocking for the hook. Both are
    // close-on-exec: libuv dup2()s the write end onto the child's 1 and 2.
    uv_file fds[2];
    int err = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
    if (err != 0) {
      fail_to_start("cannot start '" + req_.argv[0] + "': " + std::strerror(-err));
      return;
    }
    const int read_fd = fds[0];
    const int write_fd = fds[1];
    err = uv_pipe_open(&pipe_, read_fd);
    if (err != 0) {
      ::close(read_fd);
      ::close(write_fd);
      fail_to_start("cannot start '" + req_.argv[0] + "': " + std::strerror(-err));
      return;
    }

    std::vector<char*> args;
    args.reserve(req_.argv.size() + 1);
    for (auto& a : req_.argv) args.push_back(a.data());
    args.push_back(nullptr);

    std::vector<std::string> env_strings;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const std::string key(entry.substr(0, entry.find('=')));
      if (req_.env.count(key) == 0) env_strings.emplace_back(entry);
    }
    for (const auto& [key, value] : req_.env)
      env_strings.emplace_back(key).append("=").append(value);
    std::vector<char*> env;
    env.reserve(env_strings.size() + 1);
    for (auto& s : env_strings) env.push_back(s.data());
    env.push_back(nullptr);

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;  // libuv gives fds 0-2 /dev/null when ignored
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = write_fd;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = write_fd;

    uv_process_options_t options{};
    options.exit_cb = on_exit_cb;
    options.file = args[0];
    options.args = args.data();
    options.env = env.data();
    options.cwd = req_.cwd.empty() ? nullptr : req_.cwd.c_str();
    // DETACHED = setsid(): the hook leads its own process group, so a timeout can stop the
    // whole group (the shell and whatever it started), not just the shell.
    options.flags = UV_PROCESS_DETACHED;
    options.stdio_count = 3;
    options.stdio = stdio;

    process_.data = this;
    err = uv_spawn(loop_, &process_, &options);
    // uv_spawn initialises the handle even when it fails, so it is closed either way.
    is_process_open_ = true;
    ++open_handles_;
    ::close(write_fd);  // only the hook (and its children) may hold the write end now
    if (err != 0) {
      fail_to_start("cannot start '" + req_.argv[0] + "': " + std::strerror(-err));
      return;
    }
    pid_ = process_.pid;

    log_.write(runtime::iso8601_now(runtime::TimeZone::kLocal) + " " + req_.event + " " +
               join_argv(req_.argv) + " (pid " + std::to_string(pid_) + ")\n");
    uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), on_alloc_cb, on_read_cb);
    if (req_.timeout_ms > 0) {
      uv_timer_start(&kill_timer_, on_kill_timer_cb, static_cast<uint64_t>(req_.timeout_ms), 0);
    }
  }

  void fail_to_start(std::string message) {
    log_.write(runtime::iso8601_now(runtime::TimeZone::kLocal) + " " + req_.event + " " +
               join_argv(req_.argv) + " (not started)\n" + message + "\n");
    result_.exit_status = -1;
    result_.spawn_error = std::move(message);
    close_all();
  }

  static void on_alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
    static_cast<HookRun*>(h->data)->on_alloc(buf);
  }
  void on_alloc(uv_buf_t* buf) { *buf = uv_buf_init(read_buf_.data(), read_buf_.size()); }

  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    static_cast<HookRun*>(s->data)->on_read(nread, buf);
  }
  void on_read(ssize_t nread, const uv_buf_t* buf) {
    if (nread > 0) {
      take_output(std::string_view(buf->base, static_cast<std::size_t>(nread)));
    } else if (nread < 0) {
      // EOF, or an error that ends the stream just the same.
      is_eof_ = true;
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
      maybe_finish();
    }
  }

  void take_output(std::string_view data) {
    // The tail is bounded: trimmed back to kTailBytes whenever it doubles.
    tail_.append(data.size() > kTailBytes ? data.substr(data.size() - kTailBytes) : data);
    if (tail_.size() > 2 * kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);

    const std::size_t room =
        req_.log_limit_bytes > logged_bytes_ ? req_.log_limit_bytes - logged_bytes_ : 0;
    const std::size_t n = std::min(room, data.size());
    if (n > 0) {
      log_.write(data.substr(0, n));
      logged_bytes_ += n;
      last_logged_ = data[n - 1];
    }
    unlogged_bytes_ += data.size() - n;
  }

  static void on_exit_cb(uv_process_t* p, int64_t exit_status, int term_signal) {
    static_cast<HookRun*>(p->data)->on_exit(exit_status, term_signal);
  }
  void on_exit(int64_t exit_status, int term_signal) {
    is_exited_ = true;
    result_.exit_status = term_signal != 0 ? 128 + term_signal : static_cast<int>(exit_status);
    uv_timer_stop(&kill_timer_);
    if (!is_eof_) uv_timer_start(&drain_timer_, on_drain_timer_cb, kDrainAfterExitMs, 0);
    maybe_finish();
  }

  static void on_kill_timer_cb(uv_timer_t* t) { static_cast<HookRun*>(t->data)->on_kill_timer(); }
  void on_kill_timer() {
    if (!result_.timed_out) {
      result_.timed_out = true;
      uv_kill(-pid_, SIGTERM);
      uv_timer_start(&kill_timer_, on_kill_timer_cb,
                     static_cast<uint64_t>(std::max(req_.kill_grace_ms, 0)), 0);
    } else {
      uv_kill(-pid_, SIGKILL);
    }
  }

  static void on_drain_timer_cb(uv_timer_t* t) { static_cast<HookRun*>(t->data)->on_drain_timer(); }
  void on_drain_timer() {
    is_drain_over_ = true;
    maybe_finish();
  }

  void maybe_finish() {
    if (is_finished_ || !is_exited_ || !(is_eof_ || is_drain_over_)) return;
    is_finished_ = true;
    // A timed-out hook's group goes entirely, grandchildren included. A hook that finished
    // in time may leave a background job running on purpose; it only loses its output pipe.
    if (result_.timed_out) uv_kill(-pid_, SIGKILL);
    write_footer();
    close_all();
  }

  void write_footer() {
    if (!log_.is_open()) return;
    std::string footer;
    if (logged_bytes_ > 0 && last_logged_ != '\n') footer += '\n';
    if (unlogged_bytes_ > 0) {
      // Appended piece by piece: GCC 12 gives a false -Wrestrict at -O3 on `"[" + string`
      // (DESIGN.md §8).
      footer += '[';
      footer += std::to_string(unlogged_bytes_);
      footer += " more bytes of output not logged]\n";
    }
    footer += runtime::iso8601_now(runtime::TimeZone::kLocal) + " " + req_.event + " ";
    footer += result_.timed_out ? "timed out after " + format_duration(req_.timeout_ms) +
                                      ", exit " + std::to_string(result_.exit_status)
                                : "exit " + std::to_string(result_.exit_status);
    footer += " (pid " + std::to_string(pid_) + ")\n";
    log_.write(footer);
  }

  void close_all() {
    result_.output_tail = trim_tail(std::move(tail_));
    tail_.clear();
    close_handle(reinterpret_cast<uv_handle_t*>(&pipe_));
    close_handle(reinterpret_cast<uv_handle_t*>(&kill_timer_));
    close_handle(reinterpret_cast<uv_handle_t*>(&drain_timer_));
    if (is_process_open_) close_handle(reinterpret_cast<uv_handle_t*>(&process_));
  }

  static void close_handle(uv_handle_t* h) {
    if (!uv_is_closing(h)) uv_close(h, on_close_cb);
  }

  static void on_close_cb(uv_handle_t* h) { static_cast<HookRun*>(h->data)->on_close(); }
  void on_close() {
    if (--open_handles_ > 0) return;
    // Free the run before calling back: `done` may run the loop or start another hook.
    HookDone done = std::move(done_);
    HookResult result = std::move(result_);
    delete this;
    if (done) done(std::move(result));
  }

  uv_loop_t* loop_;
  HookRequest req_;
  HookDone done_;
  HookResult result_;
  HookLog log_;

  uv_process_t process_{};
  uv_pipe_t pipe_{};
  uv_timer_t kill_timer_{};
  uv_timer_t drain_timer_{};
  int open_handles_ = 0;
  bool is_process_open_ = false;

  int pid_ = 0;
  bool is_exited_ = false;
  bool is_eof_ = false;
  bool is_drain_over_ = false;
  bool is_finished_ = false;

  std::array<char, std::size_t{64} * 1024> read_buf_{};
  std::string tail_;
  std::size_t logged_bytes_ = 0;
  std::size_t unlogged_bytes_ = 0;
  char last_logged_ = '\n';
};

}  // namespace

std::string HookResult::describe(const std::string& event) const {
  const std::string hook = event + " hook ";
  if (!spawn_error.empty()) return hook + "could not start: " + spawn_error;
  std::string text = timed_out ? hook + "timed out after " + format_duration(timeout_ms)
                               : hook + "exited with status " + std::to_string(exit_status);
  const std::string last = last_nonempty_line(output_tail);
  if (!last.empty()) text += ": " + last;
  return text;
}

void run_hook(uv_loop_t* loop, HookRequest req, HookDone done) {
  HookRun::start(loop, std::move(req), std::move(done));
}

}  // namespace baton::hooks
