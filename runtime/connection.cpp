#include "runtime/connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace baton::runtime {

namespace proto = protocol;

Connection::Connection(uv_loop_t* loop, ControlServer& server)
    : server_(server), link_(std::make_shared<ConnectionLink>()) {
  uv_pipe_init(loop, &handle_, 0);
  link_->conn = this;
}

Connection::~Connection() {
  delete in_flight_;
}

void Connection::accept(uv_loop_t* loop, ControlServer& server, uv_stream_t* listener) {
  auto* c = new Connection(loop, server);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->handle_)) != 0) {
    c->HandleBase::close();
    return;
  }
  uv_os_fd_t fd;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->handle_), &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != getuid()) {
    // Another user: no reply, nothing read.
    c->HandleBase::close();
    return;
  }
  server.track(c);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle_), on_alloc_cb, on_read_cb);
}

void Connection::close() {
  park_timer_.reset();
  is_parked_ = false;
  if (session_) {
    session_->detach(this);
    session_ = nullptr;
  }
  link_->conn = nullptr;
  server_.forget(this);
  HandleBase::close();
}

void Connection::on_alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = self(h);
  *buf = uv_buf_init(c->read_buf_, sizeof c->read_buf_);
}

void Connection::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  self(s)->on_read(nread, buf);
}

void Connection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread < 0) {
    close();
    return;
  }
  if (nread == 0) return;
  std::string_view bytes(buf->base, static_cast<std::size_t>(nread));
  if (is_attached_) {
    on_frames(bytes);
    return;
  }
  std::string rest = lines_.feed(
      bytes, [this](std::string_view line) { on_line(line); },
      [this] {
        send_json(proto::make_error(nullptr, proto::code::kLineTooLong,
                                    "request line over 1 MiB discarded"));
      });
  if (is_attaching_) {
    is_attaching_ = false;
    is_attached_ = true;
    if (!rest.empty()) on_frames(rest);
  }
}

void Connection::on_line(std::string_view line) {
  if (is_attaching_ || is_attached_) return;
  auto outcome = proto::parse_request_line(line, has_version_);
  if (auto* error = std::get_if<proto::ErrorReply>(&outcome)) {
    send_json(error->reply);
    return;
  }
  auto* parsed = std::get_if<proto::ParsedRequest>(&outcome);
  if (!parsed) return;
  auto req = std::make_shared<Request>(link_, std::move(parsed->id), std::move(parsed->method),
                                       std::move(parsed->params));
  server_.dispatch(req);
  if (is_attaching_) lines_.stop();
}

void Connection::on_frames(std::string_view bytes) {
  frames_.feed(bytes);
  while (auto f = frames_.next()) {
    switch (f->type) {
      case proto::FrameType::kData:
        if (session_ && is_writable_) session_->write_client_input(f->payload);
        break;
      case proto::FrameType::kResize:
        if (auto size = proto::decode_resize(f->payload)) {
          rows_ = size->rows;
          cols_ = size->cols;
          if (session_) session_->resize(this, rows_, cols_);
        }
        break;
      case proto::FrameType::kDetach:
        if (session_) session_->detach(this);
        session_ = nullptr;
        close_when_flushed();
        return;
      case proto::FrameType::kHello:
      case proto::FrameType::kExit:
        break;
    }
  }
  if (!frames_.error().empty()) close();
}

void Connection::start_attach(Session& session, bool is_writable, int rows, int cols) {
  is_attaching_ = true;
  is_writable_ = is_writable;
  rows_ = rows;
  cols_ = cols;
  queue(std::make_shared<const std::string>(proto::encode_hello()), false);
  if (!session.is_running()) {
    queue(std::make_shared<const std::string>(
              proto::encode_frame(proto::FrameType::kData, session.render())),
          false);
    // Its exit was already settled: parking now would wait for a hand-over that is not coming.
    follow_key_.clear();
    on_session_exit(session.exit_status());
    return;
  }
  session_ = &session;
  session.attach(this, is_writable, rows, cols);
  // Drawn after the size was applied, so the repaint matches the client's terminal.
  queue(std::make_shared<const std::string>(
            proto::encode_frame(proto::FrameType::kData, session.render())),
        false);
}

void Connection::drop_backlog() {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->is_output) {
      queued_bytes_ -= it->size();
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  needs_repaint_ = true;
}

