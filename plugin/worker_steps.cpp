#include "plugin/worker_steps.hpp"

#include <algorithm>
#include <filesystem>

#include "git/branch.hpp"
#include "git/carry.hpp"
#include "git/checked_out.hpp"
#include "git/inventory.hpp"
#include "git/release.hpp"
#include "git/repository.hpp"
#include "git/worker_branch.hpp"
#include "git/worktree.hpp"
#include "plugin/standby_steps.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

namespace {

// The longest worker name: it is a directory name and a branch component.
constexpr std::size_t kMaxNameLength = 64;

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found && !ec;
}

// The worker numbers the workers directory holds: .prepare-<id>, .trash-<id>, .kept-<id>.
unsigned max_number_in_dir(const std::string& project, const std::string& dir) {
  unsigned n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    for (std::string_view prefix :
         {git::kPrepareDirPrefix, git::kTrashDirPrefix, git::kKeptDirPrefix}) {
      if (name.rfind(prefix, 0) == 0)
        n = std::max(n, worker_number(project, std::string_view(name).substr(prefix.size())));
    }
  }
  return n;
}

}  // namespace

std::string worker_path(const std::string& project_dir, const std::string& name) {
  return workers_dir(project_dir) + "/" + name;
}

std::string worker_id(const std::string& project, unsigned number) {
  return project + "-w" + std::to_string(number);
}

unsigned worker_number(const std::string& project, std::string_view id) {
  const std::string prefix = project + "-w";
  if (id.size() <= prefix.size() || id.substr(0, prefix.size()) != prefix) return 0;
  unsigned n = 0;
  for (char c : id.substr(prefix.size())) {
    if (c < '0' || c > '9' || n > 100000000) return 0;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n;
}

std::string worker_branch(const std::string& session_prefix, const std::string& name) {
  return "baton/" + session_prefix + "-" + name;
}

std::optional<std::string> worker_name_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxNameLength)
    return "is longer than " + std::to_string(kMaxNameLength) + " characters";
  for (char c : name) {
    const bool is_allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!is_allowed) return "must use only A-Z a-z 0-9 . _ -";
  }
  if (name.front() == '.' || name.front() == '-') return "must not start with '.' or '-'";
  if (name == "orchestrator") return "is the orchestrator's: its branch would be the canonical one";
  if (auto problem = git::branch_name_problem(name))
    return "cannot be part of a branch name: " + *problem;
  return std::nullopt;
}

Expected<SpawnCheck> check_spawn(const CheckSpawn& in) {
  auto proj = git::open_project(in.repo_path);
  if (!proj) return error(ErrorCode::kFailed, proj.error().message);
  git_repository* repo = proj->repo.get();
  auto canonical = git::ensure_canonical_branch(repo, in.canonical, in.canonical_base);
  if (!canonical) return error(ErrorCode::kFailed, canonical.error().message);
  SpawnCheck out;
  const std::string tree = worker_path(in.project_dir, in.name);
  if (exists(tree))
    return error(ErrorCode::kInTheWay,
                 tree + " is in the way: move it away, or finish the worker that has it");
  if (auto tip = git::branch_tip(repo, in.branch)) {
    if (!in.reuse_branch)
      return error(ErrorCode::kWorkerExists,
                   "branch " + in.branch +
                       " exists already: finish the worker that had it, choose another name, "
                       "or take the branch as it is with --reuse-branch");
    auto holder = git::who_has_branch_checked_out(repo, in.branch);
    if (!holder) return error(ErrorCode::kFailed, holder.error().message);
    if (*holder)
      return error(ErrorCode::kBranchBusy,
                   "branch " + in.branch + " is checked out at " + (*holder)->string());
    out.base_commit = git::oid_hex(*tip);
  } else if (tip.error().code != GIT_ENOTFOUND) {
    return error(ErrorCode::kFailed, tip.error().message);
  } else {
    auto base = git::resolve_commit(repo, in.base.empty() ? in.canonical : in.base);
    if (!base) return error(ErrorCode::kNotFound, base.error().message);
    out.base_commit = *base;
  }
  // Session numbers are never reused: the admin entries (of any BATON_HOME), the preserved
  // refs and the directories count as well as the store.
  if (auto heads = git::list_worktree_heads(repo)) {
    for (const auto& h : *heads) {
      if (h.name.rfind(git::kWorktreeNamePrefix, 0) == 0)
        out.max_number = std::max(out.max_number,
                                  worker_number(in.project, std::string_view(h.name).substr(
                                                                git::kWorktreeNamePrefix.size())));
    }
  }
  if (auto inv = git::inventory(repo, workers_dir(in.project_dir))) {
    for (const auto& ref : inv->preserved_refs)
      out.max_number =
          std::max(out.max_number, worker_number(in.project, fs::path(ref).filename().string()));
  }
  out.max_number =
      std::max(out.max_number, max_number_in_dir(in.project, workers_dir(in.project_dir)));
  return out;
}

