// The daemon process: one per BATON_HOME (flock'd lock file), a libuv loop, the control
// server and the session table. Every agent runs under its own session holder
// (runtime/holder.hpp), so agents outlive a daemon that dies, and the next one adopts them. The
// runtime offers the plugin a small interface: register control methods, start and stop sessions,
// subscribe to exits.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "runtime/control_server.hpp"
#include "runtime/holder_client.hpp"
#include "runtime/paths.hpp"
#include "runtime/session.hpp"

namespace baton::runtime {

// A session as the control protocol lists it (docs/runtime.md "Protocol").
protocol::Json session_json(const Session& s);

// Forks into the background like tmux (fork, setsid, fork). Returns in the daemon process
// with the write end of a pipe the original process waits on; it exits with 0 once
// report_ready() says the daemon listens (or that another one already does), else 1.
int daemonize();
void report_ready(int ready_fd, bool ok, const std::string& message);

class Daemon {
 public:
  using ExitFn = std::function<void(Session&)>;
  // Resolves a client's TARGET to a session id, or "" to fall back on the runtime's rules.
  // A target that names something longer-lived than one session (a project) also gets a
  // follow key: an attach through it follows that thing to its next session.
  struct ResolvedTarget {
    std::string session_id;
    std::string follow_key;
  };
  using TargetResolver = std::function<ResolvedTarget(const std::string& target)>;

  explicit Daemon(Paths paths);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Creates BATON_HOME's directories and takes the lock. "already running" is an error whose
  // message starts with kAlreadyRunning.
  static constexpr const char* kAlreadyRunning = "already running";
  tl::expected<void, std::string> lock();
  tl::expected<void, std::string> listen();
  // Takes over the agents whose holders outlived the previous daemon (before anything is
  // relaunched: the plugin's recovery sees them as running). Returns the ids adopted; each
  // holder left alone gets one log line saying why. `on_step` is called with
  // "recovery.adopting" once a holder's output and terminal arrived (before the holder is
  // told) and "recovery.adopted" at the end: the test builds' fault points.
  using AdoptStepFn = std::function<void(std::string_view step)>;
  std::vector<std::string> adopt_holders(const AdoptStepFn& on_step = nullptr);
  // A living holder this daemon could not adopt (a newer protocol, another daemon's) holds
  // this session: it is neither stopped nor relaunched.
  bool is_held_elsewhere(const std::string& id) const { return held_elsewhere_.count(id) > 0; }
  // Runs the loop until shutdown; returns uv_loop_close()'s result (0 when every handle closed).
  int run();

  uv_loop_t* loop() { return &loop_; }
  const Paths& paths() const { return paths_; }
  // The program's version, which `ping` reports so a client can tell a daemon left running
  // from an older build (`baton doctor`).
  void set_version(std::string version) { version_ = std::move(version); }
  ControlServer& server() { return *server_; }
  void add_method(std::string name, MethodFn fn) {
    server_->add_method(std::move(name), std::move(fn));
  }

  tl::expected<Session*, std::string> start_session(SessionSpec spec);
  // A fresh plain session id: s1, s2, ...
  std::string next_session_id();
  Session* find_session(const std::string& target, std::string* follow_key = nullptr);
  Session* find_session_exact(const std::string& id) {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second.get();
  }
  void remove_session(const std::string& id);
  const std::map<std::string, std::unique_ptr<Session>>& sessions() const { return sessions_; }
  void on_session_exit(ExitFn fn) { exit_fns_.push_back(std::move(fn)); }
  void set_target_resolver(TargetResolver r) { resolver_ = std::move(r); }
  // Clients attached through a follow key are parked when their session exits (no EXIT
  // frame). The plugin then hands them to the key's next session, with a one-line notice,
  // or releases them (they get the EXIT they were kept from); see Connection::kFollowParkMs.
  void hand_over_followers(const std::string& follow_key, Session& next, const std::string& notice);
  void release_followers(const std::string& follow_key);
  // Called once every session stopped, before the loop's last handles close: the plugin
  // closes its own handles here so uv_loop_close() can return 0.
  void on_shutdown(std::function<void()> fn) { shutdown_fns_.push_back(std::move(fn)); }

  // Stops every session (SIGHUP, grace, SIGTERM, SIGKILL), then closes every handle.
  void shutdown(std::function<void()> on_sessions_stopped);
  bool is_shutting_down() const { return is_shutting_down_; }

 private:
  void register_session_methods();
  // Adds a started or adopted session and reports its exit to the plugin.
  Session* add_session(std::unique_ptr<Session> s);
  // Removes the session once its exit callbacks have returned, never from inside them.
  void remove_session_later(const std::string& id);
  void close_all();
  void close_handles();  // the server, the signal watchers and the removal timer

  Paths paths_;
  std::string version_;
  uv_loop_t loop_{};
  int lock_fd_ = -1;
  HolderSite holder_site_;
  std::set<std::string> held_elsewhere_;
  bool is_loop_closed_ = false;
  Owned<ControlServer> server_;
  Owned<Signal> sigterm_;
  Owned<Signal> sigint_;
  // Removes killed sessions on the next loop turn (remove_session_later).
  Owned<Timer> removal_timer_;
  std::vector<std::string> pending_removals_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  unsigned next_id_ = 1;
  std::vector<ExitFn> exit_fns_;
  TargetResolver resolver_;
  bool is_shutting_down_ = false;
  std::vector<std::function<void()>> on_stopped_;
  std::vector<std::function<void()>> shutdown_fns_;
};

}  // namespace baton::runtime
