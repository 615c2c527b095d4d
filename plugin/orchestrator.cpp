#include "plugin/orchestrator.hpp"

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "git/carry.hpp"
#include "git/inventory.hpp"
#include "git/locks.hpp"
#include "git/release.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"
#include "hooks/runner.hpp"
#include "plugin/agent_launch.hpp"
#include "plugin/atomic_file.hpp"
#include "plugin/fault.hpp"
#include "plugin/handoff.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/trust.hpp"
#include "runtime/iso_time.hpp"
#include "runtime/pty.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;
using runtime::protocol::Json;

std::string now_iso8601() {
  return runtime::iso8601_now();
}

std::uint64_t process_start_time(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(line.substr(paren + 2));
  std::string field;
  // Field 3 (state) is the first after the command; start time is field 22.
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
    if (i == 3 && field == "Z") return 0;
  }
  return std::stoull(field);
}

namespace {

std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string self(buf, static_cast<std::size_t>(n));
  return self.substr(0, self.rfind('/'));
}

bool is_inside(const std::string& path, const std::string& dir) {
  if (dir.empty()) return false;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

}  // namespace

Orchestrator::Orchestrator(runtime::Daemon& daemon, std::map<std::string, std::string> start_env)
    : daemon_(daemon), start_env_(std::move(start_env)) {
  // A fault point arms one handoff; start-up recovery reads it from daemon_fault_env().
  start_env_.erase(std::string(kFaultEnv));
}

Orchestrator::~Orchestrator() {
  close_watches();
}

void Orchestrator::close_watches() {
  if (activity_timer_) {
    activity_timer_->close();
    activity_timer_ = nullptr;
  }
  for (auto& [id, p] : projects_) {
    if (p.config_watch) p.config_watch->close();
    if (p.config_debounce) p.config_debounce->close();
    p.config_watch = nullptr;
    p.config_debounce = nullptr;
    // A pending relaunch or launch-grace watch would keep the loop, and so the daemon, alive
    // until it fires, and then act on a daemon that is leaving.
    if (p.relaunch_timer) p.relaunch_timer->close();
    p.relaunch_timer = nullptr;
    if (auto watch = p.launch_watch) watch->end_launch_grace("");
    if (p.cleanup_timer) p.cleanup_timer->close();
    p.cleanup_timer = nullptr;
  }
}

void Orchestrator::watch_config(ProjectState& p) {
  if (p.config_watch || is_shutting_down_) return;
  p.config_watch = runtime::FsEvent::make(loop());
  p.config_debounce = runtime::Timer::make(loop());
  const std::string id = p.id;
  const int rc = p.config_watch->start(p.path, [this, id](const std::string& file) {
    if (file != "baton.toml" && file != "baton.local.toml" && !file.empty()) return;
    ProjectState* p = find_project(id);
    if (!p) return;
    // An editor writes in several steps: read once they settle.
    p->config_debounce->start(100, [this, id] {
      ProjectState* p = find_project(id);
      if (!p) return;
      reload_config(*p, p->env, [id](tl::expected<ProjectConfig, std::string> cfg) {
        if (!cfg) spdlog::warn("config of {}: {}", id, cfg.error());
      });
    });
  });
  if (rc != 0) spdlog::warn("cannot watch {}: {}", p.path, uv_strerror(rc));
}

void Orchestrator::start() {
  register_methods();
  daemon_.on_shutdown([this] {
    is_shutting_down_ = true;
    close_watches();
  });
  daemon_.on_session_exit([this](runtime::Session& s) { on_session_exit(s); });
  activity_timer_ = runtime::Timer::make(loop());
  activity_timer_->start(
      kActivityTickMs, [this] { on_activity_tick(); }, kActivityTickMs);
  daemon_.set_target_resolver([this](const std::string& target) -> runtime::Daemon::ResolvedTarget {
    if (daemon_.find_session_exact(target)) return {target, ""};
    ProjectState* p = resolve_project(target);
    if (!p) return {};
    const SessionRecord* s = newest_active(project_sessions(p->id));
    if (!s) return {};
    return {s->id, follow_key(p->id)};
  });
  // Loading is quick; it happens before the daemon reports itself ready, so no request
  // can see an empty store.
  auto loaded = load_store(paths().state_dir);
  if (!loaded) {
    spdlog::error("{}", loaded.error());
    return;
  }
  if (!loaded->warning.empty()) spdlog::warn("{}", loaded->warning);
  store_ = std::move(loaded->data);
  for (auto& [id, rec] : store_.projects) add_project(id, rec.path);
  for (auto& [id, rec] : store_.projects) recover_project(id);
}

