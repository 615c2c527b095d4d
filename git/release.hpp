#pragma once

// Releasing a retired session's worktree in idempotent steps: rename aside and prune inside
// the handoff's gap (both O(1)), delete the trash after the new agent started.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

// Renames `worktree_path` to `trash_path` (rename(2): O(1), and it works even when a file
// inside is immutable). Already done (only the trash exists) or the directory deleted by
// hand (neither exists): success. Both exist: EEXIST naming both.
Result<void> release_rename_aside(const std::filesystem::path& worktree_path,
                                  const std::filesystem::path& trash_path);

struct PruneResult {
  bool was_pruned = false;  // false: there was no admin entry any more
  bool was_locked = false;  // the entry was locked (`git worktree lock`); pruned anyway
};

// Removes the admin entry <common dir>/worktrees/<name> (never the working tree: libgit2
// 1.5 removes the admin dir first, so a failure midway would lose track of the tree), then
// checks with baton's own check that `branch` (when not empty) is free, failing with
// kBranchCheckedOut and the holder's path otherwise. A missing entry is success. A locked
// entry is pruned too: baton owns it and the handoff has already retired its session.
Result<PruneResult> release_prune(git_repository* repo, std::string_view worktree_name,
                                  std::string_view branch);

// Deletes a trash tree (its last path component must start with ".trash-", so no other
// directory can be deleted by mistake), without following symlinks. It goes on past a
// failure and reports the first one, naming the file and the OS error (an immutable file
// gives EPERM). Missing: success, so calling it again after fixing the cause finishes it.
// A tree whose carry manifest lists entries still in it (not carried) is kept: kNotCarried,
// naming them.
Result<void> delete_trash(const std::filesystem::path& trash_path);

// Deletes the standby tree (its last path component must be ".standby"), as delete_trash
// does but with no manifest to check: nobody worked in it. Missing: success.
Result<void> delete_standby(const std::filesystem::path& standby_path);

}  // namespace baton::git
