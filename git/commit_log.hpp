#pragma once

// The commits a branch gained since a given commit, and the paths one commit changed, for the
// handoff note: what the old orchestrator committed while it ran, and which files of its
// uncommitted work were preserved.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

struct LoggedCommit {
  std::string short_id;  // the first 12 hex digits
  std::string subject;   // the first line of the message
};

struct CommitLog {
  std::string tip;                  // the branch tip the walk started at (hex)
  std::vector<LoggedCommit> shown;  // newest first, at most the cap
  std::size_t more = 0;             // commits past the cap
};

// The first-parent commits of `branch` from its tip back to, not including, `since` (a commit
// id in hex), newest first: `git log --first-parent since..branch`. A `since` that is not an
// ancestor of the tip hides what it reaches, as git does (a rewritten branch lists its new
// commits). At most `cap` are kept; the rest are counted in `more`. Errors: the branch or
// `since` cannot be resolved (GIT_ENOTFOUND), a walk that libgit2 refuses.
Result<CommitLog> commits_since(git_repository* repo, std::string_view branch,
                                std::string_view since, std::size_t cap);

struct ChangedPaths {
  std::vector<std::string> shown;  // in path order, at most the cap
  std::size_t more = 0;            // paths past the cap
};

// The paths `commit` (hex) changes against its first parent (a preserved commit: the old tree's
// uncommitted work against the HEAD it was made on): added, modified, deleted, renamed (as
// their new path). At most `cap`; the rest are counted.
Result<ChangedPaths> changed_paths(git_repository* repo, std::string_view commit, std::size_t cap);

}  // namespace baton::git
