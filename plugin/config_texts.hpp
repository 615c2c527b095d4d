// The bytes of a project's config files, read once: what the loader parses and what
// `baton allow` hashes, so trust is checked against exactly what was parsed. Synchronous file
// and git I/O: the daemon calls it off the loop thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace baton::plugin {

// At the root of the main worktree: the repository's file and the one that overrides it key
// by key.
inline constexpr std::string_view kConfigFileName = "baton.toml";
inline constexpr std::string_view kLocalConfigFileName = "baton.local.toml";

// The contents of <root>/baton.toml and <root>/baton.local.toml; nullopt for a missing file.
struct ConfigTexts {
  std::optional<std::string> main;
  std::optional<std::string> local;
  // Whether git tracks baton.local.toml. A tracked one came with the repository and needs
  // trust like baton.toml; an untracked one is the user's own. Unknown counts as tracked.
  bool local_is_tracked = true;
};

// The texts of <root>/baton.toml and <root>/baton.local.toml and whether git tracks the local
// one: what load_config parses and `baton allow` hashes.
tl::expected<ConfigTexts, std::string> read_config_texts(const std::string& repo_root);

// The hash `baton allow` records and trust is checked against: the repository's files only
// (baton.toml, and baton.local.toml when git tracks it), path and bytes, so editing one's own
// untracked baton.local.toml never needs a new allow.
std::string repository_config_hash(const std::string& repo_root, const ConfigTexts& texts);

}  // namespace baton::plugin
