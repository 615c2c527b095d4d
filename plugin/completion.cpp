#include "plugin/completion.hpp"

#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <set>

#include <CLI/CLI.hpp>

#include "plugin/agent_spec.hpp"
#include "plugin/client_commands.hpp"
#include "plugin/command_help.hpp"
#include "runtime/client.hpp"
#include "runtime/paths.hpp"
#include "runtime/protocol.hpp"

namespace baton::cli {

namespace {

using Json = runtime::protocol::Json;
using Given = std::vector<std::string>;

// How long a tab press waits for a daemon that is busy or stuck before it offers what it has
// without the daemon's names: a shell must not hang on a completion.
constexpr int kDaemonWaitMs = 1000;

// What the shell adds to baton's candidates from its own completion of the word.
enum class ShellAdds { kNothing, kFiles, kDirs, kCommands };

std::string_view directive(ShellAdds adds) {
  switch (adds) {
    case ShellAdds::kFiles:
      return ":files";
    case ShellAdds::kDirs:
      return ":dirs";
    case ShellAdds::kCommands:
      return ":commands";
    case ShellAdds::kNothing:
      break;
  }
  return ":none";
}

struct Candidate {
  std::string value;
  std::string description;
};

struct Answer {
  ShellAdds adds = ShellAdds::kNothing;
  std::vector<Candidate> candidates;

  void add(std::string value, std::string description) {
    candidates.push_back(Candidate{std::move(value), std::move(description)});
  }
  void add_words(std::initializer_list<std::string_view> words) {
    for (const auto w : words) add(std::string(w), "");
  }
};

std::string text(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool is_within(const std::string& path, const std::string& dir) {
  return !dir.empty() &&
         (path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                          path[dir.size()] == '/'));
}

std::string current_dir() {
  char buf[PATH_MAX];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string("/");
}

// What the daemon knows, asked once per completion and only when a rule needs it. No daemon
// (or a stuck one) leaves the lists empty.
class DaemonFacts {
 public:
  const Json& projects() {
    read();
    return projects_;
  }
  const Json& sessions() {
    read();
    return sessions_;
  }
  // The messages `outbox` lists for a target; asked apart, as only `outbox drop` needs it.
  Json outbox(const std::string& target) {
    if (!connect()) return Json::array();
    auto r = client_->call("outbox", Json{{"target", target}, {"action", "ls"}, {"id", ""}});
    return r && (*r)["messages"].is_array() ? (*r)["messages"] : Json::array();
  }

