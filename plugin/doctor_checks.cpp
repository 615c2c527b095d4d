#include "plugin/doctor_checks.hpp"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "plugin/program_output.hpp"
#include "runtime/search_path.hpp"

namespace baton::cli {

namespace {

constexpr int kProbeTimeoutMs = 10000;
// An agent's --version starts node (and may check for updates): give it longer.
constexpr int kAgentTimeoutMs = 30000;
// Below this, a few editors and language servers use up the watches baton's config watch
// needs (the kernel's old default was 8192).
constexpr long kMinInotifyWatches = 65536;
constexpr long kSuggestedInotifyWatches = 524288;
// tmux 3.2 has display-popup and #{q:}: prefix + O opens a popup.
constexpr int kPopupTmux = 302;

std::string env_value(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string own_path() {
  const std::string p = env_value("PATH");
  return p.empty() ? std::string(runtime::kDefaultPath) : p;
}

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// "3.3" → 303; "" (tmux master, next-*) → a number above any release.
int tmux_number(const std::string& version) {
  if (version.empty()) return 9999;
  const auto dot = version.find('.');
  const int major = std::atoi(version.c_str());
  const int minor = dot == std::string::npos ? 0 : std::atoi(version.c_str() + dot + 1);
  return major * 100 + minor;
}

Check make(const char* name, CheckLevel level, std::string detail, std::string fix = "") {
  return Check{name, level, std::move(detail), std::move(fix)};
}

// Where this baton's tmux plugin is: installed beside it (PREFIX/share/baton/tmux), or in the
// checkout whose build directory holds it.
std::string tmux_plugin_path() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    const std::string self(buf, static_cast<std::size_t>(n));
    const std::string dir = self.substr(0, self.rfind('/'));
    for (const char* rel : {"/../share/baton/tmux/baton.tmux", "/../plugin/tmux/baton.tmux"}) {
      char real[PATH_MAX];
      if (realpath((dir + rel).c_str(), real)) return real;
    }
  }
  return "/path/to/baton.tmux";
}

// The value of `show-environment -g NAME` ("NAME=value"), or "" when unset.
std::string tmux_global_env(const std::string& name) {
  const auto r = run_program({"tmux", "show-environment", "-g", name}, kProbeTimeoutMs);
  const std::string line = r.first_line();
  if (!r.ok() || line.rfind(name + "=", 0) != 0) return "";
  return line.substr(name.size() + 1);
}

// The keys of the prefix table whose command runs the plugin's helper.
std::vector<std::string> tmux_baton_keys() {
  std::vector<std::string> keys;
  const auto r = run_program({"tmux", "list-keys", "-T", "prefix"}, kProbeTimeoutMs);
  if (!r.ok()) return keys;
  std::size_t start = 0;
  while (start < r.output.size()) {
    auto end = r.output.find('\n', start);
    if (end == std::string::npos) end = r.output.size();
    const std::string line = r.output.substr(start, end - start);
    start = end + 1;
    if (line.find("BATON_TMUX_HELPER") == std::string::npos) continue;
    // bind-key [-r] -T prefix KEY COMMAND...
    const auto table = line.find(" prefix ");
    if (table == std::string::npos) continue;
    const auto key_start = table + 8;
    keys.push_back(line.substr(key_start, line.find(' ', key_start) - key_start));
  }
  return keys;
}

}  // namespace

const std::vector<TestedAgent>& tested_agents() {
  static const std::vector<TestedAgent> kAgents = {
      {"codex", "codex", BATON_TESTED_CODEX_PACKAGE, BATON_TESTED_CODEX},
      {"claude", "claude-code", BATON_TESTED_CLAUDE_PACKAGE, BATON_TESTED_CLAUDE}};
  return kAgents;
}

