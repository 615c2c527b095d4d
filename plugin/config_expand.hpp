// Variables in config values: `${VAR}` in [env] values, `~`, `$VAR` and `${VAR}` in
// [workspace] root, from the environment of the `baton` command. Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace baton::plugin {

using Environment = std::map<std::string, std::string>;

// A character of a variable name after its first: A-Z a-z 0-9 _.
bool is_var_char(char c);

// The variable's value; empty when it is unset.
std::string environment_value(const Environment& environment, const std::string& name);

// [env] values: `${VAR}` from the environment (unset: empty), `$$` is a literal `$`; any
// other `$` stays as written so values like passwords need no escaping. The error says what
// is wrong ("unterminated ${", "bad variable name '${1x}'") for the caller to place.
tl::expected<std::string, std::string> expand_braced(std::string_view value,
                                                     const Environment& environment);

// [workspace] root: a leading `~`, `$VAR` and `${VAR}`; BATON_HOME is baton_home (baton's own
// home) even when the environment does not set it.
std::string expand_path(std::string_view value, const std::string& baton_home,
                        const Environment& environment);

}  // namespace baton::plugin
