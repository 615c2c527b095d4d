#include "plugin/off_loop.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace baton::plugin {

namespace {

struct Work {
  uv_work_t req{};
  std::function<void()> work;
  std::function<void()> after;
};

void on_work_cb(uv_work_t* req) {
  static_cast<Work*>(req->data)->work();
}

void on_after_work_cb(uv_work_t* req, int /*status*/) {
  std::unique_ptr<Work> w(static_cast<Work*>(req->data));
  if (w->after) w->after();
}

}  // namespace

void run_off_loop(uv_loop_t* loop, std::function<void()> work, std::function<void()> after) {
  auto* w = new Work{};
  w->req.data = w;
  w->work = std::move(work);
  w->after = std::move(after);
  uv_queue_work(loop, &w->req, on_work_cb, on_after_work_cb);
}

namespace {

std::atomic<int> g_running_jobs{0};

void lower_own_priority() {
  // Both are per thread on Linux; a failure leaves the default priority, which is safe.
  constexpr int kIdleNice = 19;
  constexpr int kIoprioWhoProcess = 1;
  constexpr int kIoprioClassIdle = 3;
  constexpr int kIoprioClassShift = 13;
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  (void)::setpriority(PRIO_PROCESS, tid, kIdleNice);
  (void)::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, kIoprioClassIdle << kIoprioClassShift);
}

}  // namespace

// What the thread and the loop share: the thread wakes the loop only while the job is neither
// done nor abandoned, both decided under the mutex, so it never touches a closed handle.
struct BackgroundJob::Shared {
  std::mutex mutex;
  bool is_over = false;
  runtime::Async* async = nullptr;
};

std::shared_ptr<BackgroundJob> BackgroundJob::start(uv_loop_t* loop, std::function<void()> work,
                                                    std::function<void()> after) {
  std::shared_ptr<BackgroundJob> job(new BackgroundJob());
  job->shared_ = std::make_shared<Shared>();
  job->after_ = std::move(after);
  // The handle's callback holds the job until it ran (or the handle was closed).
  job->async_ = runtime::make_owned<runtime::Async>(loop, [job] { job->on_done(); });
  job->shared_->async = job->async_.get();
  ++g_running_jobs;
  std::thread([shared = job->shared_, work = std::move(work)] {
    lower_own_priority();
    work();
    {
      std::lock_guard lock(shared->mutex);
      if (!shared->is_over) shared->async->send();
    }
    --g_running_jobs;
  }).detach();
  return job;
}

BackgroundJob::~BackgroundJob() {
  abandon();
}

void BackgroundJob::on_done() {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->is_over) return;
    shared_->is_over = true;
  }
  auto after = std::move(after_);
  after_ = nullptr;
  async_.reset();
  if (after) after();
}

void BackgroundJob::abandon() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->is_over = true;
  }
  after_ = nullptr;
  async_.reset();
}

int BackgroundJob::running() {
  return g_running_jobs.load();
}

}  // namespace baton::plugin
