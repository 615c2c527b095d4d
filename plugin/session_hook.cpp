#include "plugin/session_hook.hpp"

namespace baton::plugin {

hooks::HookRequest session_hook_request(const ProjectConfig& cfg, const std::string& event,
                                        const CommandSpec& cmd, const HookSubject& subject,
                                        const std::string& logs_dir) {
  hooks::HookRequest h;
  h.event = event;
  h.argv = cmd.argv;
  h.cwd = subject.worktree;
  h.env = {{"BATON_PROJECT", subject.project},   {"BATON_SESSION", subject.session},
           {"BATON_WORKTREE", subject.worktree}, {"BATON_BRANCH", subject.branch},
           {"BATON_AGENT", subject.agent},       {"BATON_EVENT", event}};
  h.timeout_ms = cfg.hooks.timeout_ms;
  h.log_path = logs_dir + "/hooks.log";
  return h;
}

}  // namespace baton::plugin
