#include "runtime/session.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>

#include "runtime/iso_time.hpp"

namespace baton::runtime {

namespace {

constexpr std::size_t kReadChunkBytes = 64u << 10;
// Bounded per poll callback so one chatty session cannot starve the loop.
constexpr int kReadsPerWakeup = 16;
// Between the two halves of the redraw nudge: long enough for the program to see a change.
constexpr std::uint64_t kRedrawNudgeMs = 50;

std::atomic<Session::ExitListener> next_exit_listener{1};

}  // namespace

tl::expected<std::unique_ptr<Session>, std::string> Session::start(uv_loop_t* loop,
                                                                   const HolderSite& site,
                                                                   SessionSpec spec) {
  const std::string created_at = iso8601_now();
  HolderSite held_site = site;
  held_site.buffer_bytes = spec.holder_buffer;
  auto held = spawn_held(held_site, spec.id, created_at, spec.spawn);
  if (!held) return tl::make_unexpected(held.error());
  return std::unique_ptr<Session>(new Session(loop, std::move(spec), *held, created_at));
}

std::unique_ptr<Session> Session::adopt(uv_loop_t* loop, const AdoptedHolder& adopted) {
  SessionSpec spec;
  spec.id = adopted.hello.id;
  spec.spawn.argv = adopted.hello.argv;
  spec.spawn.cwd = adopted.hello.cwd;
  // The size the last daemon left on the terminal, not the one the holder started with.
  struct winsize ws {};
  if (ioctl(adopted.process.master_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    spec.spawn.rows = ws.ws_row;
    spec.spawn.cols = ws.ws_col;
  }
  auto s = std::unique_ptr<Session>(
      new Session(loop, std::move(spec), adopted.process, adopted.hello.created_at));
  s->is_adopted_ = true;
  std::string marker;
  if (adopted.hello.dropped > 0) {
    marker = "\r\n[baton: " + std::to_string(adopted.hello.dropped) +
             " bytes of output were dropped while no daemon ran]\r\n";
  }
  // All the holder kept stays in the scrollback, even when its ring is larger than ours.
  s->scrollback_limit_ = std::max(kScrollbackBytes, marker.size() + adopted.output.size());
  // The holder answered the queries in this output already: replayed, they go unanswered.
  s->is_replaying_ = true;
  if (!marker.empty()) s->deliver(marker);
  if (!adopted.output.empty()) s->deliver(adopted.output);
  s->is_replaying_ = false;
  // The holder may drop its copy only now that the output is ours.
  send_holder_message(s->held_.link_fd, HolderMessage::kAdopted, "");
  if (!adopted.hello.has_exited) s->nudge_redraw();
  return s;
}

Session::Session(uv_loop_t* loop, SessionSpec spec, const HeldProcess& held, std::string created_at)
    : loop_(loop),
      spec_(std::move(spec)),
      held_(held),
      pid_(held.pid),
      poll_(make_owned<Poll>(loop, held.master_fd, [this](int s, int e) { on_poll(s, e); })),
      link_(make_owned<Poll>(loop, held.link_fd, [this](int s, int e) { on_link(s, e); })),
      created_at_(std::move(created_at)),
      screen_(spec_.spawn.rows, spec_.spawn.cols) {
  screen_.with_screen([this](Screen& screen) {
    screen.set_output([this](std::string_view answer) {
      if (is_answering_queries_) write_input(answer);
    });
    return 0;
  });
  poll_->start(UV_READABLE);
  // Read until EAGAIN in on_link: never a blocking read on the loop.
  fcntl(held.link_fd, F_SETFL, fcntl(held.link_fd, F_GETFL) | O_NONBLOCK);
  link_->start(UV_READABLE | UV_DISCONNECT);
}

Session::~Session() {
  if (!has_exited_) {
    // Last resort (the daemon normally stops sessions and waits): never leave an agent
    // behind. The holder kills the process group, reaps it and exits.
    if (link_) send_holder_message(link_->fd(), HolderMessage::kKill, "");
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
  }
  for (auto& c : clients_) c.client->on_session_exit(exit_status_);
}

void Session::on_link(int status, int events) {
  if (status < 0) return on_holder_lost();
  if (!(events & (UV_READABLE | UV_DISCONNECT))) return;
  for (;;) {
    int err = 0;
    auto msg = receive_holder_message(link_->fd(), &err);
    if (!msg) {
      if (err == EAGAIN) return;
      return on_holder_lost();
    }
    if (msg->type != HolderMessage::kExit || has_exited_) continue;
    int wait_status = 0;
    const auto& p = msg->payload;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), wait_status);
    if (ec != std::errc() || end != p.data() + p.size()) return on_holder_lost();
    on_child_exit(wait_status);
    return;
  }
}

