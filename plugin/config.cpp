#include "plugin/config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string_view>

#include <git2.h>

#include <fmt/format.h>

// Debian's toml++ is a compiled library in exceptions mode: parse() throws toml::parse_error,
// caught below and never let out of load_config (DESIGN.md §8).
#include <toml++/toml.h>

#include "plugin/atomic_file.hpp"
#include "plugin/trust.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

namespace {

using Failure = tl::unexpected<std::string>;
using Status = tl::expected<void, std::string>;

constexpr std::string_view kDefaultBranch = "baton/{prefix}-orchestrator";
constexpr std::string_view kDefaultWorkspaceRoot = "$BATON_HOME/worktrees";
constexpr int kDefaultHookTimeoutMs = 30000;
constexpr int kDefaultLaunchGraceMs = 5000;
constexpr std::array<std::string_view, 3> kPresetOrder = {"codex", "claude-code", "shell"};

// One config file being applied: its absolute path, for every message.
struct File {
  std::string path;
  std::string name;           // baton.toml | baton.local.toml
  bool is_repository = true;  // false only for a baton.local.toml git does not track
};

std::string position(const File& f, const toml::source_region& where) {
  return fmt::format("{}:{}:{}", f.path, where.begin.line, where.begin.column);
}

Failure fail(const File& f, const toml::source_region& where, std::string_view message) {
  return Failure(fmt::format("{}: {}", position(f, where), message));
}

bool is_slug_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool is_slug(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_slug_char(c)) return false;
  return true;
}

// A project name or session prefix: slug characters, not starting with '.' (".", "..", a
// hidden directory under the workspace root) or '-' (a session id read as an option).
bool is_project_name(std::string_view s) {
  return is_slug(s) && s.front() != '.' && s.front() != '-';
}

// ASCII for the letters of Latin-1 (U+00C0..U+00FF, UTF-8 "\xC3\x80".."\xC3\xBF"); "" for
// the two signs among them (× ÷), which become separators.
constexpr std::array<std::string_view, 64> kLatin1Ascii = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I",  "I",
    "D", "N", "O", "O", "O", "O", "O",  "",  "O", "U", "U", "U", "U", "Y", "TH", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};

// A directory's name as a project id a reader recognises: "my proj é" gives "my-proj-e".
// Accented Latin letters lose their accents, every other run of characters outside the
// charset becomes one '-', and no '-', '.' or '_' leads or trails.
std::string slug_of(std::string_view text) {
  std::string slug;
  bool gap = false;
  auto put = [&](std::string_view part) {
    if (gap && !slug.empty()) slug += '-';
    gap = false;
    slug += part;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (is_slug_char(text[i]) && c != '-') {
      put(std::string_view(&text[i], 1));
    } else if (c == 0xC3 && i + 1 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
      auto ascii = kLatin1Ascii[static_cast<unsigned char>(text[i + 1]) - 0x80];
      ++i;
      if (ascii.empty())
        gap = true;
      else
        put(ascii);
    } else {
      // '-' itself, a space, punctuation, or any byte of another UTF-8 character.
      gap = true;
    }
  }
  const auto first = slug.find_first_not_of("._-");
  if (first == std::string::npos) return "";
  slug.erase(0, first);
  slug.erase(slug.find_last_not_of("._-") + 1);
  return slug;
}

bool is_var_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_var_char(char c) {
  return is_var_start(c) || (c >= '0' && c <= '9');
}

std::string lookup(const std::map<std::string, std::string>& environment, const std::string& name) {
  auto it = environment.find(name);
  return it == environment.end() ? std::string() : it->second;
}

// [env] values: `${VAR}` from the environment of `baton` (unset: empty), `$$` is a literal
// `$`; any other `$` stays as written so values like passwords need no escaping.
tl::expected<std::string, std::string> expand_braced(
    std::string_view value, const std::map<std::string, std::string>& environment) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '$' || i + 1 == value.size()) {
      out += value[i];
      continue;
    }
    if (value[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (value[i + 1] != '{') {
      out += '$';
      continue;
    }
    auto close = value.find('}', i + 2);
    if (close == std::string_view::npos) return tl::unexpected(std::string("unterminated ${"));
    std::string name(value.substr(i + 2, close - i - 2));
    if (name.empty() || !is_var_start(name[0]))
      return tl::unexpected(fmt::format("bad variable name '${{{}}}'", name));
    for (char c : name)
      if (!is_var_char(c)) return tl::unexpected(fmt::format("bad variable name '${{{}}}'", name));
    out += lookup(environment, name);
    i = close;
  }
  return out;
}

// [workspace] root: a leading `~`, `$VAR` and `${VAR}`; BATON_HOME is baton's own home even
// when the environment does not set it.
std::string expand_path(std::string_view value, const ConfigInputs& in) {
  auto var = [&](const std::string& name) {
    if (name == "BATON_HOME" && !in.baton_home.empty()) return in.baton_home;
    return lookup(in.environment, name);
  };
  std::string out;
  size_t i = 0;
  if (value == "~" || value.starts_with("~/")) {
    out = var("HOME");
    i = 1;
  }
  for (; i < value.size(); ++i) {
    char c = value[i];
    if (c != '$' || i + 1 == value.size()) {
      out += c;
      continue;
    }
    if (value[i + 1] == '{') {
      auto close = value.find('}', i + 2);
      if (close == std::string_view::npos) {
        out += value.substr(i);
        break;
      }
      out += var(std::string(value.substr(i + 2, close - i - 2)));
      i = close;
    } else if (is_var_start(value[i + 1])) {
      size_t end = i + 1;
      while (end < value.size() && is_var_char(value[end])) ++end;
      out += var(std::string(value.substr(i + 1, end - i - 1)));
      i = end - 1;
    } else {
      out += c;
    }
  }
  return out;
}

