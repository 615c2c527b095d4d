// What exactly starts an orchestrator agent: its argv, the environment baton adds, and the
// files it needs beside (claude's hook settings). plan_launch is pure; prepare_launch_files
// plans and writes those files, synchronously (the orchestrator calls it off the loop and
// spawns on it). Per agent kind (issue 5 point 4, issue 8):
//   codex   no update check, the worktree trusted, no shared background server (it would
//           outlive the agent's process group), `notify` → `baton signal`, resume by thread
//           id (`codex resume <id>`) or `resume --last`;
//   claude  a settings file outside the worktree with hooks → `baton signal`, passed with
//           --settings; `--session-id <uuid>` on the first start, `--resume <uuid>` once
//           the conversation exists, else `--continue`; no auto-updater;
//   generic the configured command / resume argv.
// Every kind: the permission mode's arguments; on a fresh start the initial prompt — `prompt`,
// then after a handoff `handoff_prompt` naming the note (codex and claude: positional after
// `--`; generic: last, after `prompt_arg`; the shell preset: none; over 128 KiB: through a
// file under agent_dir); BATON_HANDOFF_NOTE on every launch of a session that has a note.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "plugin/config.hpp"
#include "plugin/session_store.hpp"

namespace baton::plugin {

struct LaunchContext {
  std::string baton_bin;  // absolute path of the `baton` client, for the agent's hooks
  std::string agent_dir;  // $BATON_HOME/agents/<session>: files baton keeps for the agent
  std::string repo_root;  // the main worktree (codex trusts by repository root)
  std::map<std::string, std::string> env;  // the environment the agent gets (HOME, SHELL, ...)
  std::function<bool(const std::string& path)> file_exists;
};

struct LaunchFile {
  std::string path;
  std::string content;
};

struct LaunchPlan {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE, added after the project's env
  std::vector<LaunchFile> files;
  std::string conversation_id;  // to record on the session ("" when none is known)
  // How the conversation is continued: "new", "id" (the agent's own id), "last" (the
  // agent's --continue / resume --last: no id was known), "none" (a generic agent).
  std::string resume_mode;
};

tl::expected<LaunchPlan, std::string> plan_launch(const AgentSpec& agent, const ProjectConfig& cfg,
                                                  const SessionRecord& rec, bool resume,
                                                  const LaunchContext& ctx);

// Where a launch happens, besides the session and its config.
struct LaunchSite {
  std::string repo_root;  // the main worktree; "" when the project is gone
  std::string agent_dir;  // $BATON_HOME/agents/<session>
  std::string bin_dir;    // where `baton` is (own_bin_dir()): hooks call it, PATH gets it first
};

// A launch planned, its files written: what the spawn needs.
struct PreparedLaunch {
  LaunchPlan plan;
  std::vector<std::string> env;  // KEY=VALUE for the session: command, [env], agent's, baton's
  std::string permissions;
};

// Plans the start of `rec`'s agent with the environment `env` (the `baton` command's) and
// writes the files it reads before it starts: claude's hook settings, and its trust entry for
// the worktree in ~/.claude.json (a claude config it cannot understand is left as it is, with
// a warning in the log). Refuses a config nobody allowed: a relaunch reads the config in
// force, which may have changed since (DESIGN.md §7). Blocking file I/O: never on the loop.
tl::expected<PreparedLaunch, std::string> prepare_launch_files(
    const SessionRecord& rec, const ProjectConfig& cfg,
    const std::map<std::string, std::string>& env, bool resume, const LaunchSite& site);

// The directory of the running executable (the daemon; `baton` is beside it).
std::string own_bin_dir();

// A stable RFC 4122-shaped id derived from the baton session (project path, id, creation
// time): the claude conversation of that session.
std::string conversation_uuid(const SessionRecord& rec, const std::string& repo_root);

// Where claude keeps a conversation's transcript for a working directory:
// <CLAUDE_CONFIG_DIR or ~/.claude>/projects/<cwd with every non-alphanumeric char as
// '-'>/<id>.jsonl
std::string claude_transcript_path(const std::map<std::string, std::string>& env,
                                   const std::string& cwd, const std::string& id);
// claude's global config (trust per directory): $CLAUDE_CONFIG_DIR/.claude.json or ~/.claude.json
std::string claude_config_path(const std::map<std::string, std::string>& env);

// The claude settings baton writes: one hook per lifecycle event, each running
// `baton signal --hook claude <Event>`.
std::string claude_settings_json(const std::string& baton_bin);

// Marks `dir` trusted in claude's global config text (the trust dialog's answer), keeping
// everything else; returns the new text, or the input unchanged when it already says so.
tl::expected<std::string, std::string> claude_config_with_trust(const std::string& text,
                                                                const std::string& dir);

}  // namespace baton::plugin
