// An agent that outlived the daemon that started it (a crash or a SIGKILL of the daemon): its
// terminal died with that daemon, so nobody can attach to it or stop it gracefully. A pid
// alone may have been reused by then: the start time recorded at launch tells them apart.
#pragma once

#include <cstdint>

namespace baton::plugin {

// Start time of a process from /proc/<pid>/stat (field 22, in clock ticks since boot), 0 when
// it is gone or a zombie.
std::uint64_t process_start_time(long pid);

// SIGKILLs the agent `pid` and its process group when it still runs with `start_time`; true
// when it did. A pid of 0 or a start time of 0 (nothing recorded) kills nothing.
bool kill_outlived_agent(long pid, std::uint64_t start_time);

}  // namespace baton::plugin
