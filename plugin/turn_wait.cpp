#include "plugin/turn_wait.hpp"

#include <sys/stat.h>

#include "plugin/off_loop.hpp"

namespace baton::plugin {

namespace {

long seconds_since(std::chrono::steady_clock::time_point t) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t)
          .count());
}

}  // namespace

bool reports_turns(const AgentSpec& agent, const ActivityTracker& activity,
                   const std::string& session_id) {
  if (agent.kind == AgentKind::kCodex || agent.kind == AgentKind::kClaude) return true;
  return activity.has_reported(session_id);
}

// ---- TurnWait

TurnWait::TurnWait(Orchestrator& orch, std::string session_id)
    : orch_(orch), session_id_(std::move(session_id)) {}

TurnWait::~TurnWait() {
  stop();
}

void TurnWait::start(std::uint64_t timeout_ms, std::uint64_t tick_ms, TickFn tick, DoneFn done) {
  tick_fn_ = std::move(tick);
  done_ = std::move(done);
  started_ = std::chrono::steady_clock::now();
  runtime::Session* live = orch_.daemon().find_session_exact(session_id_);
  if (!live || !live->is_running()) return finish(WaitEnd::kExited, ActivitySource::kExit);
  if (const Activity* now = orch_.activity().get(session_id_);
      now && (now->state == ActivityState::kIdle || now->state == ActivityState::kExited))
    return on_activity(*now);
  listener_ = orch_.on_activity([this](const std::string& id, const Activity& now) {
    if (id == session_id_) on_activity(now);
  });
  timeout_ = runtime::make_owned<runtime::Timer>(orch_.loop());
  timeout_->start(timeout_ms, [this] { finish(WaitEnd::kTimedOut, ActivitySource::kLaunch); });
  tick_ = runtime::make_owned<runtime::Timer>(orch_.loop());
  tick_->start(
      tick_ms,
      [this] {
        if (tick_fn_) tick_fn_(orch_.activity().get(session_id_), seconds_since(started_));
      },
      tick_ms);
  if (tick_fn_) tick_fn_(orch_.activity().get(session_id_), 0);
}

void TurnWait::skip() {
  finish(WaitEnd::kSkipped, ActivitySource::kLaunch);
}

void TurnWait::on_activity(const Activity& now) {
  if (now.state == ActivityState::kIdle) return finish(WaitEnd::kDone, now.source);
  if (now.state == ActivityState::kExited) return finish(WaitEnd::kExited, now.source);
}

void TurnWait::stop() {
  if (listener_ != 0) orch_.remove_activity_listener(listener_);
  listener_ = 0;
  timeout_.reset();
  tick_.reset();
  tick_fn_ = nullptr;
}

void TurnWait::finish(WaitEnd end, ActivitySource source) {
  stop();
  // Moved out first: `done` may destroy this wait.
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(end, source);
}

// ---- NoteWait

NoteWait::NoteWait(Orchestrator& orch, std::string session_id, std::string note_path)
    : orch_(orch), session_id_(std::move(session_id)), note_path_(std::move(note_path)) {}

NoteWait::~NoteWait() {
  stop();
}

void NoteWait::start(std::uint64_t timeout_ms, std::uint64_t tick_ms, TickFn tick, DoneFn done) {
  tick_fn_ = std::move(tick);
  done_ = std::move(done);
  started_ = std::chrono::steady_clock::now();
  last_change_ = started_;
  alive_ = std::make_shared<NoteWait*>(this);
  listener_ = orch_.on_activity([this](const std::string& id, const Activity& now) {
    if (id != session_id_) return;
    if (now.state == ActivityState::kExited) return finish(WaitEnd::kExited);
    if (now.state == ActivityState::kIdle) {
      has_turn_ended_ = true;
      look();
    }
  });
  timeout_ = runtime::make_owned<runtime::Timer>(orch_.loop());
  timeout_->start(timeout_ms, [this] { finish(WaitEnd::kTimedOut); });
  tick_ = runtime::make_owned<runtime::Timer>(orch_.loop());
  tick_->start(
      tick_ms,
      [this] {
        if (tick_fn_) tick_fn_(seconds_since(started_));
      },
      tick_ms);
  poll_ = runtime::make_owned<runtime::Timer>(orch_.loop());
  poll_->start(
      kPollMs, [this] { look(); }, kPollMs);
}

void NoteWait::skip() {
  finish(WaitEnd::kSkipped);
}

// One look at a time, off the loop: a note on a slow disk must not stall the daemon.
void NoteWait::look() {
  if (is_looking_ || !alive_) return;
  is_looking_ = true;
  std::weak_ptr<NoteWait*> alive = alive_;
  run_off_loop<FileSeen>(
      orch_.loop(),
      [path = note_path_] {
        FileSeen seen;
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return seen;
        seen.exists = true;
        seen.size = static_cast<std::uintmax_t>(st.st_size);
        seen.mtime_ns =
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        return seen;
      },
      [alive](FileSeen seen) {
        if (auto self = alive.lock()) (*self)->on_seen(seen);
      });
}

void NoteWait::on_seen(FileSeen seen) {
  is_looking_ = false;
  const auto now = std::chrono::steady_clock::now();
  if (!(seen == last_)) {
    last_ = seen;
    last_change_ = now;
  }
  if (!seen.exists) return;
  const bool is_settled = now - last_change_ >= std::chrono::milliseconds(kSettledMs);
  if (has_turn_ended_ || is_settled) finish(WaitEnd::kDone);
}

void NoteWait::stop() {
  if (listener_ != 0) orch_.remove_activity_listener(listener_);
  listener_ = 0;
  timeout_.reset();
  tick_.reset();
  poll_.reset();
  tick_fn_ = nullptr;
  alive_.reset();
}

void NoteWait::finish(WaitEnd end) {
  stop();
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(end);
}

}  // namespace baton::plugin
