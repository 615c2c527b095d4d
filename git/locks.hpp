#pragma once

// Clearing the lock files a killed daemon can leave behind, in baton's own places only.

#include <filesystem>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

// Removes *.lock under refs/baton/ and refs/heads/baton/ in the common dir, and index.lock
// and HEAD.lock in the admin dirs of the given worktrees (baton's own; resolved through each
// worktree's recorded path, so a worktree whose directory is gone is covered too). The main
// worktree is refused with kNotBatonPath; a path that is no worktree (any more) is skipped: its
// locks may belong to the user's own git. Call only when nothing of baton's runs git in those
// worktrees (start-up recovery, after the agents that outlived the daemon were stopped). Returns
// the files removed.
Result<std::vector<std::filesystem::path>> clear_stale_locks(
    git_repository* repo, const std::vector<std::filesystem::path>& baton_worktree_paths);

}  // namespace baton::git