void Orchestrator::recover_project(const std::string& id) {
  ProjectState* p = find_project(id);
  if (!p) return;
  p->is_recovering = true;
  p->is_scanning = true;
  // Their terminal died with the old daemon; pid and start time tell them from a reused pid.
  for (auto& [sid, rec] : store_.sessions) {
    if (rec.project != id || rec.pid <= 0 || rec.pid_start_time == 0) continue;
    if (daemon_.find_session_exact(sid)) continue;
    if (process_start_time(rec.pid) != rec.pid_start_time) continue;
    spdlog::info("stopping {} (pid {}), which outlived the daemon", sid, rec.pid);
    kill(-static_cast<pid_t>(rec.pid), SIGKILL);
    kill(static_cast<pid_t>(rec.pid), SIGKILL);
  }
  if (recovery_faulted(id, "recovery.started")) return;
  const auto env = p->env;
  reload_config(*p, env, [this, id, env](tl::expected<ProjectConfig, std::string> cfg) {
    ProjectState* p = find_project(id);
    if (!p) return;
    if (!cfg) {
      p->is_recovering = false;
      spdlog::error("recovery of {}: {}", id, cfg.error());
      return end_scan(id);
    }
    struct Found {
      bool has_leftovers = false;
      std::string stable_admin;  // admin name of the tree at the stable path, if any
    };
    const std::string repo_path = p->path;
    const std::string project_dir = cfg->workspace_root + "/" + id;
    run_off_loop<Found>(
        loop(),
        [repo_path, project_dir] {
          Found f;
          auto proj = git::open_project(repo_path);
          if (!proj) return f;
          std::vector<fs::path> trees;
          std::error_code ec;
          for (const auto& e : fs::directory_iterator(project_dir, ec)) trees.push_back(e.path());
          if (auto cleared = git::clear_stale_locks(proj->repo.get(), trees); cleared) {
            for (const auto& f : *cleared) spdlog::info("removed stale lock {}", f.string());
          }
          if (auto inv = git::inventory(proj->repo.get(), project_dir)) {
            f.has_leftovers = !inv->prepare_dirs.empty() || !inv->trash_dirs.empty() ||
                              !inv->temp_branches.empty() || !inv->stale_entries.empty();
          }
          std::ifstream gitfile(project_dir + "/" + std::string(git::kStableDirName) + "/.git");
          std::string line;
          if (std::getline(gitfile, line)) {
            const auto slash = line.rfind("/worktrees/");
            if (slash != std::string::npos) f.stable_admin = line.substr(slash + 11);
            while (!f.stable_admin.empty() &&
                   (f.stable_admin.back() == '/' || f.stable_admin.back() == '\r'))
              f.stable_admin.pop_back();
          }
          return f;
        },
        [this, id, env](Found f) {
          if (recovery_faulted(id, "recovery.scanned")) return;
          decide_recovery(id, env, f.has_leftovers, f.stable_admin);
          // Commands that arrived during the scan run now, after recovery chose its course: a
          // replace joins the recovery's handoff or starts its own.
          end_scan(id);
        });
  });
}

void Orchestrator::end_scan(const std::string& id) {
  ProjectState* p = find_project(id);
  if (!p) return;
  p->is_scanning = false;
  auto deferred = std::move(p->after_scan);
  p->after_scan.clear();
  for (auto& fn : deferred) fn();
}

void Orchestrator::when_scanned(ProjectState& p, std::function<void()> fn) {
  if (!p.is_scanning) return fn();
  p.after_scan.push_back(std::move(fn));
}

void Orchestrator::decide_recovery(const std::string& id,
                                   const std::map<std::string, std::string>& env,
                                   bool has_leftovers, const std::string& stable_admin) {
  ProjectState* p = find_project(id);
  if (!p) return;
  p->is_recovering = false;
  auto& journal = store_.projects[id].journal;
  bool is_retiring = false;
  int active = 0;
  bool owns_stable = stable_admin.empty();
  for (const auto* s : project_sessions(id)) {
    is_retiring |= s->state == "retiring";
    active += s->state == "active";
    if (s->state != "retired" && git::worktree_name(s->id) == stable_admin) owns_stable = true;
  }
  // Of two actives, the newest one's agent goes on (the order of newest_active, not
  // the store's id order: shop-9 sorts after shop-10).
  const SessionRecord* newest = newest_active(project_sessions(id));
  const std::string newest_agent = newest ? newest->agent : std::string();
  const bool needs_handoff =
      !journal.phase.empty() || is_retiring || active > 1 || !owns_stable || has_leftovers;
  if (!needs_handoff) return restore_sessions(id);
  // A replace that arrived first finishes the job just as well.
  if (p->handoff) return;
  spdlog::info("recovery of {}: finishing an interrupted handoff", id);
  HandoffRequest req{id, journal.phase.empty() ? newest_agent : journal.agent, env};
  // Test builds arm the resumed handoff's fault points from the daemon's environment.
  for (auto& [k, v] : daemon_fault_env()) req.env[k] = v;
  auto h = std::make_shared<Handoff>(*this, std::move(req));
  p->handoff = h;
  h->join(
      nullptr,
      [id](const HandoffOutcome& o) {
        if (!o.ok) spdlog::error("recovery of {} failed: {}", id, o.failure.message);
      },
      nullptr);
  h->start();
}

