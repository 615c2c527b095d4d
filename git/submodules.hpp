#pragma once

// Initializing a prepared worktree's submodules, offline, as the user's own checkout has them.

#include <filesystem>
#include <string>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

struct SubmoduleInit {
  std::vector<std::string> initialized;  // paths checked out
  std::vector<std::string> notes;        // what the user should know (one not initialized)
};

// For every submodule of the worktree at `worktree_path` (when it has a .gitmodules) that the
// main checkout has initialized (<common dir>/modules/<name> exists): makes its git dir in the
// worktree's admin dir (<admin>/modules/<name>, where `git submodule update` in a linked
// worktree puts it), copies the objects reachable from the recorded commit out of the main
// checkout's module git dir (a pack; no network, no URL), sets `origin` to that module's own
// origin and checks the recorded commit out, detached. One that is already initialized is left
// as it is; one the main checkout has not initialized is left out, with a note. Runs in the
// prepare, before any agent is stopped.
Result<SubmoduleInit> init_submodules(git_repository* repo,
                                      const std::filesystem::path& worktree_path);

}  // namespace baton::git
