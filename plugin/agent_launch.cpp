#include "plugin/agent_launch.hpp"

#include <limits.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "plugin/atomic_file.hpp"
#include "plugin/toml_value.hpp"
#include "runtime/search_path.hpp"

namespace baton::plugin {

namespace {

using Json = nlohmann::json;

std::string lookup(const std::map<std::string, std::string>& env, const std::string& key) {
  auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

// POSIX shell single quotes: claude runs hook commands through a shell.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<std::string> codex_flags(const SessionRecord& rec, const LaunchContext& ctx) {
  // The projects table is given whole: a dotted `-c projects."<path>".trust_level` would be
  // split at the dots of the path. codex checks trust at the repository root, baton's
  // worktree included for a codex that looks at the directory itself.
  std::string projects = "projects={" + toml_quote(rec.worktree) + "={trust_level=\"trusted\"}";
  if (!ctx.repo_root.empty() && ctx.repo_root != rec.worktree)
    projects += "," + toml_quote(ctx.repo_root) + "={trust_level=\"trusted\"}";
  projects += "}";
  return {"-c", "check_for_update_on_startup=false", "-c", projects, "-c",
          "notify=[" + toml_quote(ctx.baton_bin) + ",\"signal\",\"--hook\",\"codex\"]",
          // The shared app-server would be started in its own session and outlive the
          // agent's process group, which is what baton stops.
          "--no-daemon"};
}

// The trust dialog would otherwise stop every new orchestrator worktree: the user chose this
// repository for an orchestrator with `baton up`. Only an unreadable config fails the launch.
tl::expected<void, std::string> trust_worktree_for_claude(
    const std::map<std::string, std::string>& env, const std::string& worktree) {
  const std::string config_path = claude_config_path(env);
  auto text = read_file(config_path);
  if (!text && !text.error().empty()) return tl::make_unexpected(text.error());
  const std::string before = text ? *text : std::string();
  auto trusted = claude_config_with_trust(before, worktree);
  if (!trusted) {
    spdlog::warn("{} {}: not marking {} trusted", config_path, trusted.error(), worktree);
  } else if (*trusted != before) {
    if (auto w = write_file_atomic(config_path, *trusted); !w)
      spdlog::warn("cannot mark {} trusted for claude: {}", worktree, w.error());
  }
  return {};
}

// execve refuses a single argument of MAX_ARG_STRLEN (32 pages) bytes or more, its NUL
// included (DESIGN.md §9 traps).
constexpr std::size_t kMaxArgBytes = 128 * 1024;

std::string substitute_note_path(std::string text, const std::string& note) {
  static constexpr std::string_view kPlaceholder = "{note_path}";
  for (auto pos = text.find(kPlaceholder); pos != std::string::npos;
       pos = text.find(kPlaceholder, pos + note.size()))
    text.replace(pos, kPlaceholder.size(), note);
  return text;
}

// The initial prompt of a fresh start: `prompt`, then, when a handoff note waits, the handoff
// prompt naming it. A relaunch resumes its conversation and gets none.
std::string initial_prompt(const AgentSpec& agent, const ProjectConfig& cfg,
                           const SessionRecord& rec, bool resume) {
  if (resume || !agent.takes_prompt) return {};
  // A worker starts with the task it was spawned with (docs/workers.md), nothing else.
  if (rec.role == SessionRole::kWorker) return rec.prompt;
  // codex and claude learn of their team from `baton guide` unless the config says otherwise.
  const bool is_known_agent = agent.kind == AgentKind::kCodex || agent.kind == AgentKind::kClaude;
  std::string prompt =
      !cfg.is_prompt_set && is_known_agent ? std::string(kDefaultOrchestratorPrompt) : cfg.prompt;
  if (!rec.handoff_note.empty() && !cfg.handoff_prompt.empty())
    prompt +=
        (prompt.empty() ? "" : "\n\n") + substitute_note_path(cfg.handoff_prompt, rec.handoff_note);
  return prompt;
}

}  // namespace

std::string own_bin_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  const std::string self(buf, static_cast<std::size_t>(n));
  return self.substr(0, self.rfind('/'));
}

