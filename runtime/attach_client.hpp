// The attach client: raw terminal, frames to and from the daemon, resize on SIGWINCH, detach
// on a key; the terminal is restored on every way out. With a non-tty stdout it just
// streams the session's bytes.
#pragma once

#include <functional>
#include <string>

namespace baton::runtime {

// A new connection attached to the same target, or fd -1 and why not.
struct Reattached {
  int fd = -1;
  std::string buffered;  // bytes read past the attach reply
  std::string error;
};

struct AttachOptions {
  bool is_read_only = false;
  unsigned char detach_key = 0x1c;  // Ctrl-\ ;
  std::string session_id;
  // Called when the connection drops without the session's exit: the daemon died, and the
  // agent lives on under its holder. Returns a connection to a daemon started for it, which
  // adopted the agent. The previous fd is the caller's to close.
  std::function<Reattached()> reattach;
};

// Runs until detach (returns 0), the session's exit (returns its status) or a lost
// connection that could not be reattached (returns 1 after one line on stderr). `buffered`
// holds bytes already read past the attach reply.
int run_attach(int sock_fd, const std::string& buffered, const AttachOptions& opts);

// The size of the controlling terminal on stdin/stdout, or {0, 0}.
struct TermSize {
  int rows = 0;
  int cols = 0;
};
TermSize terminal_size();

}  // namespace baton::runtime
