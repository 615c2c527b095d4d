#include "plugin/off_loop.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

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

void run_off_loop_idle(uv_loop_t* loop, std::function<void()> work, std::function<void()> after) {
  run_off_loop(
      loop,
      [work = std::move(work)] {
        std::thread idle([&work] {
          // Both are per thread on Linux; failures leave the default priority, which is safe.
          constexpr int kIdleNice = 19;
          constexpr int kIoprioWhoProcess = 1;
          constexpr int kIoprioClassIdle = 3;
          constexpr int kIoprioClassShift = 13;
          const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
          (void)::setpriority(PRIO_PROCESS, tid, kIdleNice);
          (void)::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid,
                          kIoprioClassIdle << kIoprioClassShift);
          work();
        });
        idle.join();
      },
      std::move(after));
}

}  // namespace baton::plugin
