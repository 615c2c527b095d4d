// The session holder (`baton-holder`): the parent of one agent. It owns the PTY master and the
// child, so the agent outlives the daemon (a crash, kill -9, an out-of-memory kill). While a
// daemon is connected it only passes the master on and waits for the child; while none is,
// it reads the master into a bounded ring, answers the terminal's queries and keeps the exit
// status until a daemon collects it. No libuv: one poll() loop (docs/runtime.md).
#pragma once

#include <cstddef>
#include <string>

#include "runtime/pty.hpp"

namespace baton::runtime {

struct HolderOptions {
  std::string id;           // the session id
  std::string holders_dir;  // run/holders: its socket goes there
  std::string created_at;
  std::size_t buffer_bytes = 0;
  int link_fd = -1;  // the starting daemon's end, already connected
  PtySpawnOptions spawn;
};

// Runs the holder until its agent exited and a daemon collected the status (or told it to
// kill); returns the process's exit code.
int run_holder(const HolderOptions& opts);

}  // namespace baton::runtime