// git's check-ref-format rules, plus those `git check-ref-format --branch` adds (a branch
// name cannot start with '-' or be HEAD). Returns why the name is invalid, or "".
std::string ref_name_problem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (name == "@") return "it is '@'";
  if (name == "HEAD") return "it is HEAD";
  if (name.front() == '-') return "it starts with '-'";
  if (name.front() == '/') return "it starts with '/'";
  if (name.back() == '/') return "it ends with '/'";
  if (name.back() == '.') return "it ends with '.'";
  if (name.find("..") != std::string_view::npos) return "it contains '..'";
  if (name.find("//") != std::string_view::npos) return "it contains '//'";
  if (name.find("@{") != std::string_view::npos) return "it contains '@{'";
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "it contains a control character";
    if (std::string_view(" ~^:?*[\\").find(c) != std::string_view::npos)
      return fmt::format("it contains '{}'", c);
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    auto component = name.substr(start, end - start);
    if (component.starts_with('.'))
      return fmt::format("its component '{}' starts with '.'", component);
    if (component.ends_with(".lock"))
      return fmt::format("its component '{}' ends with '.lock'", component);
    start = end + 1;
  }
  return "";
}

std::string toml_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += toml_quote(items[i]);
  }
  return out + "]";
}

std::string toml_key(std::string_view key) {
  if (key.empty()) return "\"\"";
  for (char c : key)
    if (!is_var_char(c) && c != '-') return toml_quote(key);
  return std::string(key);
}