bool Orchestrator::recovery_faulted(const std::string& project, std::string_view point) {
  if (!fault_hit(daemon_fault_env(), point)) return false;
  spdlog::error("recovery of {} failed: fault injected at {}", project, point);
  if (ProjectState* p = find_project(project)) p->is_recovering = false;
  end_scan(project);
  return true;
}

void Orchestrator::persist(std::function<void(tl::expected<void, std::string>)> then) {
  waiting_.push_back(std::move(then));
  needs_save_ = true;
  if (!is_saving_) start_persist();
}

void Orchestrator::start_persist() {
  is_saving_ = true;
  needs_save_ = false;
  in_flight_ = std::move(waiting_);
  waiting_.clear();
  auto snapshot = std::make_shared<StoreData>(store_);
  const std::string dir = paths().state_dir;
  run_off_loop<tl::expected<void, std::string>>(
      loop(), [snapshot, dir] { return save_store(dir, *snapshot); },
      [this](tl::expected<void, std::string> r) {
        if (!r) spdlog::error("{}", r.error());
        auto fns = std::move(in_flight_);
        in_flight_.clear();
        is_saving_ = false;
        if (needs_save_) start_persist();
        for (auto& fn : fns) fn(r);
      });
}

ProjectState* Orchestrator::find_project(const std::string& id) {
  auto it = projects_.find(id);
  return it == projects_.end() ? nullptr : &it->second;
}

ProjectState& Orchestrator::add_project(const std::string& id, const std::string& path) {
  auto& p = projects_[id];
  if (p.id.empty()) p.env = start_env_;
  p.id = id;
  p.path = path;
  auto& rec = store_.projects[id];
  rec.id = id;
  rec.path = path;
  watch_config(p);
  return p;
}

std::vector<const SessionRecord*> Orchestrator::project_sessions(const std::string& project) const {
  std::vector<const SessionRecord*> out;
  for (const auto& [id, s] : store_.sessions) {
    if (s.project == project) out.push_back(&s);
  }
  return out;
}

void Orchestrator::forget_old_retired(const std::string& project) {
  std::vector<const SessionRecord*> retired;
  for (const auto* s : project_sessions(project))
    if (s->state == "retired") retired.push_back(s);
  if (retired.size() <= kRetiredKept) return;
  std::sort(retired.begin(), retired.end(),
            [](const SessionRecord* a, const SessionRecord* b) { return is_newer(*a, *b); });
  std::vector<std::string> ids;
  for (std::size_t i = kRetiredKept; i < retired.size(); ++i) ids.push_back(retired[i]->id);
  for (const auto& id : ids) store_.sessions.erase(id);
}

SessionRecord* Orchestrator::session(const std::string& id) {
  auto it = store_.sessions.find(id);
  return it == store_.sessions.end() ? nullptr : &it->second;
}

void Orchestrator::reload_config(
    ProjectState& p, const std::map<std::string, std::string>& env,
    std::function<void(tl::expected<ProjectConfig, std::string>)> then) {
  ConfigInputs in;
  in.repo_root = p.path;
  in.baton_home = paths().home;
  in.environment = env;
  const auto path_it = env.find("PATH");
  const std::string path = path_it == env.end() ? "/usr/local/bin:/usr/bin:/bin" : path_it->second;
  in.is_on_path = [path](const std::string& cmd) { return is_on_path(cmd, path); };
  const std::string id = p.id;
  const std::string state_dir = paths().state_dir;
  run_off_loop<tl::expected<ProjectConfig, std::string>>(
      loop(),
      [in, state_dir] {
        auto cfg = load_config(in);
        if (cfg)
          cfg->is_allowed =
              !cfg->needs_trust() || is_allowed(state_dir, in.repo_root, cfg->content_hash);
        return cfg;
      },
      [this, id, then = std::move(then)](tl::expected<ProjectConfig, std::string> cfg) {
        ProjectState* p = find_project(id);
        if (p) {
          if (cfg) {
            p->trust_waiting = cfg->is_allowed ? std::vector<std::string>() : cfg->trust_keys;
            // Nothing of content nobody allowed takes effect: the allowed config stays in
            // force for hooks, relaunches and `down` (DESIGN.md §7).
            if (cfg->is_allowed || !p->config || !p->config->is_allowed) p->config = *cfg;
            p->config_error.clear();
          } else {
            p->config_error = cfg.error();
          }
        }
        then(std::move(cfg));
      });
}

std::string Orchestrator::health(ProjectState& p) {
  HealthInputs in;
  in.is_replacing = p.handoff != nullptr || p.is_recovering;
  in.sessions = project_sessions(p.id);
  in.configured_agent = p.config ? p.config->agent : "";
  in.launch_error = p.launch_error;
  in.is_stuck = p.is_stuck;
  return compute_health(in);
}

