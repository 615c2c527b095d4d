#pragma once

// Reading and dropping preserved work (refs/baton/preserved/*), for `baton preserved`.

#include <string>
#include <string_view>
#include <vector>

#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

struct PreservedInfo {
  std::string session;  // the part after refs/baton/preserved/
  std::string ref;
  std::string oid;
  std::string message;             // the commit's summary
  std::vector<std::string> paths;  // changed against its parent (the session's HEAD)
};

// Every preserved commit, sorted by session id.
Result<std::vector<PreservedInfo>> list_preserved(git_repository* repo);

// Deletes refs/baton/preserved/<session_id>; the commit becomes unreachable (git gc may
// remove it later). A missing ref is an error naming it: dropping is what the user asked.
Result<void> drop_preserved(git_repository* repo, std::string_view session_id);

// Deletes the temporary branch baton/tmp/<session_id> when nobody has it checked out.
// Missing: success.
Result<void> delete_temp_branch(git_repository* repo, std::string_view session_id);

}  // namespace baton::git