std::string render_duration(int ms) {
  if (ms != 0 && ms % 60000 == 0) return fmt::format("{}m", ms / 60000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// --- typed readers: each names the key in its message, at the value's position ---

tl::expected<std::string, std::string> read_string(const File& f, const toml::node& node,
                                                   std::string_view what) {
  if (auto* s = node.as_string()) return s->get();
  return fail(f, node.source(), fmt::format("{} must be a string", what));
}

tl::expected<std::vector<std::string>, std::string> read_string_array(const File& f,
                                                                      const toml::node& node,
                                                                      std::string_view what) {
  auto* array = node.as_array();
  if (!array) return fail(f, node.source(), fmt::format("{} must be an array of strings", what));
  std::vector<std::string> out;
  for (const toml::node& item : *array) {
    auto* s = item.as_string();
    if (!s) return fail(f, item.source(), fmt::format("{} must be an array of strings", what));
    out.push_back(s->get());
  }
  return out;
}

// "5s", "500ms", "2m", "1h", or an integer number of seconds.
tl::expected<int, std::string> read_duration_ms(const File& f, const toml::node& node,
                                                std::string_view what) {
  auto bad = [&] {
    return fail(f, node.source(),
                fmt::format("{} must be a duration like \"5s\", \"500ms\" or \"2m\", or an "
                            "integer number of seconds",
                            what));
  };
  std::int64_t amount = 0;
  std::int64_t unit_ms = 1000;
  if (auto* i = node.as_integer()) {
    amount = i->get();
  } else if (auto* s = node.as_string()) {
    std::string_view text = s->get();
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9) return bad();
    auto unit = text.substr(digits);
    if (unit == "ms")
      unit_ms = 1;
    else if (unit == "s")
      unit_ms = 1000;
    else if (unit == "m")
      unit_ms = 60'000;
    else if (unit == "h")
      unit_ms = 3'600'000;
    else
      return bad();
    for (char c : text.substr(0, digits)) amount = amount * 10 + (c - '0');
  } else {
    return bad();
  }
  if (amount < 0 || amount > std::numeric_limits<int>::max() / unit_ms) return bad();
  return static_cast<int>(amount * unit_ms);
}

// A hook or post_create entry: a string runs through /bin/sh -c, an array is argv.
tl::expected<CommandSpec, std::string> read_command(const File& f, const toml::node& node,
                                                    std::string_view what) {
  if (auto* s = node.as_string()) {
    if (s->get().empty()) return fail(f, node.source(), fmt::format("{} is empty", what));
    return CommandSpec{{"/bin/sh", "-c", s->get()}, s->get()};
  }
  if (!node.is_array())
    return fail(f, node.source(), fmt::format("{} must be a string or an array of strings", what));
  auto argv = read_string_array(f, node, what);
  if (!argv) return tl::unexpected(argv.error());
  if (argv->empty() || (*argv)[0].empty())
    return fail(f, node.source(), fmt::format("{} has an empty command", what));
  auto source = toml_array(*argv);
  return CommandSpec{std::move(*argv), std::move(source)};
}

tl::expected<std::map<std::string, std::string>, std::string> read_env_table(
    const File& f, const toml::node& node, std::string_view section,
    const std::map<std::string, std::string>& environment) {
  auto* table = node.as_table();
  if (!table) return fail(f, node.source(), fmt::format("{} must be a table of strings", section));
  std::map<std::string, std::string> out;
  for (auto&& [key, value] : *table) {
    std::string name(key.str());
    auto what = fmt::format("{} {}", section, name);
    auto raw = read_string(f, value, what);
    if (!raw) return tl::unexpected(raw.error());
    auto expanded = expand_braced(*raw, environment);
    if (!expanded) return fail(f, value.source(), fmt::format("{}: {}", what, expanded.error()));
    out[name] = std::move(*expanded);
  }
  return out;
}

bool is_inside(const fs::path& path, const fs::path& root) {
  auto rel = path.lexically_relative(root);
  if (rel.empty() || rel == ".") return false;
  return *rel.begin() != "..";
}

// --- the loader: applies each file in turn, the local one last, key by key ---

class Loader {
 public:
  Loader(const ConfigInputs& in, std::string root) : in_(in), root_(std::move(root)) {
    cfg_.agents = agent_presets();
    cfg_.branch_template = std::string(kDefaultBranch);
    cfg_.carry_uncommitted = true;
    cfg_.launch_grace_ms = kDefaultLaunchGraceMs;
    cfg_.workspace_root = std::string(kDefaultWorkspaceRoot);
    cfg_.hooks.timeout_ms = kDefaultHookTimeoutMs;
  }

  Status apply(const File& f, const toml::table& top);
  tl::expected<ProjectConfig, std::string> finish();

 private:
  Status apply_project(const File& f, const toml::table& t);
  Status apply_orchestrator(const File& f, const toml::table& t);
  Status apply_agents(const File& f, const toml::table& t);
  Status apply_agent(const File& f, const std::string& name, const toml::table& t);
  Status apply_workspace(const File& f, const toml::table& t);
  Status apply_env(const File& f, const toml::table& t);
  Status apply_hooks(const File& f, const toml::table& t);
  Status check_symlink(const File& f, const toml::node& node, const std::string& value);
  // Records that repository file f sets `key`, which needs `baton allow` (ProjectConfig::
  // trust_keys). A key of the user's own untracked baton.local.toml needs nothing.
  void needs_trust(const File& f, std::string key);
  std::string default_name() const;

  const ConfigInputs& in_;
  std::string root_;
  ProjectConfig cfg_;
  // Positions ("file:line:col") of keys whose errors show up only once every file is read.
  std::string name_at_, prefix_at_, branch_at_, agent_at_, permissions_at_;
  std::string agent_file_;                             // the file that set [orchestrator] agent
  std::map<std::string, std::string> agent_at_table_;  // [agents.NAME] without a preset
};

void Loader::needs_trust(const File& f, std::string key) {
  if (!f.is_repository) return;
  if (std::find(cfg_.trust_keys.begin(), cfg_.trust_keys.end(), key) == cfg_.trust_keys.end())
    cfg_.trust_keys.push_back(std::move(key));
  if (std::find(cfg_.trust_files.begin(), cfg_.trust_files.end(), f.path) == cfg_.trust_files.end())
    cfg_.trust_files.push_back(f.path);
}

Status Loader::apply(const File& f, const toml::table& top) {
  for (auto&& [key, node] : top) {
    std::string name(key.str());
    using Section = Status (Loader::*)(const File&, const toml::table&);
    Section section = nullptr;
    if (name == "project")
      section = &Loader::apply_project;
    else if (name == "orchestrator")
      section = &Loader::apply_orchestrator;
    else if (name == "agents")
      section = &Loader::apply_agents;
    else if (name == "workspace")
      section = &Loader::apply_workspace;
    else if (name == "env")
      section = &Loader::apply_env;
    else if (name == "hooks")
      section = &Loader::apply_hooks;
    else
      return fail(f, key.source(), fmt::format("unknown key '{}'", name));
    auto* table = node.as_table();
    if (!table) return fail(f, node.source(), fmt::format("[{}] must be a table", name));
    if (auto done = (this->*section)(f, *table); !done) return done;
  }
  return {};
}

Status Loader::apply_project(const File& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (name == "name" || name == "session_prefix") {
      auto what = fmt::format("[project] {}", name);
      auto value = read_string(f, node, what);
      if (!value) return tl::unexpected(value.error());
      if (!is_project_name(*value))
        return fail(
            f, node.source(),
            fmt::format("{} '{}' must use only A-Z a-z 0-9 . _ - and start with a letter, a "
                        "digit or '_'",
                        what, *value));
      if (name == "name") {
        cfg_.name = *value;
        name_at_ = position(f, node.source());
      } else {
        cfg_.session_prefix = *value;
        prefix_at_ = position(f, node.source());
      }
    } else if (name == "base_branch") {
      auto value = read_string(f, node, "[project] base_branch");
      if (!value) return tl::unexpected(value.error());
      if (auto problem = ref_name_problem(*value); !value->empty() && !problem.empty())
        return fail(f, node.source(),
                    fmt::format("[project] base_branch '{}' is not a valid branch name: {}", *value,
                                problem));
      cfg_.base_branch = *value;
      needs_trust(f, "[project] base_branch");
    } else {
      return fail(f, key.source(), fmt::format("unknown key '{}' in [project]", name));
    }
  }
  return {};
}

