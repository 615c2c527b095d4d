#pragma once

// Re-applying a preserved commit's changes in another worktree of the same branch.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

struct ReapplyResult {
  bool is_applied = false;             // false: conflicts, the worktree was not touched
  std::size_t files_written = 0;       // files written or removed in the worktree
  std::vector<std::string> conflicts;  // paths that conflicted (when not applied)
  std::vector<std::string> notes;      // what the user should know (a stage left unrestored)
};

// Three-way applies the preserved commit's changes (its parent → it) onto the worktree's
// HEAD, writing only the files they touch and leaving them uncommitted; the stage comes back
// from the preserved index commit (its second parent), so `git status` shows what it showed
// in the old tree: staged, unstaged and untracked apart. On conflict nothing is
// written and the conflicting paths are returned; the preserved ref is never touched, so
// nothing is lost. A modified file in the way is reported as a conflict too.
// `index`: the worktree's index read ahead (read_worktree_index), or null to read it now.
Result<ReapplyResult> reapply_preserved(git_repository* repo,
                                        const std::filesystem::path& worktree_path,
                                        std::string_view commit_oid, git_index* index = nullptr);

}  // namespace baton::git
