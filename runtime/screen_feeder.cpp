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

void ScreenFeeder::push(std::string_view bytes) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    was_empty = inbox_.empty();
    inbox_.append(bytes);
  }
  if (was_empty) cv_.notify_one();
}

void ScreenFeeder::take_inbox_locked() {
  std::string batch;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    batch.swap(inbox_);
  }
  // Screen::push resynchronises when its backlog passes the limit, so memory stays bounded
  // however far behind the parse is.
  if (!batch.empty()) screen_.push(batch);
}

void ScreenFeeder::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> l(inbox_mu_);
      cv_.wait(l, [this] { return is_stopping_ || !inbox_.empty(); });
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