Status Loader::apply_orchestrator(const File& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (name == "agent") {
      auto value = read_string(f, node, "[orchestrator] agent");
      if (!value) return tl::unexpected(value.error());
      if (value->empty()) return fail(f, node.source(), "[orchestrator] agent is empty");
      cfg_.agent = *value;
      agent_at_ = position(f, node.source());
      agent_file_ = f.name;
      // A preset's name only picks among programs the user installed; an [agents.NAME] of
      // the repository is a command of its own.
      if (std::find(kPresetOrder.begin(), kPresetOrder.end(), *value) == kPresetOrder.end())
        needs_trust(f, "[orchestrator] agent");
    } else if (name == "branch") {
      auto value = read_string(f, node, "[orchestrator] branch");
      if (!value) return tl::unexpected(value.error());
      cfg_.branch_template = *value;
      branch_at_ = position(f, node.source());
      needs_trust(f, "[orchestrator] branch");
    } else if (name == "prompt") {
      auto value = read_string(f, node, "[orchestrator] prompt");
      if (!value) return tl::unexpected(value.error());
      cfg_.prompt = *value;
      needs_trust(f, "[orchestrator] prompt");
    } else if (name == "carry_uncommitted") {
      auto* value = node.as_boolean();
      if (!value)
        return fail(f, node.source(), "[orchestrator] carry_uncommitted must be a boolean");
      cfg_.carry_uncommitted = value->get();
      needs_trust(f, "[orchestrator] carry_uncommitted");
    } else if (name == "launch_grace") {
      auto ms = read_duration_ms(f, node, "[orchestrator] launch_grace");
      if (!ms) return tl::unexpected(ms.error());
      cfg_.launch_grace_ms = *ms;
    } else if (name == "permissions") {
      auto value = read_string(f, node, "[orchestrator] permissions");
      if (!value) return tl::unexpected(value.error());
      if (!is_permission_mode(*value))
        return fail(f, node.source(),
                    fmt::format("[orchestrator] permissions '{}' must be \"default\", "
                                "\"accept-edits\" or \"bypass\"",
                                *value));
      cfg_.permissions = *value;
      permissions_at_ = position(f, node.source());
      needs_trust(f, "[orchestrator] permissions");
    } else {
      return fail(f, key.source(), fmt::format("unknown key '{}' in [orchestrator]", name));
    }
  }
  return {};
}

Status Loader::apply_agents(const File& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (!is_slug(name))
      return fail(f, key.source(),
                  fmt::format("agent name '{}' must use only A-Z a-z 0-9 . _ -", name));
    auto* table = node.as_table();
    if (!table) return fail(f, node.source(), fmt::format("[agents.{}] must be a table", name));
    if (auto done = apply_agent(f, name, *table); !done) return done;
  }
  return {};
}

// A table named like a preset overrides that preset's fields; a new name starts empty and
// must get a command from one of the files.
Status Loader::apply_agent(const File& f, const std::string& name, const toml::table& t) {
  auto [it, is_new] = cfg_.agents.try_emplace(name);
  AgentSpec& agent = it->second;
  if (is_new) {
    agent.name = name;
    agent_at_table_[name] = position(f, t.source());
  }
  agent.is_preset = false;
  auto section = fmt::format("[agents.{}]", name);
  if (t.empty()) needs_trust(f, section);
  for (auto&& [key, node] : t) {
    std::string field(key.str());
    auto what = fmt::format("{} {}", section, field);
    needs_trust(f, what);
    if (field == "command") {
      auto argv = read_string_array(f, node, what);
      if (!argv) return tl::unexpected(argv.error());
      if (argv->empty() || (*argv)[0].empty())
        return fail(f, node.source(), fmt::format("{} must not be empty", what));
      agent.command = std::move(*argv);
    } else if (field == "resume") {
      auto argv = read_string_array(f, node, what);
      if (!argv) return tl::unexpected(argv.error());
      if (!argv->empty() && (*argv)[0].empty())
        return fail(f, node.source(), fmt::format("{} starts with an empty string", what));
      agent.resume = std::move(*argv);
    } else if (field == "env") {
      auto env = read_env_table(f, node, what, in_.environment);
      if (!env) return tl::unexpected(env.error());
      for (auto& [k, v] : *env) agent.env[k] = std::move(v);
    } else if (field == "prompt_arg") {
      auto value = read_string(f, node, what);
      if (!value) return tl::unexpected(value.error());
      agent.prompt_arg = *value;
    } else if (field == "kind") {
      auto value = read_string(f, node, what);
      if (!value) return tl::unexpected(value.error());
      if (*value == "codex")
        agent.kind = AgentKind::kCodex;
      else if (*value == "claude-code")
        agent.kind = AgentKind::kClaude;
      else if (*value == "generic")
        agent.kind = AgentKind::kGeneric;
      else
        return fail(
            f, node.source(),
            fmt::format("{} '{}' must be \"codex\", \"claude-code\" or \"generic\"", what, *value));
    } else if (field == "permission_args") {
      auto* table = node.as_table();
      if (!table)
        return fail(f, node.source(),
                    fmt::format("{} must be a table like {{ accept-edits = [\"...\"] }}", what));
      for (auto&& [mode_key, args_node] : *table) {
        std::string mode(mode_key.str());
        if (mode != "accept-edits" && mode != "bypass")
          return fail(
              f, mode_key.source(),
              fmt::format("{}: unknown mode '{}' (use accept-edits or bypass)", what, mode));
        auto args = read_string_array(f, args_node, fmt::format("{}.{}", what, mode));
        if (!args) return tl::unexpected(args.error());
        agent.permission_args[mode] = std::move(*args);
      }
    } else if (field == "working_patterns" || field == "waiting_patterns") {
      auto values = read_string_array(f, node, what);
      if (!values) return tl::unexpected(values.error());
      for (const auto& v : *values)
        if (v.empty()) return fail(f, node.source(), fmt::format("{} has an empty pattern", what));
      (field == "working_patterns" ? agent.working_patterns : agent.waiting_patterns) =
          std::move(*values);
    } else {
      return fail(f, key.source(), fmt::format("unknown key '{}' in {}", field, section));
    }
  }
  return {};
}

