// The orchestrator plugin's control methods (DESIGN.md §4): one function per method, in three
// groups — projects (up, replace, down, status, ls), agents' sessions (sessions, signal,
// kill) and the repository (allow, config_check, preserved). Names and JSON fields are a
// contract (issue 4). They sit above the orchestrator and the handoff, which never call them.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "runtime/control_server.hpp"

namespace baton::plugin {

class Orchestrator;
struct ProjectState;

// Registers every method on the orchestrator's daemon; the daemon's entry point calls it once.
void register_control_methods(Orchestrator& orch);
// Starts start-up recovery's handoff of `p` (Orchestrator::set_handoff_starter).
void start_recovery_handoff(Orchestrator& orch, ProjectState& p, const std::string& agent,
                            const std::map<std::string, std::string>& env);

void register_project_methods(Orchestrator& orch);     // project_methods.cpp
void register_agent_methods(Orchestrator& orch);       // agent_methods.cpp
void register_repository_methods(Orchestrator& orch);  // repository_methods.cpp
void register_note_methods(Orchestrator& orch);        // note_methods.cpp
void register_message_methods(Orchestrator& orch);     // message_methods.cpp
void register_worker_methods(Orchestrator& orch);      // worker_methods.cpp

// A request's parameters: "" / false / {} when absent or of another type.
std::string string_param(const runtime::RequestPtr& req, const char* name);
bool bool_param(const runtime::RequestPtr& req, const char* name);
// "env": the `baton` command's environment.
std::map<std::string, std::string> env_param(const runtime::RequestPtr& req);

// The project a request names by "target" (or "path"): a project id, a session id or a path.
// With `may_register`, an absolute path of a repository nobody registered yet registers it
// (its id from [project] name or the directory). Answers the request itself when there is
// none; `then` runs on the loop.
void with_project(Orchestrator& orch, const runtime::RequestPtr& req, bool may_register,
                  const std::function<void(ProjectState&)>& then);

}  // namespace baton::plugin
