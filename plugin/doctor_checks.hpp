// The checks of `baton doctor` that need no daemon: the multiplexers, the agents, the run
// directory, the inotify limit and the systemd user manager. Each looks at this machine as the
// `baton` command sees it (its PATH, $TMUX, kitty's variables) and says how to fix what it
// finds. plugin/doctor.cpp adds the daemon's checks and prints them.
#pragma once

#include <string>
#include <vector>

#include "runtime/paths.hpp"

namespace baton::cli {

enum class CheckLevel { kOk, kWarn, kFail };

struct Check {
  std::string name;  // tmux, codex, trust ...
  CheckLevel level = CheckLevel::kOk;
  std::string detail;  // what was found
  std::string fix;     // what to do about it; "" when nothing
};

// An agent at the version baton is tested with (scripts/tested-agents.txt, which
// scripts/setup installs for the real-agent tests too).
struct TestedAgent {
  std::string command;  // codex
  std::string preset;   // the config's name for it: codex, claude-code
  std::string package;  // @openai/codex
  std::string version;  // 0.169.0
};
const std::vector<TestedAgent>& tested_agents();

// The first version number in `text` ("codex-cli 0.169.0" → "0.169.0"), or "".
std::string version_in(const std::string& text);

Check check_tmux();
// In a tmux server reachable through $TMUX: whether baton.tmux ran there (its key bindings
// and BATON_TMUX_HELPER) and whether the `baton` its keys run can be found.
Check check_tmux_plugin();
// kitty, and its remote control where the replace key needs it (no notify-send).
Check check_kitty();
// Whether the agent's command is on this command's PATH.
bool is_on_own_path(const TestedAgent& agent);
// `agent` on PATH and its version. `needed_because` ("it is this project's agent"): why its
// absence fails; "" when it may be missing.
Check check_agent(const TestedAgent& agent, const std::string& needed_because);
// Owner and modes of BATON_HOME/run and its socket (runtime/paths.cpp, check_run_dir).
Check check_run_dir(const runtime::Paths& paths);
// fs.inotify.max_user_watches; BATON_TEST_INOTIFY_WATCHES stands in for it in tests.
Check check_inotify();
Check check_systemd();

}  // namespace baton::cli
