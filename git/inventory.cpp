#include "git/inventory.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <git2.h>

#include "git/branch.hpp"
#include "git/checked_out.hpp"
#include "git/handles.hpp"
#include "git/preserve.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"

namespace baton::git {

namespace fs = std::filesystem;

static bool is_under(const fs::path& path, const fs::path& dir) {
  auto rel = path.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

static Result<std::vector<std::string>> refs_matching(git_repository* repo, const char* glob) {
  std::vector<std::string> names;
  git_reference_iterator* raw = nullptr;
  int rc = git_reference_iterator_glob_new(&raw, repo, glob);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "list refs", glob));
  ReferenceIteratorPtr it(raw);
  const char* name = nullptr;
  while ((rc = git_reference_next_name(&name, it.get())) == 0) names.emplace_back(name);
  if (rc != GIT_ITEROVER) return tl::unexpected(libgit2_error(rc, "list refs", glob));
  std::sort(names.begin(), names.end());
  return names;
}

Result<Inventory> inventory(git_repository* repo, const fs::path& project_dir) {
  init_libgit2();
  Inventory found;
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(project_dir, ec);
  if (ec) dir = project_dir.lexically_normal();
  dir = directory_path(dir.c_str());

  auto heads = list_worktree_heads(repo);
  if (!heads) return tl::unexpected(heads.error());
  for (const auto& head : *heads) {
    if (head.is_main) continue;
    WorktreeEntry entry{head.name, head.path, head.head_ref, head.exists_on_disk, false, false};
    git_worktree* raw = nullptr;
    if (git_worktree_lookup(&raw, repo, head.name.c_str()) == 0) {
      WorktreePtr wt(raw);
      entry.is_locked = git_worktree_is_locked(nullptr, wt.get()) > 0;
      entry.is_prunable = git_worktree_validate(wt.get()) != 0 || !head.exists_on_disk;
    }
    git_error_clear();
    if (entry.is_prunable) found.stale_entries.push_back(entry);
    if (is_under(fs::weakly_canonical(head.path, ec), dir)) {
      found.worktrees.push_back(std::move(entry));
    }
  }

  if (fs::is_directory(dir, ec)) {
    for (const auto& child : fs::directory_iterator(dir, ec)) {
      std::string leaf = child.path().filename().native();
      if (leaf.starts_with(kPrepareDirPrefix)) {
        found.prepare_dirs.push_back({leaf.substr(kPrepareDirPrefix.size()), child.path()});
      } else if (leaf.starts_with(kTrashDirPrefix)) {
        found.trash_dirs.push_back({leaf.substr(kTrashDirPrefix.size()), child.path()});
      }
    }
    if (ec) return tl::unexpected(os_error(ec.value(), "list", dir.native()));
    auto by_path = [](const LeftoverDir& a, const LeftoverDir& b) { return a.path < b.path; };
    std::sort(found.prepare_dirs.begin(), found.prepare_dirs.end(), by_path);
    std::sort(found.trash_dirs.begin(), found.trash_dirs.end(), by_path);
  }

  std::string temp_glob = fmt::format("{}{}*", kHeadsPrefix, kTempBranchPrefix);
  auto temps = refs_matching(repo, temp_glob.c_str());
  if (!temps) return tl::unexpected(temps.error());
  for (auto& ref : *temps) found.temp_branches.push_back(ref.substr(kHeadsPrefix.size()));
  std::string preserved_glob = fmt::format("{}*", kPreservedRefPrefix);
  auto preserved = refs_matching(repo, preserved_glob.c_str());
  if (!preserved) return tl::unexpected(preserved.error());
  found.preserved_refs = std::move(*preserved);
  return found;
}

}  // namespace baton::git
