#include "git/preserved_refs.hpp"

#include <algorithm>

#include "git/branch.hpp"
#include "git/checked_out.hpp"
#include "git/handles.hpp"
#include "git/preserve.hpp"
#include "git/tree_changes.hpp"

namespace baton::git {

namespace {

std::vector<std::string> changed_paths(git_repository* repo, git_commit* commit) {
  std::vector<std::string> paths;
  git_tree* tree_raw = nullptr;
  if (git_commit_tree(&tree_raw, commit) != 0) return paths;
  TreePtr tree(tree_raw);
  TreePtr parent_tree;
  git_commit* parent_raw = nullptr;
  if (git_commit_parentcount(commit) > 0 && git_commit_parent(&parent_raw, commit, 0) == 0) {
    CommitPtr parent(parent_raw);
    git_tree* pt = nullptr;
    if (git_commit_tree(&pt, parent.get()) == 0) parent_tree.reset(pt);
  }
  auto changed = tree_changes(repo, parent_tree.get(), tree.get());
  if (!changed) {
    git_error_clear();
    return paths;
  }
  return std::move(*changed);
}

}  // namespace

Result<std::vector<PreservedInfo>> list_preserved(git_repository* repo) {
  std::vector<PreservedInfo> out;
  git_reference_iterator* it_raw = nullptr;
  const std::string glob = std::string(kPreservedRefPrefix) + "*";
  if (int rc = git_reference_iterator_glob_new(&it_raw, repo, glob.c_str()); rc != 0)
    return tl::make_unexpected(libgit2_error(rc, "list preserved work", glob));
  ReferenceIteratorPtr it(it_raw);
  git_reference* ref_raw = nullptr;
  while (git_reference_next(&ref_raw, it.get()) == 0) {
    ReferencePtr ref(ref_raw);
    PreservedInfo info;
    info.ref = git_reference_name(ref.get());
    info.session = info.ref.substr(kPreservedRefPrefix.size());
    const git_oid* oid = git_reference_target(ref.get());
    if (!oid) continue;
    info.oid = oid_hex(*oid);
    git_commit* commit_raw = nullptr;
    if (git_commit_lookup(&commit_raw, repo, oid) == 0) {
      CommitPtr commit(commit_raw);
      if (const char* summary = git_commit_summary(commit.get())) info.message = summary;
      info.paths = changed_paths(repo, commit.get());
    }
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(),
            [](const PreservedInfo& a, const PreservedInfo& b) { return a.session < b.session; });
  return out;
}

Result<void> drop_preserved(git_repository* repo, std::string_view session_id) {
  const std::string name = preserved_ref_name(session_id);
  // git_reference_remove answers 0 for a missing ref too: look it up first.
  git_reference* ref_raw = nullptr;
  if (int rc = git_reference_lookup(&ref_raw, repo, name.c_str()); rc != 0)
    return tl::make_unexpected(libgit2_error(rc, "drop preserved work", name));
  ReferencePtr ref(ref_raw);
  if (int rc = git_reference_delete(ref.get()); rc != 0)
    return tl::make_unexpected(libgit2_error(rc, "drop preserved work", name));
  return {};
}

Result<void> delete_temp_branch(git_repository* repo, std::string_view session_id) {
  const std::string branch = temp_branch_name(session_id);
  auto holder = who_has_branch_checked_out(repo, branch);
  if (!holder) return tl::make_unexpected(holder.error());
  if (*holder) return {};
  const std::string name = full_branch_ref(branch);
  int rc = git_reference_remove(repo, name.c_str());
  if (rc != 0 && rc != GIT_ENOTFOUND)
    return tl::make_unexpected(libgit2_error(rc, "delete temporary branch", name));
  return {};
}

}  // namespace baton::git
