#include "plugin/off_loop.hpp"

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

}  // namespace baton::plugin