void Connection::on_session_output(const SharedBytes& chunk) {
  if (needs_repaint_) return;
  if (queued_bytes_ > kBacklogLimitBytes) {
    // Too far behind while another client keeps up: one repaint when the socket drains.
    drop_backlog();
    return;
  }
  queue(chunk, true,
        proto::encode_frame_header(proto::FrameType::kData,
                                   static_cast<std::uint32_t>(chunk->size())));
}

void Connection::on_session_exit(int exit_status) {
  if (needs_repaint_ && session_) {
    // A lagging client still gets the final screen before the exit status.
    queue(std::make_shared<const std::string>(
              proto::encode_frame(proto::FrameType::kData, session_->render())),
          false);
  }
  session_ = nullptr;
  needs_repaint_ = false;
  if (!follow_key_.empty() && !is_closing_after_flush_) {
    is_parked_ = true;
    parked_status_ = exit_status;
    park_timer_ = make_owned<Timer>(handle_.loop);
    park_timer_->start(kFollowParkMs, [this] { end_follow(); });
    return;
  }
  queue(std::make_shared<const std::string>(proto::encode_exit(exit_status)), false);
  close_when_flushed();
}

void Connection::resume_follow(Session& next, const std::string& notice) {
  if (!is_parked_) return;
  is_parked_ = false;
  park_timer_.reset();
  if (!next.is_running()) {
    on_session_exit(next.exit_status());
    return;
  }
  session_ = &next;
  next.attach(this, is_writable_, rows_, cols_);
  // The notice goes on the bottom line after the repaint (cursor saved and restored), so it
  // is seen until the agent redraws that line; before the repaint it would be wiped at once.
  std::string bytes = next.render();
  const int bottom = rows_ > 0 ? rows_ : 24;
  bytes +=
      "\x1b"
      "7\x1b[" +
      std::to_string(bottom) + ";1H\x1b[2K" + notice +
      "\x1b"
      "8";
  queue(std::make_shared<const std::string>(proto::encode_frame(proto::FrameType::kData, bytes)),
        false);
}

void Connection::end_follow() {
  if (!is_parked_) return;
  is_parked_ = false;
  park_timer_.reset();
  queue(std::make_shared<const std::string>(proto::encode_exit(parked_status_)), false);
  close_when_flushed();
}

void Connection::send_json(const proto::Json& j) {
  std::string line = j.dump(-1, ' ', false, proto::Json::error_handler_t::replace);
  line.push_back('\n');
  queue(std::make_shared<const std::string>(std::move(line)), false);
}

void Connection::queue(SharedBytes bytes, bool is_output, std::string header) {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&handle_))) return;
  Piece p{std::move(header), std::move(bytes), is_output};
  queued_bytes_ += p.size();
  queue_.push_back(std::move(p));
  if (!in_flight_) write_next();
}

void Connection::write_next() {
  if (queue_.empty()) {
    if (needs_repaint_ && session_) {
      needs_repaint_ = false;
      queue(std::make_shared<const std::string>(
                proto::encode_frame(proto::FrameType::kData, session_->render())),
            false);
      return;
    }
    if (is_closing_after_flush_) close();
    return;
  }
  auto* w = new WriteReq{};
  w->conn = this;
  w->held.reserve(std::min(queue_.size(), kMaxBufsPerWrite));
  while (!queue_.empty() && w->held.size() < kMaxBufsPerWrite) {
    queued_bytes_ -= queue_.front().size();
    w->held.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  std::vector<uv_buf_t> bufs;
  bufs.reserve(w->held.size() * 2);
  for (const Piece& p : w->held) {
    if (!p.header.empty())
      bufs.push_back(
          uv_buf_init(const_cast<char*>(p.header.data()), static_cast<unsigned>(p.header.size())));
    bufs.push_back(
        uv_buf_init(const_cast<char*>(p.bytes->data()), static_cast<unsigned>(p.bytes->size())));
  }
  w->req.data = w;
  in_flight_ = w;
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&handle_), bufs.data(),
                          static_cast<unsigned>(bufs.size()), on_write_cb);
  if (rc != 0) {
    in_flight_ = nullptr;
    delete w;
    close();
  }
}

void Connection::on_write_cb(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Connection* c = w->conn;
  c->in_flight_ = nullptr;
  delete w;
  c->on_write(status);
}

void Connection::on_write(int status) {
  if (status < 0) {
    // ECANCELED comes from our own close; anything else means the peer is gone.
    if (status != UV_ECANCELED) close();
    return;
  }
  write_next();
  if (session_) session_->on_client_drained();
}

void Connection::close_when_flushed() {
  is_closing_after_flush_ = true;
  if (!in_flight_ && queue_.empty()) close();
}

}  // namespace baton::runtime
