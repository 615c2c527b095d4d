#include "plugin/client_commands.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "plugin/allow_prompt.hpp"
#include "plugin/error_code.hpp"
#include "runtime/attach_client.hpp"
#include "runtime/client.hpp"
#include "runtime/holder_protocol.hpp"
#include "runtime/keys.hpp"
#include "runtime/paths.hpp"
#include "runtime/protocol.hpp"

extern char** environ;

namespace baton::cli {

namespace {

using baton::runtime::ClientError;
using baton::runtime::ControlClient;
using baton::runtime::Paths;
using Json = baton::runtime::protocol::Json;
// The message overload, next to the one for a client error declared here.
using cli::fail;

int fail(const ClientError& e) {
  if (e.code == baton::runtime::protocol::code::kProtocolMismatch)
    return fail(e.message + " — run 'baton shutdown'");
  return fail(e.message);
}

// One request on a fresh connection; the daemon is started when none runs.
tl::expected<Json, ClientError> request(const std::string& method, Json params,
                                        bool autostart = true) {
  return ControlClient::request(Paths::from_env(), autostart, method, std::move(params));
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

}  // namespace

// A path target is made absolute here: the daemon's cwd is "/".
std::string absolute_target(const std::string& target) {
  if (target.empty()) return current_dir();
  if (target[0] == '/' || target.find('/') == std::string::npos) {
    // A bare word may be a project or session id; the daemon tries that first, then a path.
    if (target[0] != '/' && access(target.c_str(), F_OK) == 0) return current_dir() + "/" + target;
    return target;
  }
  // PROJECT/NAME (a worker) when no such path exists here; the daemon tries it first.
  if (access(target.c_str(), F_OK) != 0 && target.find('/') == target.rfind('/') &&
      target[0] != '.')
    return target;
  return current_dir() + "/" + target;
}

namespace {

// The handoff's phases in order, as its progress lines number them ("[3/6] drain ...").
constexpr std::array<const char*, 6> kSteps = {"preflight", "prepare", "drain",
                                               "retire",    "adopt",   "launch"};

void print_progress(const Json& ev) {
  const std::string step = ev.value("step", std::string());
  std::size_t n = 0;
  for (std::size_t i = 0; i < kSteps.size(); ++i) {
    if (step == kSteps[i]) n = i + 1;
  }
  // A standby taken is the prepare phase without its checkout.
  if (step == "standby") n = 2;
  std::fprintf(stderr, "[%zu/%zu] %s %s\n", n, kSteps.size(), step.c_str(),
               ev.value("detail", std::string()).c_str());
}

// A refusal of `up` or `replace` because the repository's config waits for `baton allow`.
bool is_waiting_for_allow(const tl::expected<Json, ClientError>& r) {
  return !r && r.error().code == baton::plugin::wire_name(baton::plugin::ErrorCode::kNotAllowed);
}

std::string short_health(const std::string& h) {
  if (h == "restart_needed") return "restart!";
  if (h == "duplicate") return "dup";
  if (h == "replacing") return "replacing…";
  return h;
}

// A status bar has little room: the state in a word, the one that needs the user loudest.
std::string short_activity(const std::string& a) {
  if (a == "waiting_input") return "input!";
  return a;
}

}  // namespace

std::string current_dir() {
  char buf[4096];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string("/");
}

Json environment_json() {
  Json env = Json::object();
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos)
      env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  return env;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "baton: %s\n", message.c_str());
  return kExitFailed;
}

int cmd_daemon(bool foreground) {
  auto r = baton::runtime::start_daemon(foreground);
  return r ? 0 : fail(r.error());
}

int cmd_new(const std::string& name, const std::string& cwd, const std::vector<std::string>& env_kv,
            const std::vector<std::string>& command) {
  Json env = environment_json();
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

int cmd_sessions(const std::string& target, bool all, bool as_json) {
  Json params{{"all", all}};
  if (!target.empty()) params["target"] = target;
  auto r = request("sessions", params);
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
    if (!s["exit_status"].is_null())
      state += "(" + std::to_string(s["exit_status"].get<int>()) + ")";
    std::cout << pad(s["id"].get<std::string>(), 14) << pad(state, 10)
              << pad(std::to_string(s["pid"].get<long>()), 9)
              << pad(s["created_at"].get<std::string>(), 26) << join_command(s["command"]) << "\n";
  }
  return 0;
}

