// Every key baton.toml and baton.local.toml may hold, in one list: the loader refuses a key
// that is not in it (plugin/config.cpp), and `baton __man baton.toml.5` writes the manual page
// from it, so the page cannot name a key the loader refuses or miss one it reads.
#pragma once

#include <span>
#include <string_view>

namespace baton::plugin {

// Whether a repository's setting of the key waits for `baton allow` (docs/orchestrator.md,
// Trust); the user's untracked baton.local.toml never does.
enum class KeyTrust { kInert, kNeedsAllow, kUnlessPreset };

struct ConfigKey {
  std::string_view section;  // "project", "agents.NAME" (any agent), "env"
  std::string_view key;      // "NAME" in [env]: any variable
  std::string_view type;     // as the manual says it: "string", "duration", ...
  std::string_view default_value;
  KeyTrust trust;
  std::string_view description;  // one line
  std::string_view example;      // a TOML value the loader accepts for it alone
};

std::span<const ConfigKey> config_keys();

// The sections in the order of the list: the top-level tables a file may have.
std::span<const std::string_view> config_sections();

// The entry for `key` in `section` ("agents.NAME" for any [agents.X]), or nullptr.
const ConfigKey* find_config_key(std::string_view section, std::string_view key);

}  // namespace baton::plugin
