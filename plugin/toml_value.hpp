// TOML values written as text: what the config dump shows, what a command given as an array
// is named by in messages, what the allow prompt shows, and what codex's `-c key=value`
// arguments need.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace baton::plugin {

// A TOML basic string with its quotes; control characters escaped.
std::string toml_quote(std::string_view s);

// A key as TOML takes it: bare when it can be, else quoted.
std::string toml_key(std::string_view key);

// A TOML array of basic strings: ["a", "b"].
std::string toml_array(const std::vector<std::string>& items);

}  // namespace baton::plugin