Json Orchestrator::session_json(const SessionRecord& s) const {
  Json j{
      {"id", s.id},
      {"role", s.role},
      {"project", s.project},
      {"agent", s.agent},
      {"command", s.argv},
      {"branch", s.branch},
      {"worktree", s.worktree},
      {"cwd", s.worktree},
      {"pid", s.pid},
      {"state", s.state},
      {"created_at", s.created_at},
      {"updated_at", s.updated_at},
      {"exit_status", s.exit_status ? Json(*s.exit_status) : Json(nullptr)},
      {"last_lines", s.last_lines},
      {"preserved_ref", s.preserved_ref.empty() ? Json(nullptr) : Json(s.preserved_ref)},
      {"preserved_commit", s.preserved_commit.empty() ? Json(nullptr) : Json(s.preserved_commit)}};
  if (!s.last_error.empty()) j["error"] = s.last_error;
  j["conversation_id"] = s.conversation_id.empty() ? Json(nullptr) : Json(s.conversation_id);
  j["resume"] = s.resume_mode.empty() ? Json(nullptr) : Json(s.resume_mode);
  j["permissions"] = s.permissions.empty() ? Json("default") : Json(s.permissions);
  if (const Activity* a = activity(s.id)) {
    j["activity"] = a->state;
    j["activity_since"] = a->since;
  }
  return j;
}

Json Orchestrator::status_json(ProjectState& p) {
  const auto sessions = project_sessions(p.id);
  int active = 0;
  for (const auto* s : sessions) active += s->state == "active";
  const SessionRecord* current = current_orchestrator(sessions);
  const Activity* act = current ? activity(current->id) : nullptr;
  // How a restore would continue the agent's conversation, said plainly.
  Json resume_note = nullptr;
  if (current && !current->resume_mode.empty()) {
    if (!current->conversation_id.empty())
      resume_note = "conversation " + current->conversation_id +
                    (current->conversation_source == "agent" ? " (reported by the agent)"
                                                             : " (chosen by baton)");
    else if (current->resume_mode == "none")
      resume_note = "no resume: the agent has no resume command";
    else
      resume_note = "no conversation id known: a restore continues the newest conversation";
  }
  std::string error = p.config_error;
  if (error.empty()) error = p.launch_error;
  for (const auto* s : sessions) {
    if (error.empty() && s->state == "retiring" && !s->last_error.empty()) error = s->last_error;
  }
  return Json{{"project", p.id},
              {"path", p.path},
              {"health", health(p)},
              {"configured_agent", p.config ? Json(p.config->agent) : Json(nullptr)},
              {"orchestrator", current ? session_json(*current) : Json(nullptr)},
              {"active_count", active},
              // false while the newest content has repository settings nobody allowed
              {"allowed", p.config && p.trust_waiting.empty()},
              {"waiting_keys", p.trust_waiting},
              {"error", error.empty() ? Json(nullptr) : Json(error)},
              {"activity", act ? Json(act->state) : Json(nullptr)},
              {"activity_since", act ? Json(act->since) : Json(nullptr)},
              {"activity_source", act ? Json(act->source) : Json(nullptr)},
              {"permissions", current && !current->permissions.empty()
                                  ? Json(current->permissions)
                                  : Json(p.config ? p.config->permissions : "default")},
              {"resume", resume_note}};
}