void Session::on_holder_lost() {
  link_.reset();
  // A holder that exits removes its socket; one killed outright leaves it behind.
  if (!held_.socket_path.empty()) unlink(held_.socket_path.c_str());
  if (has_exited_) return;
  // The kernel sent the agent SIGHUP when its holder died; that is its exit as far as anyone
  // can tell (its real status went with the holder).
  kill(-pid_, SIGHUP);
  on_child_exit(SIGHUP);
}

void Session::nudge_redraw() {
  // A full-screen program redraws on SIGWINCH, but only when the size changed: one column
  // less, then the real size back (tmux does the same on attach). The screen the new daemon
  // shows is then the program's own, not the tail of what it printed while no one watched.
  const auto rows = spec_.spawn.rows;
  const auto cols = spec_.spawn.cols;
  if (!poll_ || cols < 2) return;
  pty_resize(poll_->fd(), rows, static_cast<unsigned short>(cols - 1));
  redraw_timer_ = make_owned<Timer>(loop_);
  redraw_timer_->start(kRedrawNudgeMs, [this, rows, cols] {
    if (poll_ && !has_exited_ && spec_.spawn.rows == rows && spec_.spawn.cols == cols)
      pty_resize(poll_->fd(), rows, cols);
  });
}

void Session::on_poll(int status, int events) {
  if (status < 0) {
    // EBADF and friends: the master is unusable, the same as EIO.
    is_reading_ = false;
    poll_->stop();
    return;
  }
  if (events & UV_READABLE) read_master();
  if (events & UV_WRITABLE) flush_input();
}

