// The daemon's log: logs/daemon.log, rotating; a user sees one line, the log has the rest.
#pragma once

#include "runtime/paths.hpp"

namespace baton::runtime {

void init_log(const Paths& paths, bool also_stderr);

}  // namespace baton::runtime