void Orchestrator::prepare_launch(const SessionRecord& rec, const ProjectConfig& cfg,
                                  const std::map<std::string, std::string>& env, bool resume,
                                  PreparedFn then) {
  const ProjectState* p = find_project(rec.project);
  const std::string repo_root = p ? p->path : std::string();
  const std::string agent_dir = paths().home + "/agents/" + rec.id;
  run_off_loop<tl::expected<PreparedLaunch, std::string>>(
      loop(),
      [rec, cfg, env, resume, repo_root, agent_dir]() -> tl::expected<PreparedLaunch, std::string> {
        auto it = cfg.agents.find(rec.agent);
        if (it == cfg.agents.end())
          return tl::make_unexpected("agent '" + rec.agent + "' is not defined");
        const AgentSpec& spec = it->second;
        // A relaunch after a crash or a daemon restart reads the config in force, which may
        // have changed since it was allowed (DESIGN.md §7).
        if (!cfg.is_allowed) {
          return tl::make_unexpected(
              not_allowed_message(cfg, repo_root.empty() ? rec.project : repo_root));
        }
        LaunchContext ctx;
        ctx.baton_bin = self_dir() + "/baton";
        ctx.agent_dir = agent_dir;
        ctx.repo_root = repo_root;
        ctx.env = env;
        for (const auto& [k, v] : cfg.env) ctx.env[k] = v;
        for (const auto& [k, v] : spec.env) ctx.env[k] = v;
        ctx.file_exists = [](const std::string& path) { return fs::exists(path); };
        auto plan = plan_launch(spec, cfg, rec, resume, ctx);
        if (!plan) return tl::make_unexpected(plan.error());
        // Small files beside the agent (claude's hook settings; its trust entry), written
        // before the spawn that reads them.
        for (const auto& file : plan->files) {
          std::error_code ec;
          fs::create_directories(fs::path(file.path).parent_path(), ec);
          if (auto w = write_file_atomic(file.path, file.content); !w)
            return tl::make_unexpected(w.error());
        }
        if (spec.kind == AgentKind::kClaude) {
          // The trust dialog would otherwise stop every new orchestrator worktree: the user
          // chose this repository for an orchestrator with `baton up`.
          const std::string config_path = claude_config_path(ctx.env);
          auto text = read_file(config_path);
          if (!text && !text.error().empty()) return tl::make_unexpected(text.error());
          const std::string before = text ? *text : std::string();
          auto trusted = claude_config_with_trust(before, rec.worktree);
          if (!trusted) {
            spdlog::warn("{} {}: not marking {} trusted", config_path, trusted.error(),
                         rec.worktree);
          } else if (*trusted != before) {
            if (auto w = write_file_atomic(config_path, *trusted); !w)
              spdlog::warn("cannot mark {} trusted for claude: {}", rec.worktree, w.error());
          }
        }
        PreparedLaunch out;
        for (const auto& [k, v] : ctx.env)
          out.env.push_back(k + "=" + v);  // command, [env], agent's
        for (const auto& e : plan->env) out.env.push_back(e);
        const auto path_it = env.find("PATH");
        const std::string path =
            path_it == env.end() ? "/usr/local/bin:/usr/bin:/bin" : path_it->second;
        out.env.push_back("PATH=" + self_dir() + ":" + path);
        out.env.push_back("BATON_PROJECT=" + rec.project);
        out.env.push_back("BATON_SESSION=" + rec.id);
        out.env.push_back("BATON_BRANCH=" + rec.branch);
        out.env.push_back("BATON_WORKTREE=" + rec.worktree);
        out.env.push_back("BATON_AGENT=" + rec.agent);
        out.plan = std::move(*plan);
        out.permissions = cfg.permissions;
        return out;
      },
      std::move(then));
}

tl::expected<void, std::string> Orchestrator::spawn(SessionRecord& rec,
                                                    const PreparedLaunch& launch) {
  const LaunchPlan& plan = launch.plan;
  if (plan.conversation_id != rec.conversation_id) {
    rec.conversation_id = plan.conversation_id;
    rec.conversation_source = plan.conversation_id.empty() ? "" : "baton";
  }
  rec.resume_mode = plan.resume_mode;
  rec.permissions = launch.permissions;
  runtime::SessionSpec sspec;
  sspec.id = rec.id;
  sspec.spawn.argv = plan.argv;
  sspec.spawn.cwd = rec.worktree;
  sspec.spawn.env = runtime::session_environment(nullptr, launch.env);
  rec.argv = plan.argv;
  // A relaunch reuses the id: the exited runtime session (kept for its last screen) goes.
  if (runtime::Session* old = daemon_.find_session_exact(rec.id); old && !old->is_running())
    daemon_.remove_session(rec.id);
  auto s = daemon_.start_session(std::move(sspec));
  if (!s) return tl::make_unexpected(s.error());
  rec.pid = (*s)->pid();
  rec.pid_start_time = process_start_time(rec.pid);
  rec.exit_status.reset();
  // A new process: what the screen and hooks knew of the old one no longer holds.
  activity_.erase(rec.id);
  set_activity(rec.id, "working", "launch");
  return {};
}

void Orchestrator::set_activity(const std::string& session_id, const std::string& state,
                                const std::string& source) {
  ActivityTrack& t = activity_[session_id];
  if (t.now.state == state) return;
  t.now = Activity{state, now_iso8601(), source};
  spdlog::debug("{} is {} ({})", session_id, state, source);
}

const Activity* Orchestrator::activity(const std::string& session_id) const {
  auto it = activity_.find(session_id);
  return it == activity_.end() || it->second.now.state.empty() ? nullptr : &it->second.now;
}

void Orchestrator::on_agent_signal(SessionRecord& rec, const std::string& source,
                                   const HookSignal& sig) {
  ActivityTrack& t = activity_[rec.id];
  if (source == "claude") t.has_hook = true;
  if (source == "codex") t.has_turn_signal = true;
  // An exited process's late hook (SessionEnd after the reap) must not revive it.
  if (t.now.state != "exited")
    set_activity(rec.id, sig.state, source == "codex" ? "notify" : "hook");
  if (!sig.conversation_id.empty() &&
      (sig.conversation_id != rec.conversation_id || rec.conversation_source != "agent")) {
    rec.conversation_id = sig.conversation_id;
    rec.conversation_source = "agent";
    rec.updated_at = now_iso8601();
    persist([](tl::expected<void, std::string>) {});
  }
}

