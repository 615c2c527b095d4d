#include "plugin/config.hpp"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string_view>

#include <fmt/format.h>

// Debian's toml++ is a compiled library in exceptions mode: parse() throws toml::parse_error,
// caught below and never let out of load_config (DESIGN.md §8).
#include <toml++/toml.h>

#include "git/branch.hpp"
#include "plugin/config_expand.hpp"
#include "plugin/config_keys.hpp"
#include "plugin/config_values.hpp"
#include "plugin/project_name.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

namespace {

using Failure = tl::unexpected<std::string>;
using Status = tl::expected<void, std::string>;

constexpr std::string_view kDefaultBranch = "baton/{prefix}-orchestrator";
constexpr std::string_view kDefaultWorkspaceRoot = "$BATON_HOME/worktrees";
constexpr int kDefaultHookTimeoutMs = 30000;
constexpr int kDefaultLaunchGraceMs = 5000;
constexpr int kDefaultDrainTimeoutMs = 120000;
constexpr int kDefaultSummarizeTimeoutMs = 120000;

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
    cfg_.drain_timeout_ms = kDefaultDrainTimeoutMs;
    cfg_.summarize_timeout_ms = kDefaultSummarizeTimeoutMs;
    cfg_.workspace_root = std::string(kDefaultWorkspaceRoot);
    cfg_.hooks.timeout_ms = kDefaultHookTimeoutMs;
  }

  Status apply(const SourceFile& f, const toml::table& top);
  tl::expected<ProjectConfig, std::string> finish();

 private:
  Status apply_project(const SourceFile& f, const toml::table& t);
  Status apply_orchestrator(const SourceFile& f, const toml::table& t);
  Status apply_agents(const SourceFile& f, const toml::table& t);
  Status apply_agent(const SourceFile& f, const std::string& name, const toml::table& t);
  Status apply_workspace(const SourceFile& f, const toml::table& t);
  Status apply_env(const SourceFile& f, const toml::table& t);
  Status apply_hooks(const SourceFile& f, const toml::table& t);
  Status apply_runtime(const SourceFile& f, const toml::table& t);
  Status apply_workers(const SourceFile& f, const toml::table& t);
  Status check_symlink(const SourceFile& f, const toml::node& node, const std::string& value);
  // Refuses a key plugin/config_keys.cpp does not list, at its position.
  static Status check_known(const SourceFile& f, const toml::key& key, std::string_view section,
                            std::string_view shown);
  // Records that repository file f sets `key`, which needs `baton allow` (ProjectConfig::
  // trust_keys). A key of the user's own untracked baton.local.toml needs nothing.
  void needs_trust(const SourceFile& f, std::string key, const toml::node& value);

  const ConfigInputs& in_;
  std::string root_;
  ProjectConfig cfg_;
  // Positions ("file:line:col") of keys whose errors show up only once every file is read.
  std::string name_at_, prefix_at_, branch_at_, agent_at_, permissions_at_, workers_agent_at_;
  std::string agent_file_;                             // the file that set [orchestrator] agent
  std::map<std::string, std::string> agent_at_table_;  // [agents.NAME] without a preset
};

void Loader::needs_trust(const SourceFile& f, std::string key, const toml::node& value) {
  if (!f.is_repository) return;
  auto at = std::find(cfg_.trust_keys.begin(), cfg_.trust_keys.end(), key);
  if (at == cfg_.trust_keys.end()) {
    cfg_.trust_keys.push_back(std::move(key));
    cfg_.trust_values.push_back(written_value(value));
  } else {
    cfg_.trust_values[static_cast<std::size_t>(at - cfg_.trust_keys.begin())] =
        written_value(value);
  }
  if (std::find(cfg_.trust_files.begin(), cfg_.trust_files.end(), f.path) == cfg_.trust_files.end())
    cfg_.trust_files.push_back(f.path);
}

Status Loader::check_known(const SourceFile& f, const toml::key& key, std::string_view section,
                           std::string_view shown) {
  if (find_config_key(section, key.str())) return {};
  return fail_at(f, key.source(), fmt::format("unknown key '{}' in {}", key.str(), shown));
}

Status Loader::apply(const SourceFile& f, const toml::table& top) {
  const auto sections = config_sections();
  for (auto&& [key, node] : top) {
    std::string name(key.str());
    if (std::find(sections.begin(), sections.end(), name) == sections.end())
      return fail_at(f, key.source(), fmt::format("unknown key '{}'", name));
    using Section = Status (Loader::*)(const SourceFile&, const toml::table&);
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
    else if (name == "runtime")
      section = &Loader::apply_runtime;
    else if (name == "workers")
      section = &Loader::apply_workers;
    else
      return fail_at(f, key.source(), fmt::format("unknown key '{}'", name));
    auto* table = node.as_table();
    if (!table) return fail_at(f, node.source(), fmt::format("[{}] must be a table", name));
    if (auto done = (this->*section)(f, *table); !done) return done;
  }
  return {};
}

