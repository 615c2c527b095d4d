// The orchestrator plugin's control methods: up, replace, down, status, ls, sessions (with
// orchestrator fields), allow, config_check. Names and JSON fields are a contract (issue 4).
#include <filesystem>

#include <spdlog/spdlog.h>

#include "git/carry.hpp"
#include "git/preserved_refs.hpp"
#include "git/reapply.hpp"
#include "git/repository.hpp"
#include "plugin/config_render.hpp"
#include "plugin/down.hpp"
#include "plugin/fault.hpp"
#include "plugin/handoff.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/trust.hpp"
#include "runtime/connection.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;
namespace proto = runtime::protocol;
using proto::Json;
using runtime::RequestPtr;

namespace {

std::map<std::string, std::string> env_param(const RequestPtr& req) {
  std::map<std::string, std::string> env;
  const auto& p = req->params();
  if (p.contains("env") && p["env"].is_object()) {
    for (auto& [k, v] : p["env"].items()) {
      if (v.is_string()) env[k] = v.get<std::string>();
    }
  }
  return env;
}

std::string string_param(const RequestPtr& req, const char* name) {
  const auto& p = req->params();
  return p.contains(name) && p[name].is_string() ? p[name].get<std::string>() : std::string();
}

bool bool_param(const RequestPtr& req, const char* name) {
  const auto& p = req->params();
  return p.contains(name) && p[name].is_boolean() && p[name].get<bool>();
}

Json outcome_json(Orchestrator& orch, const std::string& project, const HandoffOutcome& o,
                  bool joined) {
  Json j{{"project", project},
         {"session", nullptr},
         {"retired", o.retired},
         {"preserved", o.preserved},
         {"gap_ms", o.gap_ms < 0 ? Json(nullptr) : Json(o.gap_ms)},
         {"gap_steps_ms", nullptr},
         {"joined", joined},
         {"notes", o.notes}};
  if (o.gap_ms >= 0) {
    Json steps = Json::object();
    for (std::size_t i = 0; i < kGapStepNames.size(); ++i)
      steps[kGapStepNames[i]] = static_cast<double>(o.gap_steps_us[i] / 100) / 10.0;
    j["gap_steps_ms"] = steps;
  }
  if (const SessionRecord* s = orch.session(o.session)) j["session"] = orch.session_json(*s);
  return j;
}

}  // namespace

