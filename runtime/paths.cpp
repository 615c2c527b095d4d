#include "runtime/paths.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace baton::runtime {

namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string home_dir() {
  std::string h = env_or_empty("HOME");
  if (!h.empty()) return h;
  if (const passwd* pw = getpwuid(getuid())) return pw->pw_dir;
  return "/tmp";
}

}  // namespace

Paths Paths::from_env() {
  Paths p;
  p.home = env_or_empty("BATON_HOME");
  if (p.home.empty()) {
    std::string base = env_or_empty("XDG_STATE_HOME");
    if (base.empty()) base = home_dir() + "/.local/state";
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    p.home = (base == "/" ? "" : base) + "/baton";
  }
  while (p.home.size() > 1 && p.home.back() == '/') p.home.pop_back();
  p.run_dir = p.home + "/run";
  p.socket = p.run_dir + "/control.sock";
  p.lock = p.run_dir + "/daemon.lock";
  p.state_dir = p.home + "/state";
  p.logs_dir = p.home + "/logs";
  return p;
}

}  // namespace baton::runtime
