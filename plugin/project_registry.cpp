#include "plugin/project_registry.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/retirement.hpp"

namespace baton::plugin {

std::string_view standby_state_name(StandbyState state) {
  switch (state) {
    case StandbyState::kOff:
      return "off";
    case StandbyState::kPreparing:
      return "preparing";
    case StandbyState::kReady:
      return "ready";
    case StandbyState::kFailed:
      return "failed";
  }
  return "off";
}

namespace fs = std::filesystem;

namespace {

bool is_inside(const std::string& path, const std::string& dir) {
  if (dir.empty()) return false;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

}  // namespace

bool ProjectState::is_handing_off() const {
  return handoff && !handoff->has_replied();
}

ProjectRegistry::ProjectRegistry(uv_loop_t* loop, std::string state_dir)
    : loop_(loop), state_dir_(std::move(state_dir)) {}

void ProjectRegistry::persist(SavedFn then) {
  waiting_.push_back(std::move(then));
  needs_save_ = true;
  if (!is_saving_) start_persist();
}

void ProjectRegistry::start_persist() {
  is_saving_ = true;
  needs_save_ = false;
  in_flight_ = std::move(waiting_);
  waiting_.clear();
  auto snapshot = std::make_shared<StoreData>(store_);
  run_off_loop<tl::expected<void, std::string>>(
      loop_, [snapshot, dir = state_dir_] { return save_store(dir, *snapshot); },
      [this](tl::expected<void, std::string> r) {
        if (!r) spdlog::error("{}", r.error());
        auto fns = std::move(in_flight_);
        in_flight_.clear();
        is_saving_ = false;
        if (needs_save_) start_persist();
        for (auto& fn : fns) fn(r);
      });
}

ProjectState* ProjectRegistry::find(const std::string& id) {
  auto it = projects_.find(id);
  return it == projects_.end() ? nullptr : &it->second;
}

ProjectState& ProjectRegistry::add(const std::string& id, const std::string& path,
                                   const std::map<std::string, std::string>& env) {
  auto& p = projects_[id];
  if (p.id.empty()) p.env = env;
  p.id = id;
  p.path = path;
  auto& rec = store_.projects[id];
  rec.id = id;
  rec.path = path;
  return p;
}

SessionRecord* ProjectRegistry::resolve_worker(const std::string& target) {
  if (target.empty()) return nullptr;
  if (SessionRecord* s = session(target)) return s->role == SessionRole::kWorker ? s : nullptr;
  const auto slash = target.find('/');
  if (target[0] != '/' && slash != std::string::npos) {
    if (find(target.substr(0, slash)))
      return live_worker(target.substr(0, slash), target.substr(slash + 1));
    return nullptr;
  }
  std::error_code ec;
  const std::string path = fs::weakly_canonical(target, ec).string();
  if (ec || path.empty() || path[0] != '/') return nullptr;
  for (auto& [id, p] : projects_) {
    if (!p.config) continue;
    const std::string workers =
        fs::weakly_canonical(p.config->workspace_root + "/" + id + "/workers", ec).string();
    if (ec || !is_inside(path, workers) || path.size() <= workers.size()) continue;
    const std::string rest = path.substr(workers.size() + 1);
    return live_worker(id, rest.substr(0, rest.find('/')));
  }
  return nullptr;
}

ProjectState* ProjectRegistry::resolve(const std::string& target) {
  if (target.empty()) return nullptr;
  if (auto* p = find(target)) return p;
  if (auto it = store_.sessions.find(target); it != store_.sessions.end())
    return find(it->second.project);
  // PROJECT/NAME: a worker's project.
  if (const SessionRecord* w = target[0] == '/' ? nullptr : resolve_worker(target))
    return find(w->project);
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

std::vector<const SessionRecord*> ProjectRegistry::sessions_of(const std::string& project) const {
  std::vector<const SessionRecord*> out;
  for (const auto& [id, s] : store_.sessions) {
    if (s.project == project && s.role == SessionRole::kOrchestrator) out.push_back(&s);
  }
  return out;
}

std::vector<SessionRecord*> ProjectRegistry::workers_of(const std::string& project) {
  std::vector<SessionRecord*> out;
  for (auto& [id, s] : store_.sessions) {
    if (s.project == project && s.role == SessionRole::kWorker) out.push_back(&s);
  }
  return out;
}

SessionRecord* ProjectRegistry::live_worker(const std::string& project, const std::string& name) {
  for (SessionRecord* s : workers_of(project)) {
    if (s->name == name && s->state != SessionState::kRetired) return s;
  }
  return nullptr;
}

SessionRecord* ProjectRegistry::session(const std::string& id) {
  auto it = store_.sessions.find(id);
  return it == store_.sessions.end() ? nullptr : &it->second;
}

std::vector<std::string> ProjectRegistry::forget_old_retired(const std::string& project) {
  std::vector<std::string> ids;
  std::set<std::string> notes;
  // Per role: finished workers never push an orchestrator's record (and its note) out.
  for (const SessionRole role : {SessionRole::kOrchestrator, SessionRole::kWorker}) {
    std::vector<const SessionRecord*> retired;
    for (const auto& [id, s] : store_.sessions)
      if (s.project == project && s.role == role && s.state == SessionState::kRetired)
        retired.push_back(&s);
    if (retired.size() <= kRetiredKept) continue;
    std::sort(retired.begin(), retired.end(),
              [](const SessionRecord* a, const SessionRecord* b) { return is_newer(*a, *b); });
    for (std::size_t i = kRetiredKept; i < retired.size(); ++i) {
      ids.push_back(retired[i]->id);
      for (const std::string* n : {&retired[i]->handoff_note, &retired[i]->retired_note})
        if (!n->empty()) notes.insert(*n);
    }
  }
  if (ids.empty()) return {};
  for (const auto& id : ids) store_.sessions.erase(id);
  // A note the successor still starts with stays until that record goes too.
  for (const auto& [id, s] : store_.sessions) {
    notes.erase(s.handoff_note);
    notes.erase(s.retired_note);
  }
  return {notes.begin(), notes.end()};
}

}  // namespace baton::plugin
