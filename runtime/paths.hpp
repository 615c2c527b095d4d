// Where baton keeps its state (DESIGN.md §3): everything lives under BATON_HOME, so tests
// that set it to a temp dir can run any number of daemons side by side.
#pragma once

#include <sys/types.h>

#include <string>

#include <tl/expected.hpp>

namespace baton::runtime {

struct Paths {
  // BATON_HOME, else $XDG_STATE_HOME/baton, else ~/.local/state/baton; ~ is $HOME, else the
  // user's home in /etc/passwd.
  std::string home;
  std::string run_dir;      // home/run, mode 0700
  std::string socket;       // run/control.sock, mode 0600
  std::string lock;         // run/daemon.lock, flock'd by the one daemon
  std::string holders_dir;  // run/holders: one socket per session holder, mode 0700
  std::string state_dir;    // home/state
  std::string logs_dir;     // home/logs

  static Paths from_env();
};

// The home directory of `uid` in a passwd(5) file, or "" when it has no entry.
std::string passwd_home(uid_t uid, const std::string& passwd_file);

// The run directory holds the socket every command trusts: it must be a real directory (not a
// symlink someone planted) owned by this user, else another user could stand in for the daemon
// or have baton chmod their files. The error is one line naming the path and what is wrong.
tl::expected<void, std::string> check_run_dir(const std::string& path);

}  // namespace baton::runtime
