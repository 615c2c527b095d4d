#include "plugin/outlived_agent.hpp"

#include <signal.h>
#include <sys/types.h>

#include <fstream>
#include <sstream>
#include <string>

namespace baton::plugin {

std::uint64_t process_start_time(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  // The command (field 2) is in parentheses and may hold spaces and ')': the fields after it
  // start after the last ')'.
  const auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 > line.size()) return 0;
  std::istringstream rest(line.substr(paren + 2));
  std::string field;
  // Field 3 (state) is the first after the command; start time is field 22.
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
    if (i == 3 && field == "Z") return 0;
  }
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return 0;
  }
}

bool kill_outlived_agent(long pid, std::uint64_t start_time) {
  if (pid <= 0 || start_time == 0 || process_start_time(pid) != start_time) return false;
  // The group first: the agent's children (a shell's jobs, codex's tools) go with it.
  kill(-static_cast<pid_t>(pid), SIGKILL);
  kill(static_cast<pid_t>(pid), SIGKILL);
  return true;
}

}  // namespace baton::plugin
