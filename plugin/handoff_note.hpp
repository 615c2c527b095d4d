// The handoff note (DESIGN.md §9): a Markdown file under $BATON_HOME that tells the new
// orchestrator what the old one was doing. The old agent may write its own summary there
// first (the drain's summarize step); baton then adds what it knows; the preserved paths
// follow after adopt. The new agent gets the path in BATON_HANDOFF_NOTE.
#pragma once

#include <string>

namespace baton::plugin {

// $BATON_HOME/notes/<project>/<new session id>.md: one note per handoff, named after the
// session that reads it.
inline std::string note_path(const std::string& baton_home, const std::string& project,
                             const std::string& new_session_id) {
  return baton_home + "/notes/" + project + "/" + new_session_id + ".md";
}

}  // namespace baton::plugin
