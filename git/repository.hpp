#pragma once

// Opening a project's repository.

#include <filesystem>
#include <memory>

#include "git/error.hpp"
#include "git/handles.hpp"

namespace baton::git {

struct Project {
  RepositoryPtr repo;                    // the main repository, never a linked worktree's
  std::filesystem::path main_workdir;    // the main worktree's directory
  std::filesystem::path common_dir;      // the shared git dir (<main>/.git)
  std::filesystem::path opened_workdir;  // the worktree that contains the path given
};

// Opens the repository containing `path` (searching upwards, like git). From inside a
// linked worktree it resolves to the main repository through the common dir. Errors:
// kNotARepository, kBareRepository, kNoCommits (no branch has a commit yet: baton never
// invents a first commit on the user's behalf; the message says what to run).
Result<Project> open_project(const std::filesystem::path& path);

// Opens exactly the worktree at `worktree_path` (no upward search), for the operations that
// work inside one worktree (adopt, preserve, re-apply).
Result<RepositoryPtr> open_worktree(const std::filesystem::path& worktree_path);

// The index of the worktree at `worktree_path`, read now by a background job, so a step of
// the handoff's gap need not read it (~90 ms at 200,000 files). Shared, never used by two
// threads at once: the job that read it hands it to the step.
using SharedIndex = std::shared_ptr<git_index>;
Result<SharedIndex> read_worktree_index(const std::filesystem::path& worktree_path);

// Makes `index` (read_worktree_index of the same worktree) the index of `worktree_repo`, read
// again first when its file changed since it was read (a commit, a checkout).
Result<void> use_index(git_repository* worktree_repo, git_index* index);

// libgit2 reports directories with a trailing '/'; baton compares paths without one.
std::filesystem::path directory_path(const char* libgit2_dir);

// The same file system object, or (when either is missing) the same normalised path.
bool is_same_path(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace baton::git
