// A project's configuration: baton.toml at the root of the main worktree, overridden key by
// key by an untracked baton.local.toml beside it (DESIGN.md §7). Parsed with toml++; unknown
// keys and wrong types are errors naming file, line and column; every optional key has a
// default. Synchronous: the daemon calls it off the loop thread.
//
// Beside it, each with one job: agent_spec.hpp (agents and their presets), config_texts.hpp
// (the files' bytes and the hash trust checks), config_values.hpp (typed readers of TOML
// values), config_expand.hpp (variables in values), and config_render.hpp (the effective config
// as text, a leaf nothing here includes).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "plugin/agent_spec.hpp"
#include "plugin/command_spec.hpp"
#include "plugin/config_texts.hpp"
#include "runtime/holder_protocol.hpp"

namespace baton::plugin {

struct HookSet {
  std::optional<CommandSpec> before_retire;
  std::optional<CommandSpec> after_retire;
  std::optional<CommandSpec> before_spawn;
  std::optional<CommandSpec> after_spawn;
  std::optional<CommandSpec> on_exit;
  int timeout_ms = 30000;  // "30s", "500ms", "2m"
};

// [workers] max: at most this many, whatever a config says (each is a checkout and an agent).
inline constexpr int kMaxWorkers = 64;

// The initial prompt of a fresh codex or claude orchestrator when [orchestrator] prompt is not
// set: where it learns to run its team (docs/workers.md).
inline constexpr const char* kDefaultOrchestratorPrompt =
    "You are this project's orchestrator, kept running by baton. Run `baton guide` to learn how "
    "to start, watch, instruct and finish worker agents, each on its own branch.";

inline constexpr const char* kDefaultHandoffPrompt =
    "Read the handoff note at {note_path} and continue the work.";

// [orchestrator] standby: whether a replace finds the next tree prepared (plugin/standby.hpp).
// auto: on unless the checkout is too large or the disk too full (standby_steps.hpp).
enum class StandbyMode { kAuto, kOn, kOff };
std::string_view standby_mode_name(StandbyMode mode);

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
  bool is_prompt_set = false;  // [orchestrator] prompt given ("" included): no default then
  // The new agent's initial prompt after a handoff that wrote a note ({note_path} is the
  // note's absolute path); "" gives none. Added after `prompt`.
  std::string handoff_prompt = kDefaultHandoffPrompt;
  bool carry_uncommitted = true;
  std::string permissions = "default";  // one of kPermissionModes
  int launch_grace_ms = 5000;           // [orchestrator] launch_grace = "5s"
  // The handoff's drain (docs/orchestrator.md): how long it waits for the old agent's turn to
  // end, what it asks a responsive agent to write into the note ("" = the default text, with
  // {note_path}) and how long it waits for that note.
  int drain_timeout_ms = 120000;             // [orchestrator] drain_timeout = "120s"
  std::string summarize_prompt;              // [orchestrator] summarize_prompt
  int summarize_timeout_ms = 120000;         // [orchestrator] summarize_timeout = "120s"
  StandbyMode standby = StandbyMode::kAuto;  // [orchestrator] standby = "auto"
  // [workers] (docs/workers.md)
  std::string workers_agent;  // "" = the orchestrator's
  int workers_max = 8;
  bool notify_orchestrator = true;
  // [agents.*], presets included
  std::map<std::string, AgentSpec> agents;
  // [workspace]
  std::string workspace_root;         // default "$BATON_HOME/worktrees"; $VARS and ~ expanded
  std::vector<std::string> symlinks;  // repo-relative; absolute and ".." rejected
  std::vector<CommandSpec> post_create;
  // [env], ${VAR} expanded from the environment of the `baton` command
  std::map<std::string, std::string> env;
  HookSet hooks;
  // [runtime] holder_buffer: what the agent's session holder keeps while no daemon runs.
  std::size_t holder_buffer_bytes = runtime::kDefaultHolderBuffer;

  std::vector<std::string> files;  // the config files that were read (absolute paths)
  // The hash of exactly the bytes parsed from the repository's files (trust.hpp,
  // repository_config_hash): check trust against this, not a re-read, so a file edited after
  // loading is never taken as allowed.
  std::string content_hash;

  // What a repository file (baton.toml; baton.local.toml when git tracks it) sets that changes
  // what runs, where, with which environment, or what an agent may do, one entry per key as
  // `[env] NODE_OPTIONS` or `[agents.ok] command`, by table and key. Everything but the inert
  // keys (kInertKeys) is listed: a key added to the schema needs trust unless it is shown to be
  // inert. None of it takes effect before `baton allow` recorded content_hash (direnv's rule).
  std::vector<std::string> trust_keys;
  // What each of them is set to, as the file writes it (config_values.hpp, written_value),
  // beside trust_keys: the allow prompt of `up` and `replace` shows both. A key two files set
  // has the value in force (the later file's).
  std::vector<std::string> trust_values;
  std::vector<std::string> trust_files;  // the repository files that set them
  bool needs_trust() const { return !trust_keys.empty(); }
  // Set by the orchestrator when it loads the config: nothing needs trust, or `baton allow`
  // recorded content_hash. Launches and hooks outside a handoff's preflight check this.
  bool is_allowed = false;
};

// The keys a repository file may set without `baton allow`: names, a preset agent's name and
// timeouts. They choose among things the user already trusts and start nothing of their own.
inline constexpr const char* kInertKeys[] = {"[project] name",
                                             "[project] session_prefix",
                                             "[orchestrator] agent (a preset's name)",
                                             "[orchestrator] launch_grace",
                                             "[orchestrator] standby",
                                             "[workers] agent (a preset's name)",
                                             "[workers] max",
                                             "[workers] notify_orchestrator",
                                             "[hooks] timeout"};

// The one line `up`, `replace` and the keys print while trust is missing, naming the keys that
// wait and the command to run: "the settings [env] PAGER, [orchestrator] prompt in
// /r/baton.toml are not allowed yet: review them, then run 'baton allow /r'".
std::string not_allowed_message(const ProjectConfig& cfg, const std::string& repo_root);

struct ConfigInputs {
  std::string repo_root;  // main worktree's working directory
  std::string baton_home;
  std::map<std::string, std::string> environment;  // of the `baton` command, for ${VAR}
  // Whether a command name is found on PATH (for the default agent); injectable for tests.
  std::function<bool(const std::string&)> is_on_path;
};

// Errors read like `/repo/baton.toml:3:9: unknown key 'agnet' in [orchestrator]`.
tl::expected<ProjectConfig, std::string> load_config(const ConfigInputs& in);

// load_config without the reading: parses and validates texts as the files of in.repo_root.
// load_config reads the files and calls this; the fuzzer calls it directly. Never throws.
tl::expected<ProjectConfig, std::string> parse_config(const ConfigInputs& in,
                                                      const ConfigTexts& texts);

}  // namespace baton::plugin
