// The hook runner: runs a user's hook (or post_create) command through libuv (uv_spawn,
// never blocking the loop) with the BATON_* environment, a timeout (then SIGTERM, then
// SIGKILL), and its output captured: the tail kept for error messages, the whole appended
// (bounded) to a log file.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace baton::hooks {

struct HookRequest {
  std::string event;              // before_retire, after_spawn, post_create ...
  std::vector<std::string> argv;  // already split: {"/bin/sh","-c",cmd} or argv
  std::string cwd;
  std::map<std::string, std::string> env;  // added to the daemon's environment (BATON_* included)
  int timeout_ms = 30000;                  // <= 0: no timeout
  int kill_grace_ms = 2000;                // SIGTERM → SIGKILL
  std::string log_path;                    // e.g. BATON_HOME/logs/hooks.log; "" = no log
  std::size_t log_limit_bytes = 1u << 20;  // at most this much of one run goes to the log
};

struct HookResult {
  int exit_status = -1;  // exit code, 128+signal; -1 when it could not start
  bool timed_out = false;
  std::string spawn_error;  // "cannot start 'x': No such file or directory"
  std::string output_tail;  // last lines of stdout+stderr (at most ~20 lines / 4 KiB)
  int timeout_ms = 0;       // the request's timeout, for describe()
  bool ok() const { return exit_status == 0 && !timed_out && spawn_error.empty(); }
  // One line for the user: "before_retire hook exited with status 3: <last line>",
  // "before_retire hook timed out after 30s[: <last line>]",
  // "before_retire hook could not start: cannot start 'x': No such file or directory".
  std::string describe(const std::string& event) const;
};

using HookDone = std::function<void(HookResult)>;

// Runs the hook; `done` is called on the loop thread exactly once, never from inside
// run_hook() (a spawn failure is reported on a later loop turn), and only after every libuv
// handle of the run has been closed.
void run_hook(uv_loop_t* loop, HookRequest req, HookDone done);

}  // namespace baton::hooks
