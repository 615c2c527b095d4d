// An agent as baton runs it: its argv, resume command, environment, kind, permission
// arguments and screen patterns (AgentSpec); the built-in presets; and whether a command can
// be found on PATH, which picks the default agent and is checked before every launch.
// Knows nothing of a project's config: plugin/config.hpp builds on it.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace baton::plugin {

// How baton talks to an agent beyond its argv: which hooks it can report activity through
// and how it resumes its own conversation (issue 8). Presets have their kind; an
// [agents.NAME] table may say `kind = "codex"` or `kind = "claude-code"` for a wrapper.
enum class AgentKind { kGeneric, kCodex, kClaude };

// Permission modes of `[orchestrator] permissions`; "default" adds nothing to the argv.
inline constexpr const char* kPermissionModes[] = {"default", "accept-edits", "bypass"};

// The presets' names, in the order a message lists them.
inline constexpr std::array<std::string_view, 3> kPresetNames = {"codex", "claude-code", "shell"};

struct AgentSpec {
  std::string name;                        // codex | claude-code | shell | [agents.NAME]
  std::vector<std::string> command;        // argv; command[0] is resolved on PATH
  std::vector<std::string> resume;         // argv used when relaunching; may be empty
  std::map<std::string, std::string> env;  // added to the project env for this agent
  std::string prompt_arg;                  // e.g. "--prompt"; empty: prompt is the last arg
  bool takes_prompt = true;  // false for the shell preset: a shell would run it as a script
  bool is_preset = false;    // built in and not overridden by the repo
  AgentKind kind = AgentKind::kGeneric;
  // Extra arguments per permission mode other than "default" ("accept-edits", "bypass").
  std::map<std::string, std::vector<std::string>> permission_args;
  // Screen text that means the agent works / waits for the user (activity without hooks).
  std::vector<std::string> working_patterns;
  std::vector<std::string> waiting_patterns;
};

std::string kind_name(AgentKind kind);
bool is_permission_mode(std::string_view mode);

// The built-in agent presets: codex, claude-code, shell.
std::map<std::string, AgentSpec> agent_presets();

// True when a command name is executable on PATH (or is an executable path).
bool is_on_path(const std::string& command, const std::string& path_env);

// The agent `name` of `agents` when it is defined and its command is on `path_env`; else the
// one line that says which is not ("agent 'x' is not defined: use a, b", "agent 'x' runs 'y',
// which is not on PATH"). What a handoff and a spawn check before they make anything.
tl::expected<const AgentSpec*, std::string> runnable_agent(
    const std::map<std::string, AgentSpec>& agents, const std::string& name,
    const std::string& path_env);

}  // namespace baton::plugin
