#pragma once

// Preserving a retiring session's uncommitted work as a commit pinned under refs/baton/.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

inline constexpr std::string_view kPreservedRefPrefix = "refs/baton/preserved/";

// "refs/baton/preserved/<session-id>".
std::string preserved_ref_name(std::string_view session_id);

struct PreservedCommit {
  std::string ref;                 // refs/baton/preserved/<session-id>
  std::string oid;                 // the commit (hex); its parent is the worktree's HEAD
  std::size_t paths_changed = 0;   // paths whose content differs from HEAD
  std::vector<std::string> notes;  // what the user should know (mid-merge, skipped paths)
};

// Commits the worktree's current tracked and untracked, non-ignored files (empty
// directories are ignored, as git does) on top of its HEAD and pins the commit at
// refs/baton/preserved/<session_id>. Nothing in the worktree changes: the tree is built in
// the worktree repository's in-memory index, which is never written back, and refs/stash
// (shared by every worktree) is not used. nullopt: nothing to preserve. A worktree in the
// middle of a merge, rebase, cherry-pick or revert is preserved as it is, with a note.
// The signature is the repository's identity, else "baton <baton@localhost>".
Result<std::optional<PreservedCommit>> preserve_uncommitted(
    git_repository* repo, const std::filesystem::path& worktree_path, std::string_view session_id);

}  // namespace baton::git
