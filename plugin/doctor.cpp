#include "plugin/doctor.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "baton_version.hpp"
#include "plugin/client_commands.hpp"
#include "plugin/doctor_checks.hpp"
#include "plugin/error_code.hpp"
#include "plugin/printable.hpp"
#include "runtime/client.hpp"
#include "runtime/paths.hpp"
#include "runtime/protocol.hpp"

namespace baton::cli {

namespace {

using baton::plugin::ErrorCode;
using baton::plugin::wire_name;
using baton::runtime::ClientError;
using baton::runtime::ControlClient;
using baton::runtime::Paths;
using Json = baton::runtime::protocol::Json;

// The refusal names this many keys, as `up` does (plugin/config.cpp, not_allowed_message).
constexpr std::size_t kNamedKeys = 6;

const char* level_name(CheckLevel level) {
  switch (level) {
    case CheckLevel::kOk:
      return "ok";
    case CheckLevel::kWarn:
      return "warn";
    case CheckLevel::kFail:
      break;
  }
  return "fail";
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// What doctor learnt from the daemon: its own check, and the current project's review
// (plugin/repository_methods.cpp) when a daemon of this protocol answered.
struct DaemonView {
  Check check{"daemon"};
  bool is_reachable = false;
  std::string unreachable;  // why the config and trust were not checked
  tl::expected<Json, ClientError> review = tl::make_unexpected(ClientError{});
};

DaemonView ask_daemon(const Paths& paths) {
  DaemonView v;
  const std::string restart =
      "run 'baton shutdown' (its agents come back with the next daemon, of this build)";
  struct stat st {};
  if (lstat(paths.socket.c_str(), &st) != 0 && errno == ENOENT) {
    v.check = {"daemon", CheckLevel::kOk, "not running; the first baton command starts it", ""};
    v.unreachable = "no daemon running";
    return v;
  }
  // Without autostart: doctor looks, it starts nothing.
  auto client = ControlClient::connect(paths, false);
  if (!client) {
    const std::string& message = client.error().message;
    const std::string refused = std::strerror(ECONNREFUSED);
    const bool is_stale =
        message.size() >= refused.size() &&
        message.compare(message.size() - refused.size(), refused.size(), refused) == 0;
    v.check = is_stale ? Check{"daemon", CheckLevel::kOk,
                               "not running (its old socket is replaced when one starts)", ""}
                       : Check{"daemon", CheckLevel::kFail, message, ""};
    v.unreachable = is_stale ? "no daemon running" : "the daemon cannot be reached";
    return v;
  }
  auto ping = client->call("ping", Json::object());
  if (!ping) {
    const bool is_mismatch = ping.error().code == baton::runtime::protocol::code::kProtocolMismatch;
    v.check = {"daemon", CheckLevel::kFail, ping.error().message, is_mismatch ? restart : ""};
    v.unreachable = "the daemon does not answer this client";
    return v;
  }
  v.is_reachable = true;
  const std::string pid = std::to_string(ping->value("pid", 0L));
  const std::string version = ping->value("baton_version", std::string());
  if (version.empty()) {
    v.check = {"daemon", CheckLevel::kWarn,
               "running (pid " + pid + ") from a build older than this client (" +
                   baton::kBatonVersion + ")",
               restart};
  } else if (version != baton::kBatonVersion) {
    v.check = {"daemon", CheckLevel::kWarn,
               "running (pid " + pid + ") at version " + version + "; this client is " +
                   baton::kBatonVersion,
               restart};
  } else {
    v.check = {"daemon", CheckLevel::kOk, "running (pid " + pid + "), version " + version, ""};
  }
  v.review = client->call("review", Json{{"target", current_dir()}, {"env", environment_json()}});
  return v;
}

// The config check, as `baton config check` reports it; with it, the project's own agent
// when no agent line covers it (one of the agents doctor checks by name).
Check config_check(const DaemonView& d) {
  const std::string again = "start it with 'baton daemon', then run 'baton doctor' again";
  if (!d.is_reachable) return {"config", CheckLevel::kWarn, "not checked: " + d.unreachable, again};
  if (!d.review) {
    const ClientError& e = d.review.error();
    if (e.code == wire_name(ErrorCode::kNotARepository))
      return {"config", CheckLevel::kOk,
              current_dir() + " is in no git repository: no project config here", ""};
    if (e.code == wire_name(ErrorCode::kConfigError))
      return {"config", CheckLevel::kFail, e.message,
              "correct it; 'baton config check' shows the config in force once it loads"};
    if (e.code == baton::runtime::protocol::code::kUnknownMethod)
      return {"config", CheckLevel::kWarn, "not checked: the daemon is older than this client",
              "run 'baton shutdown' (its agents come back with the next daemon)"};
    // A repository `up` would refuse (no commits yet, bare): the message says what to do.
    return {"config", CheckLevel::kFail, e.message, ""};
  }
  const Json& r = *d.review;
  const std::string agent = r.value("agent", std::string());
  const std::string reason = r.value("agent_reason", std::string());
  bool is_named_agent = false;
  for (const auto& a : tested_agents()) is_named_agent = is_named_agent || a.preset == agent;
  if (!is_named_agent && !r.value("agent_on_path", true))
    return {"config", CheckLevel::kFail,
            "agent '" + printable(agent) + "' runs '" +
                printable(r.value("agent_command", std::string())) + "', which is not on PATH",
            "install it, or set [orchestrator] agent in baton.toml"};
  const std::string files = printable_list(r["files"], " and ");
  return {"config", CheckLevel::kOk,
          (files.empty() ? "no baton.toml in " + r.value("path", std::string()) + ": defaults"
                         : files + " loads") +
              "; agent " + printable(agent) + " (" + reason + ")",
          ""};
}

Check trust_check(const DaemonView& d) {
  if (!d.is_reachable) return {"trust", CheckLevel::kWarn, "not checked: " + d.unreachable, ""};
  if (!d.review) {
    if (d.review.error().code == wire_name(ErrorCode::kNotARepository))
      return {"trust", CheckLevel::kOk, "no project here", ""};
    return {"trust", CheckLevel::kWarn, "not checked: the config did not load", ""};
  }
  const Json& r = *d.review;
  const std::string root = r.value("path", std::string());
  if (!r.value("needs_trust", false))
    return {"trust", CheckLevel::kOk, "nothing in the project's config needs 'baton allow'", ""};
  const std::string files = printable_list(r["trust_files"], " and ");
  if (r.value("allowed", false))
    return {"trust", CheckLevel::kOk, files + " allowed as it is now", ""};
  std::string keys;
  const Json& settings = r["settings"];
  for (std::size_t i = 0; i < settings.size() && i < kNamedKeys; ++i)
    keys += (i ? ", " : "") + printable(settings[i].value("key", std::string()));
  if (settings.size() > kNamedKeys)
    keys += " and " + std::to_string(settings.size() - kNamedKeys) + " more";
  return {"trust", CheckLevel::kFail,
          "the settings " + keys + " in " + files + " are not allowed yet",
          "review them ('baton config check " + root + "'), then run 'baton allow " + root +
              "', or answer y when 'baton up' asks"};
}

// The agents doctor knows by name (codex, claude): the project's own must be there, and so
// must one of them when the project has no agent of its own (it would get a shell).
std::vector<Check> agent_checks(const DaemonView& d) {
  std::string project_agent;
  bool has_own_agent = false;  // an [agents.NAME] of the project, on PATH
  if (d.is_reachable && d.review) {
    project_agent = d.review->value("agent", std::string());
    has_own_agent = project_agent != "shell" && d.review->value("agent_on_path", false);
  }
  bool is_any_on_path = false;
  for (const auto& a : tested_agents()) {
    is_any_on_path = is_any_on_path || is_on_own_path(a);
    has_own_agent = has_own_agent && a.preset != project_agent;
  }
  std::vector<Check> checks;
  for (const auto& a : tested_agents()) {
    std::string needed_because;
    if (a.preset == project_agent)
      needed_because = "it is this project's agent";
    else if (!is_any_on_path && !has_own_agent)
      needed_because = "no other coding agent is";
    checks.push_back(check_agent(a, needed_because));
  }
  return checks;
}

void print_text(const std::vector<Check>& checks) {
  for (const auto& c : checks) {
    std::string line = pad(level_name(c.level), 6) + pad(c.name, 13) + c.detail;
    if (!c.fix.empty()) line += " — fix: " + c.fix;
    std::cout << line << "\n";
  }
}

void print_json(const std::vector<Check>& checks, int failed, int warnings) {
  Json list = Json::array();
  for (const auto& c : checks)
    list.push_back(Json{{"name", c.name},
                        {"status", level_name(c.level)},
                        {"detail", c.detail},
                        {"fix", c.fix.empty() ? Json(nullptr) : Json(c.fix)}});
  std::cout << Json{{"checks", list}, {"failed", failed}, {"warnings", warnings}}.dump() << "\n";
}

}  // namespace

int cmd_doctor(bool as_json) {
  const Paths paths = Paths::from_env();
  const DaemonView daemon = ask_daemon(paths);
  std::vector<Check> checks;
  checks.push_back(check_tmux());
  checks.push_back(check_tmux_plugin());
  checks.push_back(check_kitty());
  for (auto& c : agent_checks(daemon)) checks.push_back(std::move(c));
  checks.push_back(check_run_dir(paths));
  checks.push_back(daemon.check);
  checks.push_back(config_check(daemon));
  checks.push_back(trust_check(daemon));
  checks.push_back(check_inotify());
  checks.push_back(check_systemd());
  int failed = 0;
  int warnings = 0;
  for (const auto& c : checks) {
    failed += c.level == CheckLevel::kFail;
    warnings += c.level == CheckLevel::kWarn;
  }
  if (as_json)
    print_json(checks, failed, warnings);
  else
    print_text(checks);
  return failed > 0 ? kExitFailed : 0;
}

}  // namespace baton::cli