namespace {

std::string lock_reason(const MakeWorker& in) {
  return "baton worker " + in.name + " " + in.id;
}

// The tree in place at workers/<name>: on the worker's branch (a taken standby was still on
// its temporary branch when a daemon was killed) and locked with the worker's reason.
Expected<void> settle_in_place(git_repository* repo, const MakeWorker& in,
                               const std::string& path) {
  if (auto a = git::adopt_branch(repo, path, in.branch, git::temp_branch_name(in.id)); !a)
    return error(ErrorCode::kPrepareFailed, a.error().message);
  if (auto l = git::relock_worktree(repo, git::worktree_name(in.id), lock_reason(in)); !l)
    return error(ErrorCode::kPrepareFailed, l.error().message);
  return {};
}

}  // namespace

Expected<MadeWorker> make_worker_tree(const MakeWorker& in) {
  const std::string dir = workers_dir(in.project_dir);
  const std::string path = worker_path(in.project_dir, in.name);
  if (exists(path) && git::worktree_owner(path).session_id != in.id)
    return error(ErrorCode::kInTheWay,
                 path + " is in the way: move it away, or finish the worker that has it");
  // A prepared tree an interrupted spawn left (the tree in place shares its admin entry, so
  // only when it is not in place yet).
  const bool is_standby = is_standby_of(dir, in.id);
  if (!exists(path) && !is_standby) {
    if (auto d = discard_prepared(in.repo_path, dir, in.id); !d)
      return tl::make_unexpected(d.error());
  }
  auto proj = git::open_project(in.repo_path);
  if (!proj) return error(ErrorCode::kPrepareFailed, proj.error().message);
  git_repository* repo = proj->repo.get();
  MadeWorker out;
  out.path = path;
  // The next worker's tree, prepared ahead under this id (docs/workers.md): brought to the
  // canonical tip, its branch made there, moved into place. No checkout of the whole tree.
  if (!exists(path) && is_standby) {
    if (auto f = follow_standby(dir, in.id, in.canonical); !f)
      return tl::make_unexpected(f.error());
    auto branch =
        git::create_worker_branch(repo, in.branch, git::temp_branch_name(in.id), in.reuse_branch);
    if (!branch)
      return error(branch.error().code == git::kAlreadyExists ? ErrorCode::kWorkerExists
                                                              : ErrorCode::kPrepareFailed,
                   branch.error().message);
    if (auto m = git::move_worktree(repo, git::worktree_name(in.id), path); !m)
      return error(ErrorCode::kPrepareFailed, m.error().message);
  }
  // Repeatable: a tree already moved into place by an interrupted spawn is taken as it is.
  if (exists(path)) {
    if (auto settled = settle_in_place(repo, in, path); !settled)
      return tl::make_unexpected(settled.error());
    auto tip = git::branch_tip(repo, in.branch);
    if (!tip) return error(ErrorCode::kPrepareFailed, tip.error().message);
    out.tip = git::oid_hex(*tip);
    return out;
  }
  auto branch = git::create_worker_branch(repo, in.branch, in.base.empty() ? in.canonical : in.base,
                                          in.reuse_branch);
  if (!branch) {
    const bool is_taken = branch.error().code == git::kAlreadyExists;
    return error(is_taken ? ErrorCode::kWorkerExists : ErrorCode::kPrepareFailed,
                 branch.error().message);
  }
  const std::string prepared = prepared_path(dir, in.id);
  auto tree = git::prepare_worktree_on_branch(repo, prepared, in.id, in.branch, lock_reason(in));
  if (!tree) {
    const bool is_busy = tree.error().code == git::kBranchCheckedOut;
    return error(is_busy ? ErrorCode::kBranchBusy : ErrorCode::kPrepareFailed,
                 tree.error().message);
  }
  out.tip = tree->tip;
  auto notes = fill_new_tree(repo, in.repo_path, prepared, in.symlinks);
  if (!notes) {
    discard_prepared(in.repo_path, dir, in.id);
    return tl::make_unexpected(notes.error());
  }
  out.notes = std::move(*notes);
  if (auto moved = git::move_worktree(repo, tree->name, path); !moved) {
    discard_prepared(in.repo_path, dir, in.id);
    return error(ErrorCode::kPrepareFailed, moved.error().message);
  }
  return out;
}