Status Loader::check_symlink(const File& f, const toml::node& node, const std::string& value) {
  auto reject = [&](std::string_view why) {
    return fail(f, node.source(), fmt::format("[workspace] symlinks: '{}' {}", value, why));
  };
  if (value.empty()) return reject("is empty");
  fs::path path(value);
  if (path.is_absolute()) return reject("is an absolute path; use a path inside the repository");
  for (const auto& part : path)
    if (part == "..") return reject("leaves the repository ('..')");
  // Catches a directory symlink on the way that points out of the repository.
  std::error_code ec;
  auto root = fs::weakly_canonical(root_, ec);
  if (ec) root = fs::path(root_);
  auto resolved = fs::weakly_canonical(fs::path(root_) / path, ec);
  if (ec) resolved = (fs::path(root_) / path).lexically_normal();
  if (!is_inside(resolved, root)) return reject("resolves outside the repository");
  return {};
}

Status Loader::apply_workspace(const File& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    // Where trees go, what links out of them and what runs in them: all need trust.
    needs_trust(f, fmt::format("[workspace] {}", name));
    if (name == "root") {
      auto value = read_string(f, node, "[workspace] root");
      if (!value) return tl::unexpected(value.error());
      if (value->empty()) return fail(f, node.source(), "[workspace] root is empty");
      cfg_.workspace_root = *value;  // expanded in finish()
    } else if (name == "symlinks") {
      auto values = read_string_array(f, node, "[workspace] symlinks");
      if (!values) return tl::unexpected(values.error());
      const auto& array = *node.as_array();
      for (size_t i = 0; i < values->size(); ++i)
        if (auto ok = check_symlink(f, array[i], (*values)[i]); !ok) return ok;
      cfg_.symlinks = std::move(*values);
    } else if (name == "post_create") {
      auto* array = node.as_array();
      if (!array)
        return fail(f, node.source(),
                    "[workspace] post_create must be an array of commands (strings or arrays)");
      std::vector<CommandSpec> commands;
      for (const toml::node& item : *array) {
        auto command = read_command(f, item, "[workspace] post_create entry");
        if (!command) return tl::unexpected(command.error());
        commands.push_back(std::move(*command));
      }
      cfg_.post_create = std::move(commands);
    } else {
      return fail(f, key.source(), fmt::format("unknown key '{}' in [workspace]", name));
    }
  }
  return {};
}

Status Loader::apply_env(const File& f, const toml::table& t) {
  auto env = read_env_table(f, t, "[env]", in_.environment);
  if (!env) return tl::unexpected(env.error());
  // Every variable: programs obey more of them than any list could name (BASH_ENV,
  // NODE_OPTIONS, LD_PRELOAD, GIT_SSH_COMMAND, PAGER, PROMPT_COMMAND ...).
  for (auto& [k, v] : *env) {
    needs_trust(f, fmt::format("[env] {}", k));
    cfg_.env[k] = std::move(v);
  }
  return {};
}

Status Loader::apply_hooks(const File& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    std::optional<CommandSpec>* slot = nullptr;
    if (name == "before_retire")
      slot = &cfg_.hooks.before_retire;
    else if (name == "after_retire")
      slot = &cfg_.hooks.after_retire;
    else if (name == "before_spawn")
      slot = &cfg_.hooks.before_spawn;
    else if (name == "after_spawn")
      slot = &cfg_.hooks.after_spawn;
    else if (name == "on_exit")
      slot = &cfg_.hooks.on_exit;
    if (slot) {
      needs_trust(f, fmt::format("[hooks] {}", name));
      auto command = read_command(f, node, fmt::format("[hooks] {}", name));
      if (!command) return tl::unexpected(command.error());
      *slot = std::move(*command);
    } else if (name == "timeout") {
      auto ms = read_duration_ms(f, node, "[hooks] timeout");
      if (!ms) return tl::unexpected(ms.error());
      if (*ms == 0) return fail(f, node.source(), "[hooks] timeout must be more than 0");
      cfg_.hooks.timeout_ms = *ms;
    } else {
      return fail(f, key.source(), fmt::format("unknown key '{}' in [hooks]", name));
    }
  }
  return {};
}

// The repository directory's name in the project-id charset. Leading '.' and '-' go too: a
// ".dotfiles" repo would otherwise make the default branch an invalid ref.
std::string Loader::default_name() const {
  std::string slug = slug_of(fs::path(root_).filename().string());
  return slug.empty() ? std::string("project") : slug;
}

