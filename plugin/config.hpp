// A project's configuration: baton.toml at the root of the main worktree, overridden key by
// key by an untracked baton.local.toml beside it (DESIGN.md §7). Parsed with toml++; unknown
// keys and wrong types are errors naming file, line and column; every optional key has a
// default. Pure and synchronous: the daemon calls it off the loop thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace baton::plugin {

// A hook or post_create command: a TOML string runs through `/bin/sh -c`, an array is argv.
struct CommandSpec {
  std::vector<std::string> argv;  // for a string: {"/bin/sh", "-c", string}
  std::string source;             // as written, for messages
};

// How baton talks to an agent beyond its argv: which hooks it can report activity through
// and how it resumes its own conversation (issue 8). Presets have their kind; an
// [agents.NAME] table may say `kind = "codex"` or `kind = "claude-code"` for a wrapper.
enum class AgentKind { kGeneric, kCodex, kClaude };

// Permission modes of `[orchestrator] permissions`; "default" adds nothing to the argv.
inline constexpr const char* kPermissionModes[] = {"default", "accept-edits", "bypass"};

struct AgentSpec {
  std::string name;                        // codex | claude-code | shell | [agents.NAME]
  std::vector<std::string> command;        // argv; command[0] is resolved on PATH
  std::vector<std::string> resume;         // argv used when relaunching; may be empty
  std::map<std::string, std::string> env;  // added to the project env for this agent
  std::string prompt_arg;                  // e.g. "--prompt"; empty: prompt is the last arg
  bool is_preset = false;                  // built in and not overridden by the repo
  AgentKind kind = AgentKind::kGeneric;
  // Extra arguments per permission mode other than "default" ("accept-edits", "bypass").
  std::map<std::string, std::vector<std::string>> permission_args;
  // Screen text that means the agent works / waits for the user (activity without hooks).
  std::vector<std::string> working_patterns;
  std::vector<std::string> waiting_patterns;
};

std::string kind_name(AgentKind kind);
// A TOML basic string with its quotes: what a config dump and codex's `-c` values need.
std::string toml_quote(std::string_view s);
bool is_permission_mode(std::string_view mode);

struct HookSet {
  std::optional<CommandSpec> before_retire;
  std::optional<CommandSpec> after_retire;
  std::optional<CommandSpec> before_spawn;
  std::optional<CommandSpec> after_spawn;
  std::optional<CommandSpec> on_exit;
  int timeout_ms = 30000;  // "30s", "500ms", "2m"
};

struct ProjectConfig {
  // [project]
  std::string name;            // project id; default: repo directory name (slugged)
  std::string session_prefix;  // default: project id, first 12 chars
  std::string base_branch;     // default: "" = HEAD
  // [orchestrator]
  std::string agent;  // resolved: explicit, else codex / claude-code / shell on PATH
  // Why this agent (for `baton up`): "set in baton.toml", "not set; codex is on PATH", ...
  std::string agent_reason;
  std::string branch_template;  // default "baton/{prefix}-orchestrator"
  std::string branch;           // template with {prefix} (and {project}) substituted, validated
  std::string prompt;
  bool carry_uncommitted = true;
  std::string permissions = "default";  // one of kPermissionModes
  int launch_grace_ms = 5000;  // [orchestrator] launch_grace = "5s"
  // [agents.*], presets included
  std::map<std::string, AgentSpec> agents;
  // [workspace]
  std::string workspace_root;         // default "$BATON_HOME/worktrees"; $VARS and ~ expanded
  std::vector<std::string> symlinks;  // repo-relative; absolute and ".." rejected
  std::vector<CommandSpec> post_create;
  // [env], ${VAR} expanded from the environment of the `baton` command
  std::map<std::string, std::string> env;
  HookSet hooks;

  std::vector<std::string> files;  // the config files that were read (absolute paths)
  // config_hash() of exactly the bytes parsed, over both candidates (<root>/baton.toml,
  // <root>/baton.local.toml; a missing one as absent): check trust against this, not a
  // re-read, so a file edited after loading is never taken as allowed.
  std::string content_hash;

  // Anything from the repository that would run a command: hooks, post_create, agents that
  // are not untouched presets. These need `baton allow`.
  bool has_repo_commands() const;
  // Set by the orchestrator when it loads the config: no repository commands, or `baton allow`
  // recorded content_hash. Launches and hooks outside a handoff's preflight check this.
  bool is_allowed = false;
};

struct ConfigInputs {
  std::string repo_root;  // main worktree's working directory
  std::string baton_home;
  std::map<std::string, std::string> environment;  // of the `baton` command, for ${VAR}
  // Whether a command name is found on PATH (for the default agent); injectable for tests.
  std::function<bool(const std::string&)> is_on_path;
};

// Errors read like `/repo/baton.toml:3:9: unknown key 'agnet' in [orchestrator]`.
tl::expected<ProjectConfig, std::string> load_config(const ConfigInputs& in);

// The contents of <root>/baton.toml and <root>/baton.local.toml; nullopt for a missing file.
struct ConfigTexts {
  std::optional<std::string> main;
  std::optional<std::string> local;
};
// load_config without the reading: parses and validates texts as the files of in.repo_root.
// load_config reads the files and calls this; the fuzzer calls it directly. Never throws.
tl::expected<ProjectConfig, std::string> parse_config(const ConfigInputs& in,
                                                      const ConfigTexts& texts);

// The effective config as TOML-like text, env values masked (`GITHUB_TOKEN = "***"`).
std::string render_effective(const ProjectConfig& cfg);

// The built-in agent presets: codex, claude-code, shell.
std::map<std::string, AgentSpec> agent_presets();

// True when a command name is executable on PATH (or is an executable path).
bool is_on_path(const std::string& command, const std::string& path_env);

}  // namespace baton::plugin
