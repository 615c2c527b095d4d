#pragma once

// The paths that differ between two trees, at a cost that grows with the change and not with
// the trees: libgit2's git_diff_tree_to_tree reads every tree object of both sides even where
// they share a subtree (at 200,000 files it took most of the handoff's adopt step).

#include <string>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

// Every path (file, symlink or gitlink; never a directory) whose entry is added, removed or
// changed (id or mode) from `old_tree` to `new_tree`, in the trees' order. A subtree whose id
// is the same on both sides is skipped unread. Either tree may be null (the empty tree). A path
// that is a file on one side and a directory on the other is listed, and so is every file under
// the directory.
Result<std::vector<std::string>> tree_changes(git_repository* repo, const git_tree* old_tree,
                                              const git_tree* new_tree);

}  // namespace baton::git
