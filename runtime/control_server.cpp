#include "runtime/control_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/connection.hpp"

namespace baton::runtime {

void Request::reply(protocol::Json result) {
  if (is_answered_) return;
  is_answered_ = true;
  if (link_->conn) link_->conn->send_json(protocol::make_result(id_, std::move(result)));
}

void Request::fail(std::string_view code, std::string_view message) {
  if (is_answered_) return;
  is_answered_ = true;
  if (link_->conn) link_->conn->send_json(protocol::make_error(id_, code, message));
}

void Request::event(std::string_view name, protocol::Json fields) {
  if (is_answered_) return;
  if (link_->conn) link_->conn->send_json(protocol::make_event(id_, name, std::move(fields)));
}

ControlServer::ControlServer(uv_loop_t* loop) : loop_(loop) {
  uv_pipe_init(loop, &handle_, 0);
}

tl::expected<ControlServer*, std::string> ControlServer::listen(uv_loop_t* loop,
                                                                const std::string& path) {
  auto* server = new ControlServer(loop);
  // The daemon lock is held, so a socket file here belongs to a dead daemon.
  unlink(path.c_str());
  // uv_pipe_chmod cannot give 0600 (DESIGN.md §8): bind under a 0077 umask, then chmod.
  const mode_t old = umask(0077);
  int rc = uv_pipe_bind(&server->handle_, path.c_str());
  umask(old);
  if (rc == 0 && chmod(path.c_str(), 0600) != 0) rc = -errno;
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server->handle_), 128, on_connection_cb);
  if (rc != 0) {
    server->HandleBase::close();
    return tl::make_unexpected("cannot listen on " + path + ": " + uv_strerror(rc));
  }
  return server;
}

void ControlServer::on_connection_cb(uv_stream_t* s, int status) {
  self(s)->on_connection(status);
}

void ControlServer::on_connection(int status) {
  if (status < 0 || is_closing_) return;
  Connection::accept(loop_, *this, reinterpret_cast<uv_stream_t*>(&handle_));
}

void ControlServer::close() {
  if (is_closing_) return;
  is_closing_ = true;
  close_timer_ = make_owned<Timer>(loop_);
  close_timer_->start(kCloseGraceMs, [this] {
    auto conns = connections_;
    for (auto* c : conns) c->close();
  });
  auto conns = connections_;
  for (auto* c : conns) c->close_when_flushed();
  if (connections_.empty()) forget(nullptr);
}

void ControlServer::forget(Connection* c) {
  connections_.erase(c);
  if (!is_closing_ || !connections_.empty()) return;
  close_timer_.reset();
  HandleBase::close();
}

void ControlServer::dispatch(const RequestPtr& req) {
  auto it = methods_.find(req->method());
  if (it == methods_.end()) {
    req->fail(protocol::code::kUnknownMethod, "unknown method '" + req->method() + "'");
    return;
  }
  it->second(req);
}

}  // namespace baton::runtime
