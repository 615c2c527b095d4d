#include "plugin/orchestrator.hpp"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "plugin/fault.hpp"
#include "plugin/health.hpp"
#include "plugin/message_delivery.hpp"
#include "plugin/message_typing.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/outlived_agent.hpp"
#include "plugin/relaunch_backoff.hpp"
#include "plugin/session_hook.hpp"
#include "plugin/trust.hpp"
#include "runtime/search_path.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

Orchestrator::Orchestrator(runtime::Daemon& daemon, std::map<std::string, std::string> start_env)
    : daemon_(daemon),
      start_env_(std::move(start_env)),
      registry_(daemon.loop(), daemon.paths().state_dir),
      activity_([this] { return activity_samples(); },
                [this](const std::string& id) {
                  const SessionRecord* r = session(id);
                  return r && r->state != SessionState::kRetired;
                },
                [this](const std::string& id, const Activity& now) { notify_activity(id, now); }),
      recovery_(daemon.loop(), registry_, *this),
      cleanup_(daemon.loop(), registry_, daemon),
      standby_(*this),
      changes_(*this),
      outbox_(daemon.loop(), daemon.paths().state_dir),
      messages_(std::make_unique<MessageDelivery>(*this, outbox_)),
      workers_(*this) {
  // A fault point arms one handoff; start-up recovery reads it from daemon_fault_env().
  start_env_.erase(std::string(kFaultEnv));
}

Orchestrator::~Orchestrator() {
  close_watches();
}

void Orchestrator::close_watches() {
  activity_.close();
  cleanup_.stop();
  standby_.stop();
  changes_.stop();
  workers_.close();
  messages_->close();
  for (auto& [id, p] : registry_.projects()) {
    p.config_watch.reset();
    p.config_debounce.reset();
    // A pending relaunch or launch-grace watch would keep the loop, and so the daemon, alive
    // until it fires, and then act on a daemon that is leaving.
    p.relaunch_timer.reset();
    if (auto watch = p.launch_watch) watch->end_launch_grace("");
  }
}