Status Loader::apply_project(const SourceFile& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (auto known = check_known(f, key, "project", "[project]"); !known) return known;
    if (name == "name" || name == "session_prefix") {
      auto what = fmt::format("[project] {}", name);
      auto value = read_string(f, node, what);
      if (!value) return tl::unexpected(value.error());
      if (!is_project_name(*value))
        return fail_at(
            f, node.source(),
            fmt::format("{} '{}' must use only A-Z a-z 0-9 . _ - and start with a letter, a "
                        "digit or '_'",
                        what, *value));
      if (name == "name") {
        cfg_.name = *value;
        name_at_ = position_of(f, node.source());
      } else {
        cfg_.session_prefix = *value;
        prefix_at_ = position_of(f, node.source());
      }
    } else if (name == "base_branch") {
      auto value = read_string(f, node, "[project] base_branch");
      if (!value) return tl::unexpected(value.error());
      // A revision like a branch's, so refs/heads/x is fine: git::branch_name_problem, not
      // git::validate_branch_name, which wants the short name of a branch baton creates.
      if (auto problem = value->empty() ? std::nullopt : git::branch_name_problem(*value))
        return fail_at(f, node.source(),
                       fmt::format("[project] base_branch '{}' is not a valid branch name: {}",
                                   *value, *problem));
      cfg_.base_branch = *value;
      needs_trust(f, "[project] base_branch", node);
    } else {
      return fail_at(f, key.source(), fmt::format("unknown key '{}' in [project]", name));
    }
  }
  return {};
}

Status Loader::apply_orchestrator(const SourceFile& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (auto known = check_known(f, key, "orchestrator", "[orchestrator]"); !known) return known;
    if (name == "agent") {
      auto value = read_string(f, node, "[orchestrator] agent");
      if (!value) return tl::unexpected(value.error());
      if (value->empty()) return fail_at(f, node.source(), "[orchestrator] agent is empty");
      cfg_.agent = *value;
      agent_at_ = position_of(f, node.source());
      agent_file_ = f.name;
      // A preset's name only picks among programs the user installed; an [agents.NAME] of
      // the repository is a command of its own.
      if (std::find(kPresetNames.begin(), kPresetNames.end(), *value) == kPresetNames.end())
        needs_trust(f, "[orchestrator] agent", node);
    } else if (name == "branch") {
      auto value = read_string(f, node, "[orchestrator] branch");
      if (!value) return tl::unexpected(value.error());
      cfg_.branch_template = *value;
      branch_at_ = position_of(f, node.source());
      needs_trust(f, "[orchestrator] branch", node);
    } else if (name == "prompt") {
      auto value = read_string(f, node, "[orchestrator] prompt");
      if (!value) return tl::unexpected(value.error());
      cfg_.prompt = *value;
      cfg_.is_prompt_set = true;
      needs_trust(f, "[orchestrator] prompt", node);
    } else if (name == "handoff_prompt") {
      auto value = read_string(f, node, "[orchestrator] handoff_prompt");
      if (!value) return tl::unexpected(value.error());
      cfg_.handoff_prompt = *value;
      needs_trust(f, "[orchestrator] handoff_prompt", node);
    } else if (name == "carry_uncommitted") {
      auto* value = node.as_boolean();
      if (!value)
        return fail_at(f, node.source(), "[orchestrator] carry_uncommitted must be a boolean");
      cfg_.carry_uncommitted = value->get();
      needs_trust(f, "[orchestrator] carry_uncommitted", node);
    } else if (name == "standby") {
      // Inert: it only decides whether baton keeps a second checkout of its own ready; what
      // that checkout runs (post_create) needs trust of its own.
      auto value = read_string(f, node, "[orchestrator] standby");
      if (!value) return tl::unexpected(value.error());
      if (*value == "auto") {
        cfg_.standby = StandbyMode::kAuto;
      } else if (*value == "on") {
        cfg_.standby = StandbyMode::kOn;
      } else if (*value == "off") {
        cfg_.standby = StandbyMode::kOff;
      } else {
        return fail_at(f, node.source(),
                       fmt::format("[orchestrator] standby '{}' must be \"auto\", \"on\" or "
                                   "\"off\"",
                                   *value));
      }
    } else if (name == "launch_grace") {
      auto ms = read_duration_ms(f, node, "[orchestrator] launch_grace");
      if (!ms) return tl::unexpected(ms.error());
      cfg_.launch_grace_ms = *ms;
    } else if (name == "drain_timeout" || name == "summarize_timeout") {
      // How long a handoff keeps the old agent running: a repository setting like any other.
      const std::string what = "[orchestrator] " + name;
      auto ms = read_duration_ms(f, node, what);
      if (!ms) return tl::unexpected(ms.error());
      (name == "drain_timeout" ? cfg_.drain_timeout_ms : cfg_.summarize_timeout_ms) = *ms;
      needs_trust(f, what, node);
    } else if (name == "summarize_prompt") {
      auto value = read_string(f, node, "[orchestrator] summarize_prompt");
      if (!value) return tl::unexpected(value.error());
      if (value->empty())
        return fail_at(f, node.source(), "[orchestrator] summarize_prompt is empty");
      // The agent must learn where to write, or the drain waits out summarize_timeout for a
      // note that cannot come.
      if (value->find("{note_path}") == std::string::npos)
        return fail_at(f, node.source(),
                       "[orchestrator] summarize_prompt must name {note_path}, the file the "
                       "agent writes its notes to");
      cfg_.summarize_prompt = *value;
      needs_trust(f, "[orchestrator] summarize_prompt", node);
    } else if (name == "permissions") {
      auto value = read_string(f, node, "[orchestrator] permissions");
      if (!value) return tl::unexpected(value.error());
      if (!is_permission_mode(*value))
        return fail_at(f, node.source(),
                       fmt::format("[orchestrator] permissions '{}' must be \"default\", "
                                   "\"accept-edits\" or \"bypass\"",
                                   *value));
      cfg_.permissions = *value;
      permissions_at_ = position_of(f, node.source());
      needs_trust(f, "[orchestrator] permissions", node);
    } else {
      return fail_at(f, key.source(), fmt::format("unknown key '{}' in [orchestrator]", name));
    }
  }
  return {};
}

