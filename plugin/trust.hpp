// Trust, as direnv does it: commands that come from a repository's config run only after
// `baton allow` recorded the config files' content hash. A changed file must be allowed again.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace baton::plugin {

// A hash over each file's path and content, in order (a missing file hashes as absent);
// libgit2's collision-detecting SHA-1 of the concatenation.
std::string config_hash(const std::vector<std::string>& files);

// The same over contents already read (nullopt: absent), so a loader can hash exactly what
// it parsed. config_hash() reads the files and calls this.
struct ConfigFile {
  std::string path;
  std::optional<std::string> content;
};
std::string config_hash_of_contents(const std::vector<ConfigFile>& files);

// Records live in <state_dir>/allowed.json, written atomically.
bool is_allowed(const std::string& state_dir, const std::string& repo_root,
                const std::string& hash);
tl::expected<void, std::string> allow(const std::string& state_dir, const std::string& repo_root,
                                      const std::string& hash);

}  // namespace baton::plugin
