// The handoff's git and file work (DESIGN.md §5), one synchronous function per step. The loop
// side (plugin/handoff.cpp, plugin/down.cpp) runs each on libuv's thread pool; the in-process
// tests call them directly against real repositories. No libuv and no Orchestrator here:
// plain values in, an Expected whose error carries the code the command fails with.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "git/preserve.hpp"
#include "hooks/runner.hpp"
#include "plugin/config.hpp"
#include "plugin/error_code.hpp"

namespace baton::plugin {

// Where a project's trees live: <project dir>/orchestrator, .prepare-<id>, .trash-<id>.
std::string stable_path(const std::string& project_dir);
std::string prepared_path(const std::string& project_dir, const std::string& session_id);
std::string trash_path(const std::string& project_dir, const std::string& session_id);
// <project dir>/workers: the workers' trees (docs/workers.md), with their own .prepare-*,
// .trash-*, .kept-* and .standby, which no handoff's sweep of <project dir> sees.
inline constexpr std::string_view kWorkersDirName = "workers";
std::string workers_dir(const std::string& project_dir);

// n of "<project>-<n>"; 0 when the id has none.
unsigned number_suffix(const std::string& id);

// A fault point that fires on the worker thread in the middle of a step (plugin/fault.hpp);
// true: the step stops there and fails with ErrorCode::kFault. Tests pass none.
using FaultHit = std::function<bool(std::string_view point)>;

// ---- 1. preflight
struct Preflight {
  unsigned max_number = 0;   // the highest session number git and the directories know of
  std::string stable_owner;  // the session whose tree holds the stable path, if any
};
// Trust, the repository, the canonical branch (created when missing), the user's worktrees,
// the stable path, the inventory. Refuses (kNotAllowed, kBranchBusy, kInTheWay) before
// anything is retired; the only things it changes are the canonical branch, which it creates
// when missing, and a .prepare-* tree an unfinished handoff left, which it discards.
// `known_trees`: the worktrees the store's sessions of the project were given (an earlier
// workspace_root's among them); a baton worktree elsewhere is another baton's.
Expected<Preflight> check_preflight(const std::string& repo_path, const std::string& state_dir,
                                    const std::string& project_dir, const ProjectConfig& cfg,
                                    const std::vector<std::string>& known_trees = {});

// ---- 2. prepare
// Removes a tree prepared by an earlier, unfinished handoff: aside, prune, delete, and its
// temporary branch. Idempotent.
Expected<void> discard_prepared(const std::string& repo_path, const std::string& project_dir,
                                const std::string& session_id);
// The new worktree at .prepare-<id> on baton/tmp/<id>, its submodules as the user's checkout
// has them, and the configured symlinks into the main worktree. Returns notes (submodules
// left out); fails with kPrepareFailed, leaving no tree behind when a symlink failed.
Expected<std::vector<std::string>> prepare_tree(const std::string& repo_path,
                                                const std::string& project_dir,
                                                const std::string& session_id,
                                                const std::string& branch,
                                                const std::vector<std::string>& symlinks);

// prepare_tree's work at any path (the standby's .standby too), without the discard of a
// half-made tree, which is the caller's: it fails with kPrepareFailed leaving the tree, or
// kFailed when `is_cancelled` stopped the checkout, which left nothing.
Expected<std::vector<std::string>> prepare_tree_at(const std::string& repo_path,
                                                   const std::string& path,
                                                   const std::string& session_id,
                                                   const std::string& branch,
                                                   const std::vector<std::string>& symlinks,
                                                   const std::function<bool()>& is_cancelled = {});

// What every new tree of baton's gets once checked out (the orchestrator's, a worker's): its
// submodules as the user's checkout has them, and the configured symlinks into the main
// worktree. Returns notes (submodules left out); kPrepareFailed when a symlink failed.
Expected<std::vector<std::string>> fill_new_tree(git_repository* repo, const std::string& repo_path,
                                                 const std::string& tree,
                                                 const std::vector<std::string>& symlinks);

// ---- 3. retire
struct RetireTree {
  std::string repo_path;
  std::string worktree;  // where the session's tree was (the stable path)
  std::string trash;     // where it goes aside: .trash-<id>
  std::string session_id;
  bool has_preserved = false;  // an earlier try preserved its work already
  // Limits the scan for uncommitted work to what changed since the tree's full scan
  // (change_record.hpp), called off the loop after the stop; unset, or nullopt with the
  // reason: the whole tree is read.
  std::function<std::optional<git::ScanLimit>(std::string& why_not)> scan_limit;
};
// How the retire's scan for uncommitted work went: limited to the paths of the change
// record, or over the whole tree (and why).
struct PreserveScan {
  bool is_limited = false;
  std::size_t paths = 0;  // read by a limited scan
  std::string why_full;
};
struct RetiredTree {
  // The preserved work, reported even when a later step failed: recorded, a retry neither
  // preserves twice nor forgets to re-apply it.
  std::string ref;
  std::string commit;
  std::vector<std::string> notes;
  // When the preserve finished (the gap's preserve step ends there); unset when it did not.
  std::chrono::steady_clock::time_point preserved_at{};
  PreserveScan scan;
  // The change record the scan used (its index, its inotify instance), handed back so the
  // gap does not wait for them to be freed.
  std::shared_ptr<void> used;
  Expected<void> result;
};
// Preserves uncommitted work to refs/baton/preserved/<id> and writes the carry manifest into
// the tree, renames it aside, saves its submodules' git dirs and prunes its admin entry. A
// retry skips a tree already aside and never touches another session's tree at the path.
RetiredTree retire_tree(const RetireTree& in);
// After every retire: nobody holds the canonical branch (kBranchBusy names who does).
Expected<void> check_branch_free(const std::string& repo_path, const std::string& branch);

// ---- 4. adopt
struct AdoptTree {
  std::string repo_path;
  std::string prepared;       // .prepare-<id>
  std::string prepared_name;  // its worktree name
  std::string stable;
  std::string branch;
  std::string temp_branch;
  std::vector<std::string> commits;  // preserved work to re-apply, oldest retire first
  // The retired trees (trash path, session id) to carry ignored entries, nested
  // repositories and submodules out of.
  std::vector<std::pair<std::string, std::string>> retired_trees;
  git::SharedIndex index;  // the taken standby's index, read ahead; null: read when needed
};
// The prepared tree to the stable path, the canonical branch adopted, the preserved work
// re-applied, then every retired tree's manifest carried in by rename. Returns notes
// (conflicts, what was kept or not carried); fails with kAdoptFailed, or kFault at the
// adopt.moved/adopted/reapplied points.
Expected<std::vector<std::string>> adopt_tree(const AdoptTree& in, const FaultHit& fault_hit = {});

// ---- 5. launch
// The canonical branch is checked out at the stable path, and nowhere else (kVerifyFailed).
Expected<void> verify_branch(const std::string& repo_path, const std::string& branch,
                             const std::string& stable);

enum class TrashMode {
  kDelete,         // a handoff: the new tree carried what no commit holds
  kKeepUntracked,  // `baton down`: what no commit holds goes whole to .kept-<id> first
};
// Deletes the retired sessions' .trash-<id> trees (and their saved submodule git dirs), then
// sweeps what interrupted handoffs left. Returns the error of each tree that stays, by
// session id; a tree already gone is no error.
// `standby_ids`: the standby's reserved ids (standby_ids()), whose tree, admin entry and
// temporary branch the sweep leaves alone.
std::map<std::string, std::string> delete_trash(const std::string& repo_path,
                                                const std::string& project_dir,
                                                const std::vector<std::string>& session_ids,
                                                TrashMode mode,
                                                const std::vector<std::string>& standby_ids = {});

}  // namespace baton::plugin