void Session::read_master() {
  char buf[kReadChunkBytes];
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    if (should_pause()) {
      pause_reading();
      return;
    }
    const ssize_t n = read(poll_->fd(), buf, sizeof buf);
    if (n > 0) {
      deliver(std::string_view(buf, static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // EOF and EIO both mean every slave fd is closed (DESIGN.md §8).
    is_reading_ = false;
    poll_->start(input_.empty() ? 0 : UV_WRITABLE);
    if (input_.empty()) poll_->stop();
    return;
  }
}

bool Session::should_pause() const {
  // Clients already waiting for a repaint do not count: they hold nothing back.
  bool has_reader = false;
  for (const auto& c : clients_) {
    if (c.client->is_lagging()) continue;
    if (c.client->backlog_bytes() < kPauseBacklogBytes) return false;
    has_reader = true;
  }
  return has_reader;
}

void Session::pause_reading() {
  if (is_paused_ || !poll_) return;
  is_paused_ = true;
  if (input_.empty()) {
    poll_->stop();
  } else {
    poll_->start(UV_WRITABLE);
  }
  if (!stall_timer_) stall_timer_ = make_owned<Timer>(loop_);
  stall_timer_->start(kStallMs, [this] { on_stall(); });
}

void Session::on_stall() {
  for (auto& c : clients_) {
    if (c.client->backlog_bytes() >= kPauseBacklogBytes) c.client->drop_backlog();
  }
  resume_reading();
}

void Session::resume_reading() {
  if (!is_paused_) return;
  is_paused_ = false;
  if (stall_timer_) stall_timer_->stop();
  if (!poll_ || !is_reading_) return;
  poll_->start(UV_READABLE | (input_.empty() ? 0 : UV_WRITABLE));
}

void Session::on_client_drained() {
  if (!is_paused_) return;
  if (!should_pause()) {
    resume_reading();
  } else if (stall_timer_) {
    // A slow client that still makes progress is waited for; only one that wrote nothing for
    // kStallMs is stalled.
    stall_timer_->start(kStallMs, [this] { on_stall(); });
  }
}

void Session::deliver(std::string_view bytes) {
  output_bytes_ += bytes.size();
  auto chunk = std::make_shared<const std::string>(bytes);
  // Clients first: the screen model must never pace the bytes they get.
  for (auto& c : clients_) c.client->on_session_output(chunk);

  // Trimmed in halves so appending stays amortised O(1).
  ring_.append(bytes);
  if (ring_.size() > 2 * scrollback_limit_) ring_.erase(0, ring_.size() - scrollback_limit_);

  // A query (cursor position, device attributes) is answered by the attached writable
  // client's terminal; without one, the screen model answers it now, not when its worker
  // gets to it (codex aborts when its cursor-position query goes unanswered). Pushed under
  // the screen lock, so the worker cannot parse it first with answers off.
  if (queries_.scan(*chunk) && !has_writable_client() && !is_replaying_) {
    screen_.with_screen([this, &chunk](Screen& screen) {
      is_answering_queries_ = true;
      screen.push(*chunk);
      screen.catch_up();
      is_answering_queries_ = false;
      return 0;
    });
  } else {
    screen_.push(*chunk);
  }
}

void Session::catch_up_screen() {
  screen_.with_screen([](Screen&) { return 0; });
}

std::string Session::scrollback() const {
  if (ring_.size() <= scrollback_limit_) return ring_;
  return ring_.substr(ring_.size() - scrollback_limit_);
}

void Session::write_input(std::string_view bytes) {
  if (has_exited_ || bytes.empty()) return;
  const bool was_empty = input_.empty();
  input_.append(bytes);
  if (was_empty) flush_input();
}

void Session::write_client_input(std::string_view bytes) {
  if (bytes.empty()) return;
  // uv_now is never 0 once the loop ran, so 0 stays "never".
  last_client_input_ms_ = std::max<std::uint64_t>(uv_now(loop_), 1);
  write_input(bytes);
}

std::uint64_t Session::ms_since_client_input() const {
  if (last_client_input_ms_ == 0) return UINT64_MAX;
  const std::uint64_t now = uv_now(loop_);
  return now > last_client_input_ms_ ? now - last_client_input_ms_ : 0;
}

bool Session::is_bracketed_paste() {
  return screen_.with_screen([](Screen& screen) { return screen.modes().bracketed_paste(); });
}

void Session::flush_input() {
  while (!input_.empty()) {
    const ssize_t n = write(poll_->fd(), input_.data(), input_.size());
    if (n > 0) {
      input_.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    input_.clear();  // the terminal is gone; nobody will read this
    break;
  }
  int events = is_reading_ && !is_paused_ ? UV_READABLE : 0;
  if (!input_.empty()) events |= UV_WRITABLE;
  if (events) {
    poll_->start(events);
  } else {
    poll_->stop();
  }
}

void Session::on_child_exit(int wait_status) {
  exit_status_ = exit_status_from_wait(wait_status);
  // Debian's libuv 1.44 can signal the end of a PTY before its last bytes were read, and the
  // child may exit between two wakeups: drain the master now so no byte is lost (§8).
  if (is_reading_) {
    char buf[kReadChunkBytes];
    for (;;) {
      const ssize_t n = read(poll_->fd(), buf, sizeof buf);
      if (n > 0) {
        deliver(std::string_view(buf, static_cast<std::size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;
    }
  }
  finish();
}

void Session::finish() {
  has_exited_ = true;
  is_reading_ = false;
  input_.clear();
  stop_timer_.reset();
  stall_timer_.reset();
  is_paused_ = false;
  // Closing the master hangs up whatever still holds the slave (a backgrounded grandchild)
  // once the holder, told the status is collected, exits and closes its copy too.
  poll_.reset();
  redraw_timer_.reset();
  if (link_) send_holder_message(link_->fd(), HolderMessage::kCollected, "");
  link_.reset();
  // No catch-up here: parsing a backlog on the loop would delay every client's exit frame
  // and every other session; capture and repaint catch up when they are asked for.
  auto clients = clients_;
  clients_.clear();
  size_owner_ = nullptr;
  for (auto& c : clients) c.client->on_session_exit(exit_status_);
  // A listener may remove another (or itself): each runs only while it is still registered.
  std::vector<ExitListener> listeners;
  for (const auto& [listener, fn] : exit_fns_) listeners.push_back(listener);
  for (const ExitListener listener : listeners) {
    auto it = std::find_if(exit_fns_.begin(), exit_fns_.end(),
                           [listener](const auto& l) { return l.first == listener; });
    if (it == exit_fns_.end()) continue;
    auto fn = it->second;
    fn(*this);
  }
}

Session::ExitListener Session::on_exit(ExitFn fn) {
  const ExitListener listener = next_exit_listener++;
  exit_fns_.emplace_back(listener, std::move(fn));
  return listener;
}

void Session::remove_exit_listener(ExitListener listener) {
  std::erase_if(exit_fns_, [listener](const auto& l) { return l.first == listener; });
}

void Session::stop(std::uint64_t grace_ms) {
  if (has_exited_ || stop_timer_) return;
  stop_timer_ = make_owned<Timer>(loop_);
  kill(-pid_, SIGHUP);
  // The loop's clock is the one cached when this iteration began: without the update, the
  // agent's grace to exit cleanly would be shorter by whatever ran before in this iteration.
  uv_update_time(loop_);
  stop_timer_->start(grace_ms, [this, grace_ms] {
    kill(-pid_, SIGTERM);
    uv_update_time(loop_);
    stop_timer_->start(grace_ms, [this] {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
    });
  });
}

bool Session::has_writable_client() const {
  return std::any_of(clients_.begin(), clients_.end(),
                     [](const Client& c) { return c.is_writable; });
}

void Session::attach(SessionClient* client, bool is_writable, int rows, int cols) {
  clients_.push_back(Client{client, is_writable, rows, cols});
  if (is_writable && size_owner_ == nullptr && !has_exited_) {
    size_owner_ = client;
    if (rows > 0 && cols > 0) apply_size(rows, cols);
  }
}

void Session::detach(SessionClient* client) {
  auto it = std::find_if(clients_.begin(), clients_.end(),
                         [client](const Client& c) { return c.client == client; });
  if (it == clients_.end()) return;
  clients_.erase(it);
  on_client_drained();
  if (size_owner_ != client) return;
  size_owner_ = nullptr;
  // Queries that passed while the client's terminal was answering must not be answered a
  // second time by the model later: parse them now with answers off.
  catch_up_screen();
  for (auto& c : clients_) {
    if (!c.is_writable) continue;
    size_owner_ = c.client;
    if (c.rows > 0 && c.cols > 0) apply_size(c.rows, c.cols);
    break;
  }
}

void Session::resize(SessionClient* client, int rows, int cols) {
  for (auto& c : clients_) {
    if (c.client != client) continue;
    c.rows = rows;
    c.cols = cols;
  }
  if (client == size_owner_) apply_size(rows, cols);
}

void Session::apply_size(int rows, int cols) {
  if (rows <= 0 || cols <= 0 || rows > 10000 || cols > 10000) return;
  if (rows == spec_.spawn.rows && cols == spec_.spawn.cols) return;
  screen_.with_screen([rows, cols](Screen& screen) {
    screen.resize(rows, cols);
    return 0;
  });
  spec_.spawn.rows = static_cast<unsigned short>(rows);
  spec_.spawn.cols = static_cast<unsigned short>(cols);
  if (poll_)
    pty_resize(poll_->fd(), static_cast<unsigned short>(rows), static_cast<unsigned short>(cols));
}

std::string Session::render() {
  return screen_.with_screen([](Screen& screen) { return screen.render(); });
}

std::vector<std::string> Session::peek_capture() {
  return screen_.with_screen_as_is([](Screen& screen) { return screen.capture(false); });
}

std::vector<std::string> Session::capture(bool join_wrapped) {
  return screen_.with_screen(
      [join_wrapped](Screen& screen) { return screen.capture(join_wrapped); });
}

}  // namespace baton::runtime
