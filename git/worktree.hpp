#pragma once

// baton's worktrees: prepare one before anything is stopped, move it to the stable path,
// adopt the canonical branch in it.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

inline constexpr std::string_view kPrepareDirPrefix = ".prepare-";
inline constexpr std::string_view kTrashDirPrefix = ".trash-";
inline constexpr std::string_view kStableDirName = "orchestrator";
// The next orchestrator's tree, prepared ahead of a replace (docs/orchestrator.md, standby).
inline constexpr std::string_view kStandbyDirName = ".standby";
inline constexpr std::string_view kWorktreeNamePrefix = "baton-";

// "baton-<session-id>": the admin name under <common dir>/worktrees (no '/': libgit2 uses
// it as a single directory name). It stays the same when the directory is moved.
std::string worktree_name(std::string_view session_id);

// Whose tree `tree` is, from its `.git` file ("gitdir: <common dir>/worktrees/<name>"): the
// admin name, and the session id when that name is one of baton's (worktree_name()'s
// inverse). Both empty when `tree` is no linked worktree (no `.git` file, a `.git`
// directory). Reads one line without libgit2, so a half-moved or broken tree still answers:
// "which session owns the stable path" for recovery and the handoff's preflight.
struct WorktreeOwner {
  std::string admin_name;
  std::string session_id;  // "" when the admin name is not baton's
};
WorktreeOwner worktree_owner(const std::filesystem::path& tree);

struct PreparedWorktree {
  std::string name;            // admin name
  std::filesystem::path path;  // <project dir>/.prepare-<session-id>
  std::string temp_branch;     // baton/tmp/<session-id>
  std::string tip;             // commit id the worktree was checked out at
};

// Make-before-break: adds a worktree at <project_dir>/.prepare-<session_id> on a temporary
// branch at the canonical branch's tip, while another worktree may still hold the canonical
// branch, and locks it ("baton orchestrator <session-id>"). The full checkout happens here,
// before any agent is stopped. On failure it removes
// what it made (admin entry, directory, temporary branch) and leaves what was there.
Result<PreparedWorktree> prepare_worktree(git_repository* repo,
                                          const std::filesystem::path& project_dir,
                                          std::string_view session_id, std::string_view canonical);

// prepare_worktree at `path` (the standby's .standby). `is_cancelled`, when given, is asked
// for every file while the checkout plans its writes; true there stops it with kCancelled,
// leaving nothing behind.
Result<PreparedWorktree> prepare_worktree_at(git_repository* repo,
                                             const std::filesystem::path& path,
                                             std::string_view session_id,
                                             std::string_view canonical,
                                             const std::function<bool()>& is_cancelled = {});

// A worktree at `path` with `branch` (which exists) checked out directly, no temporary
// branch: a worker's (docs/workers.md). Locked with `lock_reason`. Refuses a branch another
// worktree holds (kBranchCheckedOut, naming it) and anything in the way (kAlreadyExists). On
// failure it removes what it made; the branch stays.
Result<PreparedWorktree> prepare_worktree_on_branch(git_repository* repo,
                                                    const std::filesystem::path& path,
                                                    std::string_view session_id,
                                                    std::string_view branch,
                                                    std::string_view lock_reason);

// Locks worktree `name` with `reason` (a tree prepared for one purpose and taken for another:
// the next worker's tree becomes a worker). A no-op when it is locked with that reason.
Result<void> relock_worktree(git_repository* repo, std::string_view name, std::string_view reason);

// Moves worktree `name` to `new_path` (same file system) in O(1): rename(2) of the directory,
// then rewrite of its two links (<admin>/gitdir and <new_path>/.git), as `git worktree move`
// does. Idempotent: when the directory is already at `new_path` only the links are rewritten.
Result<void> move_worktree(git_repository* repo, std::string_view name,
                           const std::filesystem::path& new_path);

struct AdoptStats {
  std::size_t files_written = 0;  // files the checkout created or rewrote (notify UPDATED)
  std::size_t files_removed = 0;  // files it deleted
  bool tip_moved = false;         // the canonical branch moved since preparation
  std::string tip;                // the commit the worktree ends on
};

// Brings a prepared worktree, still on its temporary branch, to the canonical branch's tip:
// a tree-to-tree checkout (GIT_CHECKOUT_SAFE, baseline = the temporary branch's tip) that
// writes only the files that differ, then the temporary branch moved along. A no-op when the
// tips are equal (tip_moved false).
// `before_write`, when set, runs once the tips are known to differ, before the first file is
// written; its failure stops the follow with nothing written.
Result<AdoptStats> follow_branch(const std::filesystem::path& worktree_path,
                                 std::string_view canonical, std::string_view temp_branch,
                                 const std::function<Result<void>()>& before_write = {});

// Points the prepared worktree's HEAD at the canonical branch. If the branch moved since
// preparation (a late commit by the old orchestrator), first brings the worktree to the new
// tip with a tree-to-tree checkout (GIT_CHECKOUT_SAFE, baseline = the prepared tip) that
// writes only the files that differ. Refuses with kBranchCheckedOut when another worktree
// still holds the branch (baton's own check, not libgit2's). Deletes the temporary branch.
// Idempotent: a worktree whose HEAD is already the canonical branch is left as it is.
Result<AdoptStats> adopt_branch(git_repository* repo, const std::filesystem::path& worktree_path,
                                std::string_view canonical, std::string_view temp_branch);

}  // namespace baton::git
