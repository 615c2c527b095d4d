#include "plugin/control_methods.hpp"

#include "git/repository.hpp"
#include "plugin/fault.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"

namespace baton::plugin {

namespace proto = runtime::protocol;
using proto::Json;
using runtime::RequestPtr;

namespace {

// Test builds only (plugin/fault.hpp): a user's daemon answers it as an unknown method.
void fault_points(const RequestPtr& req) {
  Json list = Json::array();
  for (auto p : kFaultPoints) list.push_back(std::string(p));
  req->reply(Json{{"points", list}});
}

// `up` of a path nobody registered: its repository root, found off the loop.
struct FoundRoot {
  std::string error;
  std::string root;
};

FoundRoot find_root(const std::string& target) {
  FoundRoot f;
  auto proj = git::open_project(target);
  if (!proj)
    f.error = proj.error().message;
  else
    f.root = proj->main_workdir.string();
  while (f.root.size() > 1 && f.root.back() == '/') f.root.pop_back();
  return f;
}

// Registers the repository at `root` under the id its config gives.
void register_root(Orchestrator& orch, const RequestPtr& req, const std::string& root,
                   const std::function<void(ProjectState&)>& then) {
  ConfigInputs in;
  in.repo_root = root;
  in.baton_home = orch.paths().home;
  in.environment = env_param(req);
  in.is_on_path = [](const std::string&) { return false; };
  run_off_loop<tl::expected<ProjectConfig, std::string>>(
      orch.loop(), [in] { return load_config(in); },
      [&orch, req, then, root](tl::expected<ProjectConfig, std::string> cfg) {
        if (!cfg) return req->fail(wire_name(ErrorCode::kConfigError), cfg.error());
        if (ProjectState* other = orch.find_project(cfg->name); other && other->path != root) {
          return req->fail(wire_name(ErrorCode::kProjectExists),
                           "project id '" + cfg->name + "' is already used by " + other->path +
                               ": set [project] name in " + root + "/baton.toml");
        }
        then(orch.add_project(cfg->name, root));
      });
}

}  // namespace

void register_control_methods(Orchestrator& orch) {
  register_project_methods(orch);
  register_agent_methods(orch);
  register_repository_methods(orch);
  register_note_methods(orch);
  register_message_methods(orch);
  register_worker_methods(orch);
  orch.set_handoff_starter([&orch](ProjectState& p, const std::string& agent,
                                   const std::map<std::string, std::string>& env) {
    start_recovery_handoff(orch, p, agent, env);
  });
  if constexpr (kHasFaultPoints) {
    orch.daemon().add_method("fault_points", fault_points);
    // Test builds only: what waits on the loop, so a test sees a drain leave nothing behind.
    orch.daemon().add_method("debug_waits", [&orch](const RequestPtr& req) {
      req->reply(Json{{"activity_listeners", orch.activity_listener_count()},
                      {"worker_timers", orch.workers().pending_count()}});
    });
  }
}

std::string string_param(const RequestPtr& req, const char* name) {
  const auto& p = req->params();
  return p.contains(name) && p[name].is_string() ? p[name].get<std::string>() : std::string();
}

bool bool_param(const RequestPtr& req, const char* name) {
  const auto& p = req->params();
  return p.contains(name) && p[name].is_boolean() && p[name].get<bool>();
}

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

void with_project(Orchestrator& orch, const RequestPtr& req, bool may_register,
                  const std::function<void(ProjectState&)>& then) {
  std::string target = string_param(req, "target");
  if (target.empty()) target = string_param(req, "path");
  if (ProjectState* p = orch.resolve_project(target)) return then(*p);
  if (!may_register || target.empty() || target[0] != '/') {
    return req->fail(proto::code::kNotFound,
                     target.empty()
                         ? "no project given"
                         : "no project at '" + target + "': run 'baton up " + target + "' first");
  }
  run_off_loop<FoundRoot>(
      orch.loop(), [target] { return find_root(target); },
      [&orch, req, then](const FoundRoot& f) {
        if (!f.error.empty()) return req->fail(wire_name(ErrorCode::kNotARepository), f.error);
        if (ProjectState* p = orch.resolve_project(f.root)) return then(*p);
        // The project id comes from the config ([project] name) or the directory name.
        register_root(orch, req, f.root, then);
      });
}

}  // namespace baton::plugin
