// Where baton keeps its state (DESIGN.md §3): everything lives under BATON_HOME, so tests
// that set it to a temp dir can run any number of daemons side by side.
#pragma once

#include <string>

namespace baton::runtime {

struct Paths {
  std::string home;       // BATON_HOME, else $XDG_STATE_HOME/baton, else ~/.local/state/baton
  std::string run_dir;    // home/run, mode 0700
  std::string socket;     // run/control.sock, mode 0600
  std::string lock;       // run/daemon.lock, flock'd by the one daemon
  std::string state_dir;  // home/state
  std::string logs_dir;   // home/logs

  static Paths from_env();
};

}  // namespace baton::runtime
