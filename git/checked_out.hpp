#pragma once

// baton's own "which worktree has this branch checked out" check.
//
// libgit2 1.5's git_branch_is_checked_out answers wrongly: git_repository_foreach_worktree
// assigns `error = cb(...) != 0` (operator precedence), so callback results and failures
// collapse into 0/1 and a worktree that cannot be opened is silently skipped (DESIGN.md §8).
// git_worktree_add with opts.ref, git_repository_set_head and git_branch_delete call it
// internally, so baton never relies on those for this decision.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

struct WorktreeHead {
  std::string name;            // admin name under <common dir>/worktrees; empty for main
  std::filesystem::path path;  // working directory as recorded by git
  bool is_main = false;
  bool exists_on_disk = false;  // the working directory and its .git file are there
  std::string head_ref;         // HEAD's symbolic target ("refs/heads/x"); empty if detached
  std::string rebasing_ref;     // the branch a rebase in progress will return to, if any
};

// HEAD of the main worktree and of every linked worktree, read from the admin directory
// when the working directory is gone (git still counts such a worktree as holding its
// branch until it is pruned). Any unreadable entry is an error naming it, never skipped.
Result<std::vector<WorktreeHead>> list_worktree_heads(git_repository* repo);

// The worktree path holding `branch` (short name or refs/heads/...) as HEAD or as the
// target of a rebase in progress, or nullopt when the branch is free.
Result<std::optional<std::filesystem::path>> who_has_branch_checked_out(git_repository* repo,
                                                                        std::string_view branch);

}  // namespace baton::git
