// The JSON views of a project and its orchestrator sessions: `status --json`, the rows of
// `sessions`, the session of `replace --json` (DESIGN.md §6). Field names are a contract
// (issue 4); a session's state is its wire name (session_store.hpp).
#pragma once

#include <string>
#include <vector>

#include "plugin/activity.hpp"
#include "plugin/project_registry.hpp"
#include "plugin/session_store.hpp"
#include "runtime/protocol.hpp"

namespace baton::plugin {

runtime::protocol::Json session_json(const SessionRecord& s, const Activity* activity);

// `sessions`: the project's orchestrator sessions; `health`: compute_health()'s word.
runtime::protocol::Json status_json(const ProjectState& p,
                                    const std::vector<const SessionRecord*>& sessions,
                                    const std::string& health, const ActivityTracker& activity);

}  // namespace baton::plugin
