// The standby's git and file work (plugin/standby.hpp), one synchronous function per step,
// run off the loop (at idle priority where it is slow) like the handoff's steps
// (handoff_steps.hpp). No libuv here: plain values in, an Expected out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "git/inventory.hpp"
#include "plugin/error_code.hpp"

namespace baton::plugin {

// <project dir>/.standby
std::string standby_path(const std::string& project_dir);

// <project dir>/.standby-following: there while a follow writes the standby's files. A daemon
// killed then leaves a tree between two commits; with the marker there it is no valid
// standby (is_standby_of), so it is discarded and prepared again, never taken.
std::string following_marker_path(const std::string& project_dir);

// `standby = "auto"` keeps no standby for a checkout of more files than this: a second
// checkout of that size costs more disk and background time than a replace's wait saves.
inline constexpr std::size_t kStandbyMaxFiles = 1'000'000;
// ... nor when the disk would keep less than this free after the standby.
inline constexpr std::uint64_t kStandbyFreeReserve = std::uint64_t{1} << 30;

// Why the project's checkout gets no standby ("" when it does): under `auto`
// (`is_size_limited`), the files of the main worktree's index against kStandbyMaxFiles; under
// `auto` and `on` alike, the free space of the file system under `project_dir` against their
// bytes plus kStandbyFreeReserve, so no repository's baton.toml can make baton fill the disk.
std::string standby_unfit(const std::string& repo_path, const std::string& project_dir,
                          bool is_size_limited);

// The ids whose tree, admin entry and temporary branch are the standby's: the one the store
// records (when not empty) and the owner of the tree at .standby, if any.
std::vector<std::string> standby_ids(const std::string& project_dir,
                                     const std::string& recorded_id);
// Leaves out of `inv` what belongs to `ids`: neither a leftover to sweep nor one that makes
// start-up recovery run a handoff.
void remove_standby_pieces(git::Inventory& inv, const std::vector<std::string>& ids);

// Whether the tree at .standby is the worktree of session `id`.
bool is_standby_of(const std::string& project_dir, const std::string& id);

struct PreparedStandby {
  std::uint64_t bytes = 0;  // on disk
  std::vector<std::string> notes;
};
// The next orchestrator's tree at .standby, as prepare_tree makes .prepare-<id> (temporary
// branch, lock, submodules, symlinks). `is_cancelled` can stop the checkout before it
// writes. A failure or a cancel leaves no tree behind.
Expected<PreparedStandby> prepare_standby(const std::string& repo_path,
                                          const std::string& project_dir, const std::string& id,
                                          const std::string& branch,
                                          const std::vector<std::string>& symlinks,
                                          const std::function<bool()>& is_cancelled);

// Brings the standby to the canonical branch's tip, writing only the files that differ;
// true when it moved.
Expected<bool> follow_standby(const std::string& project_dir, const std::string& id,
                              const std::string& branch);

// Removes the standby of any of `ids`: their admin entries and temporary branches first, then
// the tree at .standby, so a kill midway leaves a tree whose .git still names its entry, or
// one that names nothing and is deleted next time. Idempotent.
Expected<void> discard_standby(const std::string& repo_path, const std::string& project_dir,
                               const std::vector<std::string>& ids);

// A handoff takes the standby: .standby becomes .prepare-<id> (a rename and two links), after
// which it is a prepared tree like any other. Idempotent; kPrepareFailed when .standby is not
// id's tree.
Expected<void> take_standby(const std::string& repo_path, const std::string& project_dir,
                            const std::string& id);

}  // namespace baton::plugin
