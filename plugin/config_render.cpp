#include "plugin/config_render.hpp"

#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "plugin/agent_spec.hpp"
#include "plugin/toml_value.hpp"

namespace baton::plugin {

namespace {

// The shortest of "2m", "5s", "500ms" that says ms exactly, as the loader reads it back.
std::string render_duration(int ms) {
  if (ms != 0 && ms % 60000 == 0) return fmt::format("{}m", ms / 60000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// A command as it was written: a string for one that runs through /bin/sh -c, else an array.
std::string command_text(const CommandSpec& c) {
  bool is_shell =
      c.argv.size() == 3 && c.argv[0] == "/bin/sh" && c.argv[1] == "-c" && c.argv[2] == c.source;
  return is_shell ? toml_quote(c.source) : toml_array(c.argv);
}

}  // namespace

std::string render_effective(const ProjectConfig& cfg) {
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
  out += fmt::format("handoff_prompt = {}\n", toml_quote(cfg.handoff_prompt));
  out += fmt::format("carry_uncommitted = {}\n", cfg.carry_uncommitted);
  out += fmt::format("launch_grace = {}\n", toml_quote(render_duration(cfg.launch_grace_ms)));
  out += fmt::format("standby = {}\n", toml_quote(std::string(standby_mode_name(cfg.standby))));
  out += fmt::format("permissions = {}\n", toml_quote(cfg.permissions));
  out += fmt::format("drain_timeout = {}\n", toml_quote(render_duration(cfg.drain_timeout_ms)));
  if (!cfg.summarize_prompt.empty())
    out += fmt::format("summarize_prompt = {}\n", toml_quote(cfg.summarize_prompt));
  out += fmt::format("summarize_timeout = {}\n",
                     toml_quote(render_duration(cfg.summarize_timeout_ms)));

  out += "\n[runtime]\n";
  out += fmt::format("holder_buffer = {}\n", cfg.holder_buffer_bytes);

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