tl::expected<PreparedLaunch, std::string> prepare_launch_files(
    const SessionRecord& rec, const ProjectConfig& cfg,
    const std::map<std::string, std::string>& env, bool resume, const LaunchSite& site) {
  auto it = cfg.agents.find(rec.agent);
  if (it == cfg.agents.end())
    return tl::make_unexpected("agent '" + rec.agent + "' is not defined");
  const AgentSpec& spec = it->second;
  if (!cfg.is_allowed) {
    return tl::make_unexpected(
        not_allowed_message(cfg, site.repo_root.empty() ? rec.project : site.repo_root));
  }
  LaunchContext ctx;
  ctx.baton_bin = site.bin_dir + "/baton";
  ctx.agent_dir = site.agent_dir;
  ctx.repo_root = site.repo_root;
  ctx.env = env;
  for (const auto& [k, v] : cfg.env) ctx.env[k] = v;
  for (const auto& [k, v] : spec.env) ctx.env[k] = v;
  ctx.file_exists = [](const std::string& path) { return std::filesystem::exists(path); };
  auto plan = plan_launch(spec, cfg, rec, resume, ctx);
  if (!plan) return tl::make_unexpected(plan.error());
  // Written before the spawn that reads them.
  for (const auto& file : plan->files) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(file.path).parent_path(), ec);
    if (auto w = write_file_atomic(file.path, file.content); !w)
      return tl::make_unexpected(w.error());
  }
  if (spec.kind == AgentKind::kClaude) {
    if (auto t = trust_worktree_for_claude(ctx.env, rec.worktree); !t)
      return tl::make_unexpected(t.error());
  }
  PreparedLaunch out;
  for (const auto& [k, v] : ctx.env) out.env.push_back(k + "=" + v);  // command, [env], agent's
  for (const auto& e : plan->env) out.env.push_back(e);
  // The command's PATH (an [env] PATH does not replace it), `baton` first for the hooks.
  out.env.push_back("PATH=" + site.bin_dir + ":" + runtime::search_path(env));
  out.env.push_back("BATON_PROJECT=" + rec.project);
  out.env.push_back("BATON_SESSION=" + rec.id);
  out.env.push_back("BATON_BRANCH=" + rec.branch);
  out.env.push_back("BATON_WORKTREE=" + rec.worktree);
  out.env.push_back("BATON_AGENT=" + rec.agent);
  if (rec.role == SessionRole::kWorker) out.env.push_back("BATON_WORKER=" + rec.name);
  out.plan = std::move(*plan);
  out.permissions = cfg.permissions;
  return out;
}

std::string conversation_uuid(const SessionRecord& rec, const std::string& repo_root) {
  const std::string name = repo_root + "\n" + rec.id + "\n" + rec.created_at;
  const std::uint64_t hi = fnv1a(name, 0xcbf29ce484222325ull);
  const std::uint64_t lo = fnv1a(name, 0x84222325cbf29ce4ull ^ hi);
  unsigned char b[16];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    b[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x50);  // version 5: name-based
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string claude_transcript_path(const std::map<std::string, std::string>& env,
                                   const std::string& cwd, const std::string& id) {
  std::string dir = lookup(env, "CLAUDE_CONFIG_DIR");
  if (dir.empty()) dir = lookup(env, "HOME") + "/.claude";
  std::string slug = cwd;
  for (char& c : slug) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!keep) c = '-';
  }
  return dir + "/projects/" + slug + "/" + id + ".jsonl";
}

std::string claude_config_path(const std::map<std::string, std::string>& env) {
  const std::string dir = lookup(env, "CLAUDE_CONFIG_DIR");
  return dir.empty() ? lookup(env, "HOME") + "/.claude.json" : dir + "/.claude.json";
}

std::string claude_settings_json(const std::string& baton_bin) {
  Json hooks = Json::object();
  auto hook = [&](const char* event, bool needs_matcher) {
    Json entry = {
        {"hooks",
         Json::array({Json{{"type", "command"},
                           {"command", shell_quote(baton_bin) + " signal --hook claude " + event},
                           {"timeout", 5}}})}};
    if (needs_matcher) entry["matcher"] = "*";
    hooks[event] = Json::array({entry});
  };
  hook("SessionStart", false);
  hook("UserPromptSubmit", false);
  hook("Notification", false);
  // After a tool ran (a permission granted) the agent works again, until Stop.
  hook("PostToolUse", true);
  hook("Stop", false);
  hook("SessionEnd", false);
  return Json{{"hooks", hooks}}.dump(2) + "\n";
}

tl::expected<std::string, std::string> claude_config_with_trust(const std::string& text,
                                                                const std::string& dir) {
  Json config = text.empty() ? Json::object() : Json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return tl::make_unexpected(std::string("is not a JSON object"));
  Json& projects = config["projects"];
  if (projects.is_null()) projects = Json::object();
  if (!projects.is_object())
    return tl::make_unexpected(std::string("\"projects\" is not an object"));
  Json& entry = projects[dir];
  if (entry.is_null()) entry = Json::object();
  if (!entry.is_object())
    return tl::make_unexpected("\"projects\"[\"" + dir + "\"] is not an object");
  if (entry.value("hasTrustDialogAccepted", false) == true) return text;
  entry["hasTrustDialogAccepted"] = true;
  return config.dump(2) + "\n";
}

