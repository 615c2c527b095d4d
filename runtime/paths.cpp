#include "runtime/paths.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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

tl::expected<void, std::string> check_run_dir(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0)
    return tl::make_unexpected("cannot inspect " + path + ": " + std::strerror(errno));
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    const ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    const std::string to = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
    return tl::make_unexpected("refusing " + path + ": it is a symlink (to " + to +
                               "); remove it and baton makes a private directory there");
  }
  if (!S_ISDIR(st.st_mode)) return tl::make_unexpected("refusing " + path + ": not a directory");
  if (st.st_uid != geteuid())
    return tl::make_unexpected("refusing " + path + ": it belongs to uid " +
                               std::to_string(st.st_uid) + ", not to you (uid " +
                               std::to_string(geteuid()) + ")");
  return {};
}

}  // namespace baton::runtime