std::string version_in(const std::string& text) {
  auto is_digit = [&](std::size_t i) {
    return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]));
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    // A number starts a word: not the 2 of "x2" or of "1.2" seen from its middle.
    if (!is_digit(i) ||
        (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '.')))
      continue;
    std::size_t end = i;
    int dots = 0;
    for (;;) {
      while (is_digit(end)) ++end;
      if (end < text.size() && text[end] == '.' && is_digit(end + 1)) {
        ++dots;
        ++end;
        continue;
      }
      break;
    }
    if (dots > 0) return text.substr(i, end - i);
    i = end;
  }
  return "";
}

Check check_tmux() {
  const std::string path = runtime::find_on_path("tmux", own_path());
  if (path.empty()) return make("tmux", CheckLevel::kOk, "not on PATH; only the tmux keys need it");
  const auto r = run_program({path, "-V"}, kProbeTimeoutMs);
  if (!r.ok())
    return make("tmux", CheckLevel::kWarn,
                "'" + path + " -V' failed: " + (r.error.empty() ? r.first_line() : r.error),
                "reinstall tmux (apt-get install tmux)");
  const std::string line = r.first_line();
  const int number = tmux_number(version_in(line));
  if (number < kPopupTmux)
    return make("tmux", CheckLevel::kWarn,
                line + " (" + path + "): prefix + O opens a window, not a popup",
                "tmux 3.2 or later shows the orchestrator in a popup");
  return make("tmux", CheckLevel::kOk, line + " (" + path + ")");
}

Check check_tmux_plugin() {
  if (env_value("TMUX").empty())
    return make("tmux-plugin", CheckLevel::kOk,
                "not inside tmux; run 'baton doctor' in a tmux pane to check the plugin");
  if (runtime::find_on_path("tmux", own_path()).empty())
    return make("tmux-plugin", CheckLevel::kWarn,
                "inside tmux ($TMUX), but tmux is not on PATH to ask the server",
                "put tmux on PATH");
  const std::string load = "add 'run-shell " + tmux_plugin_path() +
                           "' to ~/.tmux.conf, then run 'tmux source-file ~/.tmux.conf'";
  const std::string helper = tmux_global_env("BATON_TMUX_HELPER");
  if (helper.empty())
    return make("tmux-plugin", CheckLevel::kWarn, "not loaded in this tmux server", load);
  if (access(helper.c_str(), X_OK) != 0)
    return make("tmux-plugin", CheckLevel::kWarn,
                "loaded from " + helper + ", which is gone (" + std::strerror(errno) + ")", load);
  const auto keys = tmux_baton_keys();
  if (keys.empty())
    return make("tmux-plugin", CheckLevel::kWarn,
                "loaded, but no prefix key runs it (@baton-attach-key and @baton-replace-key are "
                "empty)",
                "set them (or leave them unset for O and R), then " + load);
  auto option = run_program({"tmux", "show-options", "-gqv", "@baton-bin"}, kProbeTimeoutMs);
  std::string bin = option.ok() ? option.first_line() : "";
  // An installed plugin runs the baton installed with it (plugin/tmux/baton.tmux).
  if (bin.empty()) bin = tmux_global_env("BATON_TMUX_BIN");
  if (bin.empty()) bin = "baton";
  std::string server_path = tmux_global_env("PATH");
  if (server_path.empty()) server_path = std::string(runtime::kDefaultPath);
  const std::string found = runtime::find_on_path(bin, server_path);
  if (found.empty())
    return make("tmux-plugin", CheckLevel::kFail,
                "the keys run '" + bin + "', which the tmux server does not find on its PATH",
                "set -g @baton-bin /path/to/baton in ~/.tmux.conf before the plugin's run-shell, "
                "then run 'tmux source-file ~/.tmux.conf'");
  std::string bound;
  for (const auto& k : keys) bound += (bound.empty() ? "prefix + " : ", prefix + ") + k;
  return make("tmux-plugin", CheckLevel::kOk, "loaded: " + bound + " run " + found);
}