void Orchestrator::start() {
  daemon_.on_shutdown([this] {
    is_shutting_down_ = true;
    close_watches();
  });
  daemon_.on_session_exit([this](runtime::Session& s) { on_session_exit(s); });
  activity_.start(loop());
  daemon_.set_target_resolver([this](const std::string& target) -> runtime::Daemon::ResolvedTarget {
    if (daemon_.find_session_exact(target)) return {target, ""};
    // A worker (PROJECT/NAME, or a directory inside its tree) before its project.
    if (const SessionRecord* w = registry_.resolve_worker(target)) return {w->id, ""};
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
  registry_.store() = std::move(loaded->data);
  for (auto& [id, rec] : registry_.store().projects) {
    ProjectState& p = add_project(id, rec.path);
    // What `status` says of the standby while recovery runs: the record, until the standby
    // checks its tree.
    if (rec.standby) {
      p.standby_state = rec.standby->is_ready ? StandbyState::kReady : StandbyState::kPreparing;
      p.standby_bytes = rec.standby->is_ready ? rec.standby->bytes : 0;
    }
  }
  for (auto& [id, rec] : registry_.store().projects) recovery_.recover(id);
  // Messages told before the daemon stopped go to the agents recovery brings back. One whose
  // Enter was due sits in the input of its agent if that agent outlived the daemon: it gets
  // the Enter now (an agent that was relaunched lost the paste with its terminal).
  for (const DueEnter& due : outbox_.load()) {
    runtime::Session* s = daemon_.find_session_exact(due.session);
    if (!s || !s->is_running() || !s->is_adopted()) continue;
    spdlog::info("message {} to {}: Enter written to {}, which outlived the daemon", due.id,
                 due.recipient, due.session);
    press_enter(*s);
  }
  messages_->kick();
}

ProjectState& Orchestrator::add_project(const std::string& id, const std::string& path) {
  ProjectState& p = registry_.add(id, path, start_env_);
  watch_config(p);
  return p;
}

void Orchestrator::watch_config(ProjectState& p) {
  if (p.config_watch || is_shutting_down_) return;
  p.config_watch = runtime::make_owned<runtime::FsEvent>(loop());
  p.config_debounce = runtime::make_owned<runtime::Timer>(loop());
  const std::string id = p.id;
  const int rc = p.config_watch->start(p.path, [this, id](const std::string& file) {
    if (file != "baton.toml" && file != "baton.local.toml" && !file.empty()) return;
    ProjectState* p = find_project(id);
    if (!p) return;
    // An editor writes in several steps: read once they settle.
    p->config_debounce->start(100, [this, id] {
      ProjectState* p = find_project(id);
      if (!p) return;
      reload_config(*p, p->env, [this, id](tl::expected<ProjectConfig, std::string> cfg) {
        if (!cfg) return spdlog::warn("config of {}: {}", id, cfg.error());
        // A standby prepared with other symlinks, post_create or agent is rebuilt now.
        standby_.refresh(id);
      });
    });
  });
  if (rc != 0) spdlog::warn("cannot watch {}: {}", p.path, uv_strerror(rc));
}

void Orchestrator::resume_handoff(const std::string& project, const std::string& agent,
                                  const std::map<std::string, std::string>& env) {
  ProjectState* p = find_project(project);
  if (!p) return;
  if (handoff_starter_) handoff_starter_(*p, agent, env);
}

bool Orchestrator::has_session(const std::string& id) {
  // A session a living holder keeps for another daemon (or protocol) is not this daemon's to
  // stop or relaunch.
  return daemon_.find_session_exact(id) != nullptr || daemon_.is_held_elsewhere(id);
}

bool Orchestrator::is_leaving() {
  return daemon_.is_shutting_down();
}

void Orchestrator::reload_config(ProjectState& p, const std::map<std::string, std::string>& env,
                                 ConfigFn then) {
  ConfigInputs in;
  in.repo_root = p.path;
  in.baton_home = paths().home;
  in.environment = env;
  in.is_on_path = [path = runtime::search_path(env)](const std::string& cmd) {
    return is_on_path(cmd, path);
  };
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
  in.is_replacing = p.is_handing_off() || p.is_recovering;
  in.sessions = project_sessions(p.id);
  in.configured_agent = p.config ? p.config->agent : "";
  in.launch_error = p.launch_error;
  in.is_stuck = p.is_stuck;
  return compute_health(in);
}

void Orchestrator::prepare_launch(const SessionRecord& rec, const ProjectConfig& cfg,
                                  const std::map<std::string, std::string>& env, bool resume,
                                  PreparedFn then) {
  const ProjectState* p = find_project(rec.project);
  LaunchSite site;
  site.repo_root = p ? p->path : std::string();
  site.agent_dir = paths().home + "/agents/" + rec.id;
  run_off_loop<tl::expected<PreparedLaunch, std::string>>(
      loop(),
      [rec, cfg, env, resume, site]() mutable {
        site.bin_dir = own_bin_dir();
        return prepare_launch_files(rec, cfg, env, resume, site);
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
  if (const ProjectState* p = find_project(rec.project); p && p->config)
    sspec.holder_buffer = p->config->holder_buffer_bytes;
  rec.argv = plan.argv;
  // A relaunch reuses the id: the exited runtime session (kept for its last screen) goes.
  if (runtime::Session* old = daemon_.find_session_exact(rec.id); old && !old->is_running())
    daemon_.remove_session(rec.id);
  auto s = daemon_.start_session(std::move(sspec));
  if (!s) return tl::make_unexpected(s.error());
  rec.pid = (*s)->pid();
  rec.pid_start_time = process_start_time(rec.pid);
  rec.exit_status.reset();
  activity_.launched(rec.id);
  return {};
}

void Orchestrator::on_agent_signal(SessionRecord& rec, const std::string& source,
                                   const HookSignal& sig) {
  activity_.on_hook(rec.id, source, sig.state);
  if (!sig.conversation_id.empty() &&
      (sig.conversation_id != rec.conversation_id || rec.conversation_source != "agent")) {
    rec.conversation_id = sig.conversation_id;
    rec.conversation_source = "agent";
    rec.updated_at = runtime::iso8601_now();
    persist([](const tl::expected<void, std::string>&) {});
  }
}

Orchestrator::ActivityListener Orchestrator::on_activity(ActivityFn fn) {
  const ActivityListener id = next_activity_listener_++;
  activity_fns_.emplace_back(id, std::move(fn));
  return id;
}

void Orchestrator::remove_activity_listener(ActivityListener listener) {
  std::erase_if(activity_fns_, [listener](const auto& entry) { return entry.first == listener; });
}

void Orchestrator::notify_activity(const std::string& session_id, const Activity& now) {
  spdlog::debug("{} is {} ({})", session_id, wire_name(now.state), wire_name(now.source));
  workers_.on_activity(session_id, now);
  // A listener may remove itself (or another) while it runs: call a snapshot, and skip the
  // ones removed meanwhile.
  const auto snapshot = activity_fns_;
  for (const auto& [id, fn] : snapshot) {
    const bool is_live = std::any_of(activity_fns_.begin(), activity_fns_.end(),
                                     [id = id](const auto& entry) { return entry.first == id; });
    if (is_live) fn(session_id, now);
  }
}

std::vector<ActivitySample> Orchestrator::activity_samples() {
  std::vector<ActivitySample> samples;
  for (auto& [id, p] : registry_.projects()) {
    if (!p.config) continue;
    // The running orchestrator and its running workers (the orchestrator is told when one
    // waits: workers.hpp).
    std::vector<const SessionRecord*> running;
    if (const SessionRecord* rec = newest_active(project_sessions(id))) running.push_back(rec);
    for (const SessionRecord* w : registry_.workers_of(id))
      if (w->state == SessionState::kActive) running.push_back(w);
    for (const SessionRecord* rec : running) {
      runtime::Session* s = daemon_.find_session_exact(rec->id);
      if (!s || !s->is_running()) continue;
      auto agent = p.config->agents.find(rec->agent);
      if (agent == p.config->agents.end()) continue;
      samples.push_back(
          {rec->id, &agent->second, s->output_bytes(), [s] { return s->peek_capture(); }});
    }
  }
  return samples;
}

void Orchestrator::on_session_exit(runtime::Session& s) {
  SessionRecord* rec = session(s.id());
  if (rec) activity_.set(rec->id, ActivityState::kExited, ActivitySource::kExit);
  if (!rec || rec->state != SessionState::kActive) return;
  // `baton shutdown` stops agents but keeps them active with their restore marker: they
  // come back with the daemon.
  if (daemon_.is_shutting_down()) {
    if (rec->role == SessionRole::kWorker) return;
    return daemon_.release_followers(follow_key(rec->project));
  }
  // Its last words, kept for `status` and the next handoff note.
  auto lines = s.capture(true);
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  const std::size_t keep = std::min<std::size_t>(lines.size(), kLastLinesKept);
  lines.erase(lines.begin(), lines.end() - static_cast<long>(keep));
  if (rec->role == SessionRole::kWorker)
    return workers_.on_exit(*rec, s.exit_status(), std::move(lines));
  rec->state = SessionState::kExited;
  rec->exit_status = s.exit_status();
  rec->restore_marker = false;
  rec->updated_at = runtime::iso8601_now();
  rec->last_lines = std::move(lines);
  spdlog::info("orchestrator {} exited with status {}", rec->id, s.exit_status());
  persist([](const tl::expected<void, std::string>&) {});
  run_session_hook("on_exit", *rec);
  // An agent that ends within its launch grace is the handoff's to handle (fallback).
  ProjectState* p = find_project(rec->project);
  const bool is_in_grace = p && p->launch_watch && p->launch_watch->new_session() == rec->id;
  if (p && !p->is_handing_off() && !is_in_grace && s.exit_status() != 0) schedule_relaunch(rec->id);
  settle_followers(rec->project, "");
}

void Orchestrator::settle_followers(const std::string& project, const std::string& notice) {
  ProjectState* p = find_project(project);
  const SessionRecord* cur = p ? newest_active(project_sessions(project)) : nullptr;
  runtime::Session* s = cur ? daemon_.find_session_exact(cur->id) : nullptr;
  if (s && s->is_running())
    daemon_.hand_over_followers(follow_key(project), *s, notice);
  else if (!p || (!p->is_handing_off() && !p->relaunch_timer))
    daemon_.release_followers(follow_key(project));
}

void Orchestrator::forget_old_retired(const std::string& project) {
  auto notes = registry_.forget_old_retired(project);
  if (notes.empty()) return;
  run_off_loop(
      loop(),
      [notes = std::move(notes)] {
        for (const auto& path : notes) {
          std::error_code ec;
          if (!std::filesystem::remove(path, ec) && ec)
            spdlog::warn("cannot delete handoff note {}: {}", path, ec.message());
        }
      },
      [] {});
}

void Orchestrator::run_session_hook(const std::string& event, const SessionRecord& rec) {
  ProjectState* p = find_project(rec.project);
  if (!p || !p->config) return;
  const HookSet& hooks = p->config->hooks;
  const std::optional<CommandSpec>& cmd = event == "on_exit"        ? hooks.on_exit
                                          : event == "after_retire" ? hooks.after_retire
                                                                    : hooks.after_spawn;
  if (!cmd) return;
  auto h = session_hook_request(*p->config, event, *cmd,
                                {rec.project, rec.id, rec.worktree, rec.branch, rec.agent},
                                paths().logs_dir);
  // A retired tree is gone: its hook runs in the repository.
  std::error_code ec;  // the throwing overload must not leave through a libuv callback
  if (!fs::exists(rec.worktree, ec)) h.cwd = p->path;
  // The config in force may be a pulled or edited one nobody allowed yet (the watch reloads
  // it): its commands wait for `baton allow` like the handoff's do (DESIGN.md §7).
  if (!p->config->is_allowed) {
    spdlog::warn("{} hook of {} not run: {}", event, rec.project,
                 not_allowed_message(*p->config, p->path));
    return;
  }
  hooks::run_hook(loop(), h, [event](const hooks::HookResult& r) {
    if (!r.ok()) spdlog::warn("{}", r.describe(event));
  });
}

void Orchestrator::schedule_relaunch(const std::string& session_id) {
  SessionRecord* rec = session(session_id);
  if (!rec) return;
  const std::string project = rec->project;
  const auto now = static_cast<std::uint64_t>(uv_now(loop()));
  const auto delay_ms = next_relaunch_delay(relaunches_[project], now);
  if (!delay_ms) {
    spdlog::warn("{} crashed {} times in 10 minutes; left exited", project, kMaxRelaunches);
    return;
  }
  ProjectState* owner = find_project(project);
  if (!owner || is_shutting_down_) return;
  // Assigning closes a pending one.
  owner->relaunch_timer = runtime::make_owned<runtime::Timer>(loop());
  owner->relaunch_timer->start(*delay_ms, [this, session_id, project] {
    if (ProjectState* p = find_project(project); p && p->relaunch_timer) {
      p->relaunch_timer.reset();
    }
    // Only the newest orchestrator, still exited, no handoff under way, and the daemon not
    // leaving: checked again once the launch files are written.
    auto is_wanted = [this, session_id]() -> SessionRecord* {
      SessionRecord* rec = session(session_id);
      ProjectState* p = rec ? find_project(rec->project) : nullptr;
      if (!rec || !p || p->is_handing_off() || rec->state != SessionState::kExited || !p->config ||
          is_shutting_down_ || daemon_.is_shutting_down() ||
          current_orchestrator(project_sessions(p->id)) != rec)
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
            rec->state = SessionState::kActive;
            rec->restore_marker = true;
            rec->last_error.clear();
            spdlog::info("relaunched {} after a crash (pid {})", session_id, rec->pid);
          }
          rec->updated_at = runtime::iso8601_now();
          persist([](const tl::expected<void, std::string>&) {});
          settle_followers(project,
                           "baton: orchestrator " + session_id + " restarted after a crash");
        });
  });
}

}  // namespace baton::plugin