Status Loader::apply_agents(const SourceFile& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (!is_slug(name))
      return fail_at(f, key.source(),
                     fmt::format("agent name '{}' must use only A-Z a-z 0-9 . _ -", name));
    auto* table = node.as_table();
    if (!table) return fail_at(f, node.source(), fmt::format("[agents.{}] must be a table", name));
    if (auto done = apply_agent(f, name, *table); !done) return done;
  }
  return {};
}

// A table named like a preset overrides that preset's fields; a new name starts empty and
// must get a command from one of the files.
Status Loader::apply_agent(const SourceFile& f, const std::string& name, const toml::table& t) {
  auto [it, is_new] = cfg_.agents.try_emplace(name);
  AgentSpec& agent = it->second;
  if (is_new) {
    agent.name = name;
    agent_at_table_[name] = position_of(f, t.source());
  }
  agent.is_preset = false;
  auto section = fmt::format("[agents.{}]", name);
  if (t.empty()) needs_trust(f, section, t);
  for (auto&& [key, node] : t) {
    if (auto known = check_known(f, key, "agents.NAME", section); !known) return known;
    std::string field(key.str());
    auto what = fmt::format("{} {}", section, field);
    needs_trust(f, what, node);
    if (field == "command") {
      auto argv = read_string_array(f, node, what);
      if (!argv) return tl::unexpected(argv.error());
      if (argv->empty() || (*argv)[0].empty())
        return fail_at(f, node.source(), fmt::format("{} must not be empty", what));
      agent.command = std::move(*argv);
    } else if (field == "resume") {
      auto argv = read_string_array(f, node, what);
      if (!argv) return tl::unexpected(argv.error());
      if (!argv->empty() && (*argv)[0].empty())
        return fail_at(f, node.source(), fmt::format("{} starts with an empty string", what));
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
        return fail_at(
            f, node.source(),
            fmt::format("{} '{}' must be \"codex\", \"claude-code\" or \"generic\"", what, *value));
    } else if (field == "permission_args") {
      auto* table = node.as_table();
      if (!table)
        return fail_at(f, node.source(),
                       fmt::format("{} must be a table like {{ accept-edits = [\"...\"] }}", what));
      for (auto&& [mode_key, args_node] : *table) {
        std::string mode(mode_key.str());
        if (mode != "accept-edits" && mode != "bypass")
          return fail_at(
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
        if (v.empty())
          return fail_at(f, node.source(), fmt::format("{} has an empty pattern", what));
      (field == "working_patterns" ? agent.working_patterns : agent.waiting_patterns) =
          std::move(*values);
    } else {
      return fail_at(f, key.source(), fmt::format("unknown key '{}' in {}", field, section));
    }
  }
  return {};
}

Status Loader::check_symlink(const SourceFile& f, const toml::node& node,
                             const std::string& value) {
  auto reject = [&](std::string_view why) {
    return fail_at(f, node.source(), fmt::format("[workspace] symlinks: '{}' {}", value, why));
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

Status Loader::apply_runtime(const SourceFile& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (auto known = check_known(f, key, "runtime", "[runtime]"); !known) return known;
    if (name != "holder_buffer")
      return fail_at(f, key.source(), fmt::format("unknown key '{}' in [runtime]", name));
    // Memory the daemon's machine gives each agent's holder: the repository may not choose it.
    needs_trust(f, "[runtime] holder_buffer", node);
    auto* value = node.as_integer();
    constexpr auto kMin = static_cast<std::int64_t>(runtime::kMinHolderBuffer);
    constexpr auto kMax = static_cast<std::int64_t>(runtime::kMaxHolderBuffer);
    if (!value || value->get() < kMin || value->get() > kMax)
      return fail_at(f, node.source(),
                     fmt::format("[runtime] holder_buffer must be a number of bytes from {} to {}",
                                 kMin, kMax));
    cfg_.holder_buffer_bytes = static_cast<std::size_t>(value->get());
  }
  return {};
}

Status Loader::apply_workers(const SourceFile& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (auto known = check_known(f, key, "workers", "[workers]"); !known) return known;
    if (name == "agent") {
      auto value = read_string(f, node, "[workers] agent");
      if (!value) return tl::unexpected(value.error());
      if (value->empty()) return fail_at(f, node.source(), "[workers] agent is empty");
      cfg_.workers_agent = *value;
      workers_agent_at_ = position_of(f, node.source());
      // As [orchestrator] agent: a preset's name picks among programs the user installed.
      if (std::find(kPresetNames.begin(), kPresetNames.end(), *value) == kPresetNames.end())
        needs_trust(f, "[workers] agent", node);
    } else if (name == "max") {
      // Inert: it only bounds how many workers baton starts when asked.
      auto* value = node.as_integer();
      if (!value || value->get() < 1 || value->get() > kMaxWorkers)
        return fail_at(f, node.source(),
                       fmt::format("[workers] max must be a number from 1 to {}", kMaxWorkers));
      cfg_.workers_max = static_cast<int>(value->get());
    } else if (name == "notify_orchestrator") {
      // Inert: baton's own one-line messages to the orchestrator, or none.
      auto* value = node.as_boolean();
      if (!value)
        return fail_at(f, node.source(), "[workers] notify_orchestrator must be a boolean");
      cfg_.notify_orchestrator = value->get();
    } else {
      return fail_at(f, key.source(), fmt::format("unknown key '{}' in [workers]", name));
    }
  }
  return {};
}

Status Loader::apply_workspace(const SourceFile& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (auto known = check_known(f, key, "workspace", "[workspace]"); !known) return known;
    // Where trees go, what links out of them and what runs in them: all need trust.
    needs_trust(f, fmt::format("[workspace] {}", name), node);
    if (name == "root") {
      auto value = read_string(f, node, "[workspace] root");
      if (!value) return tl::unexpected(value.error());
      if (value->empty()) return fail_at(f, node.source(), "[workspace] root is empty");
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
        return fail_at(f, node.source(),
                       "[workspace] post_create must be an array of commands (strings or arrays)");
      std::vector<CommandSpec> commands;
      for (const toml::node& item : *array) {
        auto command = read_command(f, item, "[workspace] post_create entry");
        if (!command) return tl::unexpected(command.error());
        commands.push_back(std::move(*command));
      }
      cfg_.post_create = std::move(commands);
    } else {
      return fail_at(f, key.source(), fmt::format("unknown key '{}' in [workspace]", name));
    }
  }
  return {};
}

Status Loader::apply_env(const SourceFile& f, const toml::table& t) {
  auto env = read_env_table(f, t, "[env]", in_.environment);
  if (!env) return tl::unexpected(env.error());
  // Every variable: programs obey more of them than any list could name (BASH_ENV,
  // NODE_OPTIONS, LD_PRELOAD, GIT_SSH_COMMAND, PAGER, PROMPT_COMMAND ...).
  for (auto&& [key, node] : t) needs_trust(f, fmt::format("[env] {}", key.str()), node);
  for (auto& [k, v] : *env) cfg_.env[k] = std::move(v);
  return {};
}

Status Loader::apply_hooks(const SourceFile& f, const toml::table& t) {
  for (auto&& [key, node] : t) {
    std::string name(key.str());
    if (auto known = check_known(f, key, "hooks", "[hooks]"); !known) return known;
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
      needs_trust(f, fmt::format("[hooks] {}", name), node);
      auto command = read_command(f, node, fmt::format("[hooks] {}", name));
      if (!command) return tl::unexpected(command.error());
      *slot = std::move(*command);
    } else if (name == "timeout") {
      auto ms = read_duration_ms(f, node, "[hooks] timeout");
      if (!ms) return tl::unexpected(ms.error());
      if (*ms == 0) return fail_at(f, node.source(), "[hooks] timeout must be more than 0");
      cfg_.hooks.timeout_ms = *ms;
    } else {
      return fail_at(f, key.source(), fmt::format("unknown key '{}' in [hooks]", name));
    }
  }
  return {};
}