Check check_kitty() {
  const bool is_inside = !env_value("KITTY_WINDOW_ID").empty();
  const std::string kitty = runtime::find_on_path("kitty", own_path());
  if (!is_inside && kitty.empty())
    return make("kitty", CheckLevel::kOk, "not on PATH; only the kitty keys need it");
  std::string name = "kitty";
  if (!kitty.empty()) {
    const auto r = run_program({kitty, "--version"}, kProbeTimeoutMs);
    const std::string version = version_in(r.first_line());
    if (r.ok() && !version.empty()) name = "kitty " + version;
  }
  if (!runtime::find_on_path("notify-send", own_path()).empty())
    return make("kitty", CheckLevel::kOk, name + "; the replace key notifies through notify-send");
  const std::string remote_fix =
      "install notify-send (apt-get install libnotify-bin), or put 'allow_remote_control "
      "socket-only' and 'listen_on unix:@kitty' in kitty.conf and restart kitty";
  if (!is_inside)
    return make("kitty", CheckLevel::kOk,
                name +
                    "; without notify-send the replace key notifies through kitty's remote "
                    "control: run 'baton doctor' inside kitty to check it");
  const std::string listen = env_value("KITTY_LISTEN_ON");
  if (listen.empty())
    return make("kitty", CheckLevel::kWarn,
                name +
                    " has no notify-send and listens on no socket: the replace key's messages go "
                    "to kitty's stderr",
                remote_fix);
  if (kitty.empty())
    return make("kitty", CheckLevel::kWarn,
                "inside kitty, but kitty is not on PATH to check its remote control",
                "put kitty on PATH");
  const auto r = run_program({kitty, "@", "--to", listen, "ls"}, kProbeTimeoutMs);
  if (!r.ok())
    return make("kitty", CheckLevel::kWarn,
                name + " listens on " + listen + " but refuses remote control (" +
                    (r.error.empty() ? r.first_line() : r.error) + ")",
                remote_fix);
  return make("kitty", CheckLevel::kOk,
              name + "; the replace key notifies through its remote control on " + listen);
}

bool is_on_own_path(const TestedAgent& agent) {
  return !runtime::find_on_path(agent.command, own_path()).empty();
}

Check check_agent(const TestedAgent& agent, const std::string& needed_because) {
  const std::string install = "npm install -g " + agent.package + "@" + agent.version;
  const std::string path = runtime::find_on_path(agent.command, own_path());
  if (path.empty()) {
    if (!needed_because.empty())
      return make(agent.command.c_str(), CheckLevel::kFail, "not on PATH, and " + needed_because,
                  install);
    return make(agent.command.c_str(), CheckLevel::kOk,
                "not on PATH; only needed for agent = \"" + agent.preset + "\"");
  }
  const auto r = run_program({path, "--version"}, kAgentTimeoutMs);
  if (!r.ok())
    return make(
        agent.command.c_str(), CheckLevel::kFail,
        "'" + path + " --version' failed: " +
            (r.error.empty() ? "exit status " + std::to_string(r.status) + ": " + r.first_line()
                             : r.error),
        "reinstall it: " + install);
  const std::string version = version_in(r.first_line());
  if (version.empty())
    return make(agent.command.c_str(), CheckLevel::kWarn,
                "no version in what '" + path + " --version' printed: " + r.first_line(),
                "if it misbehaves with baton: " + install);
  if (version != agent.version)
    return make(
        agent.command.c_str(), CheckLevel::kWarn,
        agent.command + " " + version + " (" + path + "); baton is tested with " + agent.version,
        "if it misbehaves with baton: " + install);
  return make(agent.command.c_str(), CheckLevel::kOk,
              agent.command + " " + version + " (" + path + "), the version baton is tested with");
}

