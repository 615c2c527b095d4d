// Starting a process in a new pseudo-terminal, as tmux's spawn.c does: signals blocked around
// fork, every disposition and the mask reset in the child (an ignored SIGHUP would survive
// exec and the agent could never be stopped), close-on-exec master, exec failure reported
// through a close-on-exec pipe so the caller gets errno instead of a child that exits 127.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace baton::runtime {

struct PtySpawnOptions {
  std::vector<std::string> argv;
  std::string cwd;
  std::vector<std::string> env;  // complete environment, "K=V"
  unsigned short rows = 40;
  unsigned short cols = 120;
  // The child gets SIGHUP when the process that spawned it dies (PR_SET_PDEATHSIG): a session
  // holder killed outright is then a crash of its agent, never an agent nobody holds.
  bool dies_with_parent = false;
};

struct PtyProcess {
  pid_t pid = -1;
  int master_fd = -1;  // non-blocking, close-on-exec
};

// Errors read like `cannot start 'codx': No such file or directory`.
tl::expected<PtyProcess, std::string> pty_spawn(const PtySpawnOptions& opts);

int pty_resize(int master_fd, unsigned short rows, unsigned short cols);

// Exit status as a shell reports it: the code, or 128 + the signal.
int exit_status_from_wait(int wait_status);

// The environment a session gets: `base` with `extra` ("K=V") on top, then TERM,
// COLORTERM and a UTF-8 LANG (the user's if it is UTF-8, else C.UTF-8).
std::vector<std::string> session_environment(char** base, const std::vector<std::string>& extra);

}  // namespace baton::runtime
