#include "plugin/standby_steps.hpp"

#include <ftw.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>
#include <git2.h>

#include "git/branch.hpp"
#include "git/handles.hpp"
#include "git/preserved_refs.hpp"
#include "git/release.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"
#include "plugin/atomic_file.hpp"
#include "plugin/handoff_steps.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

namespace {

// nftw has no payload argument; one walk per thread at a time.
thread_local std::uint64_t t_bytes = 0;

int add_size_cb(const char*, const struct stat* st, int, struct FTW*) {
  if (st) t_bytes += static_cast<std::uint64_t>(st->st_blocks) * 512;
  return 0;
}

std::uint64_t disk_usage(const std::string& tree) {
  t_bytes = 0;
  ::nftw(tree.c_str(), add_size_cb, 32, FTW_PHYS);
  return t_bytes;
}

// The nearest directory of `path` that exists, for statvfs before the project dir is made.
fs::path existing_ancestor(fs::path path) {
  std::error_code ec;
  while (!path.empty() && !fs::exists(path, ec)) path = path.parent_path();
  return path.empty() ? fs::path("/") : path;
}

std::string size_text(std::uint64_t bytes) {
  constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
  return fmt::format("{} MiB", bytes / kMiB);
}

std::string discard_in(git_repository* repo, const std::string& project_dir,
                       const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (auto r = git::release_prune(repo, git::worktree_name(id), "");
        !r && r.error().code != git::kWorktreeNotFound)
      return r.error().message;
    if (auto r = git::delete_temp_branch(repo, id); !r) return r.error().message;
  }
  if (auto d = git::delete_standby(standby_path(project_dir)); !d) return d.error().message;
  return {};
}

}  // namespace

std::string standby_path(const std::string& project_dir) {
  return project_dir + "/" + std::string(git::kStandbyDirName);
}

std::string standby_unfit(const std::string& repo_path, const std::string& project_dir,
                          bool is_size_limited) {
  auto proj = git::open_project(repo_path);
  if (!proj) return proj.error().message;
  git_index* raw = nullptr;
  if (git_repository_index(&raw, proj->repo.get()) < 0) return "cannot read the index";
  git::IndexPtr index(raw);
  const std::size_t files = git_index_entrycount(index.get());
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < files; ++i) bytes += git_index_get_byindex(index.get(), i)->file_size;
  if (is_size_limited && files > kStandbyMaxFiles)
    return fmt::format("the checkout has {} files, more than {} (standby = \"auto\")", files,
                       kStandbyMaxFiles);
  struct statvfs vfs {};
  const fs::path where = existing_ancestor(project_dir);
  if (::statvfs(where.c_str(), &vfs) != 0) return {};
  const std::uint64_t free_bytes = std::uint64_t{vfs.f_bavail} * vfs.f_frsize;
  if (free_bytes < bytes + kStandbyFreeReserve)
    return fmt::format("{} has {} free, short of the checkout's {} and {} to spare", where.string(),
                       size_text(free_bytes), size_text(bytes), size_text(kStandbyFreeReserve));
  return {};
}

std::vector<std::string> standby_ids(const std::string& project_dir,
                                     const std::string& recorded_id) {
  std::vector<std::string> ids;
  if (!recorded_id.empty()) ids.push_back(recorded_id);
  const std::string owner = git::worktree_owner(standby_path(project_dir)).session_id;
  if (!owner.empty() && owner != recorded_id) ids.push_back(owner);
  return ids;
}

void remove_standby_pieces(git::Inventory& inv, const std::vector<std::string>& ids) {
  auto is_standbys = [&ids](const std::string& id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  std::erase_if(inv.temp_branches, [&](const std::string& b) {
    return is_standbys(b.substr(git::kTempBranchPrefix.size()));
  });
  std::erase_if(inv.stale_entries, [&](const git::WorktreeEntry& e) {
    return std::any_of(ids.begin(), ids.end(),
                       [&e](const std::string& id) { return e.name == git::worktree_name(id); });
  });
}

std::string following_marker_path(const std::string& project_dir) {
  return project_dir + "/.standby-following";
}

bool is_standby_of(const std::string& project_dir, const std::string& id) {
  std::error_code ec;
  return !id.empty() && git::worktree_owner(standby_path(project_dir)).session_id == id &&
         !std::filesystem::exists(following_marker_path(project_dir), ec);
}

Expected<PreparedStandby> prepare_standby(const std::string& repo_path,
                                          const std::string& project_dir, const std::string& id,
                                          const std::string& branch,
                                          const std::vector<std::string>& symlinks,
                                          const std::function<bool()>& is_cancelled) {
  const std::string path = standby_path(project_dir);
  auto notes = prepare_tree_at(repo_path, path, id, branch, symlinks, is_cancelled);
  if (!notes) {
    if (notes.error().code == ErrorCode::kPrepareFailed)
      (void)discard_standby(repo_path, project_dir, {id});
    return tl::make_unexpected(notes.error());
  }
  PreparedStandby out;
  out.notes = std::move(*notes);
  out.bytes = disk_usage(path);
  return out;
}

Expected<bool> follow_standby(const std::string& project_dir, const std::string& id,
                              const std::string& branch) {
  const std::string marker = following_marker_path(project_dir);
  // Written (and fsynced) before the first file changes, removed once the temporary branch
  // names the new tip: a failed follow keeps it, and the standby is made again.
  auto mark = [&marker, &id]() -> git::Result<void> {
    if (auto w = write_file_atomic(marker, id + "\n"); !w)
      return tl::unexpected(git::Error{git::kIoError, w.error()});
    return {};
  };
  auto followed =
      git::follow_branch(standby_path(project_dir), branch, git::temp_branch_name(id), mark);
  if (!followed) return error(ErrorCode::kFailed, followed.error().message);
  if (followed->tip_moved) {
    std::error_code ec;
    std::filesystem::remove(marker, ec);
    if (ec) return error(ErrorCode::kFailed, "cannot remove " + marker + ": " + ec.message());
  }
  return followed->tip_moved;
}

Expected<void> discard_standby(const std::string& repo_path, const std::string& project_dir,
                               const std::vector<std::string>& ids) {
  auto proj = git::open_project(repo_path);
  if (!proj) return error(ErrorCode::kFailed, proj.error().message);
  if (auto e = discard_in(proj->repo.get(), project_dir, ids); !e.empty())
    return error(ErrorCode::kFailed, e);
  std::error_code ec;
  std::filesystem::remove(following_marker_path(project_dir), ec);
  if (ec)
    return error(ErrorCode::kFailed,
                 "cannot remove " + following_marker_path(project_dir) + ": " + ec.message());
  return {};
}

Expected<void> take_standby(const std::string& repo_path, const std::string& project_dir,
                            const std::string& id) {
  const std::string prepared = prepared_path(project_dir, id);
  if (!is_standby_of(project_dir, id) && git::worktree_owner(prepared).session_id != id)
    return error(ErrorCode::kPrepareFailed,
                 "the standby at " + standby_path(project_dir) + " is not " + id + "'s tree");
  auto proj = git::open_project(repo_path);
  if (!proj) return error(ErrorCode::kPrepareFailed, proj.error().message);
  if (auto m = git::move_worktree(proj->repo.get(), git::worktree_name(id), prepared); !m)
    return error(ErrorCode::kPrepareFailed, m.error().message);
  return {};
}

}  // namespace baton::plugin
