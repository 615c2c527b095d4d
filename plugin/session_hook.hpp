// The one shape of a hook run for a session (DESIGN.md §7, [hooks]): the hook's command in
// the session's worktree with the BATON_* variables naming the session, the config's timeout,
// and its output appended to <logs>/hooks.log. The handoff's hooks and those the orchestrator
// runs on its own (on_exit, after_retire, after_spawn) are built here alike.
#pragma once

#include <string>

#include "hooks/runner.hpp"
#include "plugin/config.hpp"

namespace baton::plugin {

struct HookSubject {
  std::string project;
  std::string session;
  std::string worktree;  // also the hook's working directory
  std::string branch;
  std::string agent;
};

hooks::HookRequest session_hook_request(const ProjectConfig& cfg, const std::string& event,
                                        const CommandSpec& cmd, const HookSubject& subject,
                                        const std::string& logs_dir);

}  // namespace baton::plugin