tl::expected<ProjectConfig, std::string> Loader::finish() {
  if (cfg_.name.empty()) cfg_.name = default_name();
  if (cfg_.session_prefix.empty()) {
    // Cut to 12 without a dangling separator: "my-project-x" not "my-project-" (and the
    // session "my-project-1", not "my-project--1").
    cfg_.session_prefix = cfg_.name.substr(0, 12);
    const auto last = cfg_.session_prefix.find_last_not_of("._-");
    cfg_.session_prefix.erase(last == std::string::npos ? 0 : last + 1);
    if (cfg_.session_prefix.empty()) cfg_.session_prefix = "project";
  }

  for (const auto& [name, at] : agent_at_table_) {
    if (cfg_.agents[name].command.empty())
      return Failure(
          fmt::format("{}: [agents.{}] command is required ({} is not a preset)", at, name, name));
  }

  // {prefix} and {project}; any other {word} is a typo, not part of a branch name.
  const std::string& tmpl = cfg_.branch_template;
  std::string branch;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{') {
      auto close = tmpl.find('}', i);
      if (close != std::string::npos) {
        auto word = tmpl.substr(i + 1, close - i - 1);
        if (word == "prefix" || word == "project") {
          branch += word == "prefix" ? cfg_.session_prefix : cfg_.name;
          i = close;
          continue;
        }
        if (!word.empty() && std::all_of(word.begin(), word.end(), is_var_char)) {
          auto at = branch_at_.empty() ? root_ : branch_at_;
          return Failure(fmt::format(
              "{}: [orchestrator] branch '{}' has an unknown placeholder '{{{}}}' (use {{prefix}} "
              "or {{project}})",
              at, tmpl, word));
        }
      }
    }
    branch += tmpl[i];
  }
  if (auto problem = ref_name_problem(branch); !problem.empty()) {
    std::string at = !branch_at_.empty()   ? branch_at_
                     : !prefix_at_.empty() ? prefix_at_
                     : !name_at_.empty()   ? name_at_
                                           : root_;
    auto hint = branch_at_.empty() ? " (set [project] name or session_prefix)" : "";
    return Failure(fmt::format("{}: [orchestrator] branch '{}' is not a valid branch name: {}{}",
                               at, branch, problem, hint));
  }
  cfg_.branch = std::move(branch);

  if (!cfg_.agent.empty()) {
    if (!cfg_.agents.contains(cfg_.agent)) {
      std::string names;
      for (auto preset : kPresetOrder) names += fmt::format("{}, ", preset);
      for (const auto& [name, agent] : cfg_.agents) {
        if (std::find(kPresetOrder.begin(), kPresetOrder.end(), name) == kPresetOrder.end())
          names += fmt::format("{}, ", name);
      }
      names.resize(names.size() - 2);
      return Failure(fmt::format("{}: agent '{}' is not defined: use {} or an [agents.NAME] table",
                                 agent_at_, cfg_.agent, names));
    }
    cfg_.agent_reason = fmt::format("set in {}", agent_file_);
  } else {
    auto on_path = [&](const std::string& command) {
      if (in_.is_on_path) return in_.is_on_path(command);
      return is_on_path(command, lookup(in_.environment, "PATH"));
    };
    if (on_path("codex")) {
      cfg_.agent = "codex";
      cfg_.agent_reason = "not set; codex is on PATH";
    } else if (on_path("claude")) {
      cfg_.agent = "claude-code";
      cfg_.agent_reason = "not set; codex is not on PATH, claude is";
    } else {
      cfg_.agent = "shell";
      cfg_.agent_reason = "not set; neither codex nor claude is on PATH";
    }
  }

  if (cfg_.permissions != "default") {
    const AgentSpec& agent = cfg_.agents[cfg_.agent];
    if (!agent.permission_args.contains(cfg_.permissions))
      return Failure(fmt::format(
          "{}: [orchestrator] permissions '{}' is not known to agent '{}': give it [agents.{}] "
          "permission_args = {{ {} = [\"...\"] }}",
          permissions_at_, cfg_.permissions, cfg_.agent, cfg_.agent, cfg_.permissions));
  }

  cfg_.workspace_root = expand_path(cfg_.workspace_root, in_);
  return std::move(cfg_);
}

tl::expected<std::string, std::string> absolute_root(const ConfigInputs& in) {
  std::error_code ec;
  auto root_path = fs::absolute(in.repo_root.empty() ? "." : in.repo_root, ec).lexically_normal();
  if (ec) return Failure(fmt::format("load config of {}: {}", in.repo_root, ec.message()));
  std::string root = root_path.string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

constexpr std::array<const char*, 2> kFileNames = {"baton.toml", "baton.local.toml"};

tl::expected<ProjectConfig, std::string> parse(const ConfigInputs& in, const ConfigTexts& texts) {
  auto root = absolute_root(in);
  if (!root) return tl::unexpected(root.error());
  Loader loader(in, *root);
  std::vector<std::string> files;
  for (const char* name : kFileNames) {
    const bool is_main = name == kFileNames[0];
    File f{(fs::path(*root) / name).string(), name, is_main || texts.local_is_tracked};
    const auto& content = is_main ? texts.main : texts.local;
    if (!content) continue;
    files.push_back(f.path);
    toml::table top;
    try {
      top = toml::parse(*content, f.path);
    } catch (const toml::parse_error& e) {
      return fail(f, e.source(), e.description());
    }
    if (auto done = loader.apply(f, top); !done) return tl::unexpected(done.error());
  }
  auto cfg = loader.finish();
  if (!cfg) return cfg;
  cfg->files = std::move(files);
  cfg->content_hash = repository_config_hash(*root, texts);
  return cfg;
}

// Whether the index of the repository whose working directory is `root` has `path`, at any
// stage (a conflicted file is tracked too). Anything unknown counts as tracked: the file is
// then treated as the repository's, which is the safe side.
bool is_tracked_by_git(const std::string& root, const char* path) {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
  git_repository* raw_repo = nullptr;
  if (git_repository_open_ext(&raw_repo, root.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
    return true;
  std::unique_ptr<git_repository, decltype(&git_repository_free)> repo(raw_repo,
                                                                       git_repository_free);
  git_index* raw_index = nullptr;
  if (git_repository_index(&raw_index, repo.get()) != 0) return true;
  std::unique_ptr<git_index, decltype(&git_index_free)> index(raw_index, git_index_free);
  for (int stage = 0; stage <= 3; ++stage)
    if (git_index_get_bypath(index.get(), path, stage)) return true;
  return false;
}

tl::expected<ProjectConfig, std::string> load(const ConfigInputs& in) {
  auto root = absolute_root(in);
  if (!root) return tl::unexpected(root.error());
  auto texts = read_config_texts(*root);
  if (!texts) return tl::unexpected(texts.error());
  return parse(in, *texts);
}

// Nothing may escape: the daemon calls the loader from a worker and keeps the last good config.
template <typename Fn>
tl::expected<ProjectConfig, std::string> guarded(const ConfigInputs& in, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Failure(fmt::format("load config of {}: {}", in.repo_root, e.what()));
  } catch (...) {
    return Failure(fmt::format("load config of {}: unknown error", in.repo_root));
  }
}

}  // namespace

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        else
          out += c;
    }
  }
  return out + "\"";
}