// How long a reattach waits for the project to have a running orchestrator again, and how
// often it asks: a converging handoff takes seconds (a drain up to its drain_timeout, then
// the client gives up with one line).
constexpr auto kReattachPatience = std::chrono::seconds(30);
constexpr auto kReattachRetry = std::chrono::milliseconds(200);

int cmd_attach(const std::string& target, bool read_only, const std::string& detach_key) {
  auto key = baton::runtime::parse_detach_key(detach_key);
  if (!key) {
    std::fprintf(stderr, "baton: %s\n", key.error().c_str());
    return kExitUsage;
  }
  const Paths paths = Paths::from_env();
  Json params{{"read_only", read_only}, {"cwd", current_dir()}};
  if (!target.empty()) params["target"] = absolute_target(target);
  const auto attach = [&]() -> tl::expected<std::pair<ControlClient, Json>, ClientError> {
    auto client = ControlClient::connect(paths, true);
    if (!client) return tl::make_unexpected(client.error());
    const auto size = baton::runtime::terminal_size();
    if (size.rows > 0) {
      params["rows"] = size.rows;
      params["cols"] = size.cols;
    }
    auto r = client->call("attach", params);
    if (!r) return tl::make_unexpected(r.error());
    return std::pair<ControlClient, Json>(std::move(*client), std::move(*r));
  };
  auto first = attach();
  if (!first) return fail(first.error());
  std::optional<ControlClient> conn;
  conn.emplace(std::move(first->first));
  baton::runtime::AttachOptions opts;
  opts.is_read_only = read_only;
  opts.detach_key = *key;
  opts.session_id = first->second["session"].value("id", std::string());
  // A daemon killed outright leaves the agent running under its holder: the next daemon
  // adopts it, and this terminal stays attached (a session id or a project, as given).
  opts.reattach = [&]() {
    baton::runtime::Reattached out;
    // A daemon killed mid-handoff: the next one converges first (retire, adopt, launch), and
    // until it has, the project has no running orchestrator to attach to.
    const auto deadline = std::chrono::steady_clock::now() + kReattachPatience;
    for (;;) {
      auto again = attach();
      if (again) {
        conn.reset();
        conn.emplace(std::move(again->first));
        out.fd = conn->fd();
        out.buffered = conn->take_buffered();
        return out;
      }
      // Not found: the project is converging. Unanswered: the dying daemon's socket still
      // took the connection.
      const bool is_worth_waiting =
          again.error().code == baton::runtime::protocol::code::kNotFound ||
          again.error().code == baton::runtime::kUnanswered;
      if (!is_worth_waiting || std::chrono::steady_clock::now() >= deadline) {
        out.error = again.error().message;
        return out;
      }
      std::this_thread::sleep_for(kReattachRetry);
    }
  };
  return baton::runtime::run_attach(conn->fd(), conn->take_buffered(), opts);
}

int cmd_capture(const std::string& target, bool raw, bool history, bool as_json) {
  Json params{{"raw", raw}, {"cwd", current_dir()}};
  if (history) params["history"] = true;
  if (!target.empty()) params["target"] = absolute_target(target);
  auto r = request("capture", params);
  if (!r) return fail(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  for (const auto& line : (*r)["lines"]) std::cout << line.get<std::string>() << "\n";
  return 0;
}

int cmd_send(const std::string& target, bool keys, const std::vector<std::string>& text) {
  std::string data;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (keys) {
      data += baton::runtime::key_bytes(text[i]);
    } else {
      if (i) data += ' ';
      data += text[i];
    }
  }
  // A project path reaches its orchestrator, as for attach and capture.
  auto r = request("send", Json{{"target", absolute_target(target)}, {"data", data}});
  if (!r) return fail(r.error());
  return 0;
}

