#pragma once

// Carrying what a preserved commit cannot hold (ignored files and directories, untracked
// nested repositories, submodule working directories with their git dirs) from a retired
// tree, renamed aside, into the new tree: one rename(2) per entry, never a copy.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

// The list of entries to carry, written into the old tree before it is renamed aside (so a
// retried retire or a restarted daemon finds it there), read back by carry_entries and by
// delete_trash, which refuses to delete a tree that still holds one of them.
inline constexpr std::string_view kCarryManifestName = ".baton-carry";

enum class CarryKind { kIgnored, kNestedRepository, kSubmodule };

struct CarryEntry {
  CarryKind kind = CarryKind::kIgnored;
  std::string path;  // relative to the tree's root, no trailing '/'
};

// Writes the manifest into `tree` atomically (temp, fsync, rename). An empty list removes it.
Result<void> write_carry_manifest(const std::filesystem::path& tree,
                                  const std::vector<CarryEntry>& entries);

// The manifest of `tree`; no manifest: an empty list. A malformed one is an error naming it.
Result<std::vector<CarryEntry>> read_carry_manifest(const std::filesystem::path& tree);

// The entries of the manifest that are still in `tree` (not carried yet).
Result<std::vector<CarryEntry>> uncarried_entries(const std::filesystem::path& tree);

// "<common dir>/baton/modules/<session-id>": where a retired worktree's submodule git dirs
// (<common dir>/worktrees/<name>/modules, which the prune would delete) wait to be carried.
std::filesystem::path saved_modules_path(git_repository* repo, std::string_view session_id);

// Moves the worktree `worktree_name`'s submodule git dirs to saved_modules_path before its
// admin entry is pruned. Nothing there, or already saved: success.
Result<void> save_submodule_git_dirs(git_repository* repo, std::string_view worktree_name,
                                     std::string_view session_id);

// Deletes saved_modules_path(session_id) (after its tree was carried or deleted).
Result<void> delete_saved_modules(git_repository* repo, std::string_view session_id);

// "<project dir>/.kept-<session-id>": entries of a retired tree whose path the new tree holds
// already (say, a post_create command made its own node_modules/), kept whole with a manifest
// of them; `baton preserved ls` lists it, the user deletes it.
inline constexpr std::string_view kKeptDirPrefix = ".kept-";

struct CarryResult {
  std::vector<std::string> carried;  // paths moved into the new tree
  std::vector<std::string> kept;     // paths moved whole into the kept directory
  std::filesystem::path kept_dir;    // where `kept` went
  std::vector<std::string> failed;   // "path (why)": still in the old tree, which stays
};

// Moves every manifest entry of `old_tree` (retired session `old_session_id`) to the same
// path in `new_tree` (a worktree of `repo`) where that path is free: missing, an empty
// directory, the same symlink or the same small file, or a submodule checkout the prepare
// made (moved into the old tree, deleted with it). A submodule's git dir comes along into
// the new worktree's admin dir, its links rewritten. An entry whose path the new tree holds
// goes whole to the kept directory beside the old tree (`kept`). What cannot move at all
// stays in `old_tree` (`failed`); delete_trash then keeps the tree. Repeatable: carried
// entries are gone from the old tree.
Result<CarryResult> carry_entries(git_repository* repo, const std::filesystem::path& old_tree,
                                  std::string_view old_session_id,
                                  const std::filesystem::path& new_tree);

// What `baton down` does with a retired tree it starts no new tree for: every manifest entry
// still in `old_tree` goes whole to the kept directory beside it (`kept`), so deleting the
// tree loses nothing; a submodule's saved git dir stays where save_submodule_git_dirs put it
// (`has_submodules`: the caller must not delete it). What cannot move is `failed`.
struct KeepResult {
  CarryResult moved;
  bool has_submodules = false;
};
Result<KeepResult> keep_entries(const std::filesystem::path& old_tree,
                                std::string_view old_session_id);

struct KeptTree {
  std::string session;               // the retired session the entries came from
  std::filesystem::path path;        // <project dir>/.kept-<session>
  std::vector<std::string> entries;  // paths relative to it
};

// The kept directories of a project directory, sorted by session id.
std::vector<KeptTree> list_kept(const std::filesystem::path& project_dir);

}  // namespace baton::git