tl::expected<ConfigTexts, std::string> read_config_texts(const std::string& repo_root) {
  ConfigTexts texts;
  for (const char* name : kFileNames) {
    auto content = read_file((fs::path(repo_root) / name).string());
    if (!content && !content.error().empty()) return Failure(content.error());
    (name == kFileNames[0] ? texts.main : texts.local) =
        content ? std::optional<std::string>(std::move(*content)) : std::nullopt;
  }
  texts.local_is_tracked = texts.local && is_tracked_by_git(repo_root, kFileNames[1]);
  return texts;
}

std::string repository_config_hash(const std::string& repo_root, const ConfigTexts& texts) {
  const std::string local = (fs::path(repo_root) / kFileNames[1]).string();
  std::vector<ConfigFile> files{{(fs::path(repo_root) / kFileNames[0]).string(), texts.main}};
  // The user's own local file is left out; its being the user's is part of what was allowed.
  if (texts.local_is_tracked)
    files.push_back({local, texts.local});
  else
    files.push_back({local + " (the user's)", std::nullopt});
  return config_hash_of_contents(files);
}

std::string not_allowed_message(const ProjectConfig& cfg, const std::string& repo_root) {
  constexpr std::size_t kNamed = 6;
  std::string keys;
  for (std::size_t i = 0; i < cfg.trust_keys.size() && i < kNamed; ++i)
    keys += (i ? ", " : "") + cfg.trust_keys[i];
  if (cfg.trust_keys.size() > kNamed)
    keys += fmt::format(" and {} more", cfg.trust_keys.size() - kNamed);
  std::string files;
  for (std::size_t i = 0; i < cfg.trust_files.size(); ++i)
    files += (i ? " and " : "") + cfg.trust_files[i];
  if (files.empty()) files = (fs::path(repo_root) / kFileNames[0]).string();
  return fmt::format(
      "the settings {} in {} are not allowed yet: review them, then run 'baton "
      "allow {}'",
      keys, files, repo_root);
}

tl::expected<ProjectConfig, std::string> load_config(const ConfigInputs& in) {
  return guarded(in, [&] { return load(in); });
}

tl::expected<ProjectConfig, std::string> parse_config(const ConfigInputs& in,
                                                      const ConfigTexts& texts) {
  return guarded(in, [&] { return parse(in, texts); });
}

std::string kind_name(AgentKind kind) {
  switch (kind) {
    case AgentKind::kCodex:
      return "codex";
    case AgentKind::kClaude:
      return "claude-code";
    case AgentKind::kGeneric:
      break;
  }
  return "generic";
}

bool is_permission_mode(std::string_view mode) {
  for (const char* m : kPermissionModes)
    if (mode == m) return true;
  return false;
}

// The presets carry no approval bypass unless `permissions = "bypass"` asks for it; the
// codex and claude flags for the other arguments (update check, trust, hooks, resume) are
// added at launch by plugin/agent_launch.cpp, where the worktree and session are known.
std::map<std::string, AgentSpec> agent_presets() {
  std::map<std::string, AgentSpec> presets;
  AgentSpec codex;
  codex.name = "codex";
  codex.command = {"codex"};
  codex.resume = {"codex", "resume", "--last"};
  codex.is_preset = true;
  codex.kind = AgentKind::kCodex;
  codex.permission_args = {
      {"accept-edits", {"--sandbox", "workspace-write", "--ask-for-approval", "on-request"}},
      {"bypass", {"--dangerously-bypass-approvals-and-sandbox"}}};
  codex.working_patterns = {"esc to interrupt"};
  codex.waiting_patterns = {
      "Would you like to run the following command", "Would you like to make the following edits",
      "Would you like to grant these permissions", "Would you like to send input to"};
  presets["codex"] = codex;

  AgentSpec claude;
  claude.name = "claude-code";
  claude.command = {"claude"};
  claude.resume = {"claude", "--continue"};
  claude.is_preset = true;
  claude.kind = AgentKind::kClaude;
  claude.permission_args = {{"accept-edits", {"--permission-mode", "acceptEdits"}},
                            {"bypass", {"--dangerously-skip-permissions"}}};
  claude.working_patterns = {"esc to interrupt"};
  claude.waiting_patterns = {"Do you want to proceed?", "Do you want to make this edit"};
  presets["claude-code"] = claude;

  // "$SHELL" stays literal here: the plugin substitutes the user's SHELL (or /bin/sh) when
  // it builds the argv, so a config dump never shows a machine-specific path.
  AgentSpec shell;
  shell.name = "shell";
  shell.command = {"$SHELL", "-l"};
  shell.resume = {"$SHELL", "-l"};
  shell.is_preset = true;
  presets["shell"] = shell;
  return presets;
}