void Orchestrator::on_activity_tick() {
  // A retired session never comes back: its track would only grow the map, one per handoff.
  std::erase_if(activity_, [this](const auto& kv) {
    const SessionRecord* r = session(kv.first);
    return !r || r->state == "retired";
  });
  for (auto& [id, p] : projects_) {
    if (!p.config) continue;
    const SessionRecord* rec = newest_active(project_sessions(id));
    if (!rec) continue;
    runtime::Session* s = daemon_.find_session_exact(rec->id);
    if (!s || !s->is_running()) continue;
    auto agent = p.config->agents.find(rec->agent);
    if (agent == p.config->agents.end()) continue;
    ActivityTrack& t = activity_[rec->id];
    if (agent->second.kind == AgentKind::kClaude && t.has_hook) continue;
    std::string screen;
    const AgentSpec& spec = agent->second;
    if (!spec.working_patterns.empty() || !spec.waiting_patterns.empty())
      for (const auto& line : s->peek_capture()) screen += line + "\n";
    const bool may_say_idle = !(agent->second.kind == AgentKind::kCodex && t.has_turn_signal);
    const std::string state = t.screen.tick(s->output_bytes(), screen, agent->second, may_say_idle);
    if (!state.empty()) set_activity(rec->id, state, "screen");
  }
}

void Orchestrator::on_session_exit(runtime::Session& s) {
  SessionRecord* rec = session(s.id());
  if (rec) set_activity(rec->id, "exited", "exit");
  if (!rec || rec->state != "active") return;
  // `baton shutdown` stops agents but keeps them active with their restore marker: they
  // come back with the daemon.
  if (daemon_.is_shutting_down()) return daemon_.release_followers(follow_key(rec->project));
  rec->state = "exited";
  rec->exit_status = s.exit_status();
  rec->restore_marker = false;
  rec->updated_at = now_iso8601();
  auto lines = s.capture(true);
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  const std::size_t keep = std::min<std::size_t>(lines.size(), 20);
  rec->last_lines.assign(lines.end() - static_cast<long>(keep), lines.end());
  spdlog::info("orchestrator {} exited with status {}", rec->id, s.exit_status());
  persist([](tl::expected<void, std::string>) {});
  run_session_hook("on_exit", *rec);
  // An agent that ends within its launch grace is the handoff's to handle (fallback).
  ProjectState* p = find_project(rec->project);
  const bool is_in_grace = p && p->launch_watch && p->launch_watch->new_session() == rec->id;
  if (p && !p->handoff && !is_in_grace && s.exit_status() != 0) schedule_relaunch(rec->id);
  settle_followers(rec->project, "");
}

void Orchestrator::settle_followers(const std::string& project, const std::string& notice) {
  ProjectState* p = find_project(project);
  const SessionRecord* cur = p ? newest_active(project_sessions(project)) : nullptr;
  runtime::Session* s = cur ? daemon_.find_session_exact(cur->id) : nullptr;
  if (s && s->is_running())
    daemon_.hand_over_followers(follow_key(project), *s, notice);
  else if (!p || (!p->handoff && !p->relaunch_timer))
    daemon_.release_followers(follow_key(project));
}

void Orchestrator::run_session_hook(const std::string& event, const SessionRecord& rec) {
  ProjectState* p = find_project(rec.project);
  if (!p || !p->config) return;
  const HookSet& hooks = p->config->hooks;
  const std::optional<CommandSpec>& cmd = event == "on_exit"        ? hooks.on_exit
                                          : event == "after_retire" ? hooks.after_retire
                                                                    : hooks.after_spawn;
  if (!cmd) return;
  hooks::HookRequest h;
  h.event = event;
  h.argv = cmd->argv;
  h.cwd = fs::exists(rec.worktree) ? rec.worktree : p->path;
  h.env = {{"BATON_PROJECT", rec.project},   {"BATON_SESSION", rec.id},
           {"BATON_WORKTREE", rec.worktree}, {"BATON_BRANCH", rec.branch},
           {"BATON_AGENT", rec.agent},       {"BATON_EVENT", event}};
  h.timeout_ms = hooks.timeout_ms;
  h.log_path = paths().logs_dir + "/hooks.log";
  // The config in force may be a pulled or edited one nobody allowed yet (the watch reloads
  // it): its commands wait for `baton allow` like the handoff's do (DESIGN.md §7).
  if (!p->config->is_allowed) {
    spdlog::warn("{} hook of {} not run: {}", event, rec.project,
                 not_allowed_message(*p->config, p->path));
    return;
  }
  hooks::run_hook(loop(), h, [event](hooks::HookResult r) {
    if (!r.ok()) spdlog::warn("{}", r.describe(event));
  });
}