Check check_run_dir(const runtime::Paths& paths) {
  struct stat st {};
  if (lstat(paths.run_dir.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return make("run-dir", CheckLevel::kOk,
                  paths.run_dir + " is made (mode 0700) when the daemon first starts");
    return make("run-dir", CheckLevel::kFail,
                "cannot inspect " + paths.run_dir + ": " + std::strerror(errno));
  }
  if (auto safe = runtime::check_run_dir(paths.run_dir); !safe)
    return make("run-dir", CheckLevel::kFail, safe.error(),
                "remove it (or set BATON_HOME elsewhere); the next baton command makes a private "
                "one");
  if ((st.st_mode & 077) != 0)
    return make("run-dir", CheckLevel::kFail,
                paths.run_dir + " has mode " + octal_mode(st.st_mode) +
                    ": other users can reach what is in it",
                "chmod 700 " + paths.run_dir);
  struct stat sock {};
  if (lstat(paths.socket.c_str(), &sock) == 0) {
    if (!S_ISSOCK(sock.st_mode))
      return make("run-dir", CheckLevel::kFail, paths.socket + " is not a socket",
                  "remove it; the daemon makes its socket when it starts");
    if (sock.st_uid != geteuid())
      return make("run-dir", CheckLevel::kFail,
                  paths.socket + " belongs to uid " + std::to_string(sock.st_uid) + ", not to you",
                  "run 'baton shutdown' as that user, or remove it");
    if ((sock.st_mode & 077) != 0)
      return make("run-dir", CheckLevel::kFail,
                  paths.socket + " has mode " + octal_mode(sock.st_mode),
                  "chmod 600 " + paths.socket);
    return make("run-dir", CheckLevel::kOk,
                paths.run_dir + " is yours, mode " + octal_mode(st.st_mode) + ", socket " +
                    octal_mode(sock.st_mode));
  }
  return make("run-dir", CheckLevel::kOk,
              paths.run_dir + " is yours, mode " + octal_mode(st.st_mode));
}

Check check_inotify() {
  constexpr const char* kFile = "/proc/sys/fs/inotify/max_user_watches";
  std::string text = env_value("BATON_TEST_INOTIFY_WATCHES");
  if (text.empty()) std::getline(std::ifstream(kFile), text);
  char* end = nullptr;
  errno = 0;
  const long watches = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || errno != 0 || end == text.c_str())
    return make("inotify", CheckLevel::kWarn,
                std::string("cannot read ") + kFile + ": baton's config watch may not start");
  const std::string setting = "fs.inotify.max_user_watches";
  if (watches < kMinInotifyWatches)
    return make("inotify", CheckLevel::kWarn,
                setting + " is " + std::to_string(watches) + ", below " +
                    std::to_string(kMinInotifyWatches) +
                    ": editors and language servers share it with baton's config watch",
                "sudo sysctl " + setting + "=" + std::to_string(kSuggestedInotifyWatches) +
                    ", and put '" + setting + "=" + std::to_string(kSuggestedInotifyWatches) +
                    "' in /etc/sysctl.d/60-inotify.conf to keep it");
  return make("inotify", CheckLevel::kOk, setting + " is " + std::to_string(watches));
}

Check check_systemd() {
  const std::string none = "; usual in a container: the daemon starts with the first command";
  const std::string systemctl = runtime::find_on_path("systemctl", own_path());
  if (systemctl.empty())
    return make("systemd", CheckLevel::kOk, "no systemctl, so no systemd user manager" + none);
  const auto r = run_program({systemctl, "--user", "is-system-running"}, kProbeTimeoutMs);
  const std::string state = r.first_line();
  for (const char* running : {"running", "degraded", "starting", "initializing", "maintenance"}) {
    if (state == running)
      return make("systemd", CheckLevel::kOk, "the systemd user manager is " + state);
  }
  return make("systemd", CheckLevel::kOk,
              "no systemd user manager ('systemctl --user' says " +
                  (state.empty() ? r.error : state) + ")" + none);
}

}  // namespace baton::cli
