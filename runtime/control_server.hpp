// The control socket: a Unix socket under BATON_HOME/run (dir 0700, socket 0600) that only
// the daemon's own uid may use (SO_PEERCRED). Methods are registered by name; the runtime
// registers its own and the plugin adds more, without the runtime knowing what they do.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <tl/expected.hpp>

#include "runtime/protocol.hpp"
#include "runtime/uv_handles.hpp"

namespace baton::runtime {

class Connection;

// A weak link to a connection: a reply to a connection that went away is dropped.
struct ConnectionLink {
  Connection* conn = nullptr;
};

// One request in flight. A method may answer at once or keep the request and answer later
// (after a process exited, a handoff finished); the first reply wins, later ones are ignored.
class Request {
 public:
  Request(std::shared_ptr<ConnectionLink> link, protocol::Json id, std::string method,
          protocol::Json params)
      : link_(std::move(link)),
        id_(std::move(id)),
        method_(std::move(method)),
        params_(std::move(params)) {}

  const std::string& method() const { return method_; }
  const protocol::Json& params() const { return params_; }
  void reply(protocol::Json result);
  void fail(std::string_view code, std::string_view message);
  void event(std::string_view name, protocol::Json fields);
  bool is_answered() const { return is_answered_; }
  // Null once the client hung up.
  Connection* connection() const { return link_->conn; }

 private:
  std::shared_ptr<ConnectionLink> link_;
  protocol::Json id_;
  std::string method_;
  protocol::Json params_;
  bool is_answered_ = false;
};

using RequestPtr = std::shared_ptr<Request>;
using MethodFn = std::function<void(const RequestPtr&)>;

class ControlServer final : public HandleBase<ControlServer, uv_pipe_t> {
 public:
  // Binds the socket (replacing a stale one: the caller holds the daemon lock).
  static tl::expected<ControlServer*, std::string> listen(uv_loop_t* loop, const std::string& path);

  void add_method(std::string name, MethodFn fn) { methods_[std::move(name)] = std::move(fn); }
  // The handler registered under name (empty when none): lets a plugin wrap a method.
  MethodFn method(const std::string& name) const {
    auto it = methods_.find(name);
    return it == methods_.end() ? MethodFn() : it->second;
  }
  void dispatch(const RequestPtr& req);

  // Stops accepting, lets every connection flush what it queued (the shutdown reply), then
  // closes them (forcibly after kCloseGraceMs) and itself. Connections never outlive it.
  static constexpr std::uint64_t kCloseGraceMs = 1000;
  void close();
  void track(Connection* c) { connections_.insert(c); }
  void forget(Connection* c);
  std::size_t connection_count() const { return connections_.size(); }
  const std::set<Connection*>& connections() const { return connections_; }

 private:
  friend class HandleBase<ControlServer, uv_pipe_t>;
  explicit ControlServer(uv_loop_t* loop);
  ~ControlServer() = default;
  static void on_connection_cb(uv_stream_t* server, int status);
  void on_connection(int status);

  uv_loop_t* loop_;
  bool is_closing_ = false;
  Owned<Timer> close_timer_;
  std::map<std::string, MethodFn> methods_;
  std::set<Connection*> connections_;
};

}  // namespace baton::runtime
