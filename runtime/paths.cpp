#include "runtime/paths.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace baton::runtime {

namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace

// Read from /etc/passwd, not getpwuid(3): the `baton` client is linked statically (its start
// is what a keybinding pays), and a static glibc can reach NSS only by loading the shared
// libraries of the glibc it was built with. Client and daemon use this same function, so they
// always agree on BATON_HOME. Read with read(2), not an ifstream: iostreams would pull the
// locale machinery into the session holder, whose resident size every idle session pays.
std::string passwd_home(uid_t uid, const std::string& passwd_file) {
  std::string all;
  if (const int fd = open(passwd_file.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    char buf[4096];
    ssize_t n = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) all.append(buf, static_cast<std::size_t>(n));
    }
    close(fd);
  }
  std::string_view lines = all;
  // name:password:uid:gid:gecos:dir:shell
  while (!lines.empty()) {
    const auto eol = lines.find('\n');
    const std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 1);
    std::array<std::string_view, 7> field{};
    std::string_view rest = line;
    std::size_t n = 0;
    for (; n < field.size(); ++n) {
      const auto colon = rest.find(':');
      field[n] = rest.substr(0, colon);
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    if (n < 6) continue;
    unsigned long id = 0;
    const auto [end, ec] = std::from_chars(field[2].data(), field[2].data() + field[2].size(), id);
    if (ec != std::errc() || end != field[2].data() + field[2].size() || id != uid) continue;
    if (!field[5].empty()) return std::string(field[5]);
  }
  return "";
}

namespace {

std::string home_dir() {
  std::string h = env_or_empty("HOME");
  if (!h.empty()) return h;
  h = passwd_home(getuid(), "/etc/passwd");
  return h.empty() ? "/tmp" : h;
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
  p.holders_dir = p.run_dir + "/holders";
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
