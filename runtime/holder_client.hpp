// The daemon's side of the session holders (docs/runtime.md "Session holders"): starting an
// agent under a new holder, and taking over a holder a previous daemon left running.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "runtime/holder_protocol.hpp"
#include "runtime/pty.hpp"

namespace baton::runtime {

// An agent under its holder, as the daemon holds it.
struct HeldProcess {
  pid_t pid = -1;           // the agent (its own process group)
  pid_t holder_pid = -1;    // the holder (not the daemon's child)
  int master_fd = -1;       // non-blocking, close-on-exec
  int link_fd = -1;         // the SOCK_SEQPACKET link to the holder, close-on-exec
  std::string socket_path;  // where a later daemon finds it
};

struct HolderSite {
  std::string binary;       // baton-holder
  std::string holders_dir;  // run/holders
  std::size_t buffer_bytes = kDefaultHolderBuffer;
};

// baton-holder next to the running executable (a build tree, or an installed bin/), else in
// ../libexec/baton beside it; "" when neither exists.
std::string find_holder_binary();

// Starts `baton-holder` (fork, setsid, fork: it is nobody's child and in no one's session) and
// waits for it to spawn the agent. Errors read like pty_spawn's (`cannot start 'codx': ...`).
tl::expected<HeldProcess, std::string> spawn_held(const HolderSite& site, const std::string& id,
                                                  const std::string& created_at,
                                                  const PtySpawnOptions& spawn);

// A holder found under run/holders, adopted.
struct AdoptedHolder {
  HolderHello hello;
  std::string output;  // what it read while no daemon was connected, oldest first
  HeldProcess process;
};

enum class AdoptSkip {
  kGone,    // nothing listens there any more (a dead holder's socket, removed)
  kUnsafe,  // a symlink, not a socket, another user's socket or peer
  kBusy,    // another daemon holds it
  kNewer,   // it speaks a newer protocol than this daemon
  kBroken,  // it said something that is not the protocol, or timed out
};

struct AdoptFailure {
  AdoptSkip reason;
  std::string message;     // one line naming the path
  std::string session_id;  // kNewer: the session its living holder keeps
};

// Connects to one holder socket and takes the agent over: hello, kept output, master fd; then
// tells the holder kAdopted. Blocking, with a short timeout: it runs at start-up, before the
// loop serves anyone.
tl::expected<AdoptedHolder, AdoptFailure> adopt_holder(const std::string& socket_path);

}  // namespace baton::runtime
