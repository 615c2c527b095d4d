// The effective config as `baton config check` prints it: a leaf over plugin/config.hpp that
// nothing in the loader includes.
#pragma once

#include <string>

#include "plugin/config.hpp"

namespace baton::plugin {

// The effective config as TOML-like text, env values masked (`GITHUB_TOKEN = "***"`).
std::string render_effective(const ProjectConfig& cfg);

}  // namespace baton::plugin