Expected<void> discard_worker_tree(const MakeWorker& in, const std::string& made_branch_at) {
  const std::string dir = workers_dir(in.project_dir);
  // A taken standby not yet moved into place.
  if (git::worktree_owner(standby_path(dir)).session_id == in.id) {
    if (auto d = discard_standby(in.repo_path, dir, {in.id}); !d)
      return tl::make_unexpected(d.error());
  }
  if (exists(prepared_path(dir, in.id))) {
    if (auto d = discard_prepared(in.repo_path, dir, in.id); !d)
      return tl::make_unexpected(d.error());
  }
  const std::string path = worker_path(in.project_dir, in.name);
  auto proj = git::open_project(in.repo_path);
  if (!proj) return error(ErrorCode::kFailed, proj.error().message);
  git_repository* repo = proj->repo.get();
  if (exists(path) && git::worktree_owner(path).session_id == in.id) {
    const std::string trash = trash_path(dir, in.id);
    if (auto a = git::release_rename_aside(path, trash); !a)
      return error(ErrorCode::kFailed, a.error().message);
    if (auto pr = git::release_prune(repo, git::worktree_name(in.id), "");
        !pr && pr.error().code != git::kWorktreeNotFound)
      return error(ErrorCode::kFailed, pr.error().message);
    if (auto d = git::delete_trash(trash); !d) return error(ErrorCode::kStuck, d.error().message);
  }
  if (!made_branch_at.empty()) {
    auto tip = git::branch_tip(repo, in.branch);
    if (tip && git::oid_hex(*tip) == made_branch_at) {
      if (auto d = git::delete_branch_if_merged(repo, in.branch, in.branch); !d)
        return error(ErrorCode::kFailed, d.error().message);
    }
  }
  return {};
}

FinishedWorker finish_worker_tree(const FinishWorker& in) {
  FinishedWorker out;
  const std::string dir = workers_dir(in.project_dir);
  // An interrupted spawn's prepared tree holds nothing of the agent's: it never ran there.
  // (Only when there is one: the discard prunes the admin entry, which the worker's tree
  // shares once moved into place.)
  if (exists(prepared_path(dir, in.id))) {
    if (auto d = discard_prepared(in.repo_path, dir, in.id); !d) {
      out.result = tl::make_unexpected(d.error());
      return out;
    }
  }
  const std::string trash = trash_path(dir, in.id);
  RetiredTree retired =
      retire_tree(RetireTree{in.repo_path, in.worktree, trash, in.id, in.has_preserved, {}});
  out.ref = retired.ref;
  out.commit = retired.commit;
  out.notes = retired.notes;
  if (!retired.result) {
    out.result = retired.result;
    return out;
  }
  auto proj = git::open_project(in.repo_path);
  if (!proj) {
    out.result = error(ErrorCode::kFailed, proj.error().message);
    return out;
  }
  if (exists(trash)) {
    // What no commit holds (ignored files, nested repositories, submodule work) is kept whole,
    // never deleted, as `down` keeps it.
    auto kept = git::keep_entries(trash, in.id);
    if (!kept) {
      out.result = error(ErrorCode::kStuck, kept.error().message);
      return out;
    }
    out.kept = kept->moved.kept;
    if (!out.kept.empty()) out.kept_dir = kept->moved.kept_dir.string();
    if (auto d = git::delete_trash(trash); !d) {
      out.result = error(ErrorCode::kStuck, d.error().message);
      return out;
    }
    if (!kept->has_submodules) {
      if (auto m = git::delete_saved_modules(proj->repo.get(), in.id); !m)
        out.notes.push_back(m.error().message);
    }
  }
  if (in.delete_branch) {
    auto deleted = git::delete_branch_if_merged(proj->repo.get(), in.branch, in.canonical);
    if (!deleted) {
      out.why_branch_kept = deleted.error().message;
    } else {
      out.is_branch_deleted = deleted->was_deleted;
      out.why_branch_kept = deleted->why_kept;
    }
  }
  return out;
}

}  // namespace baton::plugin
