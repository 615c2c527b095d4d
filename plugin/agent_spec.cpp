#include "plugin/agent_spec.hpp"

#include "runtime/search_path.hpp"

namespace baton::plugin {

std::string kind_name(AgentKind kind) {
  switch (kind) {
    case AgentKind::kCodex:
      return "codex";
    case AgentKind::kClaude:
      return "claude-code";
    case AgentKind::kGeneric:
      break;
  }
  return "generic";
}

bool is_permission_mode(std::string_view mode) {
  for (const char* m : kPermissionModes)
    if (mode == m) return true;
  return false;
}

// The presets carry no approval bypass unless `permissions = "bypass"` asks for it; the
// codex and claude flags for the other arguments (update check, trust, hooks, resume) are
// added at launch by plugin/agent_launch.cpp, where the worktree and session are known.
std::map<std::string, AgentSpec> agent_presets() {
  std::map<std::string, AgentSpec> presets;
  AgentSpec codex;
  codex.name = "codex";
  codex.command = {"codex"};
  codex.resume = {"codex", "resume", "--last"};
  codex.is_preset = true;
  codex.kind = AgentKind::kCodex;
  codex.permission_args = {
      {"accept-edits", {"--sandbox", "workspace-write", "--ask-for-approval", "on-request"}},
      {"bypass", {"--dangerously-bypass-approvals-and-sandbox"}}};
  codex.working_patterns = {"esc to interrupt"};
  codex.waiting_patterns = {
      "Would you like to run the following command", "Would you like to make the following edits",
      "Would you like to grant these permissions", "Would you like to send input to"};
  presets["codex"] = codex;

  AgentSpec claude;
  claude.name = "claude-code";
  claude.command = {"claude"};
  claude.resume = {"claude", "--continue"};
  claude.is_preset = true;
  claude.kind = AgentKind::kClaude;
  claude.permission_args = {{"accept-edits", {"--permission-mode", "acceptEdits"}},
                            {"bypass", {"--dangerously-skip-permissions"}}};
  claude.working_patterns = {"esc to interrupt"};
  claude.waiting_patterns = {"Do you want to proceed?", "Do you want to make this edit"};
  presets["claude-code"] = claude;

  // "$SHELL" stays literal here: the plugin substitutes the user's SHELL (or /bin/sh) when
  // it builds the argv, so a config dump never shows a machine-specific path.
  AgentSpec shell;
  shell.name = "shell";
  shell.command = {"$SHELL", "-l"};
  shell.resume = {"$SHELL", "-l"};
  shell.is_preset = true;
  shell.takes_prompt = false;
  presets["shell"] = shell;
  return presets;
}

bool is_on_path(const std::string& command, const std::string& path_env) {
  return !runtime::find_on_path(command, path_env).empty();
}

tl::expected<const AgentSpec*, std::string> runnable_agent(
    const std::map<std::string, AgentSpec>& agents, const std::string& name,
    const std::string& path_env) {
  const auto it = agents.find(name);
  if (it == agents.end()) {
    std::string names;
    for (const auto& [agent, spec] : agents) names += (names.empty() ? "" : ", ") + agent;
    return tl::make_unexpected("agent '" + name + "' is not defined: use " + names);
  }
  std::string argv0 = it->second.command.empty() ? "" : it->second.command[0];
  if (argv0 == "$SHELL") argv0 = "/bin/sh";
  if (!is_on_path(argv0, path_env))
    return tl::make_unexpected("agent '" + name + "' runs '" + argv0 + "', which is not on PATH");
  return &it->second;
}

}  // namespace baton::plugin