void Orchestrator::schedule_relaunch(const std::string& session_id) {
  SessionRecord* rec = session(session_id);
  if (!rec) return;
  const std::string project = rec->project;
  const auto now = static_cast<std::uint64_t>(uv_now(loop()));
  auto& times = relaunches_[project];
  std::erase_if(times, [now](std::uint64_t t) { return now - t > kRelaunchWindowMs; });
  if (static_cast<int>(times.size()) >= kMaxRelaunches) {
    spdlog::warn("{} crashed {} times in 10 minutes; left exited", project, times.size());
    return;
  }
  const std::uint64_t delay_ms = 1000ull << times.size();
  times.push_back(now);
  ProjectState* owner = find_project(project);
  if (!owner || is_shutting_down_) return;
  if (owner->relaunch_timer) owner->relaunch_timer->close();
  owner->relaunch_timer = runtime::Timer::make(loop());
  owner->relaunch_timer->start(delay_ms, [this, session_id, project] {
    if (ProjectState* p = find_project(project); p && p->relaunch_timer) {
      p->relaunch_timer->close();
      p->relaunch_timer = nullptr;
    }
    // Only the newest orchestrator, still exited, no handoff under way, and the daemon not
    // leaving: checked again once the launch files are written.
    auto is_wanted = [this, session_id]() -> SessionRecord* {
      SessionRecord* rec = session(session_id);
      ProjectState* p = rec ? find_project(rec->project) : nullptr;
      if (!rec || !p || p->handoff || rec->state != "exited" || !p->config || is_shutting_down_ ||
          daemon_.is_shutting_down() || current_orchestrator(project_sessions(p->id)) != rec)
        return nullptr;
      return rec;
    };
    SessionRecord* rec = is_wanted();
    if (!rec) return settle_followers(project, "");
    ProjectState* p = find_project(rec->project);
    const auto env = p->env;
    prepare_launch(
        *rec, *p->config, env, true,
        [this, session_id, project, is_wanted](tl::expected<PreparedLaunch, std::string> prepared) {
          SessionRecord* rec = is_wanted();
          if (!rec) return settle_followers(project, "");
          auto r = prepared
                       ? spawn(*rec, *prepared)
                       : tl::expected<void, std::string>(tl::make_unexpected(prepared.error()));
          if (!r) {
            rec->last_error = r.error();
            spdlog::warn("relaunch of {} failed: {}", session_id, r.error());
          } else {
            rec->state = "active";
            rec->restore_marker = true;
            rec->last_error.clear();
            spdlog::info("relaunched {} after a crash (pid {})", session_id, rec->pid);
          }
          rec->updated_at = now_iso8601();
          persist([](tl::expected<void, std::string>) {});
          settle_followers(project,
                           "baton: orchestrator " + session_id + " restarted after a crash");
        });
  });
}

namespace {

// A stuck cleanup: a retiring session whose last attempt failed (health `stuck`).
std::vector<std::string> stuck_sessions(const std::vector<const SessionRecord*>& sessions) {
  std::vector<std::string> ids;
  for (const auto* s : sessions)
    if (s->state == "retiring" && !s->last_error.empty()) ids.push_back(s->id);
  return ids;
}

}  // namespace

void Orchestrator::retry_cleanup(const std::string& project, std::function<void()> then) {
  auto done = [then] {
    if (then) then();
  };
  ProjectState* p = find_project(project);
  // A handoff or recovery under way finishes the same sessions itself.
  if (!p || !p->config || p->handoff || p->is_recovering || p->is_cleaning || is_shutting_down_)
    return done();
  const auto ids = stuck_sessions(project_sessions(project));
  if (ids.empty()) {
    p->cleanup_attempts = 0;
    return done();
  }
  p->is_cleaning = true;
  const std::string project_dir = p->config->workspace_root + "/" + project;
  const std::string repo_path = p->path;
  struct Cleaned {
    std::map<std::string, std::string> errors;  // by session id
    std::vector<std::string> finished;
  };
  run_off_loop<Cleaned>(
      loop(),
      [ids, project_dir, repo_path] {
        Cleaned c;
        auto proj = git::open_project(repo_path);
        for (const auto& id : ids) {
          const std::string trash = project_dir + "/" + std::string(git::kTrashDirPrefix) + id;
          std::error_code ec;
          // Only a tree already aside is a cleanup; a retire that failed earlier (its tree
          // still in place) is finished by the next `replace`.
          if (!fs::exists(fs::symlink_status(trash, ec))) continue;
          if (auto d = git::delete_trash(trash); !d) {
            c.errors[id] = d.error().message;
            continue;
          }
          c.finished.push_back(id);
          // As after any deleted retired tree: its saved submodule git dirs go with it.
          if (proj) {
            if (auto m = git::delete_saved_modules(proj->repo.get(), id); !m)
              spdlog::warn("{}", m.error().message);
          }
        }
        return c;
      },
      [this, project, done](Cleaned c) {
        ProjectState* p = find_project(project);
        if (!p) return done();
        p->is_cleaning = false;
        if (!p->handoff) {
          for (const auto& id : c.finished) {
            SessionRecord* rec = session(id);
            if (!rec || rec->state != "retiring") continue;
            rec->state = "retired";
            rec->last_error.clear();
            rec->updated_at = now_iso8601();
            runtime::Session* old = daemon_.find_session_exact(id);
            if (old && !old->is_running()) daemon_.remove_session(id);
            spdlog::info("cleanup of {} finished", id);
          }
          for (const auto& [id, error] : c.errors) {
            SessionRecord* rec = session(id);
            if (rec && rec->state == "retiring") rec->last_error = error;
          }
          if (!c.finished.empty() || !c.errors.empty())
            persist([](tl::expected<void, std::string>) {});
        }
        if (c.errors.empty()) p->cleanup_attempts = 0;
        schedule_cleanup(project);
        done();
      });
}

