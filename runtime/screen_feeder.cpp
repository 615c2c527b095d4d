#include "runtime/screen_feeder.hpp"

namespace baton::runtime {

ScreenFeeder::ScreenFeeder(int rows, int cols) : screen_(rows, cols), worker_([this] { run(); }) {}

ScreenFeeder::~ScreenFeeder() {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    is_stopping_ = true;
  }
  cv_.notify_one();
  worker_.join();
}

namespace {

// A batch buffer keeps its capacity between batches unless a burst left it this large.
constexpr std::size_t kKeepCapacityBytes = 1u << 20;

}  // namespace

void ScreenFeeder::push(std::string_view bytes) {
  bool should_notify;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    const std::size_t before = inbox_.size();
    inbox_.append(bytes);
    // Once when the inbox stops being empty (the worker starts gathering) and once when it
    // holds a full batch (the worker stops gathering).
    should_notify = before == 0 || (before < kGatherBytes && inbox_.size() >= kGatherBytes);
  }
  if (should_notify) cv_.notify_one();
}

void ScreenFeeder::take_inbox_locked() {
  batch_.clear();
  if (batch_.capacity() > kKeepCapacityBytes) std::string().swap(batch_);
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    batch_.swap(inbox_);
  }
  // Screen::push resynchronises when its backlog passes the limit, so memory stays bounded
  // however far behind the parse is.
  if (!batch_.empty()) screen_.push(batch_);
}

void ScreenFeeder::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> l(inbox_mu_);
      cv_.wait(l, [this] { return is_stopping_ || !inbox_.empty(); });
      cv_.wait_for(l, kGatherTime,
                   [this] { return is_stopping_ || inbox_.size() >= kGatherBytes; });
      if (is_stopping_) return;
    }
    // Small batches, the lock released between them, so a capture or an attach waits for at
    // most one batch (a few ms).
    for (;;) {
      std::lock_guard<std::mutex> s(screen_mu_);
      take_inbox_locked();
      if (!screen_.has_backlog()) break;
      screen_.pump(kBatchBytes);
    }
  }
}

}  // namespace baton::runtime
