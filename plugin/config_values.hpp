// Typed readers of config values: each checks one TOML value's type and form and names the
// key in its error, at the value's position (`/repo/baton.toml:3:9: [hooks] timeout must be
// ...`). Which keys exist and what they mean is the loader's (plugin/config.cpp); only it
// includes this.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>
// Debian's toml++ is a compiled library in exceptions mode; these readers only look at parsed
// nodes, which throws nothing (DESIGN.md §8).
#include <toml++/toml.h>

#include "plugin/command_spec.hpp"
#include "plugin/config_expand.hpp"

namespace baton::plugin {

// One config file being applied: its absolute path, for every message.
struct SourceFile {
  std::string path;
  std::string name;           // baton.toml | baton.local.toml
  bool is_repository = true;  // false only for a baton.local.toml git does not track
};

using ConfigFailure = tl::unexpected<std::string>;

// "file:line:column" of where in f.
std::string position_of(const SourceFile& f, const toml::source_region& where);
// The error "file:line:column: message".
ConfigFailure fail_at(const SourceFile& f, const toml::source_region& where,
                      std::string_view message);

tl::expected<std::string, std::string> read_string(const SourceFile& f, const toml::node& node,
                                                   std::string_view what);
tl::expected<std::vector<std::string>, std::string> read_string_array(const SourceFile& f,
                                                                      const toml::node& node,
                                                                      std::string_view what);
// "5s", "500ms", "2m", "1h", or an integer number of seconds.
tl::expected<int, std::string> read_duration_ms(const SourceFile& f, const toml::node& node,
                                                std::string_view what);
// A hook or post_create entry: a string runs through /bin/sh -c, an array is argv.
tl::expected<CommandSpec, std::string> read_command(const SourceFile& f, const toml::node& node,
                                                    std::string_view what);
// A value as its file writes it, on one line of TOML (`"less"`, `["./agent", "--fast"]`,
// `{ bypass = ["--yolo"] }`, `true`): nothing expanded, control characters escaped. What the
// allow prompt shows for each key that waits for `baton allow`.
std::string written_value(const toml::node& node);

// A table of strings, each with its `${VAR}` expanded from environment (expand_braced).
tl::expected<std::map<std::string, std::string>, std::string> read_env_table(
    const SourceFile& f, const toml::node& node, std::string_view section,
    const Environment& environment);

}  // namespace baton::plugin
