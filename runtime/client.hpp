// The client side of the control socket: connect (starting the daemon when none runs),
// send one request, read events and the reply. Blocking I/O and no libuv: the `baton`
// binary must start in about a millisecond (a keybinding and a status bar pay for it).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "runtime/paths.hpp"
#include "runtime/protocol.hpp"

namespace baton::runtime {

struct ClientError {
  std::string code;  // the daemon's error code, or "connect" / "io" / "protocol" / kUnanswered
  std::string message;
};

// The code of a connection a dying daemon took and closed before it sent a byte: the next
// connect reaches (or starts) the daemon that comes after it.
inline constexpr std::string_view kUnanswered = "unanswered";

class ControlClient {
 public:
  // With autostart, a missing daemon is started (`baton-daemon`, which forks into the
  // background) and waited for.
  static tl::expected<ControlClient, ClientError> connect(const Paths& paths, bool autostart);

  ControlClient(ControlClient&& o) noexcept;
  ControlClient& operator=(ControlClient&&) = delete;
  ControlClient(const ControlClient&) = delete;
  ~ControlClient();

  using EventFn = std::function<void(const protocol::Json& event)>;
  tl::expected<protocol::Json, ClientError> call(const std::string& method, protocol::Json params,
                                                 const EventFn& on_event = {});
  // Waits until the daemon closes the connection (after `shutdown`).
  void wait_closed();

  // One request on a fresh connection (connect, then call). A daemon that accepted the
  // connection but closed it before a single byte of answer was dying (killed while the
  // command connected: its socket still took the connection); with autostart the request
  // goes once more, to the daemon that starts next, whose recovery runs first.
  static tl::expected<protocol::Json, ClientError> request(const Paths& paths, bool autostart,
                                                           const std::string& method,
                                                           protocol::Json params,
                                                           const EventFn& on_event = {});

  int fd() const { return fd_; }
  // Bytes read past the last reply line (the first attach frames).
  std::string take_buffered() { return std::exchange(buf_, std::string()); }

 private:
  explicit ControlClient(int fd) : fd_(fd) {}
  tl::expected<std::string, ClientError> read_line();

  int fd_ = -1;
  std::int64_t next_id_ = 1;
  bool sent_version_ = false;
  bool has_received_ = false;  // any byte from the daemon on this connection
  std::string buf_;
};

// The daemon executable: $BATON_DAEMON, else baton-daemon beside the running binary.
std::string daemon_executable();
// Starts the daemon in the background and waits until it listens (or another one does).
tl::expected<void, ClientError> start_daemon(bool foreground);

}  // namespace baton::runtime
