// The daemon's log: logs/daemon.log, rotating; a user sees one line, the log has the rest.
#pragma once

#include "runtime/paths.hpp"

namespace baton::runtime {

void init_log(const Paths& paths, bool also_stderr);

// A background daemon's stderr, /dev/null since it detached, goes to logs/daemon.stderr
// (appended): what the log cannot hold, such as std::terminate's message or a sanitizer's
// report, is still there after the daemon died.
void keep_stderr(const Paths& paths);

}  // namespace baton::runtime