void Orchestrator::schedule_cleanup(const std::string& project) {
  ProjectState* p = find_project(project);
  if (!p || is_shutting_down_ || p->cleanup_timer) return;
  if (stuck_sessions(project_sessions(project)).empty()) {
    p->cleanup_attempts = 0;
    return;
  }
  const std::uint64_t delay_ms =
      std::min<std::uint64_t>(1000ull << std::min(p->cleanup_attempts, 16u), kCleanupMaxDelayMs);
  ++p->cleanup_attempts;
  p->cleanup_timer = runtime::Timer::make(loop());
  p->cleanup_timer->start(delay_ms, [this, project] {
    if (ProjectState* p = find_project(project); p && p->cleanup_timer) {
      p->cleanup_timer->close();
      p->cleanup_timer = nullptr;
    }
    retry_cleanup(project);
  });
}

// Sessions recorded active with a restore marker come back with the daemon, in their
// worktree, with the agent's resume command. An agent that outlived the daemon (pid and
// start time match) is stopped first: its terminal died with the old daemon.
void Orchestrator::restore_sessions(const std::string& project) {
  for (auto& [id, rec] : store_.sessions) {
    if (rec.project != project || rec.state != "active" || !rec.restore_marker) continue;
    if (daemon_.find_session_exact(id)) continue;
    if (rec.pid > 0 && rec.pid_start_time != 0 &&
        process_start_time(rec.pid) == rec.pid_start_time) {
      kill(-static_cast<pid_t>(rec.pid), SIGKILL);
      kill(static_cast<pid_t>(rec.pid), SIGKILL);
    }
    ProjectState* p = find_project(rec.project);
    if (!p) continue;
    p->is_recovering = true;
    const std::string sid = id;
    const auto env = p->env;
    auto finish = [this, sid](tl::expected<void, std::string> started) {
      SessionRecord* rec = session(sid);
      if (!rec) return;
      if (ProjectState* p = find_project(rec->project)) p->is_recovering = false;
      if (!started) {
        rec->last_error = started.error();
        rec->state = "exited";
        rec->restore_marker = false;
      } else {
        spdlog::info("restored orchestrator {} (pid {})", sid, rec->pid);
        if (recovery_faulted(rec->project, "recovery.relaunched")) return;
      }
      rec->updated_at = now_iso8601();
      const std::string project = rec->project;
      persist([this, project](tl::expected<void, std::string>) {
        recovery_faulted(project, "recovery.restored");
      });
    };
    reload_config(*p, env, [this, sid, env, finish](tl::expected<ProjectConfig, std::string> cfg) {
      SessionRecord* rec = session(sid);
      if (!rec) return;
      if (!cfg) {
        if (ProjectState* p = find_project(rec->project)) p->is_recovering = false;
        rec->last_error = cfg.error();
        rec->state = "exited";
        rec->updated_at = now_iso8601();
        const std::string project = rec->project;
        return persist([this, project](tl::expected<void, std::string>) {
          recovery_faulted(project, "recovery.restored");
        });
      }
      prepare_launch(*rec, *cfg, env, true,
                     [this, sid, finish](tl::expected<PreparedLaunch, std::string> prepared) {
                       SessionRecord* rec = session(sid);
                       ProjectState* p = rec ? find_project(rec->project) : nullptr;
                       if (!rec || !p) return;
                       // A replace that arrived meanwhile retires it; a shutdown keeps it for next
                       // time.
                       if (p->handoff || rec->state != "active" ||
                           daemon_.find_session_exact(sid) || daemon_.is_shutting_down()) {
                         p->is_recovering = false;
                         return;
                       }
                       if (!prepared) return finish(tl::make_unexpected(prepared.error()));
                       finish(spawn(*rec, *prepared));
                     });
    });
  }
}

ProjectState* Orchestrator::resolve_project(const std::string& target) {
  if (target.empty()) return nullptr;
  if (auto* p = find_project(target)) return p;
  if (auto it = store_.sessions.find(target); it != store_.sessions.end())
    return find_project(it->second.project);
  std::error_code ec;
  const std::string path = fs::weakly_canonical(target, ec).string();
  if (ec || path.empty() || path[0] != '/') return nullptr;
  ProjectState* best = nullptr;
  std::size_t best_len = 0;
  for (auto& [id, p] : projects_) {
    std::vector<std::string> roots{p.path};
    if (p.config) roots.push_back(p.config->workspace_root + "/" + id);
    for (const auto& root : roots) {
      const std::string canon = fs::weakly_canonical(root, ec).string();
      if (is_inside(path, canon) && canon.size() > best_len) {
        best = &p;
        best_len = canon.size();
      }
    }
  }
  return best;
}

}  // namespace baton::plugin
