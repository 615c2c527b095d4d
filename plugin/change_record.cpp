#include "plugin/change_record.hpp"

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "git/repository.hpp"
#include "plugin/health.hpp"
#include "plugin/orchestrator.hpp"

namespace baton::plugin {

namespace {

struct Recorded {
  git::ScanBaseline baseline;
  git::SharedIndex index;
};

// Off the loop: every directory of the tree watched (ignored ones skipped: git reports them
// whole and never reads inside), then the full scan the record starts from, then the index
// read ahead for the retire. nullopt when the record cannot be complete or the scan failed
// (the log says which).
std::optional<Recorded> record_tree(TreeChanges& changes, const std::string& worktree) {
  auto wt = git::open_worktree(worktree);
  if (!wt) {
    spdlog::warn("change record of {}: {}", worktree, wt.error().message);
    return std::nullopt;
  }
  git_repository* repo = wt->get();
  const bool is_complete = changes.watch_tree([repo](const std::string& rel) {
    auto ignored = git::is_ignored_path(repo, rel);
    return ignored && *ignored;
  });
  if (!is_complete) {
    spdlog::info(
        "change record of {}: not every directory could be watched (fs.inotify.max_user_watches); "
        "a replace scans the whole tree",
        worktree);
    return std::nullopt;
  }
  auto baseline = git::scan_baseline(worktree);
  if (!baseline) {
    spdlog::warn("change record of {}: {}", worktree, baseline.error().message);
    return std::nullopt;
  }
  Recorded out{std::move(*baseline), nullptr};
  if (auto index = git::read_worktree_index(worktree)) out.index = std::move(*index);
  return out;
}

}  // namespace

std::optional<git::ScanLimit> scan_limit(const ScanHint& hint, std::string& why_not) {
  if (!hint.changes || !hint.baseline) {
    why_not = "no change record";
    return std::nullopt;
  }
  auto changed = hint.changes->changed();
  if (!changed) {
    why_not = "the change record is incomplete";
    return std::nullopt;
  }
  return git::ScanLimit{*hint.baseline, std::move(*changed), hint.index};
}

ChangeRecords::ChangeRecords(Orchestrator& orch) : orch_(orch) {}

void ChangeRecords::refresh(const std::string& project) {
  ProjectState* p = orch_.find_project(project);
  if (!p || is_stopped_) return;
  if (p->handoff) return;
  const SessionRecord* active = newest_active(orch_.project_sessions(project));
  if (active == nullptr || active->worktree.empty()) return drop(project);
  auto it = records_.find(project);
  if (it != records_.end() && it->second.session == active->id) return;
  drop(project);
  auto changes = TreeChanges::open(active->worktree);
  if (!changes) {
    spdlog::info("change record of {}: no inotify instance ({}); a replace scans the whole tree",
                 active->worktree, std::strerror(errno));
    return;
  }
  Record& rec = records_[project];
  rec.session = active->id;
  rec.generation = next_generation_++;
  rec.reader = std::make_unique<TreeChangesReader>(orch_.loop(), changes);
  const std::string worktree = active->worktree;
  const std::uint64_t generation = rec.generation;
  rec.job = BackgroundJob::start<std::optional<Recorded>>(
      orch_.loop(), [changes, worktree] { return record_tree(*changes, worktree); },
      [this, project, generation](std::optional<Recorded> recorded) {
        auto it = records_.find(project);
        if (it == records_.end() || it->second.generation != generation) return;
        it->second.job.reset();
        if (!recorded) return drop(project);
        spdlog::info("change record of {} ready ({} paths from its full scan)", it->second.session,
                     recorded->baseline.paths.size());
        it->second.baseline =
            std::make_shared<const git::ScanBaseline>(std::move(recorded->baseline));
        it->second.index = std::move(recorded->index);
      });
}

std::optional<ScanHint> ChangeRecords::take(const std::string& project,
                                            const std::string& session) {
  auto it = records_.find(project);
  if (it == records_.end()) return std::nullopt;
  std::optional<ScanHint> hint;
  if (it->second.session == session && it->second.baseline)
    hint = ScanHint{it->second.reader->changes(), it->second.baseline, it->second.index};
  drop(project);
  return hint;
}

std::string_view ChangeRecords::state(const std::string& project) const {
  auto it = records_.find(project);
  if (it == records_.end()) return "off";
  return it->second.baseline ? "recording" : "scanning";
}

void ChangeRecords::drop(const std::string& project) {
  auto it = records_.find(project);
  if (it == records_.end()) return;
  // A running job is left to end on its own; its result is for a generation gone.
  if (it->second.job) it->second.job->abandon();
  records_.erase(it);
}

void ChangeRecords::stop() {
  is_stopped_ = true;
  while (!records_.empty()) drop(records_.begin()->first);
}

}  // namespace baton::plugin
