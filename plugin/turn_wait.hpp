// The drain's waits (docs/orchestrator.md "Drain"): before a handoff or `down` stops the old
// agent, it waits for the agent's turn to end (TurnWait), and, when the agent is responsive,
// for the handoff notes it was asked to write (NoteWait). Each wait owns its timers and its
// activity listener and gives both up the moment it ends, for any reason: its owner ending
// it, the timeout, the agent's exit (a `baton shutdown` stops every agent), or its own
// destruction. A wait calls `done` at most once, as its last act, so the owner may destroy
// it there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "plugin/orchestrator.hpp"

namespace baton::plugin {

// Whether the session's idle can be trusted to mean "its turn ended": codex and claude
// report through their hooks; any other agent only once it reported (a hook or `baton
// signal`). One that never reports is treated as idle (nothing to wait for).
bool reports_turns(const AgentSpec& agent, const ActivityTracker& activity,
                   const std::string& session_id);

// How a wait ended.
enum class WaitEnd {
  kDone,      // the turn ended (TurnWait) / the note was written (NoteWait)
  kTimedOut,  // the timeout passed first
  kSkipped,   // the owner ended it (a joining `replace --now`)
  kExited,    // the agent is no longer running
};

// Waits until the session's activity is idle — waiting_input is not enough: a permission
// prompt is mid-turn. Ticks every tick_ms with the seconds waited, for the progress lines.
class TurnWait {
 public:
  using TickFn = std::function<void(const Activity* now, long waited_s)>;
  // `source`: who said idle (a hook, notify or signal, or the screen), for kDone.
  using DoneFn = std::function<void(WaitEnd end, ActivitySource source)>;

  TurnWait(Orchestrator& orch, std::string session_id);
  ~TurnWait();
  TurnWait(const TurnWait&) = delete;
  TurnWait& operator=(const TurnWait&) = delete;

  // Calls `done` at once (from within start) when the turn already ended.
  void start(std::uint64_t timeout_ms, std::uint64_t tick_ms, TickFn tick, DoneFn done);
  // Ends the wait with kSkipped; nothing when it already ended.
  void skip();

 private:
  void on_activity(const Activity& now);
  void finish(WaitEnd end, ActivitySource source);
  void stop();

  Orchestrator& orch_;
  std::string session_id_;
  Orchestrator::ActivityListener listener_ = 0;
  runtime::Owned<runtime::Timer> timeout_;
  runtime::Owned<runtime::Timer> tick_;
  TickFn tick_fn_;
  DoneFn done_;
  std::chrono::steady_clock::time_point started_;
};

// After the agent was asked for its notes: waits until `note_path` exists and either the
// agent's turn ended after it was asked or the file stopped changing for kSettledMs. The
// file is looked at off the loop, every kPollMs.
class NoteWait {
 public:
  static constexpr std::uint64_t kPollMs = 500;
  static constexpr std::uint64_t kSettledMs = 2000;
  using TickFn = std::function<void(long waited_s)>;
  using DoneFn = std::function<void(WaitEnd end)>;

  NoteWait(Orchestrator& orch, std::string session_id, std::string note_path);
  ~NoteWait();
  NoteWait(const NoteWait&) = delete;
  NoteWait& operator=(const NoteWait&) = delete;

  void start(std::uint64_t timeout_ms, std::uint64_t tick_ms, TickFn tick, DoneFn done);
  void skip();

 private:
  // What the last look at the file saw; nullopt-like when it does not exist.
  struct FileSeen {
    bool exists = false;
    std::uintmax_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileSeen&) const = default;
  };
  void look();
  void on_seen(FileSeen seen);
  void finish(WaitEnd end);
  void stop();

  Orchestrator& orch_;
  std::string session_id_;
  std::string note_path_;
  Orchestrator::ActivityListener listener_ = 0;
  runtime::Owned<runtime::Timer> timeout_;
  runtime::Owned<runtime::Timer> tick_;
  runtime::Owned<runtime::Timer> poll_;
  TickFn tick_fn_;
  DoneFn done_;
  std::chrono::steady_clock::time_point started_;
  bool has_turn_ended_ = false;  // idle reported after the agent was asked
  bool is_looking_ = false;      // a look is off the loop
  FileSeen last_;
  std::chrono::steady_clock::time_point last_change_;
  // Held by this wait only: a look that comes back after the wait ended finds it expired.
  std::shared_ptr<NoteWait*> alive_;
};

}  // namespace baton::plugin
