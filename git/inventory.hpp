#pragma once

// What baton left in a project: the input of start-up reconciliation.

#include <filesystem>
#include <string>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

struct WorktreeEntry {
  std::string name;            // admin name under <common dir>/worktrees
  std::filesystem::path path;  // recorded working directory
  std::string head_ref;        // HEAD's branch (refs/heads/...), empty when detached
  bool exists_on_disk = false;
  bool is_prunable = false;  // its working directory (or .git file) is gone
  bool is_locked = false;
};

struct LeftoverDir {
  std::string session_id;  // the part after ".prepare-" / ".trash-"
  std::filesystem::path path;
};

struct Inventory {
  std::vector<WorktreeEntry> worktrees;      // linked worktrees under the project dir
  std::vector<WorktreeEntry> stale_entries;  // any admin entry whose tree is gone
  std::vector<LeftoverDir> prepare_dirs;     // <project dir>/.prepare-*
  std::vector<LeftoverDir> trash_dirs;       // <project dir>/.trash-*
  std::vector<std::string> temp_branches;    // baton/tmp/* (short names)
  std::vector<std::string> preserved_refs;   // refs/baton/preserved/*
};

// Lists baton's worktrees for the project (those under `project_dir`, i.e.
// <workspace root>/<project>), the stale admin entries of the whole repository, the
// .prepare-*/.trash-* directories, the temporary branches and the preserved refs. Reads
// only; a missing project dir is an empty inventory.
Result<Inventory> inventory(git_repository* repo, const std::filesystem::path& project_dir);

}  // namespace baton::git
