#pragma once

// The canonical branch and the names baton builds refs and directories from.

#include <optional>
#include <string>
#include <string_view>

#include <git2/oid.h>
#include <git2/types.h>

#include "git/error.hpp"

namespace baton::git {

inline constexpr std::string_view kHeadsPrefix = "refs/heads/";
inline constexpr std::string_view kTempBranchPrefix = "baton/tmp/";

// Why git would refuse `name` as a branch (`git check-ref-format --branch`'s rules, then
// git_reference_name_is_valid on refs/heads/<name>), as the end of a sentence that names the
// value: "it contains '..'", "its component '.x' starts with '.'". nullopt when git takes it.
// A name that starts with refs/ is judged as a short name like any other (it may be a base
// revision); validate_branch_name refuses it.
std::optional<std::string> branch_name_problem(std::string_view name);

// A short branch name ("baton/shop-orchestrator") that git would accept for a branch and
// that is not given as a full ref (refs/heads/...): kInvalidName otherwise, naming the value
// and branch_name_problem's reason.
Result<void> validate_branch_name(std::string_view name);

// A session id ("shop-3") goes into ref names, directory names and worktree admin names,
// so it may hold only [A-Za-z0-9._-], must not start with '.' or '-', and must not be empty.
Result<void> validate_session_id(std::string_view session_id);

// "refs/heads/<name>" for a short name; a full "refs/..." name is returned as it is.
std::string full_branch_ref(std::string_view name);

// "baton/tmp/<session-id>": the branch a prepared worktree is added on.
std::string temp_branch_name(std::string_view session_id);

struct CanonicalBranch {
  std::string name;  // short name
  std::string ref;   // refs/heads/<name>
  std::string tip;   // commit id (hex)
  bool was_created;  // false when it already existed (it is never moved)
};

// Creates the canonical branch at `base` (a revision: branch, tag, commit id; empty means
// the main worktree's HEAD) when it is missing. An existing branch is returned untouched:
// baton never moves or deletes it, so commits carry over from one orchestrator to the next.
Result<CanonicalBranch> ensure_canonical_branch(git_repository* repo, std::string_view name,
                                                std::string_view base);

// The commit a branch points at; Error::code is GIT_ENOTFOUND when the branch is missing.
Result<git_oid> branch_tip(git_repository* repo, std::string_view branch);

std::string oid_hex(const git_oid& oid);

}  // namespace baton::git