bool is_on_path(const std::string& command, const std::string& path_env) {
  if (command.empty()) return false;
  auto is_executable = [](const std::string& file) {
    struct stat st {};
    return ::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(file.c_str(), X_OK) == 0;
  };
  if (command.find('/') != std::string::npos) return is_executable(command);
  size_t start = 0;
  while (start <= path_env.size()) {
    size_t end = path_env.find(':', start);
    if (end == std::string::npos) end = path_env.size();
    std::string dir = path_env.substr(start, end - start);
    if (dir.empty()) dir = ".";  // an empty PATH entry means the current directory
    if (is_executable(dir + "/" + command)) return true;
    start = end + 1;
  }
  return false;
}

std::string render_effective(const ProjectConfig& cfg) {
  auto command_text = [](const CommandSpec& c) {
    bool is_shell =
        c.argv.size() == 3 && c.argv[0] == "/bin/sh" && c.argv[1] == "-c" && c.argv[2] == c.source;
    return is_shell ? toml_quote(c.source) : toml_array(c.argv);
  };
  std::string out;
  out += "# files:";
  if (cfg.files.empty()) out += " none (defaults)";
  for (const auto& f : cfg.files) out += " " + f;
  if (cfg.needs_trust()) {
    out += "\n# needs 'baton allow':";
    for (const auto& k : cfg.trust_keys) out += " " + k + ";";
    out.pop_back();
  }
  out += "\n\n[project]\n";
  out += fmt::format("name = {}\n", toml_quote(cfg.name));
  out += fmt::format("session_prefix = {}\n", toml_quote(cfg.session_prefix));
  out += fmt::format("base_branch = {}{}\n", toml_quote(cfg.base_branch),
                     cfg.base_branch.empty() ? "  # HEAD" : "");

  out += "\n[orchestrator]\n";
  out += fmt::format("agent = {}  # {}\n", toml_quote(cfg.agent), cfg.agent_reason);
  out += fmt::format("branch = {}  # from {}\n", toml_quote(cfg.branch),
                     toml_quote(cfg.branch_template));
  if (!cfg.prompt.empty()) out += fmt::format("prompt = {}\n", toml_quote(cfg.prompt));
  out += fmt::format("carry_uncommitted = {}\n", cfg.carry_uncommitted);
  out += fmt::format("launch_grace = {}\n", toml_quote(render_duration(cfg.launch_grace_ms)));
  out += fmt::format("permissions = {}\n", toml_quote(cfg.permissions));

  for (const auto& [name, agent] : cfg.agents) {
    out += fmt::format("\n[agents.{}]{}\n", toml_key(name), agent.is_preset ? "  # preset" : "");
    out += fmt::format("kind = {}\n", toml_quote(kind_name(agent.kind)));
    out += fmt::format("command = {}\n", toml_array(agent.command));
    out += fmt::format("resume = {}\n", toml_array(agent.resume));
    if (!agent.permission_args.empty()) {
      out += "permission_args = { ";
      bool first = true;
      for (const auto& [mode, args] : agent.permission_args) {
        out += fmt::format("{}{} = {}", first ? "" : ", ", toml_key(mode), toml_array(args));
        first = false;
      }
      out += " }\n";
    }
    if (!agent.prompt_arg.empty())
      out += fmt::format("prompt_arg = {}\n", toml_quote(agent.prompt_arg));
    if (!agent.env.empty()) {
      out += "env = { ";
      bool first = true;
      for (const auto& [key, value] : agent.env) {
        out += fmt::format("{}{} = \"***\"", first ? "" : ", ", toml_key(key));
        first = false;
      }
      out += " }\n";
    }
  }

  out += "\n[workspace]\n";
  out += fmt::format("root = {}\n", toml_quote(cfg.workspace_root));
  out += fmt::format("symlinks = {}\n", toml_array(cfg.symlinks));
  out += "post_create = [";
  for (size_t i = 0; i < cfg.post_create.size(); ++i)
    out += (i ? ", " : "") + command_text(cfg.post_create[i]);
  out += "]\n";

  // Values never leave the daemon: they often hold tokens (issue 4).
  out += "\n[env]\n";
  for (const auto& [key, value] : cfg.env) out += fmt::format("{} = \"***\"\n", toml_key(key));

  out += "\n[hooks]\n";
  const std::pair<const char*, const std::optional<CommandSpec>*> hooks[] = {
      {"before_retire", &cfg.hooks.before_retire},
      {"after_retire", &cfg.hooks.after_retire},
      {"before_spawn", &cfg.hooks.before_spawn},
      {"after_spawn", &cfg.hooks.after_spawn},
      {"on_exit", &cfg.hooks.on_exit}};
  for (const auto& [name, hook] : hooks)
    if (*hook) out += fmt::format("{} = {}\n", name, command_text(**hook));
  out += fmt::format("timeout = {}\n", toml_quote(render_duration(cfg.hooks.timeout_ms)));
  return out;
}

}  // namespace baton::plugin