int cmd_tell(const std::string& target, const std::vector<std::string>& words, bool now) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  auto r = request("tell", Json{{"target", absolute_target(target)}, {"text", text}, {"now", now}});
  if (!r) return fail(r.error());
  std::cout << (*r)["id"].get<std::string>() << ((*r)["typed_now"] == true ? " typed" : " queued")
            << "\n";
  return 0;
}

int cmd_outbox(const std::vector<std::string>& args, bool as_json) {
  auto is_action = [](const std::string& a) { return a == "ls" || a == "drop"; };
  std::size_t i = 0;
  std::string target;
  if (!args.empty() && !is_action(args[0])) target = args[i++];
  const std::string action = i < args.size() ? args[i++] : "ls";
  const std::string id = i < args.size() ? args[i++] : "";
  if (!is_action(action) || (action == "drop") == id.empty() || i < args.size()) {
    std::fprintf(stderr, "baton: usage: baton outbox [TARGET] ls | drop ID\n");
    return kExitUsage;
  }
  auto r =
      request("outbox", Json{{"target", absolute_target(target)}, {"action", action}, {"id", id}});
  if (!r) return fail(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  if (action == "drop") {
    std::cout << "dropped " << (*r)["dropped"].get<std::string>() << "\n";
    return 0;
  }
  for (const auto& m : (*r)["messages"]) {
    std::string state = m["state"].get<std::string>();
    if (m["session"].is_string()) state += " " + m["session"].get<std::string>();
    // A column always ends in a space, however long its value.
    std::cout << pad(m["id"].get<std::string>() + " ", 6)
              << pad(m["told_at"].get<std::string>() + " ", 26) << pad(state + " ", 12)
              << m["text"].get<std::string>() << "\n";
  }
  return 0;
}

int cmd_kill(const std::string& target) {
  auto r = request("kill", Json{{"target", target}});
  if (!r) return fail(r.error());
  return 0;
}

namespace {

int shutdown_through(tl::expected<ControlClient, ClientError> client) {
  if (!client) return fail(client.error());
  auto r = client->call("shutdown", Json::object());
  if (!r) return fail(r.error());
  // Returns once the daemon let go of the connection: its sessions are stopped.
  client->wait_closed();
  return 0;
}

}  // namespace

int cmd_shutdown() {
  const Paths paths = Paths::from_env();
  auto client = ControlClient::connect(paths, false);
  if (client) return shutdown_through(std::move(client));
  // Agents a killed daemon left running under their holders are stopped too: a daemon is
  // started, adopts them, and stops them with everything else.
  if (baton::runtime::has_running_holder(paths.holders_dir))
    return shutdown_through(ControlClient::connect(paths, true));
  std::fprintf(stderr, "baton: no daemon is running\n");
  return 0;
}

int cmd_up(const std::string& target, const std::string& agent, bool detach) {
  Json params{{"target", absolute_target(target)}, {"env", environment_json()}};
  if (!agent.empty()) params["agent"] = agent;
  const bool show = isatty(STDERR_FILENO);
  auto up = [&] {
    return ControlClient::request(Paths::from_env(), true, "up", params, [show](const Json& ev) {
      if (show) print_progress(ev);
    });
  };
  auto r = up();
  if (is_waiting_for_allow(r) && !detach && can_ask_to_allow() &&
      ask_to_allow(params["target"], params["env"]))
    r = up();
  if (!r) return fail(r.error());
  const std::string id = (*r)["session"]["id"].get<std::string>();
  if (detach || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    std::cout << id << "\n";
    return 0;
  }
  // Attached through the project, so the view follows the orchestrator across handoffs.
  return cmd_attach(absolute_target(target), false, "C-\\");
}

int cmd_handoff(const std::string& method, const std::string& target, const HandoffFlags& flags,
                bool as_json) {
  Json params{{"target", absolute_target(target)},
              {"env", environment_json()},
              {"wait", flags.wait},
              {"now", flags.now},
              {"fresh", flags.fresh}};
  if (!flags.agent.empty()) params["agent"] = flags.agent;
  if (!flags.reason.empty()) params["reason"] = flags.reason;
  const bool quiet = !flags.progress && (as_json || !isatty(STDERR_FILENO));
  auto handoff = [&] {
    return ControlClient::request(Paths::from_env(), true, method, params, [quiet](const Json& ev) {
      if (!quiet) print_progress(ev);
    });
  };
  auto r = handoff();
  // `replace --json` is for a program, which gets the refusal to act on.
  if (is_waiting_for_allow(r) && method == "replace" && !as_json && can_ask_to_allow() &&
      ask_to_allow(params["target"], params["env"]))
    r = handoff();
  if (!r) return fail(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  const Json& s = (*r)["session"];
  if (method == "down") {
    std::cout << "stopped";
    for (const auto& id : (*r)["retired"]) std::cout << " " << id.get<std::string>();
    std::cout << "\n";
  } else if (s.is_object()) {
    std::cout << s["id"].get<std::string>() << "\n";
    if (!quiet && (*r).contains("gap_ms") && !(*r)["gap_ms"].is_null())
      std::fprintf(stderr, "gap %ld ms\n", (*r)["gap_ms"].get<long>());
  }
  for (const auto& note : r->value("notes", Json::array()))
    std::fprintf(stderr, "baton: %s\n", note.get<std::string>().c_str());
  return 0;
}

int cmd_status(const std::string& target, bool as_json, bool tmux) {
  auto r = request("status", Json{{"target", absolute_target(target)}}, !tmux);
  if (!r) {
    // A status bar shows nothing rather than an error for a directory that is no project.
    if (tmux) return 0;
    return fail(r.error());
  }
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  const Json& o = (*r)["orchestrator"];
  const std::string health = (*r)["health"].get<std::string>();
  const std::string activity = r->contains("activity") && (*r)["activity"].is_string()
                                   ? (*r)["activity"].get<std::string>()
                                   : std::string();
  // Settings of the repository wait for `baton allow` (docs/orchestrator.md, trust).
  const bool is_waiting = r->contains("allowed") && (*r)["allowed"] == false;
  if (tmux) {
    std::cout << (o.is_object() ? o["agent"].get<std::string>() + " " : std::string())
              << short_health(health) << (activity.empty() ? "" : " " + short_activity(activity))
              << (is_waiting ? " allow!" : "") << "\n";
    return 0;
  }
  std::cout << "project  " << (*r)["project"].get<std::string>() << "\n";
  std::cout << "health   " << health << "\n";
  if (!(*r)["configured_agent"].is_null())
    std::cout << "agent    " << (*r)["configured_agent"].get<std::string>() << " (configured)\n";
  if (o.is_object()) {
    std::cout << "session  " << o["id"].get<std::string>() << " " << o["state"].get<std::string>()
              << " " << o["agent"].get<std::string>() << " pid " << o["pid"].get<long>() << "\n";
    std::cout << "branch   " << o["branch"].get<std::string>() << "\n";
    std::cout << "worktree " << o["worktree"].get<std::string>() << "\n";
  }
  if (r->contains("outbox") && (*r)["outbox"].is_number() && (*r)["outbox"].get<int>() > 0)
    std::cout << "outbox   " << (*r)["outbox"].get<int>() << " message(s) to deliver\n";
  if (!activity.empty())
    std::cout << "activity " << activity << " since " << (*r)["activity_since"].get<std::string>()
              << "\n";
  if (r->contains("permissions") && (*r)["permissions"].is_string())
    std::cout << "permissions " << (*r)["permissions"].get<std::string>() << "\n";
  if (r->contains("resume") && (*r)["resume"].is_string())
    std::cout << "resume   " << (*r)["resume"].get<std::string>() << "\n";
  // The next orchestrator's tree (docs/orchestrator.md, The standby): "ready, 12 MiB",
  // "failed: post_create exited with status 3".
  if (const auto sb = r->find("standby"); sb != r->end() && sb->is_object()) {
    const std::string state = sb->value("state", "");
    std::cout << "standby  " << state;
    if (state == "ready")
      std::cout << ", " << sb->value("bytes", std::uint64_t{0}) / (1u << 20) << " MiB";
    if (sb->contains("reason") && (*sb)["reason"].is_string())
      std::cout << ": " << (*sb)["reason"].get<std::string>();
    std::cout << "\n";
  }
  if (is_waiting) {
    std::string keys;
    if (r->contains("waiting_keys") && (*r)["waiting_keys"].is_array())
      for (const auto& k : (*r)["waiting_keys"])
        if (k.is_string()) keys += (keys.empty() ? "" : ", ") + k.get<std::string>();
    std::cout << "allowed  no: " << keys << " wait for 'baton allow "
              << (*r)["path"].get<std::string>() << "'\n";
  }
  if (!(*r)["error"].is_null())
    std::cout << "error    " << (*r)["error"].get<std::string>() << "\n";
  return 0;
}

// A hook must never disturb its agent: with --hook, nothing is printed, no daemon is
// started, and the exit status is 0 whatever happened.
int cmd_signal(const std::string& state, std::string session,
               const std::vector<std::string>& hook) {
  if (session.empty()) {
    const char* env = std::getenv("BATON_SESSION");
    session = env ? env : "";
  }
  Json params{{"session", session}};
  if (hook.size() == 2) {
    params["source"] = hook[0];
    std::string payload_text;
    if (hook[0] == "claude") {
      params["event"] = hook[1];
      char buf[65536];
      std::size_t n = 0;
      // claude writes the event's JSON and closes stdin; a terminal is never read.
      while (!isatty(STDIN_FILENO) && payload_text.size() < (1u << 20) &&
             (n = fread(buf, 1, sizeof buf, stdin)) > 0)
        payload_text.append(buf, n);
    } else {
      payload_text = hook[1];  // codex passes the notification as the last argument
    }
    params["payload"] = Json::parse(payload_text, nullptr, false);
    if (params["payload"].is_discarded()) params["payload"] = nullptr;
    (void)request("signal", params, false);
    return 0;
  }
  params["state"] = state;
  auto r = request("signal", params, false);
  if (!r) return fail(r.error());
  return 0;
}

int cmd_ls(bool as_json) {
  auto r = request("ls", Json::object());
  if (!r) return fail(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  for (const auto& p : (*r)["projects"]) {
    std::cout << pad(p["id"].get<std::string>(), 16) << pad(p["health"].get<std::string>(), 16)
              << pad(p["orchestrator"].is_null() ? "-" : p["orchestrator"].get<std::string>(), 20)
              << pad(p.contains("activity") && p["activity"].is_string()
                         ? p["activity"].get<std::string>()
                         : "-",
                     15)
              << p["path"].get<std::string>() << "\n";
  }
  return 0;
}

int cmd_allow(const std::string& target) {
  auto r = request("allow", Json{{"target", absolute_target(target)}, {"env", environment_json()}});
  if (!r) return fail(r.error());
  std::cout << "allowed";
  for (const auto& f : (*r)["files"]) std::cout << " " << f.get<std::string>();
  std::cout << "\n";
  return 0;
}

int cmd_preserved(const std::vector<std::string>& args, bool as_json) {
  auto is_action = [](const std::string& a) {
    return a == "ls" || a == "show" || a == "apply" || a == "drop";
  };
  std::size_t i = 0;
  std::string target;
  if (!args.empty() && !is_action(args[0])) target = args[i++];
  if (i >= args.size() || !is_action(args[i])) {
    std::fprintf(stderr,
                 "baton: usage: baton preserved [TARGET] ls | show ID | apply ID | drop ID\n");
    return kExitUsage;
  }
  const std::string& action = args[i++];
  const std::string id = i < args.size() ? args[i] : "";
  auto r = request("preserved",
                   Json{{"target", absolute_target(target)}, {"action", action}, {"id", id}});
  if (!r) return fail(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  if (action == "ls") {
    for (const auto& p : (*r)["preserved"])
      std::cout << pad(p["session"].get<std::string>(), 16)
                << p["commit"].get<std::string>().substr(0, 12) << "  " << p["paths"].size()
                << " files  " << p["message"].get<std::string>() << "\n";
    if (r->contains("kept")) {
      for (const auto& k : (*r)["kept"]) {
        std::string entries;
        for (const auto& e : k["entries"])
          entries += (entries.empty() ? "" : ", ") + e.get<std::string>();
        std::cout << pad(k["session"].get<std::string>(), 16) << "kept in "
                  << k["path"].get<std::string>() << ": " << entries << "\n";
      }
    }
  } else if (action == "show") {
    std::cout << (*r)["ref"].get<std::string>() << " " << (*r)["commit"].get<std::string>() << "\n";
    for (const auto& f : (*r)["paths"]) std::cout << "  " << f.get<std::string>() << "\n";
  } else if (action == "apply") {
    if (!(*r)["applied"].get<bool>()) {
      std::string files;
      for (const auto& f : (*r)["conflicts"])
        files += (files.empty() ? "" : ", ") + f.get<std::string>();
      return fail("conflicts in " + files + "; nothing was changed and the preserved work stays");
    }
    std::cout << "applied to " << (*r)["worktree"].get<std::string>() << "\n";
  } else {
    std::cout << "dropped " << (*r)["dropped"].get<std::string>() << "\n";
  }
  return 0;
}

int cmd_notes(const std::vector<std::string>& args, bool as_json) {
  const std::string target = args.empty() ? "" : args[0];
  const std::string id = args.size() > 1 ? args[1] : "";
  auto r = request("notes", Json{{"target", absolute_target(target)}, {"id", id}});
  if (!r) return fail(r.error());
  if (as_json) {
    std::cout << r->dump() << "\n";
    return 0;
  }
  if (r->contains("text")) {
    std::cout << (*r)["text"].get<std::string>();
    return 0;
  }
  auto text = [](const Json& v) { return v.is_string() ? v.get<std::string>() : std::string("-"); };
  std::cout << pad("SESSION", 14) << pad("RETIRED", 20) << pad("AT", 26) << pad("REASON", 24)
            << "PATH\n";
  for (const auto& n : (*r)["notes"]) {
    std::string retired;
    // Appended, not `"," + string`: GCC 12's false -Wrestrict at -O3 (DESIGN.md §8).
    for (const auto& id : n["retired"]) {
      if (!retired.empty()) retired += ',';
      retired += text(id);
    }
    // The note and --json have the whole reason; the table keeps its columns.
    std::string reason = text(n["reason"]);
    if (reason.empty()) reason = "-";
    if (reason.size() > 22) reason = reason.substr(0, 21) + "~";
    // A column always ends in a space, however long its value.
    std::cout << pad(text(n["session"]) + " ", 14)
              << pad((retired.empty() ? "-" : retired) + " ", 20) << pad(text(n["at"]) + " ", 26)
              << pad(reason + " ", 24) << text(n["path"]) << "\n";
  }
  return 0;
}

int cmd_config_check(const std::string& target) {
  auto r =
      request("config_check", Json{{"path", absolute_target(target)}, {"env", environment_json()}});
  if (!r) return fail(r.error());
  std::cout << (*r)["text"].get<std::string>();
  std::fprintf(stderr, "agent %s (%s)\n", (*r)["agent"].get<std::string>().c_str(),
               (*r)["agent_reason"].get<std::string>().c_str());
  return 0;
}

int cmd_debug_waits() {
  auto r = request("debug_waits", Json::object());
  if (!r) return fail(r.error());
  std::cout << "activity_listeners " << (*r)["activity_listeners"].get<long>() << "\n";
  std::cout << "worker_timers " << r->value("worker_timers", 0L) << "\n";
  return 0;
}

int cmd_fault_points() {
  auto r = request("fault_points", Json::object());
  if (!r) return fail(r.error());
  for (const auto& p : (*r)["points"]) std::cout << p.get<std::string>() << "\n";
  return 0;
}

int cmd_delivery_state() {
  auto r = request("delivery_state", Json::object());
  if (!r) return fail(r.error());
  std::cout << r->dump() << "\n";
  return 0;
}

}  // namespace baton::cli