tl::expected<LaunchPlan, std::string> plan_launch(const AgentSpec& agent, const ProjectConfig& cfg,
                                                  const SessionRecord& rec, bool resume,
                                                  const LaunchContext& ctx) {
  LaunchPlan plan;
  std::vector<std::string> permission;
  if (cfg.permissions != "default") {
    auto it = agent.permission_args.find(cfg.permissions);
    if (it == agent.permission_args.end())
      return tl::make_unexpected("agent '" + agent.name + "' has no arguments for permissions '" +
                                 cfg.permissions + "'");
    permission = it->second;
  }
  const std::string shell = lookup(ctx.env, "SHELL").empty() ? "/bin/sh" : lookup(ctx.env, "SHELL");
  auto command = [&](std::vector<std::string> argv) {
    for (auto& a : argv)
      if (a == "$SHELL") a = shell;
    return argv;
  };
  auto append = [](std::vector<std::string>& to, const std::vector<std::string>& what) {
    to.insert(to.end(), what.begin(), what.end());
  };
  std::string prompt = initial_prompt(agent, cfg, rec, resume);
  if (prompt.size() + 1 > kMaxArgBytes) {
    const std::string file = ctx.agent_dir + "/initial-prompt.md";
    plan.files.push_back({file, prompt});
    prompt = "Your initial prompt is too long for a command line: read it in " + file +
             " and follow it.";
  }
  const bool with_prompt = !prompt.empty();
  if (!rec.handoff_note.empty()) plan.env.push_back("BATON_HANDOFF_NOTE=" + rec.handoff_note);

  switch (agent.kind) {
    case AgentKind::kCodex: {
      std::vector<std::string> argv = command(agent.command);
      if (resume) {
        argv.push_back("resume");
        if (!rec.conversation_id.empty() && rec.conversation_source == "agent") {
          plan.conversation_id = rec.conversation_id;
          plan.resume_mode = "id";
        } else {
          plan.resume_mode = "last";
        }
      } else {
        plan.resume_mode = "new";
      }
      append(argv, codex_flags(rec, ctx));
      append(argv, permission);
      if (plan.resume_mode == "id") argv.push_back(plan.conversation_id);
      if (plan.resume_mode == "last") argv.push_back("--last");
      // After `--`: a prompt that starts with '-' is no option.
      if (with_prompt) argv.insert(argv.end(), {"--", prompt});
      plan.argv = std::move(argv);
      break;
    }
    case AgentKind::kClaude: {
      std::vector<std::string> argv = command(agent.command);
      const std::string settings = ctx.agent_dir + "/claude-settings.json";
      plan.files.push_back({settings, claude_settings_json(ctx.baton_bin)});
      std::string id = rec.conversation_id;
      const bool has_transcript =
          !id.empty() && ctx.file_exists &&
          ctx.file_exists(claude_transcript_path(ctx.env, rec.worktree, id));
      if (resume && has_transcript) {
        argv.insert(argv.end(), {"--resume", id});
        plan.resume_mode = "id";
      } else if (resume && id.empty()) {
        // A session from before baton recorded ids: the newest conversation of the worktree.
        argv.push_back("--continue");
        plan.resume_mode = "last";
      } else {
        // A fresh start, or a conversation that never got its first message (no transcript):
        // the id baton derived for this session, so a later restore can name it.
        if (id.empty()) id = conversation_uuid(rec, ctx.repo_root);
        argv.insert(argv.end(), {"--session-id", id});
        plan.resume_mode = "new";
      }
      plan.conversation_id = id;
      argv.insert(argv.end(), {"--settings", settings});
      append(argv, permission);
      // Positional, after `--`: claude's -p would be print mode.
      if (with_prompt) argv.insert(argv.end(), {"--", prompt});
      plan.argv = std::move(argv);
      plan.env.push_back("DISABLE_AUTOUPDATER=1");
      break;
    }
    case AgentKind::kGeneric: {
      std::vector<std::string> argv =
          command(resume && !agent.resume.empty() ? agent.resume : agent.command);
      append(argv, permission);
      if (with_prompt) {
        if (!agent.prompt_arg.empty()) argv.push_back(agent.prompt_arg);
        argv.push_back(prompt);
      }
      plan.argv = std::move(argv);
      plan.resume_mode = resume ? "last" : "new";
      if (resume && agent.resume.empty()) plan.resume_mode = "none";
      break;
    }
  }
  return plan;
}

}  // namespace baton::plugin
