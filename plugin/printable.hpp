// Text a repository's file chose (a key, a value, a path), made safe to print to a terminal:
// the allow prompt and `baton doctor` show what a cloned repository wrote.
#pragma once

#include <string>

#include "runtime/protocol.hpp"

namespace baton::cli {

// Control characters (C0, DEL, C1) and the bidirectional overrides that could hide or
// reorder what is shown, written as TOML escapes them (\u001B); everything else as it is.
std::string printable(const std::string& text);

// The strings of a JSON list, each printable, joined by `separator`.
std::string printable_list(const runtime::protocol::Json& list, const char* separator);

}  // namespace baton::cli
