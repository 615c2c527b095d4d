#include "plugin/cleanup_retry.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <vector>

#include <spdlog/spdlog.h>

#include "git/carry.hpp"
#include "git/release.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"
#include "plugin/off_loop.hpp"
#include "runtime/iso_time.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

namespace {

// A stuck cleanup: a retiring session whose last attempt failed (health `stuck`).
std::vector<std::string> stuck_sessions(const std::vector<const SessionRecord*>& sessions) {
  std::vector<std::string> ids;
  for (const auto* s : sessions)
    if (s->state == SessionState::kRetiring && !s->last_error.empty()) ids.push_back(s->id);
  return ids;
}

struct Cleaned {
  std::map<std::string, std::string> errors;  // by session id
  std::vector<std::string> finished;
};

// Off the loop: deletes the trees aside of `ids`.
Cleaned delete_stuck_trees(const std::vector<std::string>& ids, const std::string& project_dir,
                           const std::string& repo_path) {
  Cleaned c;
  auto proj = git::open_project(repo_path);
  for (const auto& id : ids) {
    const std::string trash = project_dir + "/" + std::string(git::kTrashDirPrefix) + id;
    std::error_code ec;
    // Only a tree already aside is a cleanup; a retire that failed earlier (its tree still in
    // place) is finished by the next `replace`.
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
}

}  // namespace

CleanupRetry::CleanupRetry(uv_loop_t* loop, ProjectRegistry& registry, runtime::Daemon& daemon)
    : loop_(loop), registry_(registry), daemon_(daemon) {}

void CleanupRetry::retry(const std::string& project, const std::function<void()>& then) {
  auto done = [then] {
    if (then) then();
  };
  ProjectState* p = registry_.find(project);
  if (!p || !p->config || p->handoff || p->is_recovering || p->is_cleaning || is_stopped_)
    return done();
  const auto ids = stuck_sessions(registry_.sessions_of(project));
  if (ids.empty()) {
    p->cleanup_attempts = 0;
    return done();
  }
  p->is_cleaning = true;
  const std::string project_dir = p->config->workspace_root + "/" + project;
  run_off_loop<Cleaned>(
      loop_,
      [ids, project_dir, repo_path = p->path] {
        return delete_stuck_trees(ids, project_dir, repo_path);
      },
      [this, project, done](const Cleaned& c) {
        ProjectState* p = registry_.find(project);
        if (!p) return done();
        p->is_cleaning = false;
        if (!p->handoff) {
          for (const auto& id : c.finished) {
            SessionRecord* rec = registry_.session(id);
            if (!rec || rec->state != SessionState::kRetiring) continue;
            rec->state = SessionState::kRetired;
            rec->last_error.clear();
            rec->updated_at = runtime::iso8601_now();
            runtime::Session* old = daemon_.find_session_exact(id);
            if (old && !old->is_running()) daemon_.remove_session(id);
            spdlog::info("cleanup of {} finished", id);
          }
          for (const auto& [id, error] : c.errors) {
            SessionRecord* rec = registry_.session(id);
            if (rec && rec->state == SessionState::kRetiring) rec->last_error = error;
          }
          if (!c.finished.empty() || !c.errors.empty())
            registry_.persist([](const tl::expected<void, std::string>&) {});
        }
        if (c.errors.empty()) p->cleanup_attempts = 0;
        schedule(project);
        done();
      });
}

void CleanupRetry::schedule(const std::string& project) {
  ProjectState* p = registry_.find(project);
  if (!p || is_stopped_ || p->cleanup_timer) return;
  if (stuck_sessions(registry_.sessions_of(project)).empty()) {
    p->cleanup_attempts = 0;
    return;
  }
  const std::uint64_t delay_ms =
      std::min<std::uint64_t>(1000ull << std::min(p->cleanup_attempts, 16u), kMaxDelayMs);
  ++p->cleanup_attempts;
  p->cleanup_timer = runtime::make_owned<runtime::Timer>(loop_);
  p->cleanup_timer->start(delay_ms, [this, project] {
    if (ProjectState* p = registry_.find(project); p && p->cleanup_timer) {
      p->cleanup_timer.reset();
    }
    retry(project);
  });
}

void CleanupRetry::stop() {
  is_stopped_ = true;
  for (auto& [id, p] : registry_.projects()) {
    p.cleanup_timer.reset();
  }
}

}  // namespace baton::plugin