void Orchestrator::register_methods() {
  // Finds (or, for `up`, registers) the project of a path; answers on the loop.
  auto with_project = [this](const RequestPtr& req, bool may_register,
                             std::function<void(ProjectState&)> then) {
    std::string target = string_param(req, "target");
    if (target.empty()) target = string_param(req, "path");
    if (ProjectState* p = resolve_project(target)) return then(*p);
    if (!may_register || target.empty() || target[0] != '/') {
      return req->fail(proto::code::kNotFound,
                       target.empty()
                           ? "no project given"
                           : "no project at '" + target + "': run 'baton up " + target + "' first");
    }
    struct Found {
      std::string error;
      std::string root;
    };
    run_off_loop<Found>(
        loop(),
        [target] {
          Found f;
          auto proj = git::open_project(target);
          if (!proj)
            f.error = proj.error().message;
          else
            f.root = proj->main_workdir.string();
          while (f.root.size() > 1 && f.root.back() == '/') f.root.pop_back();
          return f;
        },
        [this, req, then, target](Found f) {
          if (!f.error.empty()) return req->fail(wire_name(ErrorCode::kNotARepository), f.error);
          if (ProjectState* p = resolve_project(f.root)) return then(*p);
          // The project id comes from the config ([project] name) or the directory name.
          ProjectState probe;
          probe.path = f.root;
          ConfigInputs in;
          in.repo_root = f.root;
          in.baton_home = paths().home;
          in.environment = env_param(req);
          in.is_on_path = [](const std::string&) { return false; };
          run_off_loop<tl::expected<ProjectConfig, std::string>>(
              loop(), [in] { return load_config(in); },
              [this, req, then, root = f.root](tl::expected<ProjectConfig, std::string> cfg) {
                if (!cfg) return req->fail(wire_name(ErrorCode::kConfigError), cfg.error());
                if (ProjectState* other = find_project(cfg->name); other && other->path != root) {
                  return req->fail(wire_name(ErrorCode::kProjectExists),
                                   "project id '" + cfg->name + "' is already used by " +
                                       other->path + ": set [project] name in " + root +
                                       "/baton.toml");
                }
                ProjectState& p = add_project(cfg->name, root);
                then(p);
              });
        });
  };

  auto run_handoff = [this](const RequestPtr& req, ProjectState& p, std::shared_ptr<Retirement> h,
                            bool wait) {
    const HandoffRequest& hreq = h->request();
    const std::string project = p.id;
    auto progress = [req](const std::string& step, const std::string& detail) {
      req->event("progress", Json{{"step", step}, {"detail", detail}});
    };
    auto reply = [this, req, project](bool joined) {
      return [this, req, project, joined](const HandoffOutcome& o) {
        if (!o.ok) return req->fail(wire_name(o.failure.code), o.failure.message);
        req->reply(outcome_json(*this, project, o, joined));
      };
    };
    if (p.handoff) {
      const std::string want = hreq.agent;
      if (!want.empty() && !p.handoff->agent().empty() && want != p.handoff->agent()) {
        return req->fail(
            wire_name(ErrorCode::kHandoffRunning),
            "a handoff to " + p.handoff->agent() + " is already running for " + project);
      }
      // A mashed keybinding replaces once: join the running handoff.
      if (wait)
        p.handoff->join(progress, nullptr, reply(true));
      else
        p.handoff->join(progress, reply(true), nullptr);
      return;
    }
    // Kept in memory only (ProjectState::env): a relaunch and a config reload read it.
    p.env = hreq.env;
    // A fault point arms one handoff; recovery after a kill must run unarmed.
    p.env.erase(std::string(kFaultEnv));
    p.handoff = h;
    if (wait)
      h->join(progress, nullptr, reply(false));
    else
      h->join(progress, reply(false), nullptr);
    h->start();
  };

  // A handoff never starts while start-up recovery clears stale git locks (when_scanned).
  daemon_.add_method("up", [this, with_project, run_handoff](const RequestPtr& req) {
    with_project(req, true, [this, req, run_handoff](ProjectState& p) {
      when_scanned(p, [this, req, run_handoff, id = p.id] {
        ProjectState* p = find_project(id);
        if (!p) return;
        const SessionRecord* current = newest_active(project_sessions(p->id));
        if (current && daemon_.find_session_exact(current->id) && !p->handoff) {
          // Running already: `up` still refuses while newer content waits for `baton allow`,
          // so the user learns of it (`baton attach` reaches the running agent meanwhile).
          return reload_config(
              *p, env_param(req), [this, req, id](tl::expected<ProjectConfig, std::string> cfg) {
                ProjectState* p = find_project(id);
                if (!p)
                  return req->fail(wire_name(ErrorCode::kNotFound), "project " + id + " is gone");
                if (!cfg) return req->fail(wire_name(ErrorCode::kConfigError), cfg.error());
                if (!cfg->is_allowed)
                  return req->fail(wire_name(ErrorCode::kNotAllowed),
                                   not_allowed_message(*cfg, p->path));
                const SessionRecord* current = newest_active(project_sessions(id));
                if (!current)
                  return req->fail(wire_name(ErrorCode::kFailed),
                                   "the orchestrator of " + id + " is gone");
                req->reply(
                    Json{{"project", id}, {"session", session_json(*current)}, {"started", false}});
              });
        }
        HandoffRequest h{p->id, string_param(req, "agent"), env_param(req)};
        run_handoff(req, *p, std::make_shared<Handoff>(*this, std::move(h)),
                    bool_param(req, "wait"));
      });
    });
  });

  daemon_.add_method("replace", [this, with_project, run_handoff](const RequestPtr& req) {
    with_project(req, true, [this, req, run_handoff](ProjectState& p) {
      when_scanned(p, [this, req, run_handoff, id = p.id] {
        ProjectState* p = find_project(id);
        if (!p) return;
        HandoffRequest h{p->id, string_param(req, "agent"), env_param(req)};
        run_handoff(req, *p, std::make_shared<Handoff>(*this, std::move(h)),
                    bool_param(req, "wait"));
      });
    });
  });

  daemon_.add_method("down", [this, with_project, run_handoff](const RequestPtr& req) {
    with_project(req, false, [this, req, run_handoff](ProjectState& p) {
      when_scanned(p, [this, req, run_handoff, id = p.id] {
        ProjectState* p = find_project(id);
        if (!p) return;
        HandoffRequest h{p->id, "", env_param(req)};
        run_handoff(req, *p, std::make_shared<Down>(*this, std::move(h)), false);
      });
    });
  });

  daemon_.add_method("status", [this, with_project](const RequestPtr& req) {
    with_project(req, false, [this, req](ProjectState& p) {
      // A stuck cleanup is tried once more first: a user who fixed the file sees `ok` at once.
      if (p.config && health(p) == "stuck") {
        const std::string id = p.id;
        return retry_cleanup(id, [this, req, id] {
          if (ProjectState* p = find_project(id)) req->reply(status_json(*p));
        });
      }
      // The config watch keeps p.config current; read it here only when it was never read.
      if (p.config || !p.config_error.empty()) return req->reply(status_json(p));
      const std::string id = p.id;
      reload_config(p, p.env, [this, req, id](tl::expected<ProjectConfig, std::string>) {
        if (ProjectState* p = find_project(id)) req->reply(status_json(*p));
      });
    });
  });

  auto runtime_kill = daemon_.server().method("kill");
  daemon_.add_method("kill", [this, runtime_kill](const RequestPtr& req) {
    const std::string target = string_param(req, "target");
    if (const SessionRecord* s = session(target); s && s->state != "retired") {
      return req->fail(wire_name(ErrorCode::kIsOrchestrator),
                       "session '" + target + "' is the orchestrator of " + s->project +
                           ": use 'baton down " + s->project + "'");
    }
    if (runtime_kill) runtime_kill(req);
  });

  // baton preserved: see and reuse the work preserved from retired sessions.
  daemon_.add_method("preserved", [this, with_project](const RequestPtr& req) {
    with_project(req, false, [this, req](ProjectState& p) {
      const std::string action = string_param(req, "action");
      const std::string id = string_param(req, "id");
      if (action != "ls" && action != "show" && action != "apply" && action != "drop")
        return req->fail(proto::code::kBadParams,
                         "preserved: action must be ls, show, apply or drop");
      if (action != "ls" && id.empty())
        return req->fail(proto::code::kBadParams,
                         "preserved " + action + ": which session? (baton preserved ls)");
      const SessionRecord* current = newest_active(project_sessions(p.id));
      const std::string worktree = current ? current->worktree : "";
      if (action == "apply" && worktree.empty())
        return req->fail(wire_name(ErrorCode::kMissing),
                         p.id + " has no orchestrator to apply the work to");
      struct Done {
        std::string error;
        Json result;
      };
      const std::string repo_path = p.path;
      const std::string project_dir = p.config ? p.config->workspace_root + "/" + p.id : "";
      run_off_loop<Done>(
          loop(),
          [repo_path, action, id, worktree, project_dir] {
            Done d;
            auto proj = git::open_project(repo_path);
            if (!proj) {
              d.error = proj.error().message;
              return d;
            }
            auto list = git::list_preserved(proj->repo.get());
            if (!list) {
              d.error = list.error().message;
              return d;
            }
            Json items = Json::array();
            const git::PreservedInfo* found = nullptr;
            for (const auto& i : *list) {
              items.push_back(Json{{"session", i.session},
                                   {"ref", i.ref},
                                   {"commit", i.oid},
                                   {"message", i.message},
                                   {"paths", i.paths}});
              if (i.session == id) found = &i;
            }
            if (action == "ls") {
              // What a replace could not carry into the new tree because it held its own.
              Json kept = Json::array();
              if (!project_dir.empty()) {
                for (const auto& k : git::list_kept(project_dir))
                  kept.push_back(Json{
                      {"session", k.session}, {"path", k.path.string()}, {"entries", k.entries}});
              }
              d.result = Json{{"preserved", items}, {"kept", kept}};
              return d;
            }
            if (!found) {
              d.error = "no preserved work for session '" + id + "' (baton preserved ls)";
              return d;
            }
            if (action == "show") {
              d.result = Json{{"session", found->session},
                              {"ref", found->ref},
                              {"commit", found->oid},
                              {"message", found->message},
                              {"paths", found->paths}};
            } else if (action == "apply") {
              auto r = git::reapply_preserved(proj->repo.get(), worktree, found->oid);
              if (!r)
                d.error = r.error().message;
              else
                d.result = Json{{"applied", r->conflicts.empty()},
                                {"conflicts", r->conflicts},
                                {"worktree", worktree}};
            } else if (auto r = git::drop_preserved(proj->repo.get(), id); !r) {
              d.error = r.error().message;
            } else {
              d.result = Json{{"dropped", found->ref}};
            }
            return d;
          },
          [this, req, action, id](Done d) {
            if (!d.error.empty()) return req->fail(wire_name(ErrorCode::kFailed), d.error);
            if (action == "drop") {
              if (SessionRecord* s = session(id)) {
                s->preserved_ref.clear();
                s->preserved_commit.clear();
                return persist([req, d](tl::expected<void, std::string>) { req->reply(d.result); });
              }
            }
            req->reply(d.result);
          });
    });
  });

  // Test builds only (plugin/fault.hpp): a user's daemon answers it as an unknown method.
  if constexpr (kHasFaultPoints) {
    daemon_.add_method("fault_points", [](const RequestPtr& req) {
      Json list = Json::array();
      for (auto p : kFaultPoints) list.push_back(std::string(p));
      req->reply(Json{{"points", list}});
    });
  }

  daemon_.add_method("ls", [this](const RequestPtr& req) {
    Json list = Json::array();
    for (auto& [id, p] : projects_) {
      const SessionRecord* current = current_orchestrator(project_sessions(id));
      // A narrow summary: never env, hooks or other config.
      list.push_back(Json{{"id", id},
                          {"path", p.path},
                          {"orchestrator_agent", p.config ? Json(p.config->agent) : Json(nullptr)},
                          {"health", health(p)},
                          {"orchestrator", current ? Json(current->id) : Json(nullptr)}});
      const Activity* a = current ? activity(current->id) : nullptr;
      list.back()["activity"] = a ? Json(a->state) : Json(nullptr);
    }
    req->reply(Json{{"projects", list}});
  });

  // `baton signal`: an agent (or its hook) says what it is doing. The session comes from
  // BATON_SESSION in the agent's environment; a hook's payload is the agent's own JSON.
  daemon_.add_method("signal", [this](const RequestPtr& req) {
    const std::string id = string_param(req, "session");
    const std::string state = string_param(req, "state");
    const std::string source = string_param(req, "source");
    const std::string event = string_param(req, "event");
    SessionRecord* rec = session(id);
    if (!rec)
      return req->fail(proto::code::kNotFound,
                       id.empty() ? std::string("signal: no session (BATON_SESSION is not set)")
                                  : "signal: no orchestrator session '" + id + "'");
    if (!source.empty()) {
      const Json& params = req->params();
      const Json payload = params.contains("payload") ? params["payload"] : Json(nullptr);
      auto sig = map_hook(source, event, payload);
      if (!sig) return req->reply(Json{{"session", id}, {"activity", nullptr}});
      on_agent_signal(*rec, source, *sig);
    } else {
      if (!is_activity_state(state))
        return req->fail(
            proto::code::kBadParams,
            "signal: state '" + state + "' must be working, waiting_input, idle or exited");
      set_activity(id, state, "signal");
    }
    const Activity* a = activity(id);
    req->reply(Json{{"session", id}, {"activity", a ? Json(a->state) : Json(nullptr)}});
  });

  daemon_.add_method("sessions", [this](const RequestPtr& req) {
    const bool all = bool_param(req, "all");
    const std::string target = string_param(req, "target");
    ProjectState* only = nullptr;
    if (!target.empty()) {
      only = resolve_project(target);
      if (!only) return req->fail(proto::code::kNotFound, "no project at '" + target + "'");
    }
    Json list = Json::array();
    std::vector<std::pair<std::string, Json>> rows;
    for (const auto& [id, s] : store_.sessions) {
      if (only && s.project != only->id) continue;
      if (!all && s.state != "active" && s.state != "retiring") continue;
      rows.emplace_back(s.created_at, session_json(s));
    }
    if (!only) {
      for (const auto& [id, s] : daemon_.sessions()) {
        if (store_.sessions.count(id)) continue;
        if (!all && !s->is_running()) continue;
        rows.emplace_back(
            s->created_at(),
            Json{{"id", id},
                 {"command", s->argv()},
                 {"cwd", s->cwd()},
                 {"pid", s->pid()},
                 {"state", s->is_running() ? "running" : "exited"},
                 {"exit_status", s->is_running() ? Json(nullptr) : Json(s->exit_status())},
                 {"created_at", s->created_at()}});
      }
    }
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& r : rows) list.push_back(std::move(r.second));
    req->reply(Json{{"sessions", list}});
  });

  daemon_.add_method("allow", [this, with_project](const RequestPtr& req) {
    with_project(req, true, [this, req](ProjectState& p) {
      const std::string state_dir = paths().state_dir;
      const std::string root = p.path;
      struct Allowed {
        std::string error;
        std::vector<std::string> files;
      };
      run_off_loop<Allowed>(
          loop(),
          [state_dir, root] {
            Allowed a;
            for (const char* name : {"baton.toml", "baton.local.toml"}) {
              const std::string f = root + "/" + name;
              if (fs::exists(f)) a.files.push_back(f);
            }
            if (a.files.empty()) {
              a.error = "no baton.toml or baton.local.toml in " + root;
              return a;
            }
            // The same bytes and the same hash as the loader's (config.hpp).
            auto texts = read_config_texts(root);
            if (!texts) {
              a.error = texts.error();
              return a;
            }
            if (auto r = allow(state_dir, root, repository_config_hash(root, *texts)); !r)
              a.error = r.error();
            return a;
          },
          [this, req, root, id = p.id](Allowed a) {
            if (!a.error.empty()) return req->fail(wire_name(ErrorCode::kFailed), a.error);
            ProjectState* p = find_project(id);
            if (!p) return req->reply(Json{{"path", root}, {"files", a.files}});
            // The config in force learns it is allowed now: hooks and relaunches check it.
            reload_config(*p, p->env,
                          [req, root, files = a.files](tl::expected<ProjectConfig, std::string>) {
                            req->reply(Json{{"path", root}, {"files", files}});
                          });
          });
    });
  });

  daemon_.add_method("config_check", [this](const RequestPtr& req) {
    const std::string path = string_param(req, "path");
    ConfigInputs in;
    in.baton_home = paths().home;
    in.environment = env_param(req);
    const auto path_it = in.environment.find("PATH");
    const std::string search = path_it == in.environment.end() ? "/usr/bin:/bin" : path_it->second;
    in.is_on_path = [search](const std::string& cmd) { return is_on_path(cmd, search); };
    struct Checked {
      std::string error;
      ProjectConfig cfg;
    };
    run_off_loop<Checked>(
        loop(),
        [in, path]() mutable {
          Checked c;
          auto proj = git::open_project(path);
          if (!proj) {
            c.error = proj.error().message;
            return c;
          }
          in.repo_root = proj->main_workdir.string();
          while (in.repo_root.size() > 1 && in.repo_root.back() == '/') in.repo_root.pop_back();
          auto cfg = load_config(in);
          if (!cfg)
            c.error = cfg.error();
          else
            c.cfg = *cfg;
          return c;
        },
        [req](Checked c) {
          if (!c.error.empty()) return req->fail(wire_name(ErrorCode::kConfigError), c.error);
          req->reply(Json{{"text", render_effective(c.cfg)},
                          {"agent", c.cfg.agent},
                          {"agent_reason", c.cfg.agent_reason},
                          {"files", c.cfg.files}});
        });
  });
}

}  // namespace baton::plugin
