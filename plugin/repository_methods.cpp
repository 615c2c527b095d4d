// Methods about a project's repository: allow (trust the config's content), review (what an
// allow would trust, and whether it is allowed), config_check (the effective config, without
// registering anything) and preserved (see and reuse the work preserved from retired
// sessions). Their git and file work runs off the loop.
#include <filesystem>

#include "git/carry.hpp"
#include "git/preserved_refs.hpp"
#include "git/reapply.hpp"
#include "git/repository.hpp"
#include "plugin/config_render.hpp"
#include "plugin/control_methods.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"
#include "plugin/trust.hpp"
#include "plugin/worker_steps.hpp"
#include "runtime/search_path.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;
namespace proto = runtime::protocol;
using proto::Json;
using runtime::RequestPtr;

namespace {

struct Allowed {
  std::string error;
  std::vector<std::string> files;
};

// Off the loop: records the hash of the repository's config files as allowed. With
// `shown_hash` (the allow prompt's), only when the files still hash to it: what the user
// read is what gets allowed, not an edit made while the prompt waited.
Allowed allow_config(const std::string& state_dir, const std::string& root,
                     const std::string& shown_hash) {
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
  const std::string hash = repository_config_hash(root, *texts);
  if (!shown_hash.empty() && hash != shown_hash) {
    a.error = "the config of " + root + " changed since it was shown; nothing was allowed";
    return a;
  }
  if (auto r = allow(state_dir, root, hash); !r) a.error = r.error();
  return a;
}

void allow_method(Orchestrator& orch, const RequestPtr& req) {
  with_project(orch, req, true, [&orch, req](ProjectState& p) {
    run_off_loop<Allowed>(
        orch.loop(),
        [state_dir = orch.paths().state_dir, root = p.path, hash = string_param(req, "hash")] {
          return allow_config(state_dir, root, hash);
        },
        [&orch, req, root = p.path, id = p.id](Allowed a) {
          if (!a.error.empty()) return req->fail(wire_name(ErrorCode::kFailed), a.error);
          ProjectState* p = orch.find_project(id);
          if (!p) return req->reply(Json{{"path", root}, {"files", a.files}});
          // The config in force learns it is allowed now: hooks and relaunches check it.
          orch.reload_config(
              *p, p->env,
              [req, root, files = a.files](const tl::expected<ProjectConfig, std::string>&) {
                req->reply(Json{{"path", root}, {"files", files}});
              });
        });
  });
}

struct Checked {
  std::string error;
  bool is_repository = true;  // false: the error is that the path is in no repository
  bool is_project = true;     // false: a repository that cannot hold a project (no commits)
  std::string root;           // the main worktree's directory
  ProjectConfig cfg;
};

// Off the loop: the config of the repository at `path`, checked as `up` would.
Checked check_config(ConfigInputs in, const std::string& path) {
  Checked c;
  auto proj = git::open_project(path);
  if (!proj) {
    c.error = proj.error().message;
    c.is_repository = proj.error().code != git::kNotARepository;
    // A bare repository or one without commits: a repository that cannot hold a project.
    c.is_project = false;
    return c;
  }
  in.repo_root = proj->main_workdir.string();
  while (in.repo_root.size() > 1 && in.repo_root.back() == '/') in.repo_root.pop_back();
  c.root = in.repo_root;
  auto cfg = load_config(in);
  if (!cfg)
    c.error = cfg.error();
  else
    c.cfg = *cfg;
  return c;
}

// The config's inputs for a request: its "env" (the `baton` command's environment), with
// agents looked up on that environment's PATH.
ConfigInputs request_inputs(Orchestrator& orch, const RequestPtr& req) {
  ConfigInputs in;
  in.baton_home = orch.paths().home;
  in.environment = env_param(req);
  in.is_on_path = [search = runtime::search_path(in.environment)](const std::string& cmd) {
    return is_on_path(cmd, search);
  };
  return in;
}

void config_check(Orchestrator& orch, const RequestPtr& req) {
  const ConfigInputs in = request_inputs(orch, req);
  run_off_loop<Checked>(
      orch.loop(), [in, path = string_param(req, "path")] { return check_config(in, path); },
      [req](Checked c) {
        if (!c.error.empty()) return req->fail(wire_name(ErrorCode::kConfigError), c.error);
        req->reply(Json{{"text", render_effective(c.cfg)},
                        {"agent", c.cfg.agent},
                        {"agent_reason", c.cfg.agent_reason},
                        {"files", c.cfg.files}});
      });
}

struct Reviewed {
  Checked checked;
  bool is_allowed = false;
  std::string agent_command;  // what the configured agent runs (argv[0])
  bool is_agent_on_path = false;
};

// Off the loop: the config of the repository at `path` and its trust record.
Reviewed review_config(const ConfigInputs& in, const std::string& state_dir,
                       const std::string& path) {
  Reviewed r;
  r.checked = check_config(in, path);
  if (!r.checked.error.empty()) return r;
  const ProjectConfig& cfg = r.checked.cfg;
  r.is_allowed = !cfg.needs_trust() || is_allowed(state_dir, r.checked.root, cfg.content_hash);
  const auto agent = cfg.agents.find(cfg.agent);
  if (agent != cfg.agents.end() && !agent->second.command.empty()) {
    r.agent_command = agent->second.command[0];
    // The shell preset runs the user's shell, as the handoff's preflight looks it up.
    const std::string argv0 = r.agent_command == "$SHELL" ? "/bin/sh" : r.agent_command;
    r.is_agent_on_path = is_on_path(argv0, runtime::search_path(in.environment));
  }
  return r;
}

// `review {target | path, env}`: what the repository's config sets that waits for `baton
// allow` (each key with its value as the file writes it) and whether it is allowed, for the
// allow prompt of `up` and `replace`; and for `baton doctor`, the config's error as `config
// check` gives it, and the configured agent. Registers nothing: a registered project's id or
// session id names its repository, else an absolute path does.
void review(Orchestrator& orch, const RequestPtr& req) {
  std::string target = string_param(req, "target");
  if (target.empty()) target = string_param(req, "path");
  if (const ProjectState* p = orch.resolve_project(target)) target = p->path;
  if (target.empty() || target[0] != '/')
    return req->fail(proto::code::kNotFound, "no project at '" + target + "'");
  run_off_loop<Reviewed>(
      orch.loop(),
      [in = request_inputs(orch, req), state_dir = orch.paths().state_dir, target] {
        return review_config(in, state_dir, target);
      },
      [req](const Reviewed& r) {
        const Checked& c = r.checked;
        if (!c.is_repository) return req->fail(wire_name(ErrorCode::kNotARepository), c.error);
        if (!c.is_project) return req->fail(wire_name(ErrorCode::kFailed), c.error);
        if (!c.error.empty()) return req->fail(wire_name(ErrorCode::kConfigError), c.error);
        Json settings = Json::array();
        for (std::size_t i = 0; i < c.cfg.trust_keys.size(); ++i)
          settings.push_back(Json{
              {"key", c.cfg.trust_keys[i]},
              {"value", i < c.cfg.trust_values.size() ? c.cfg.trust_values[i] : std::string()}});
        req->reply(Json{{"path", c.root},
                        {"files", c.cfg.files},
                        {"trust_files", c.cfg.trust_files},
                        {"hash", c.cfg.content_hash},
                        {"needs_trust", c.cfg.needs_trust()},
                        {"allowed", r.is_allowed},
                        {"settings", settings},
                        {"agent", c.cfg.agent},
                        {"agent_reason", c.cfg.agent_reason},
                        {"agent_command", r.agent_command},
                        {"agent_on_path", r.is_agent_on_path}});
      });
}

// One `baton preserved` request, as the worker thread gets it.
struct PreservedAsk {
  std::string repo_path;
  std::string action;       // ls | show | apply | drop
  std::string id;           // the retired session, except for ls
  std::string worktree;     // the current orchestrator's, for apply
  std::string project_dir;  // <root>/<project>, for the kept entries; "" without a config
};

// clang-tidy 14 takes nlohmann's noexcept move for one that throws.
struct PreservedDone {  // NOLINT(bugprone-exception-escape)
  std::string error;
  Json result;
};

Json preserved_json(const git::PreservedInfo& i) {
  return Json{{"session", i.session},
              {"ref", i.ref},
              {"commit", i.oid},
              {"message", i.message},
              {"paths", i.paths}};
}

// Off the loop: what `baton preserved <action>` does in the repository.
PreservedDone run_preserved(const PreservedAsk& ask) {
  PreservedDone d;
  auto proj = git::open_project(ask.repo_path);
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
    items.push_back(preserved_json(i));
    if (i.session == ask.id) found = &i;
  }
  if (ask.action == "ls") {
    // What a replace could not carry into the new tree because it held its own.
    Json kept = Json::array();
    // A finished worker's are under workers/ (docs/workers.md).
    if (!ask.project_dir.empty()) {
      for (const auto& dir : {ask.project_dir, workers_dir(ask.project_dir)})
        for (const auto& k : git::list_kept(dir))
          kept.push_back(
              Json{{"session", k.session}, {"path", k.path.string()}, {"entries", k.entries}});
    }
    d.result = Json{{"preserved", items}, {"kept", kept}};
    return d;
  }
  if (!found) {
    d.error = "no preserved work for session '" + ask.id + "' (baton preserved ls)";
    return d;
  }
  if (ask.action == "show") {
    d.result = preserved_json(*found);
  } else if (ask.action == "apply") {
    auto r = git::reapply_preserved(proj->repo.get(), ask.worktree, found->oid);
    if (!r)
      d.error = r.error().message;
    else
      d.result = Json{{"applied", r->conflicts.empty()},
                      {"conflicts", r->conflicts},
                      {"worktree", ask.worktree}};
  } else if (auto r = git::drop_preserved(proj->repo.get(), ask.id); !r) {
    d.error = r.error().message;
  } else {
    d.result = Json{{"dropped", found->ref}};
  }
  return d;
}

