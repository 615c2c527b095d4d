#pragma once

// Preserving a retiring session's uncommitted work as a commit pinned under refs/baton/.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <git2/types.h>

#include "git/carry.hpp"
#include "git/error.hpp"
#include "git/repository.hpp"

namespace baton::git {

inline constexpr std::string_view kPreservedRefPrefix = "refs/baton/preserved/";

// "refs/baton/preserved/<session-id>".
std::string preserved_ref_name(std::string_view session_id);

struct PreservedCommit {
  std::string ref;                 // refs/baton/preserved/<session-id>
  std::string oid;                 // the worktree commit (hex); parents: HEAD, the index commit
  std::string index_oid;           // the index commit (hex), parent HEAD; empty on an unborn HEAD
  std::size_t paths_changed = 0;   // paths whose content differs from HEAD
  std::vector<std::string> notes;  // what the user should know (mid-merge, skipped paths)
};

// Commits the worktree's index and its current tracked and untracked, non-ignored files
// (empty directories are ignored, as git does) as `git stash` does: an index commit on top of
// HEAD, and a worktree commit whose parents are HEAD and the index commit, pinned at
// refs/baton/preserved/<session_id>. A file staged and changed again keeps both versions. Nothing
// in the worktree changes: the tree is built in the worktree repository's in-memory index, which is
// never written back, and refs/stash (shared by every worktree) is not used. nullopt: nothing to
// preserve. A worktree in the middle of a merge, rebase, cherry-pick or revert is preserved as it
// is, with a note. The signature is the repository's identity, else "baton <baton@localhost>". When
// `carry` is given, the same scan lists what no commit can hold (ignored entries, an ignored
// directory as one entry; untracked nested repositories; initialized submodules): the entries
// carry_entries moves into the next tree.
//
// `limit`: the scan reads only the paths that can differ from what a full scan reported at a
// baseline (ScanLimit); without it, or when the index has conflicts, every file is read.
struct ScanLimit;
Result<std::optional<PreservedCommit>> preserve_uncommitted(
    git_repository* repo, const std::filesystem::path& worktree_path, std::string_view session_id,
    std::vector<CarryEntry>* carry = nullptr, const ScanLimit* limit = nullptr);

// What a full scan of a worktree reported, for a later scan limited to what changed since
// (docs/orchestrator.md, "The change record"): every path the scan preserve_uncommitted runs
// with `carry` reports (modified, deleted, untracked, ignored, a nested repository or an
// ignored directory as one path), and the tree of the index at the time.
struct ScanBaseline {
  std::string index_tree;          // hex; empty when the index had conflicts (no tree)
  std::vector<std::string> paths;  // relative, no trailing '/'
};
Result<ScanBaseline> scan_baseline(const std::filesystem::path& worktree_path);

// A baseline and the paths changed in the worktree since its scan began (files or whole
// directories, relative, none inside another): the limited scan reads those, the baseline's
// paths, and the paths whose index entry changed since.
struct ScanLimit {
  ScanBaseline baseline;
  std::vector<std::string> changed;
  // The worktree's index, read ahead (read_worktree_index); null: read now. Preserve stages
  // into it: it serves one scan.
  SharedIndex index;
};

// Whether `path` (relative to the worktree's root, no trailing '/') is ignored as a whole.
// For the change record: an ignored directory is never entered, by the scan or the watch.
Result<bool> is_ignored_path(git_repository* worktree_repo, const std::string& path);

}  // namespace baton::git
