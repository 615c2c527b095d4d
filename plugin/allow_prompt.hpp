// The allow prompt of `up` and `replace` (docs/orchestrator.md, Trust): when the repository's
// config waits for `baton allow` and someone sits at the terminal, show what would take effect
// and ask, as direnv shows an .envrc. Keybindings, scripts and every other use without a
// terminal on stdin and stdout keep the one-line refusal.
#pragma once

#include <string>

#include "runtime/protocol.hpp"

namespace baton::cli {

// Whether stdin and stdout are both terminals: only then is there someone to ask.
bool can_ask_to_allow();

// Shows each setting of the project `target` names that waits for an allow, with its value as
// the file writes it, and asks `Allow? [y/N]`. On `y`, records the allow as `baton allow` does,
// of exactly the content shown, and returns true (so it does when the content was allowed
// meanwhile). On any other answer it returns false and prints nothing more: the caller prints
// the usual refusal. `env` is the command's environment.
bool ask_to_allow(const std::string& target, const runtime::protocol::Json& env);

}  // namespace baton::cli