 private:
  bool connect() {
    if (has_tried_) return client_.has_value();
    has_tried_ = true;
    // Never autostart: a tab press must not start a daemon, nor wait for one to start.
    auto c = runtime::ControlClient::connect(runtime::Paths::from_env(), false);
    if (!c) return false;
    const timeval wait{kDaemonWaitMs / 1000, (kDaemonWaitMs % 1000) * 1000};
    setsockopt(c->fd(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    setsockopt(c->fd(), SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
    client_.emplace(std::move(*c));
    return true;
  }

  void read() {
    if (is_read_) return;
    is_read_ = true;
    if (!connect()) return;
    // A failed call (a daemon of another protocol version, a timeout) offers nothing more.
    if (auto r = client_->call("ls", Json::object()); r && (*r)["projects"].is_array()) {
      projects_ = (*r)["projects"];
    } else {
      return;
    }
    if (auto r = client_->call("sessions", Json{{"all", true}}); r && (*r)["sessions"].is_array())
      sessions_ = (*r)["sessions"];
  }

  bool has_tried_ = false;
  bool is_read_ = false;
  std::optional<runtime::ControlClient> client_;
  Json projects_ = Json::array();
  Json sessions_ = Json::array();
};

// The project a TARGET names (a project id, a session id, or a path inside the project or one
// of its worktrees; empty: the current directory), or "" when none is known.
std::string project_of(DaemonFacts& facts, const std::string& target) {
  for (const auto& p : facts.projects())
    if (text(p, "id") == target) return target;
  for (const auto& s : facts.sessions())
    if (!target.empty() && text(s, "id") == target) return text(s, "project");
  std::string path = target.empty() ? current_dir() : target;
  char real[PATH_MAX];
  if (realpath(path.c_str(), real)) path = real;
  for (const auto& p : facts.projects())
    if (is_within(path, text(p, "path"))) return text(p, "id");
  for (const auto& s : facts.sessions())
    if (is_within(path, text(s, "worktree"))) return text(s, "project");
  return "";
}

void add_projects(DaemonFacts& facts, Answer& a) {
  for (const auto& p : facts.projects()) a.add(text(p, "id"), "project " + text(p, "path"));
}

std::string session_description(const Json& s) {
  const std::string role = text(s, "role");
  const std::string state = text(s, "state");
  if (role.empty()) {
    std::string command;
    if (s.contains("command") && s["command"].is_array())
      for (const auto& w : s["command"])
        if (w.is_string()) command += (command.empty() ? "" : " ") + w.get<std::string>();
    return "session " + state + ": " + command;
  }
  return role + " of " + text(s, "project") + ", " + text(s, "agent") + ", " + state;
}

// Sessions a command can still reach (retired ones are records only), those `keep` accepts.
template <typename Keep>
void add_sessions(DaemonFacts& facts, Answer& a, Keep keep) {
  for (const auto& s : facts.sessions())
    if (keep(s)) a.add(text(s, "id"), session_description(s));
}

bool is_reachable(const Json& s) {
  return text(s, "state") != "retired";
}

// Workers (issue 19) are named PROJECT/NAME; a daemon without them lists none.
void add_workers(DaemonFacts& facts, Answer& a) {
  for (const auto& s : facts.sessions()) {
    if (text(s, "role") != "worker" || text(s, "name").empty() || !is_reachable(s)) continue;
    a.add(text(s, "project") + "/" + text(s, "name"), "worker, " + text(s, "agent"));
  }
}

void add_agents(DaemonFacts& facts, Answer& a) {
  std::set<std::string> seen;
  for (const auto name : plugin::kPresetNames) {
    seen.emplace(name);
    a.add(std::string(name), "preset");
  }
  // The agents each project's config defines (`ls` lists their names, never their commands).
  for (const auto& p : facts.projects()) {
    if (!p.contains("agents") || !p["agents"].is_array()) continue;
    for (const auto& name : p["agents"])
      if (name.is_string() && seen.insert(name.get<std::string>()).second)
        a.add(name.get<std::string>(), "agent of " + text(p, "id"));
  }
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
  return find_command(app, {name});
}

void add_subcommands(const CLI::App& command, Answer& a) {
  for (const CLI::App* sub : visible_subcommands(command))
    a.add(sub->get_name(), sub->get_description());
}

// `help [COMMAND [SUBCOMMAND]]`: the commands, then the subcommands of the one named.
void command_names(const CLI::App& root, DaemonFacts&, const Given& given, Answer& a) {
  if (const CLI::App* command = find_command(root, given)) add_subcommands(*command, a);
}

// What each option or positional takes: `given` are the values it already has.
// `root` is the whole command line, for rules that offer its commands.
using ValuesFn = void (*)(const CLI::App& root, DaemonFacts&, const Given& given, Answer&);

struct ValueRule {
  std::string_view command;  // the subcommand's path: "attach", "config check"
  std::string_view option;   // "--agent", or a positional's name
  ValuesFn values;
};

void projects_or_dirs(const CLI::App&, DaemonFacts& f, const Given&, Answer& a) {
  add_projects(f, a);
  a.adds = ShellAdds::kDirs;
}

// attach, capture, send, tell: a project reaches its orchestrator.
void reachable_targets(const CLI::App&, DaemonFacts& f, const Given&, Answer& a) {
  add_sessions(f, a, is_reachable);
  add_workers(f, a);
  add_projects(f, a);
}

// finish: only a worker can be finished.
void worker_targets(const CLI::App&, DaemonFacts& f, const Given&, Answer& a) {
  add_workers(f, a);
}

void files(const CLI::App&, DaemonFacts&, const Given&, Answer& a) {
  a.adds = ShellAdds::kFiles;
}

void dirs(const CLI::App&, DaemonFacts&, const Given&, Answer& a) {
  a.adds = ShellAdds::kDirs;
}
void agents(const CLI::App&, DaemonFacts& f, const Given&, Answer& a) {
  add_agents(f, a);
}

// `preserved [TARGET] ls | show ID | apply ID | drop ID`: an ID is a retired session whose
// uncommitted work was kept.
void preserved_args(const CLI::App&, DaemonFacts& f, const Given& given, Answer& a) {
  auto is_action = [](const std::string& w) {
    return w == "ls" || w == "show" || w == "apply" || w == "drop";
  };
  std::size_t i = 0;
  std::string target;
  if (!given.empty() && !is_action(given[0])) target = given[i++];
  if (i == given.size()) {
    if (i == 0) add_projects(f, a);
    a.add_words({"ls", "show", "apply", "drop"});
    return;
  }
  if (i + 1 != given.size() || given[i] == "ls") return;
  const std::string project = project_of(f, target);
  add_sessions(f, a, [&project](const Json& s) {
    return !text(s, "preserved_ref").empty() && (project.empty() || text(s, "project") == project);
  });
}

// `notes [TARGET] [ID]`: a session id alone names its note too.
void notes_args(const CLI::App&, DaemonFacts& f, const Given& given, Answer& a) {
  if (given.size() > 1) return;
  const std::string project = given.empty() ? "" : project_of(f, given[0]);
  if (given.empty()) add_projects(f, a);
  add_sessions(f, a, [&project](const Json& s) {
    return !text(s, "handoff_note").empty() && (project.empty() || text(s, "project") == project);
  });
}

// `outbox [TARGET] ls | drop ID`: an ID is a message still waiting.
void outbox_args(const CLI::App& root, DaemonFacts& f, const Given& given, Answer& a) {
  std::size_t i = 0;
  std::string target;
  if (!given.empty() && given[0] != "ls" && given[0] != "drop") target = given[i++];
  if (i == given.size()) {
    if (i == 0) reachable_targets(root, f, given, a);
    a.add_words({"ls", "drop"});
    return;
  }
  if (i + 1 != given.size() || given[i] != "drop") return;
  // The daemon resolves the target from "/": a relative path is made absolute here.
  if (target.empty()) target = current_dir();
  if (target[0] != '/' && access(target.c_str(), F_OK) == 0) target = current_dir() + "/" + target;
  for (const auto& m : f.outbox(target)) a.add(text(m, "id"), text(m, "text"));
}

// The table of what the values of an option or positional are; `--check` proves every entry
// names an option of the command line. An option without an entry gets nothing offered.
constexpr std::array kValueRules = {
    ValueRule{"new", "--cwd", dirs},
    ValueRule{"new", "command",
              [](const CLI::App&, DaemonFacts&, const Given& given, Answer& a) {
                a.adds = given.empty() ? ShellAdds::kCommands : ShellAdds::kFiles;
              }},
    ValueRule{"sessions", "target",
              [](const CLI::App&, DaemonFacts& f, const Given&, Answer& a) { add_projects(f, a); }},
    ValueRule{"attach", "target", reachable_targets},
    ValueRule{"capture", "target", reachable_targets},
    ValueRule{"send", "target", reachable_targets},
    ValueRule{"tell", "target", reachable_targets},
    ValueRule{"outbox", "args", outbox_args},
    ValueRule{"kill", "target",
              [](const CLI::App&, DaemonFacts& f, const Given&, Answer& a) {
                // Orchestrators are refused: `down` retires them with their work.
                add_sessions(
                    f, a, [](const Json& s) { return text(s, "role").empty() && is_reachable(s); });
              }},
    ValueRule{"up", "path", projects_or_dirs},
    ValueRule{"up", "--agent", agents},
    ValueRule{"replace", "target",
              [](const CLI::App& root, DaemonFacts& f, const Given& given, Answer& a) {
                add_sessions(f, a, [](const Json& s) {
                  return text(s, "role") == "orchestrator" && is_reachable(s);
                });
                projects_or_dirs(root, f, given, a);
              }},
    ValueRule{"replace", "--agent", agents},
    ValueRule{"down", "target", projects_or_dirs},
    ValueRule{"spawn", "target", projects_or_dirs},
    ValueRule{"spawn", "--agent", agents},
    ValueRule{"spawn", "--prompt-file", files},
    ValueRule{"workers", "target", projects_or_dirs},
    ValueRule{"finish", "target", worker_targets},
    ValueRule{"status", "target", projects_or_dirs},
    ValueRule{"allow", "path", projects_or_dirs},
    ValueRule{"preserved", "args", preserved_args},
    ValueRule{"notes", "args", notes_args},
    ValueRule{"signal", "state",
              [](const CLI::App&, DaemonFacts&, const Given&, Answer& a) {
                a.add_words({"working", "waiting_input", "idle", "exited"});
              }},
    ValueRule{"signal", "--session",
              [](const CLI::App&, DaemonFacts& f, const Given&, Answer& a) {
                add_sessions(f, a, [](const Json& s) {
                  return text(s, "role") == "orchestrator" && is_reachable(s);
                });
              }},
    ValueRule{"signal", "--hook",
              [](const CLI::App&, DaemonFacts&, const Given& given, Answer& a) {
                if (given.empty()) a.add_words({"claude", "codex"});
              }},
    ValueRule{"config check", "path", projects_or_dirs},
    ValueRule{"help", "command", command_names},
};

bool is_positional(const CLI::Option& opt) {
  return opt.get_positional() && opt.get_lnames().empty() && opt.get_snames().empty();
}

const ValueRule* find_rule(const std::string& command, const CLI::Option& opt) {
  for (const auto& r : kValueRules) {
    if (r.command != command) continue;
    if (is_positional(opt) ? r.option == opt.get_name() : opt.check_name(std::string(r.option)))
      return &r;
  }
  return nullptr;
}

bool is_flag(const CLI::Option& opt) {
  return opt.get_expected_max() == 0;
}

// The values an option takes after its name: one, or more for `--hook SOURCE ARG`.
std::size_t values_taken(const CLI::Option& opt) {
  return is_flag(opt) ? 0 : static_cast<std::size_t>(std::max(1, opt.get_items_expected_min()));
}

// Where the words before the cursor left the command line.
struct Position {
  const CLI::App* command = nullptr;
  std::string path;                      // "config check"
  const CLI::Option* pending = nullptr;  // an option still waiting for values
  Given pending_given;                   // the values it has
  Given positional_words;                // words given to the command's positionals
  bool is_past_dashdash = false;
};

Position walk(const CLI::App& app, const Given& words) {
  Position at;
  at.command = &app;
  for (const auto& w : words) {
    if (at.pending) {
      at.pending_given.push_back(w);
      if (at.pending_given.size() >= values_taken(*at.pending)) {
        at.pending = nullptr;
        at.pending_given.clear();
      }
      continue;
    }
    if (!at.is_past_dashdash && w == "--") {
      at.is_past_dashdash = true;
      continue;
    }
    if (!at.is_past_dashdash && w.size() > 1 && w[0] == '-') {
      if (w.find('=') != std::string::npos) continue;  // --name=VALUE carries its value
      const CLI::Option* opt = at.command->get_option_no_throw(w);
      if (opt && !is_positional(*opt) && values_taken(*opt) > 0) at.pending = opt;
      continue;
    }
    if (at.positional_words.empty() && !at.is_past_dashdash) {
      if (const CLI::App* sub = find_subcommand(*at.command, w)) {
        at.command = sub;
        at.path += (at.path.empty() ? "" : " ") + w;
        continue;
      }
    }
    at.positional_words.push_back(w);
  }
  return at;
}

// The positional the next word fills, and the words it already has; nullptr when every
// positional is full.
const CLI::Option* next_positional(const CLI::App& command, const Given& words, Given& given) {
  std::size_t used = 0;
  for (const CLI::Option* opt : command.get_options()) {
    if (!is_positional(*opt)) continue;
    const auto room = static_cast<std::size_t>(std::max(0, opt->get_items_expected_max()));
    const std::size_t taken = std::min(room, words.size() - used);
    if (taken < room) {
      given.assign(words.begin() + static_cast<std::ptrdiff_t>(used),
                   words.begin() + static_cast<std::ptrdiff_t>(used + taken));
      return opt;
    }
    used += taken;
  }
  return nullptr;
}

void add_options(const CLI::App& command, Answer& a) {
  for (const CLI::Option* opt : command.get_options()) {
    if (is_positional(*opt) || opt->get_group().empty()) continue;
    const std::string name = !opt->get_lnames().empty() ? "--" + opt->get_lnames().front()
                                                        : "-" + opt->get_snames().front();
    a.add(name, opt->get_description());
  }
}

// The values a rule offers, each prefixed (`--agent=` of `--agent=co`).
void add_values(const CLI::App& root, DaemonFacts& facts, const std::string& path,
                const CLI::Option& opt, const Given& given, const std::string& prefix, Answer& a) {
  const ValueRule* rule = find_rule(path, opt);
  if (!rule) return;
  Answer values;
  rule->values(root, facts, given, values);
  a.adds = values.adds;
  for (auto& c : values.candidates) a.add(prefix + c.value, std::move(c.description));
}

Answer complete(const CLI::App& app, const Given& words, DaemonFacts& facts) {
  const std::string cur = words.empty() ? std::string() : words.back();
  const Position at = walk(app, Given(words.begin(), words.end() - (words.empty() ? 0 : 1)));
  Answer a;
  if (at.pending) {
    add_values(app, facts, at.path, *at.pending, at.pending_given, "", a);
    return a;
  }
  if (!at.is_past_dashdash && !cur.empty() && cur[0] == '-') {
    const auto eq = cur.find('=');
    if (eq == std::string::npos) {
      add_options(*at.command, a);
    } else if (const CLI::Option* opt = at.command->get_option_no_throw(cur.substr(0, eq));
               opt && !is_positional(*opt) && values_taken(*opt) > 0) {
      add_values(app, facts, at.path, *opt, {}, cur.substr(0, eq + 1), a);
    }
    return a;
  }
  const bool has_subcommands = !visible_subcommands(*at.command).empty();
  if (at.positional_words.empty() && !at.is_past_dashdash) add_subcommands(*at.command, a);
  if (at.command->get_require_subcommand_min() > 0) return a;
  Given given;
  const CLI::Option* positional = next_positional(*at.command, at.positional_words, given);
  if (positional) add_values(app, facts, at.path, *positional, given, "", a);
  // A command that takes no word but options shows them without waiting for a '-'.
  if (!positional && !has_subcommands && at.positional_words.empty() && cur.empty())
    add_options(*at.command, a);
  return a;
}

// A description on one line: a tab or newline in it would break the answer's format.
std::string one_line(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
  return s;
}

int check_rules(const CLI::App& app) {
  int failed = 0;
  for (const auto& r : kValueRules) {
    const CLI::App* command = &app;
    std::string path;
    std::size_t start = 0;
    while (command && start < r.command.size()) {
      const auto end = std::min(r.command.find(' ', start), r.command.size());
      command = find_subcommand(*command, std::string(r.command.substr(start, end - start)));
      start = end + 1;
    }
    const CLI::Option* opt =
        command ? command->get_option_no_throw(std::string(r.option)) : nullptr;
    if (!opt || find_rule(std::string(r.command), *opt) != &r) {
      std::fprintf(stderr,
                   "baton: completion rule '%.*s %.*s' names no option of the command line\n",
                   static_cast<int>(r.command.size()), r.command.data(),
                   static_cast<int>(r.option.size()), r.option.data());
      failed = kExitFailed;
    }
  }
  return failed;
}

}  // namespace

int cmd_complete(const CLI::App& app, const std::vector<std::string>& args) {
  bool has_descriptions = false;
  std::size_t i = 0;
  auto usage = [] {
    std::fprintf(stderr, "baton: usage: baton %.*s [--descriptions] -- WORD... | --check\n",
                 static_cast<int>(kCompleteCommand.size()), kCompleteCommand.data());
    return kExitUsage;
  };
  for (; i < args.size() && args[i] != "--"; ++i) {
    if (args[i] == "--descriptions") {
      has_descriptions = true;
    } else if (args[i] == "--check") {
      return check_rules(app);
    } else {
      return usage();
    }
  }
  if (i == args.size()) return usage();
  const Given words(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  const std::string cur = words.empty() ? std::string() : words.back();
  DaemonFacts facts;
  const Answer a = complete(app, words, facts);
  std::string out(directive(a.adds));
  out += '\n';
  std::set<std::string> seen;
  for (const auto& c : a.candidates) {
    if (c.value.empty() || c.value.compare(0, cur.size(), cur) != 0) continue;
    if (!seen.insert(c.value).second) continue;
    out += c.value;
    if (has_descriptions && !c.description.empty()) out += '\t' + one_line(c.description);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace baton::cli
