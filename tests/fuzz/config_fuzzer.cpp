// Fuzzes the project config loader (plugin/config.cpp): toml++ parsing plus every check of
// the schema, through parse_config, the from-text entry load_config itself uses. The input
// is baton.toml, and after a NUL byte (never valid TOML) baton.local.toml. Oracles: an
// accepted config renders (as `baton config` shows it) and never shows an [env] value; a
// rejected one gets one message naming the file, never the catch-all for an escaped
// exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "plugin/config.hpp"
#include "plugin/config_render.hpp"

namespace plugin = baton::plugin;

namespace {

void check(bool ok, const char* what, const std::string& detail) {
  if (!ok) {
    __builtin_fprintf(stderr, "oracle violated: %s: %s\n", what, detail.c_str());
    std::abort();
  }
}

// The [env] table of render_effective's text: from its header to the next table.
std::string_view env_section(std::string_view shown) {
  const auto start = shown.starts_with("[env]\n") ? 0 : shown.find("\n[env]\n");
  if (start == std::string_view::npos) return {};
  const auto body = shown.find('\n', start + 1) + 1;
  const auto end = shown.find("\n[", body);
  return shown.substr(body, end == std::string_view::npos ? std::string_view::npos : end - body);
}

const plugin::ConfigInputs& inputs() {
  // A root that does not exist: the symlink checks resolve paths but find nothing on disk.
  static const plugin::ConfigInputs in{
      "/nonexistent/baton-fuzz/repo",
      "/nonexistent/baton-fuzz/home",
      {{"HOME", "/nonexistent/baton-fuzz/user"},
       {"PATH", "/usr/bin:/bin"},
       {"GITHUB_TOKEN", "fuzz-secret-token"}},
      [](const std::string& command) { return command == "claude"; }};
  return in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  plugin::ConfigTexts texts;
  if (auto nul = input.find('\0'); nul != std::string_view::npos) {
    texts.main = std::string(input.substr(0, nul));
    texts.local = std::string(input.substr(nul + 1));
  } else {
    texts.main = std::string(input);
  }
  auto cfg = plugin::parse_config(inputs(), texts);
  if (!cfg) {
    const std::string& error = cfg.error();
    check(error.starts_with("/nonexistent/baton-fuzz/repo/baton.toml:") ||
              error.starts_with("/nonexistent/baton-fuzz/repo/baton.local.toml:") ||
              error.starts_with("/nonexistent/baton-fuzz/repo:"),
          "an error that does not name the file (an escaped exception?)", error);
    return 0;
  }
  check(!cfg->branch.empty() && !cfg->agent.empty() && cfg->agents.contains(cfg->agent),
        "an accepted config without a branch or a defined agent", cfg->branch);
  std::string shown = plugin::render_effective(*cfg);
  // ${GITHUB_TOKEN} in [env] expands to the secret; only text written literally may show it.
  // Elsewhere (a workspace root written with $GITHUB_TOKEN) the expansion is the user's own
  // path and is shown as it is.
  check(env_section(shown).find("fuzz-secret-token") == std::string_view::npos ||
            input.find("fuzz-secret-token") != std::string_view::npos,
        "the rendered config shows an [env] value", shown);
  return 0;
}
