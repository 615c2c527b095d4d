// Runs a program to read what it prints (`codex --version`, `tmux -V`), for `baton doctor`:
// blocking, with a deadline, stdin from /dev/null, stdout and stderr together. The client has
// no loop to keep free; a program that hangs (an agent's update check) costs the deadline.
#pragma once

#include <string>
#include <vector>

namespace baton::cli {

struct ProgramOutput {
  bool has_run = false;       // false: it could not be started (error says why)
  bool is_timed_out = false;  // killed at the deadline, with its process group
  int status = -1;            // exit code, or 128 + signal
  std::string output;         // stdout and stderr as they came, at most kMaxProgramOutputBytes
  std::string error;

  bool ok() const { return has_run && !is_timed_out && status == 0; }
  // The first line of output, for messages.
  std::string first_line() const;
};

inline constexpr std::size_t kMaxProgramOutputBytes = 64 * 1024;

// argv[0] is looked up on this process's PATH.
ProgramOutput run_program(const std::vector<std::string>& argv, int timeout_ms);

}  // namespace baton::cli
