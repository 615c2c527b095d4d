#include "plugin/config_keys.hpp"

#include <array>

namespace baton::plugin {

namespace {

using T = KeyTrust;

// Order: as the manual lists them. Defaults and examples are written as in a baton.toml.
constexpr std::array kKeys = {
    ConfigKey{"project", "name", "string", "the repository directory's name", T::kInert,
              "The project's id in baton's commands (A-Z a-z 0-9 . _ -).", "\"shop\""},
    ConfigKey{"project", "session_prefix", "string", "the name's first 12 characters", T::kInert,
              "The start of the orchestrator's session ids (shop-1, shop-2 ...).", "\"shop\""},
    ConfigKey{"project", "base_branch", "string", "HEAD", T::kNeedsAllow,
              "Where the orchestrator branch starts when it does not exist yet.", "\"main\""},
    ConfigKey{"orchestrator", "agent", "string",
              "codex, else claude-code, else shell (the first on PATH)", T::kUnlessPreset,
              "The agent that runs as orchestrator: a preset or an [agents.NAME].", "\"codex\""},
    ConfigKey{"orchestrator", "branch", "string", "\"baton/{prefix}-orchestrator\"", T::kNeedsAllow,
              "The canonical branch; {prefix} and {project} are replaced.",
              "\"baton/{prefix}-orchestrator\""},
    ConfigKey{"orchestrator", "prompt", "string",
              "for codex and claude-code, a line pointing at `baton guide`; else none",
              T::kNeedsAllow, "The initial prompt of every fresh orchestrator.",
              "\"Plan the next release.\""},
    ConfigKey{"orchestrator", "handoff_prompt", "string",
              "\"Read the handoff note at {note_path} and continue the work.\"", T::kNeedsAllow,
              "The new agent's prompt after a handoff that wrote a note (\"\" turns it off).",
              "\"Read {note_path} first.\""},
    ConfigKey{"orchestrator", "carry_uncommitted", "boolean", "true", T::kNeedsAllow,
              "Whether a handoff carries the old worktree's uncommitted work to the new one.",
              "false"},
    ConfigKey{"orchestrator", "launch_grace", "duration", "\"5s\"", T::kInert,
              "How long a new agent must live for its launch to count (replace --wait).", "\"2s\""},
    ConfigKey{"orchestrator", "standby", "string", "\"auto\"", T::kInert,
              "Whether the next orchestrator's tree is prepared ahead: \"auto\", \"on\" or "
              "\"off\".",
              "\"off\""},
    ConfigKey{"orchestrator", "drain_timeout", "duration", "\"120s\"", T::kNeedsAllow,
              "How long a handoff waits for the old agent's turn to end.", "\"60s\""},
    ConfigKey{"orchestrator", "summarize_timeout", "duration", "\"120s\"", T::kNeedsAllow,
              "How long a handoff waits for the old agent's handoff note.", "\"60s\""},
    ConfigKey{"orchestrator", "summarize_prompt", "string", "baton's own text", T::kNeedsAllow,
              "What a handoff asks the old agent to write; it must name {note_path}.",
              "\"Write your notes to {note_path}.\""},
    ConfigKey{"orchestrator", "permissions", "string", "\"default\"", T::kNeedsAllow,
              "What the agent may do unasked: \"default\", \"accept-edits\" or \"bypass\".",
              "\"accept-edits\""},
    ConfigKey{"workers", "agent", "string", "the orchestrator's agent", T::kUnlessPreset,
              "The agent a worker runs unless `baton spawn --agent` names one.", "\"claude-code\""},
    ConfigKey{"workers", "max", "integer", "8", T::kInert,
              "How many workers may run at once (1 to 64).", "4"},
    ConfigKey{"workers", "notify_orchestrator", "boolean", "true", T::kInert,
              "Whether the orchestrator is told when a worker waits, ends its turn or exits.",
              "false"},
    ConfigKey{"agents.NAME", "command", "array of strings", "the preset's; required otherwise",
              T::kNeedsAllow, "The agent's program and arguments.", "[\"my-agent\", \"--tui\"]"},
    ConfigKey{"agents.NAME", "resume", "array of strings", "none", T::kNeedsAllow,
              "What a relaunch runs instead of command, to continue the conversation.",
              "[\"my-agent\", \"--continue\"]"},
    ConfigKey{"agents.NAME", "env", "table of strings", "none", T::kNeedsAllow,
              "Variables added to the agent's environment (${VAR} and ~ expanded).",
              "{ MY_AGENT_MODE = \"fast\" }"},
    ConfigKey{"agents.NAME", "prompt_arg", "string", "none", T::kNeedsAllow,
              "The argument a generic agent gets before its initial prompt.", "\"--prompt\""},
    ConfigKey{"agents.NAME", "kind", "string", "\"generic\" (a preset's own kind for a preset)",
              T::kNeedsAllow, "How baton launches it: \"codex\", \"claude-code\" or \"generic\".",
              "\"generic\""},
    ConfigKey{"agents.NAME", "permission_args", "table of string arrays", "none", T::kNeedsAllow,
              "The arguments for each permissions mode (accept-edits, bypass).",
              "{ bypass = [\"--yolo\"] }"},
    ConfigKey{"agents.NAME", "working_patterns", "array of strings", "the preset's; none",
              T::kNeedsAllow, "Screen text that means the agent is working.",
              "[\"esc to interrupt\"]"},
    ConfigKey{"agents.NAME", "waiting_patterns", "array of strings", "the preset's; none",
              T::kNeedsAllow, "Screen text that means the agent waits for the user.",
              "[\"Allow this command?\"]"},
    ConfigKey{"workspace", "root", "string", "\"$BATON_HOME/worktrees\"", T::kNeedsAllow,
              "Where baton makes the orchestrator's worktrees ($VAR, ${VAR} and ~ expanded).",
              "\"~/worktrees\""},
    ConfigKey{"workspace", "symlinks", "array of strings", "none", T::kNeedsAllow,
              "Untracked paths of the repository linked into each new worktree.", "[\".env\"]"},
    ConfigKey{"workspace", "post_create", "array of commands", "none", T::kNeedsAllow,
              "Commands run in each new worktree (a string runs through /bin/sh -c).",
              "[\"make deps\"]"},
    ConfigKey{"env", "NAME", "string", "none", T::kNeedsAllow,
              "A variable of the agent's environment (${VAR} and ~ expanded).", "\"1\""},
    ConfigKey{"hooks", "before_retire", "command", "none", T::kNeedsAllow,
              "Runs before a handoff retires the old agent; a failure stops the handoff.",
              "\"notify-send retiring\""},
    ConfigKey{"hooks", "after_retire", "command", "none", T::kNeedsAllow,
              "Runs after the old agent is gone.", "[\"true\"]"},
    ConfigKey{"hooks", "before_spawn", "command", "none", T::kNeedsAllow,
              "Runs in the new worktree before its agent starts; a failure stops the handoff.",
              "\"true\""},
    ConfigKey{"hooks", "after_spawn", "command", "none", T::kNeedsAllow,
              "Runs after the new agent started.", "\"true\""},
    ConfigKey{"hooks", "on_exit", "command", "none", T::kNeedsAllow,
              "Runs when the orchestrator exits outside a handoff.", "\"true\""},
    ConfigKey{"hooks", "timeout", "duration", "\"30s\"", T::kInert,
              "How long a hook may run before it is stopped.", "\"10s\""},
    ConfigKey{"runtime", "holder_buffer", "integer (bytes)", "4194304 (4 MiB)", T::kNeedsAllow,
              "What an agent's session holder keeps of its output while no daemon reads.",
              "8388608"},
};

constexpr std::array<std::string_view, 8> kSections = {
    "project", "orchestrator", "workers", "agents", "workspace", "env", "hooks", "runtime"};

}  // namespace

std::span<const ConfigKey> config_keys() {
  return kKeys;
}

std::span<const std::string_view> config_sections() {
  return kSections;
}

const ConfigKey* find_config_key(std::string_view section, std::string_view key) {
  for (const auto& k : kKeys) {
    if (k.section != section) continue;
    if (k.key == key || (k.section == "env" && k.key == "NAME")) return &k;
  }
  return nullptr;
}

}  // namespace baton::plugin
