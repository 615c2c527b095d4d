#include "git/worker_branch.hpp"

#include <fmt/format.h>
#include <git2.h>

#include "git/branch.hpp"
#include "git/checked_out.hpp"
#include "git/handles.hpp"
#include "git/repository.hpp"

namespace baton::git {

Result<WorkerBranch> create_worker_branch(git_repository* repo, std::string_view name,
                                          std::string_view base, bool reuse) {
  init_libgit2();
  if (auto valid = validate_branch_name(name); !valid) return tl::unexpected(valid.error());
  WorkerBranch branch{std::string(name), {}, false};
  if (auto tip = branch_tip(repo, name)) {
    if (!reuse)
      return tl::unexpected(
          Error{kAlreadyExists,
                fmt::format("branch {} exists already; finish or rename the worker that had it, or "
                            "take it as it is with --reuse-branch",
                            name)});
    branch.tip = oid_hex(*tip);
    return branch;
  } else if (tip.error().code != GIT_ENOTFOUND) {
    return tl::unexpected(tip.error());
  }
  const std::string spec(base);
  auto commit_id = resolve_commit(repo, spec);
  if (!commit_id) return tl::unexpected(commit_id.error());
  git_oid oid;
  git_oid_fromstr(&oid, commit_id->c_str());
  // force=0, not git_branch_create: no checked-out query (the libgit2 1.5 bug, DESIGN.md §8),
  // and a concurrent creator makes this fail instead of moving the branch.
  git_reference* created = nullptr;
  const std::string ref = full_branch_ref(name);
  const std::string message = fmt::format("baton: create worker branch from {}", spec);
  int rc = git_reference_create(&created, repo, ref.c_str(), &oid, 0, message.c_str());
  if (rc == GIT_EEXISTS)
    return tl::unexpected(Error{kAlreadyExists, fmt::format("branch {} exists already", name)});
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "create branch", ref));
  ReferencePtr owned(created);
  branch.tip = *commit_id;
  branch.was_created = true;
  return branch;
}

Result<std::string> resolve_commit(git_repository* repo, std::string_view revision) {
  init_libgit2();
  const std::string spec(revision);
  auto none = [&spec] {
    return tl::unexpected(
        Error{GIT_ENOTFOUND, fmt::format("base {} names no commit of this repository", spec)});
  };
  git_object* raw = nullptr;
  int rc = git_revparse_single(&raw, repo, spec.c_str());
  // Whatever libgit2 says (not found, invalid, ambiguous, a syntax it does not implement),
  // the revision names no commit baton can start from.
  if (rc < 0) return none();
  ObjectPtr object(raw);
  git_object* peeled = nullptr;
  rc = git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT);
  if (rc < 0) return none();
  ObjectPtr commit(peeled);
  return oid_hex(*git_object_id(commit.get()));
}

Result<BranchDeletion> delete_branch_if_merged(git_repository* repo, std::string_view branch,
                                               std::string_view into) {
  init_libgit2();
  BranchDeletion out;
  auto tip = branch_tip(repo, branch);
  if (!tip) {
    if (tip.error().code != GIT_ENOTFOUND) return tl::unexpected(tip.error());
    out.was_deleted = true;  // gone already
    return out;
  }
  auto target = branch_tip(repo, into);
  if (!target) return tl::unexpected(target.error());
  const bool is_merged =
      git_oid_equal(&*tip, &*target) || git_graph_descendant_of(repo, &*target, &*tip) == 1;
  if (!is_merged) {
    std::size_t ahead = 0;
    std::size_t behind = 0;
    git_graph_ahead_behind(&ahead, &behind, repo, &*tip, &*target);
    out.why_kept = fmt::format("branch {} kept: {} commit{} of it {} not merged into {}", branch,
                               ahead, ahead == 1 ? "" : "s", ahead == 1 ? "is" : "are", into);
    return out;
  }
  auto holder = who_has_branch_checked_out(repo, branch);
  if (!holder) return tl::unexpected(holder.error());
  if (*holder) {
    out.why_kept =
        fmt::format("branch {} kept: it is checked out at {}", branch, (*holder)->native());
    return out;
  }
  git_reference* raw = nullptr;
  const std::string ref = full_branch_ref(branch);
  int rc = git_reference_lookup(&raw, repo, ref.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up branch", ref));
  ReferencePtr owned(raw);
  rc = git_reference_delete(owned.get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "delete branch", ref));
  out.was_deleted = true;
  return out;
}

Result<AheadBehind> ahead_behind(git_repository* repo, std::string_view branch,
                                 std::string_view against) {
  init_libgit2();
  auto tip = branch_tip(repo, branch);
  if (!tip) return tl::unexpected(tip.error());
  auto other = branch_tip(repo, against);
  if (!other) return tl::unexpected(other.error());
  AheadBehind out;
  const int rc = git_graph_ahead_behind(&out.ahead, &out.behind, repo, &*tip, &*other);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "count commits of", branch));
  return out;
}

}  // namespace baton::git
