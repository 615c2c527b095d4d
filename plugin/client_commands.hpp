// What each `baton` subcommand does: one request to the daemon (started when none runs) and
// its reply printed. plugin/baton_main.cpp parses the command line and calls one of these.
// Errors are one line on stderr; each returns the exit code: 0 ok, kExitFailed, kExitUsage.
#pragma once

#include <string>
#include <vector>

#include "runtime/protocol.hpp"

namespace baton::cli {

inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// Prints "baton: <message>" on stderr and returns kExitFailed.
int fail(const std::string& message);

// What requests carry of the command: its working directory (the daemon's is "/") and its
// environment (the config's ${VAR} and PATH).
std::string current_dir();
// TARGET as the daemon takes it: a path made absolute (the daemon's cwd is "/"); a project
// id, a session id or PROJECT/NAME (a worker) as given when no such path exists here.
std::string absolute_target(const std::string& target);
runtime::protocol::Json environment_json();

int cmd_daemon(bool foreground);
int cmd_new(const std::string& name, const std::string& cwd, const std::vector<std::string>& env_kv,
            const std::vector<std::string>& command);
int cmd_sessions(const std::string& target, bool all, bool as_json);
int cmd_attach(const std::string& target, bool read_only, const std::string& detach_key);
int cmd_capture(const std::string& target, bool raw, bool history, bool as_json);
int cmd_send(const std::string& target, bool keys, const std::vector<std::string>& text);
int cmd_kill(const std::string& target);
int cmd_shutdown();

int cmd_up(const std::string& target, const std::string& agent, bool detach);
// What `replace` and `down` ask of the handoff beyond the target.
struct HandoffFlags {
  std::string agent;   // --agent: this handoff only
  bool wait = false;   // --wait: also the launch grace
  bool now = false;    // --now: no drain, no summary
  bool fresh = false;  // --fresh: the new agent starts with neither note nor prompt
  std::string reason;  // --reason: why, for the handoff note
  // --progress: the progress lines on stderr even when it is no terminal or with --json (the
  // tmux and kitty keys show the drain's lines while they wait)
  bool progress = false;
};
// `replace` and `down`: the handoff with its progress lines.
int cmd_handoff(const std::string& method, const std::string& target, const HandoffFlags& flags,
                bool as_json);
int cmd_status(const std::string& target, bool as_json, bool tmux);
int cmd_ls(bool as_json);
int cmd_allow(const std::string& target);
int cmd_preserved(const std::vector<std::string>& args, bool as_json);
// `notes [TARGET] [ID]`: the project's handoff notes, newest first; with ID (or a session id
// alone) the text of that session's note.
int cmd_notes(const std::vector<std::string>& args, bool as_json);
int cmd_signal(const std::string& state, std::string session, const std::vector<std::string>& hook);
int cmd_config_check(const std::string& target);
int cmd_fault_points();
int cmd_debug_waits();
// Test builds: what message delivery holds registered, as JSON.
int cmd_delivery_state();
// Workers (worker_commands.cpp, docs/workers.md).
struct SpawnFlags {
  std::string name;
  std::string agent;
  std::string base;
  std::string prompt;
  std::string prompt_file;
  bool reuse_branch = false;
};
int cmd_spawn(const std::string& target, const SpawnFlags& flags, bool as_json);
int cmd_workers(const std::string& target, bool as_json);
int cmd_finish(const std::string& target, bool delete_branch, bool now, bool as_json);
// What an orchestrator agent needs to know to run its team; no daemon needed.
int cmd_guide();
// `tell TARGET TEXT... [--now]`: queues a message (words joined by spaces); prints its id.
int cmd_tell(const std::string& target, const std::vector<std::string>& words, bool now);
// `outbox [TARGET] ls | drop ID`.
int cmd_outbox(const std::vector<std::string>& args, bool as_json);

}  // namespace baton::cli
