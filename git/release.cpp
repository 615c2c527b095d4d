#include "git/release.hpp"

#include <ftw.h>

#include <unistd.h>
#include <cerrno>
#include <cstdio>

#include <fmt/format.h>
#include <git2.h>

#include "git/carry.hpp"
#include "git/checked_out.hpp"
#include "git/handles.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"

namespace baton::git {

namespace fs = std::filesystem;

static bool exists_no_follow(const fs::path& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found;
}

Result<void> release_rename_aside(const fs::path& worktree_path, const fs::path& trash_path) {
  bool is_worktree_there = exists_no_follow(worktree_path);
  bool is_trash_there = exists_no_follow(trash_path);
  if (!is_worktree_there) return {};  // done before, or deleted by hand
  if (is_trash_there) {
    return tl::unexpected(
        Error{EEXIST, fmt::format("rename {} aside to {}: {}", worktree_path.native(),
                                  trash_path.native(), "the trash path already exists")});
  }
  if (::rename(worktree_path.c_str(), trash_path.c_str()) != 0) {
    return tl::unexpected(os_error(errno, fmt::format("rename {} aside to", worktree_path.native()),
                                   trash_path.native()));
  }
  return {};
}

Result<PruneResult> release_prune(git_repository* repo, std::string_view worktree_name,
                                  std::string_view branch) {
  init_libgit2();
  PruneResult result;
  std::string name(worktree_name);
  fs::path admin = directory_path(git_repository_commondir(repo)) / "worktrees" / name;
  git_worktree* raw = nullptr;
  int rc = git_worktree_lookup(&raw, repo, name.c_str());
  if (rc == GIT_ENOTFOUND) {
    git_error_clear();
  } else if (rc < 0 && !exists_no_follow(admin)) {
    git_error_clear();
  } else if (rc < 0) {
    // An admin dir too damaged for libgit2 to read (say, its gitdir file is gone) still
    // claims nothing git can use; remove it directly.
    git_error_clear();
    std::error_code ec;
    fs::remove_all(admin, ec);
    if (ec)
      return tl::unexpected(os_error(ec.value(), "remove worktree admin dir", admin.native()));
    result.was_pruned = true;
  } else {
    WorktreePtr wt(raw);
    result.was_locked = git_worktree_is_locked(nullptr, wt.get()) > 0;
    // baton's own lock (prepare_worktree) comes off as part of the release; the prune below
    // would also take a lock it did not set, since the session is already retired.
    if (result.was_locked) git_worktree_unlock(wt.get());
    git_worktree_prune_options opts = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
    // Never GIT_WORKTREE_PRUNE_WORKING_TREE (DESIGN.md §8): the tree was renamed aside and
    // is deleted by delete_trash. VALID: if the rename-aside was skipped the entry still
    // looks valid; LOCKED: see the header.
    opts.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED;
    rc = git_worktree_prune(wt.get(), &opts);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "prune worktree", admin.native()));
    result.was_pruned = true;
  }

  if (!branch.empty()) {
    auto holder = who_has_branch_checked_out(repo, branch);
    if (!holder) return tl::unexpected(holder.error());
    if (*holder) {
      return tl::unexpected(
          Error{kBranchCheckedOut, fmt::format("release {}: branch {} is still checked out at {}",
                                               name, branch, (*holder)->native())});
    }
  }
  return result;
}

namespace {

// nftw has no payload argument; one deletion per thread at a time.
thread_local int t_first_errno = 0;
thread_local std::string t_first_path;

}  // namespace

static int delete_entry_cb(const char* path, const struct stat*, int type, struct FTW*) {
  int rc = type == FTW_DP || type == FTW_DNR ? ::rmdir(path) : ::unlink(path);
  if (rc != 0 && errno != ENOENT && t_first_errno == 0) {
    t_first_errno = errno;
    t_first_path = path;
  }
  return 0;  // go on: delete everything that can be deleted, report the first failure
}

// Everything under `tree`, depth first, symlinks not followed; the first failure is reported.
static Result<void> delete_tree(const fs::path& tree) {
  t_first_errno = 0;
  t_first_path.clear();
  if (::nftw(tree.c_str(), delete_entry_cb, 32, FTW_DEPTH | FTW_PHYS) != 0) {
    return tl::unexpected(os_error(errno, "walk", tree.native()));
  }
  if (t_first_errno != 0) {
    Error error = os_error(t_first_errno, "delete", t_first_path);
    if (t_first_errno == EPERM) error.message += " (an immutable file? see lsattr, chattr -i)";
    return tl::unexpected(std::move(error));
  }
  return {};
}

Result<void> delete_trash(const fs::path& trash_path) {
  std::string leaf = trash_path.filename().native();
  if (leaf.empty()) leaf = trash_path.parent_path().filename().native();
  if (!leaf.starts_with(kTrashDirPrefix)) {
    return tl::unexpected(Error{kNotBatonPath, fmt::format("delete trash {}: not a {}* directory",
                                                           trash_path.native(), kTrashDirPrefix)});
  }
  if (!exists_no_follow(trash_path)) return {};
  // Nothing is deleted that was not carried: what the new tree could not take stays here.
  auto left = uncarried_entries(trash_path);
  if (!left) return tl::unexpected(left.error());
  if (!left->empty()) {
    std::string paths;
    for (const auto& e : *left) paths += (paths.empty() ? "" : ", ") + e.path;
    return tl::unexpected(Error{
        kNotCarried, fmt::format("kept {}: it holds {}, which the new tree could not take; move "
                                 "them where you want them (or delete them), then run 'baton "
                                 "replace'",
                                 trash_path.native(), paths)});
  }
  return delete_tree(trash_path);
}

Result<void> delete_standby(const fs::path& standby_path) {
  if (standby_path.filename().native() != kStandbyDirName) {
    return tl::unexpected(
        Error{kNotBatonPath, fmt::format("delete standby {}: not a {} directory",
                                         standby_path.native(), kStandbyDirName)});
  }
  if (!exists_no_follow(standby_path)) return {};
  return delete_tree(standby_path);
}

}  // namespace baton::git