tl::expected<ProjectConfig, std::string> Loader::finish() {
  if (cfg_.name.empty()) cfg_.name = default_project_name(root_);
  if (cfg_.session_prefix.empty()) cfg_.session_prefix = default_session_prefix(cfg_.name);

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
  if (auto problem = git::branch_name_problem(branch)) {
    std::string at = !branch_at_.empty()   ? branch_at_
                     : !prefix_at_.empty() ? prefix_at_
                     : !name_at_.empty()   ? name_at_
                                           : root_;
    auto hint = branch_at_.empty() ? " (set [project] name or session_prefix)" : "";
    return Failure(fmt::format("{}: [orchestrator] branch '{}' is not a valid branch name: {}{}",
                               at, branch, *problem, hint));
  }
  cfg_.branch = std::move(branch);

  if (!cfg_.agent.empty()) {
    if (!cfg_.agents.contains(cfg_.agent)) {
      std::string names;
      for (auto preset : kPresetNames) names += fmt::format("{}, ", preset);
      for (const auto& [name, agent] : cfg_.agents) {
        if (std::find(kPresetNames.begin(), kPresetNames.end(), name) == kPresetNames.end())
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
      return is_on_path(command, environment_value(in_.environment, "PATH"));
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

  if (!cfg_.workers_agent.empty() && !cfg_.agents.contains(cfg_.workers_agent))
    return Failure(
        fmt::format("{}: [workers] agent '{}' is not defined: use a preset or an "
                    "[agents.NAME] table",
                    workers_agent_at_, cfg_.workers_agent));

  if (cfg_.permissions != "default") {
    const AgentSpec& agent = cfg_.agents[cfg_.agent];
    if (!agent.permission_args.contains(cfg_.permissions))
      return Failure(fmt::format(
          "{}: [orchestrator] permissions '{}' is not known to agent '{}': give it [agents.{}] "
          "permission_args = {{ {} = [\"...\"] }}",
          permissions_at_, cfg_.permissions, cfg_.agent, cfg_.agent, cfg_.permissions));
  }

  cfg_.workspace_root = expand_path(cfg_.workspace_root, in_.baton_home, in_.environment);
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

tl::expected<ProjectConfig, std::string> parse(const ConfigInputs& in, const ConfigTexts& texts) {
  auto root = absolute_root(in);
  if (!root) return tl::unexpected(root.error());
  Loader loader(in, *root);
  std::vector<std::string> files;
  for (auto name : {kConfigFileName, kLocalConfigFileName}) {
    const bool is_main = name == kConfigFileName;
    SourceFile f{(fs::path(*root) / name).string(), std::string(name),
                 is_main || texts.local_is_tracked};
    const auto& content = is_main ? texts.main : texts.local;
    if (!content) continue;
    files.push_back(f.path);
    toml::table top;
    try {
      top = toml::parse(*content, f.path);
    } catch (const toml::parse_error& e) {
      return fail_at(f, e.source(), e.description());
    }
    if (auto done = loader.apply(f, top); !done) return tl::unexpected(done.error());
  }
  auto cfg = loader.finish();
  if (!cfg) return cfg;
  cfg->files = std::move(files);
  cfg->content_hash = repository_config_hash(*root, texts);
  return cfg;
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

std::string_view standby_mode_name(StandbyMode mode) {
  switch (mode) {
    case StandbyMode::kAuto:
      return "auto";
    case StandbyMode::kOn:
      return "on";
    case StandbyMode::kOff:
      return "off";
  }
  return "auto";
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
  if (files.empty()) files = (fs::path(repo_root) / kConfigFileName).string();
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

}  // namespace baton::plugin
