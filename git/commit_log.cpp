#include "git/commit_log.hpp"

#include <git2.h>

#include "git/branch.hpp"
#include "git/handles.hpp"
#include "git/tree_changes.hpp"

namespace baton::git {

namespace {

constexpr std::size_t kShortIdLength = 12;

std::string first_line(const char* message) {
  std::string_view text = message ? message : "";
  while (!text.empty() && (text.front() == '\n' || text.front() == '\r')) text.remove_prefix(1);
  std::string_view line = text.substr(0, text.find_first_of("\r\n"));
  return std::string(line);
}

}  // namespace

Result<CommitLog> commits_since(git_repository* repo, std::string_view branch,
                                std::string_view since, std::size_t cap) {
  auto tip = branch_tip(repo, branch);
  if (!tip) return tl::unexpected(tip.error());
  git_oid since_oid;
  const std::string since_hex(since);
  int rc = git_oid_fromstr(&since_oid, since_hex.c_str());
  if (rc < 0 || since_hex.size() != GIT_OID_HEXSZ)
    return tl::unexpected(
        Error{GIT_ENOTFOUND, "list commits since '" + since_hex + "': not a full commit id"});
  git_revwalk* raw = nullptr;
  rc = git_revwalk_new(&raw, repo);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "list commits of", branch));
  RevwalkPtr walk(raw);
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL);
  git_revwalk_simplify_first_parent(walk.get());
  rc = git_revwalk_push(walk.get(), &*tip);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "list commits of", branch));
  rc = git_revwalk_hide(walk.get(), &since_oid);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "list commits since", since_hex));

  CommitLog log;
  log.tip = oid_hex(*tip);
  git_oid oid;
  while ((rc = git_revwalk_next(&oid, walk.get())) == 0) {
    if (log.shown.size() == cap) {
      ++log.more;
      continue;
    }
    git_commit* c = nullptr;
    if (int lrc = git_commit_lookup(&c, repo, &oid); lrc < 0)
      return tl::unexpected(libgit2_error(lrc, "read commit", oid_hex(oid)));
    CommitPtr commit(c);
    log.shown.push_back(
        {oid_hex(oid).substr(0, kShortIdLength), first_line(git_commit_message(commit.get()))});
  }
  if (rc != GIT_ITEROVER) return tl::unexpected(libgit2_error(rc, "list commits of", branch));
  return log;
}

Result<ChangedPaths> changed_paths(git_repository* repo, std::string_view commit, std::size_t cap) {
  const std::string hex(commit);
  git_oid oid;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, hex.c_str()) < 0)
    return tl::unexpected(
        Error{GIT_ENOTFOUND, "list paths of '" + hex + "': not a full commit id"});
  git_commit* raw = nullptr;
  int rc = git_commit_lookup(&raw, repo, &oid);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read commit", hex));
  CommitPtr c(raw);
  git_tree* tree_raw = nullptr;
  rc = git_commit_tree(&tree_raw, c.get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read tree of", hex));
  TreePtr tree(tree_raw);
  TreePtr parent_tree;
  if (git_commit_parentcount(c.get()) > 0) {
    git_commit* parent_raw = nullptr;
    rc = git_commit_parent(&parent_raw, c.get(), 0);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "read parent of", hex));
    CommitPtr parent(parent_raw);
    git_tree* pt = nullptr;
    rc = git_commit_tree(&pt, parent.get());
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "read parent tree of", hex));
    parent_tree.reset(pt);
  }
  auto paths = tree_changes(repo, parent_tree.get(), tree.get());
  if (!paths) return tl::unexpected(paths.error());
  ChangedPaths out;
  for (auto& path : *paths) {
    if (out.shown.size() == cap)
      ++out.more;
    else
      out.shown.push_back(std::move(path));
  }
  return out;
}

}  // namespace baton::git