void preserved(Orchestrator& orch, const RequestPtr& req) {
  with_project(orch, req, false, [&orch, req](ProjectState& p) {
    PreservedAsk ask;
    ask.repo_path = p.path;
    ask.action = string_param(req, "action");
    ask.id = string_param(req, "id");
    if (ask.action != "ls" && ask.action != "show" && ask.action != "apply" && ask.action != "drop")
      return req->fail(proto::code::kBadParams,
                       "preserved: action must be ls, show, apply or drop");
    if (ask.action != "ls" && ask.id.empty())
      return req->fail(proto::code::kBadParams,
                       "preserved " + ask.action + ": which session? (baton preserved ls)");
    const SessionRecord* current = newest_active(orch.project_sessions(p.id));
    ask.worktree = current ? current->worktree : "";
    if (ask.action == "apply" && ask.worktree.empty())
      return req->fail(wire_name(ErrorCode::kMissing),
                       p.id + " has no orchestrator to apply the work to");
    ask.project_dir = p.config ? p.config->workspace_root + "/" + p.id : "";
    run_off_loop<PreservedDone>(
        orch.loop(), [ask] { return run_preserved(ask); },
        [&orch, req, action = ask.action, id = ask.id](const PreservedDone& d) {
          if (!d.error.empty()) return req->fail(wire_name(ErrorCode::kFailed), d.error);
          // A dropped ref leaves no preserved commit for the record to name.
          if (SessionRecord* s = action == "drop" ? orch.session(id) : nullptr) {
            s->preserved_ref.clear();
            s->preserved_commit.clear();
            return orch.persist(
                [req, d](const tl::expected<void, std::string>&) { req->reply(d.result); });
          }
          req->reply(d.result);
        });
  });
}

}  // namespace

void register_repository_methods(Orchestrator& orch) {
  runtime::Daemon& d = orch.daemon();
  d.add_method("allow", [&orch](const RequestPtr& req) { allow_method(orch, req); });
  d.add_method("config_check", [&orch](const RequestPtr& req) { config_check(orch, req); });
  d.add_method("review", [&orch](const RequestPtr& req) { review(orch, req); });
  d.add_method("preserved", [&orch](const RequestPtr& req) { preserved(orch, req); });
}

}  // namespace baton::plugin
