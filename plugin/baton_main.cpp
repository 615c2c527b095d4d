// baton: the thin client. Parses the command line, sends one request to the daemon (starting
// it when none runs) and prints the reply. Errors are one line on stderr; exit codes are
// 0 ok, 1 failed, 2 usage.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/attach_client.hpp"
#include "runtime/client.hpp"
#include "runtime/keys.hpp"
#include "runtime/paths.hpp"
#include "runtime/protocol.hpp"

extern char** environ;

namespace {

using baton::runtime::ClientError;
using baton::runtime::ControlClient;
using baton::runtime::Paths;
using Json = baton::runtime::protocol::Json;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int fail(const std::string& message) {
  std::fprintf(stderr, "baton: %s\n", message.c_str());
  return kExitFailed;
}

int fail(const ClientError& e) {
  if (e.code == baton::runtime::protocol::code::kProtocolMismatch)
    return fail(e.message + " — run 'baton shutdown'");
  return fail(e.message);
}

std::string current_dir() {
  char buf[4096];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string("/");
}

// One request on a fresh connection; the daemon is started when none runs.
tl::expected<Json, ClientError> request(const std::string& method, Json params,
                                        bool autostart = true) {
  auto client = ControlClient::connect(Paths::from_env(), autostart);
  if (!client) return tl::make_unexpected(client.error());
  return client->call(method, std::move(params));
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string join_command(const Json& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a.get<std::string>();
  }
  return out;
}

int cmd_sessions(bool all, bool as_json) {
  auto r = request("sessions", Json{{"all", all}});
  if (!r) return fail(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  const auto& list = (*r)["sessions"];
  if (list.empty()) return 0;
  std::cout << pad("ID", 14) << pad("STATE", 10) << pad("PID", 9) << pad("CREATED", 26)
            << "COMMAND\n";
  for (const auto& s : list) {
    std::string state = s["state"].get<std::string>();
    if (!s["exit_status"].is_null()) state += "(" + std::to_string(s["exit_status"].get<int>()) + ")";
    std::cout << pad(s["id"].get<std::string>(), 14) << pad(state, 10)
              << pad(std::to_string(s["pid"].get<long>()), 9)
              << pad(s["created_at"].get<std::string>(), 26) << join_command(s["command"]) << "\n";
  }
  return 0;
}

int cmd_attach(const std::string& target, bool read_only, const std::string& detach_key) {
  auto key = baton::runtime::parse_detach_key(detach_key);
  if (!key) {
    std::fprintf(stderr, "baton: %s\n", key.error().c_str());
    return kExitUsage;
  }
  auto client = ControlClient::connect(Paths::from_env(), true);
  if (!client) return fail(client.error());
  const auto size = baton::runtime::terminal_size();
  Json params{{"read_only", read_only}};
  if (!target.empty()) params["target"] = target;
  if (size.rows > 0) {
    params["rows"] = size.rows;
    params["cols"] = size.cols;
  }
  auto r = client->call("attach", params);
  if (!r) return fail(r.error());
  baton::runtime::AttachOptions opts;
  opts.is_read_only = read_only;
  opts.detach_key = *key;
  opts.session_id = (*r)["session"].value("id", std::string());
  return baton::runtime::run_attach(client->fd(), client->take_buffered(), opts);
}

int cmd_shutdown() {
  auto client = ControlClient::connect(Paths::from_env(), false);
  if (!client) {
    std::fprintf(stderr, "baton: no daemon is running\n");
    return 0;
  }
  auto r = client->call("shutdown", Json::object());
  if (!r) return fail(r.error());
  // Returns once the daemon let go of the connection: its sessions are stopped.
  client->wait_closed();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"baton: keeps AI coding agents in pseudo-terminals and hands their branch over safely"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("baton ") + BATON_VERSION);

  auto* daemon = app.add_subcommand("daemon", "Start the daemon (in the background)");
  bool foreground = false;
  daemon->add_flag("--foreground", foreground, "Stay in the foreground and log to stderr");

  auto* nw = app.add_subcommand("new", "Start a session running CMD");
  std::string name;
  std::string cwd;
  std::vector<std::string> env_kv;
  std::vector<std::string> command;
  nw->add_option("--name", name, "Session id");
  nw->add_option("--cwd", cwd, "Working directory (default: the current one)");
  nw->add_option("--env", env_kv, "K=V added to the environment")->allow_extra_args(false);
  nw->add_option("command", command, "CMD [ARG...]")->required();

  auto* sessions = app.add_subcommand("sessions", "List sessions");
  bool all = false;
  bool as_json = false;
  sessions->add_flag("--all", all, "Include exited sessions");
  sessions->add_flag("--json", as_json, "Print JSON");

  auto* attach = app.add_subcommand("attach", "Attach to a session (detach with Ctrl-\\)");
  std::string target;
  bool read_only = false;
  std::string detach_key = "C-\\";
  attach->add_option("target", target, "Session");
  attach->add_flag("--read-only", read_only, "Watch without typing");
  attach->add_option("--detach-key", detach_key, "Detach key (default C-\\)");

  auto* capture = app.add_subcommand("capture", "Print a session's screen");
  bool raw = false;
  capture->add_option("target", target, "Session");
  capture->add_flag("--raw", raw, "Keep screen rows (do not join soft-wrapped lines)");
  capture->add_flag("--json", as_json, "Print JSON");

  auto* send = app.add_subcommand("send", "Type text into a session");
  bool keys = false;
  std::vector<std::string> text;
  send->add_option("target", target, "Session")->required();
  send->add_flag("--keys", keys, "Words are key names (Enter, Up, C-c ...)");
  send->add_option("text", text, "TEXT...")->required();

  auto* kill = app.add_subcommand("kill", "Stop a session and remove it");
  kill->add_option("target", target, "Session")->required();

  app.add_subcommand("shutdown", "Stop every session and the daemon");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 2.1 exits 106/109 on usage errors; baton's contract is 2.
    std::fprintf(stderr, "baton: %s (see 'baton --help')\n", e.what());
    return kExitUsage;
  }

