// One client connection to the control socket: JSON lines until `attach` switches it to
// binary frames. Writes go through a queue with one uv_write in flight; an attached client
// that falls kBacklogLimitBytes behind has its queued output discarded and gets a repaint of
// the current screen instead (as tmux does), so it never blocks the session or other clients.
#pragma once

#include <uv.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "runtime/control_server.hpp"
#include "runtime/protocol.hpp"
#include "runtime/session.hpp"
#include "runtime/uv_handles.hpp"

namespace baton::runtime {

class Connection final : public HandleBase<Connection, uv_pipe_t>, public SessionClient {
 public:
  static constexpr std::size_t kBacklogLimitBytes = 4u << 20;
  static constexpr std::size_t kMaxBufsPerWrite = 64;
  // A parked follower is released after this long, so nothing waits forever on a plugin
  // that never hands it over (a crashed agent's relaunch back-off stays well below).
  static constexpr std::uint64_t kFollowParkMs = 120000;

  // Accepts a pending connection on server; refuses (closes) a peer of another uid.
  static void accept(uv_loop_t* loop, ControlServer& server, uv_stream_t* listener);

  void send_json(const protocol::Json& j);
  // Switches to frames after the current line; the session's screen is sent first.
  void start_attach(Session& session, bool is_writable, int rows, int cols);
  // Attached through a follow key (Daemon::hand_over_followers): parked, not ended, when the
  // session exits.
  void follow(std::string key) { follow_key_ = std::move(key); }
  const std::string& follow_key() const { return follow_key_; }
  bool is_parked() const { return is_parked_; }
  // A parked client continues on `next`: its screen, then the notice on the bottom line.
  void resume_follow(Session& next, const std::string& notice);
  // A parked client gets the EXIT it was kept from.
  void end_follow();
  void close();
  void close_when_flushed();

  void on_session_output(const SharedBytes& chunk) override;
  void on_session_exit(int exit_status) override;
  std::size_t backlog_bytes() const override { return queued_bytes_; }
  void drop_backlog() override;
  bool is_lagging() const override { return needs_repaint_; }

  std::size_t queued_bytes() const { return queued_bytes_; }

 private:
  friend class HandleBase<Connection, uv_pipe_t>;
  Connection(uv_loop_t* loop, ControlServer& server);
  ~Connection();

  static void on_alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void on_write(int status);
  void on_line(std::string_view line);
  void on_frames(std::string_view bytes);
  void queue(SharedBytes bytes, bool is_output, std::string header = {});
  void write_next();

  // A frame header travels with its payload, so dropping a lagging client's backlog can
  // never cut a frame in two.
  struct Piece {
    std::string header;
    SharedBytes bytes;
    bool is_output;  // dropped when the client lags
    std::size_t size() const { return header.size() + bytes->size(); }
  };
  struct WriteReq {
    uv_write_t req;
    Connection* conn;
    std::vector<Piece> held;
  };

  ControlServer& server_;
  std::shared_ptr<ConnectionLink> link_;
  protocol::LineReader lines_;
  protocol::FrameDecoder frames_;
  bool has_version_ = false;
  bool is_attaching_ = false;
  bool is_attached_ = false;
  bool is_writable_ = false;
  bool needs_repaint_ = false;
  bool is_closing_after_flush_ = false;
  Session* session_ = nullptr;
  std::string follow_key_;
  bool is_parked_ = false;
  int parked_status_ = -1;
  Owned<Timer> park_timer_;
  int rows_ = 0;  // the client's terminal, for the next session of a follow
  int cols_ = 0;
  std::deque<Piece> queue_;
  std::size_t queued_bytes_ = 0;
  WriteReq* in_flight_ = nullptr;
  char read_buf_[64 * 1024];
};

}  // namespace baton::runtime
