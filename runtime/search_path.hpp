// The PATH a command is looked up in, and the lookup. One default for checking a command (the
// config's "is it on PATH", the handoff's preflight, `baton doctor`) and for spawning it, so a
// check never passes for a command the spawn cannot find, or refuses one it would have found.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace baton::runtime {

// For an environment without PATH (a `baton` run from a bare cron or systemd unit).
inline constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// The PATH of `env`, or kDefaultPath when it has none or an empty one.
std::string search_path(const std::vector<std::string>& env);  // "KEY=VALUE" entries
std::string search_path(const std::map<std::string, std::string>& env);

// The executable regular file `command` names: itself when it holds a '/', else the first
// PATH entry that has it (an empty entry is the current directory). "" when there is none.
std::string find_on_path(const std::string& command, const std::string& path_env);

}  // namespace baton::runtime