  if (app.got_subcommand(daemon)) {
    auto r = baton::runtime::start_daemon(foreground);
    return r ? 0 : fail(r.error());
  }
  if (app.got_subcommand(nw)) {
    Json env = Json::object();
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      const auto eq = kv.find('=');
      if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
    for (const auto& kv : env_kv) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "baton: --env '%s' is not K=V\n", kv.c_str());
        return kExitUsage;
      }
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    Json params{{"command", command}, {"cwd", cwd.empty() ? current_dir() : cwd}, {"env", env}};
    if (!name.empty()) params["name"] = name;
    const auto size = baton::runtime::terminal_size();
    if (size.rows > 0) {
      params["rows"] = size.rows;
      params["cols"] = size.cols;
    }
    auto r = request("new", params);
    if (!r) return fail(r.error());
    std::cout << (*r)["session"]["id"].get<std::string>() << "\n";
    return 0;
  }
  if (app.got_subcommand(sessions)) return cmd_sessions(all, as_json);
  if (app.got_subcommand(attach)) return cmd_attach(target, read_only, detach_key);
  if (app.got_subcommand(capture)) {
    Json params{{"raw", raw}};
    if (!target.empty()) params["target"] = target;
    auto r = request("capture", params);
    if (!r) return fail(r.error());
    if (as_json) {
      std::cout << r->dump() << "\n";
      return 0;
    }
    for (const auto& line : (*r)["lines"]) std::cout << line.get<std::string>() << "\n";
    return 0;
  }
  if (app.got_subcommand(send)) {
    std::string data;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (keys) {
        data += baton::runtime::key_bytes(text[i]);
      } else {
        if (i) data += ' ';
        data += text[i];
      }
    }
    auto r = request("send", Json{{"target", target}, {"data", data}});
    if (!r) return fail(r.error());
    return 0;
  }
  if (app.got_subcommand(kill)) {
    auto r = request("kill", Json{{"target", target}});
    if (!r) return fail(r.error());
    return 0;
  }
  if (app.got_subcommand("shutdown")) return cmd_shutdown();
  std::cout << app.help();
  return kExitUsage;
}
