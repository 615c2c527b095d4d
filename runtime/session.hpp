// A session: one process in one PTY, owned by the daemon. Output is read on the loop and
// goes to attached clients first, then into a bounded scrollback ring and the screen model,
// which catches up in batches (DESIGN.md §8). The process is reaped from the one SIGCHLD
// watcher, the master drained afterwards, and the session stays listed as exited with its
// status and final screen until it is removed, like tmux's remain-on-exit.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "runtime/holder_client.hpp"
#include "runtime/pty.hpp"
#include "runtime/screen_feeder.hpp"
#include "runtime/terminal_modes.hpp"
#include "runtime/uv_handles.hpp"

namespace baton::runtime {

using SharedBytes = std::shared_ptr<const std::string>;

// What a session needs from an attached client (the attach connection).
class SessionClient {
 public:
  virtual void on_session_output(const SharedBytes& chunk) = 0;
  virtual void on_session_exit(int exit_status) = 0;
  // Output queued for the client and not yet written.
  virtual std::size_t backlog_bytes() const = 0;
  // Discards the queued output; the client gets a repaint of the screen once it drains.
  virtual void drop_backlog() = 0;
  // True between drop_backlog() and the repaint: new output is not queued for it.
  virtual bool is_lagging() const = 0;

 protected:
  ~SessionClient() = default;
};

struct SessionSpec {
  std::string id;
  PtySpawnOptions spawn;
  // What the holder keeps while no daemon reads (`[runtime] holder_buffer`).
  std::size_t holder_buffer = kDefaultHolderBuffer;
};

class Session {
 public:
  static constexpr std::size_t kScrollbackBytes = 1u << 20;
  static constexpr std::uint64_t kDefaultGraceMs = 2000;
  // Reading pauses while every attached client has this much queued (a client writing to a
  // slow disk catches up and loses nothing)...
  static constexpr std::size_t kPauseBacklogBytes = 1u << 20;
  // ...but a client that writes nothing for this long is stalled: its output is dropped and
  // it gets a repaint, so a stalled client never blocks the session (tmux does the same).
  static constexpr std::uint64_t kStallMs = 2000;

  using ExitFn = std::function<void(Session&)>;
  // Names one exit listener, unique across sessions: a session id can be reused by a
  // relaunch, and removing through the new session must not drop someone else's listener.
  using ExitListener = std::uint64_t;

  // The agent runs under a session holder (runtime/holder.hpp): it outlives the daemon.
  static tl::expected<std::unique_ptr<Session>, std::string> start(uv_loop_t* loop,
                                                                   const HolderSite& site,
                                                                   SessionSpec spec);
  // Takes over an agent a previous daemon left with its holder: its output while no daemon
  // ran goes to the scrollback and the screen first, then the agent is asked to redraw.
  static std::unique_ptr<Session> adopt(uv_loop_t* loop, const AdoptedHolder& adopted);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& id() const { return spec_.id; }
  const std::vector<std::string>& argv() const { return spec_.spawn.argv; }
  const std::string& cwd() const { return spec_.spawn.cwd; }
  pid_t pid() const { return pid_; }
  bool is_running() const { return !has_exited_; }
  bool is_adopted() const { return is_adopted_; }
  pid_t holder_pid() const { return held_.holder_pid; }
  int exit_status() const { return exit_status_; }
  const std::string& created_at() const { return created_at_; }

  ExitListener on_exit(ExitFn fn);
  // A listener whose interest ended (a handoff's launch grace ran out) must never act on a
  // later exit. Unknown or already removed listeners are ignored.
  void remove_exit_listener(ExitListener listener);

  void write_input(std::string_view bytes);
  // Input typed by an attached client (not `send`, not a message): remembered, so a message
  // is never typed into the middle of what the user is typing.
  void write_client_input(std::string_view bytes);
  // Milliseconds since an attached client last typed; UINT64_MAX when none ever did.
  std::uint64_t ms_since_client_input() const;
  // The program turned on bracketed paste (?2004): a message goes inside its markers.
  bool is_bracketed_paste();

  // The first writable client owns the size; a read-only client never does.
  void attach(SessionClient* client, bool is_writable, int rows, int cols);
  void detach(SessionClient* client);
  void resize(SessionClient* client, int rows, int cols);
  bool has_writable_client() const;
  // A client wrote some of its backlog: reading resumes if it was paused for it, and a
  // client making progress is not counted as stalled.
  void on_client_drained();
  std::size_t client_count() const { return clients_.size(); }

  // The current screen, after the model caught up with every byte read so far.
  std::string render();
  std::vector<std::string> capture(bool join_wrapped);
  // The screen as the model has it now, possibly behind the newest output; never waits.
  std::vector<std::string> peek_capture();
  // The newest output bytes, at most kScrollbackBytes (more for an adopted session: all its
  // holder kept).
  std::string scrollback() const;
  // Every byte read from the program so far: activity is a change in this.
  std::uint64_t output_bytes() const { return output_bytes_; }

  // Stops the process group: SIGHUP, grace, SIGTERM, grace, SIGKILL. A no-op once exited.
  void stop(std::uint64_t grace_ms = kDefaultGraceMs);

 private:
  Session(uv_loop_t* loop, SessionSpec spec, const HeldProcess& held, std::string created_at);
  void on_poll(int status, int events);
  void on_link(int status, int events);
  // The holder died (killed outright): its agent got SIGHUP from the kernel (PDEATHSIG).
  void on_holder_lost();
  void nudge_redraw();
  void read_master();
  void flush_input();
  void deliver(std::string_view bytes);
  void on_child_exit(int wait_status);
  void finish();
  void escalate(int step);
  void catch_up_screen();
  void apply_size(int rows, int cols);
  bool should_pause() const;
  void pause_reading();
  void resume_reading();
  void on_stall();

  struct Client {
    SessionClient* client;
    bool is_writable;
    int rows;
    int cols;
  };

  uv_loop_t* loop_;
  SessionSpec spec_;
  HeldProcess held_;
  pid_t pid_;
  Owned<Poll> poll_;
  Owned<Poll> link_;  // the holder's socket: its agent's exit, its death
  Owned<Timer> redraw_timer_;
  bool is_adopted_ = false;
  Owned<Timer> stop_timer_;
  Owned<Timer> stall_timer_;
  bool is_paused_ = false;
  std::string created_at_;
  bool has_exited_ = false;
  bool is_master_open_ = true;
  bool is_reading_ = true;
  int exit_status_ = -1;
  std::string input_;  // bytes for the master that did not fit yet
  std::uint64_t output_bytes_ = 0;
  std::uint64_t last_client_input_ms_ = 0;  // uv_now of the last client input; 0: never
  std::string ring_;                        // scrollback, between scrollback_limit_ and twice that
  std::size_t scrollback_limit_ = kScrollbackBytes;
  ScreenFeeder screen_;
  QueryScanner queries_;
  // Set only while the loop thread holds the screen lock: the worker's parses never answer.
  bool is_answering_queries_ = false;
  bool is_replaying_ = false;  // feeding what the holder read while no daemon ran
  std::vector<Client> clients_;
  SessionClient* size_owner_ = nullptr;
  std::vector<std::pair<ExitListener, ExitFn>> exit_fns_;
};

}  // namespace baton::runtime
