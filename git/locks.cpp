#include "git/locks.hpp"

#include <fmt/format.h>

#include "git/checked_out.hpp"
#include "git/handles.hpp"
#include "git/repository.hpp"

namespace baton::git {

namespace fs = std::filesystem;

static Result<void> remove_lock(const fs::path& lock, std::vector<fs::path>& removed) {
  std::error_code ec;
  if (fs::remove(lock, ec)) {
    removed.push_back(lock);
    return {};
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return tl::unexpected(os_error(ec.value(), "remove stale lock", lock.native()));
  }
  return {};
}

static Result<void> clear_ref_locks(const fs::path& dir, std::vector<fs::path>& removed) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  fs::recursive_directory_iterator it(dir, ec);
  if (ec) return tl::unexpected(os_error(ec.value(), "list", dir.native()));
  for (const auto& entry : it) {
    if (entry.is_regular_file(ec) && entry.path().extension() == ".lock") {
      if (auto done = remove_lock(entry.path(), removed); !done) return done;
    }
  }
  return {};
}

Result<std::vector<fs::path>> clear_stale_locks(git_repository* repo,
                                                const std::vector<fs::path>& baton_worktree_paths) {
  init_libgit2();
  std::vector<fs::path> removed;
  fs::path common = directory_path(git_repository_commondir(repo));
  for (const char* dir : {"refs/baton", "refs/heads/baton"}) {
    if (auto done = clear_ref_locks(common / dir, removed); !done) {
      return tl::unexpected(done.error());
    }
  }
  if (baton_worktree_paths.empty()) return removed;

  auto heads = list_worktree_heads(repo);
  if (!heads) return tl::unexpected(heads.error());
  for (const auto& wanted : baton_worktree_paths) {
    for (const auto& head : *heads) {
      if (!is_same_path(head.path, wanted)) continue;
      if (head.is_main) {
        return tl::unexpected(
            Error{kNotBatonPath, fmt::format("clear stale locks in {}: the main worktree is the "
                                             "user's, not baton's",
                                             wanted.native())});
      }
      fs::path admin = common / "worktrees" / head.name;
      for (const char* lock : {"index.lock", "HEAD.lock"}) {
        if (auto done = remove_lock(admin / lock, removed); !done) {
          return tl::unexpected(done.error());
        }
      }
    }
  }
  return removed;
}

}  // namespace baton::git
