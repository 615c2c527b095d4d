#pragma once

// A worker's own branch (docs/workers.md): made from a base revision when the worker is
// spawned, kept when it finishes, deleted only once it is merged.

#include <string>
#include <string_view>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

struct WorkerBranch {
  std::string name;  // short name
  std::string tip;   // commit id (hex)
  bool was_created = false;
};

// Creates `name` at `base` (a revision: branch, tag, commit id). A branch of that name that
// exists already is refused (kAlreadyExists, naming it) unless `reuse` is set: then it is
// taken as it is, never moved. A base that names no commit fails with GIT_ENOTFOUND naming it.
Result<WorkerBranch> create_worker_branch(git_repository* repo, std::string_view name,
                                          std::string_view base, bool reuse);

// The commit `revision` names (a branch, tag or commit id), as hex; GIT_ENOTFOUND naming it
// when it names none.
Result<std::string> resolve_commit(git_repository* repo, std::string_view revision);

struct BranchDeletion {
  bool was_deleted = false;
  std::string why_kept;  // when not deleted: one line saying why
};

// Deletes `branch` when its tip is reachable from `into` (merged there), or when it is gone
// already. Otherwise keeps it and says why: not merged (how many commits `into` lacks), or
// checked out somewhere.
Result<BranchDeletion> delete_branch_if_merged(git_repository* repo, std::string_view branch,
                                               std::string_view into);

// Commits on `branch` that `against` lacks (ahead) and commits on `against` that `branch`
// lacks (behind).
struct AheadBehind {
  std::size_t ahead = 0;
  std::size_t behind = 0;
};
Result<AheadBehind> ahead_behind(git_repository* repo, std::string_view branch,
                                 std::string_view against);

}  // namespace baton::git
