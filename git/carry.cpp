#include "git/carry.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <git2.h>

#include "git/handles.hpp"
#include "git/repository.hpp"

namespace baton::git {

namespace fs = std::filesystem;

namespace {

constexpr char kIgnoredTag = 'i';
constexpr char kNestedTag = 'n';
constexpr char kSubmoduleTag = 's';
// Where a submodule checkout the prepare made goes when the old tree's one takes its place:
// inside the old tree, deleted with it.
constexpr std::string_view kSwappedDirName = ".baton-swapped";

char tag_of(CarryKind kind) {
  switch (kind) {
    case CarryKind::kNestedRepository:
      return kNestedTag;
    case CarryKind::kSubmodule:
      return kSubmoduleTag;
    case CarryKind::kIgnored:
      break;
  }
  return kIgnoredTag;
}

bool exists_no_follow(const fs::path& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found;
}

bool is_empty_dir(const fs::path& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() == fs::file_type::directory &&
         fs::is_empty(path, ec) && !ec;
}

bool is_same_symlink(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (!fs::is_symlink(fs::symlink_status(a, ec)) || !fs::is_symlink(fs::symlink_status(b, ec)))
    return false;
  auto ta = fs::read_symlink(a, ec);
  if (ec) return false;
  auto tb = fs::read_symlink(b, ec);
  return !ec && ta == tb;
}

// Written whole or not at all: temp file, fsync, rename, fsync of the directory.
Result<void> write_atomically(const fs::path& file, const std::string& content) {
  const fs::path temp = file.native() + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return tl::unexpected(os_error(errno, "write", temp.native()));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return tl::unexpected(os_error(e, "write", temp.native()));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return tl::unexpected(os_error(e, "fsync", temp.native()));
  }
  ::close(fd);
  if (::rename(temp.c_str(), file.c_str()) != 0)
    return tl::unexpected(os_error(errno, "rename " + temp.native() + " to", file.native()));
  int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

Result<void> move_path(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (ec) return tl::unexpected(os_error(ec.value(), "create", to.parent_path().native()));
  if (::rename(from.c_str(), to.c_str()) != 0)
    return tl::unexpected(os_error(errno, "move " + from.native() + " to", to.native()));
  return {};
}

// The git dir a submodule's `.git` file names ("gitdir: <path>"), resolved against the
// submodule directory; empty when `.git` is a directory (an embedded git dir) or unreadable.
fs::path gitdir_of(const fs::path& submodule_dir) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(submodule_dir / ".git", ec))) return {};
  std::ifstream in(submodule_dir / ".git");
  std::string line;
  std::getline(in, line);
  constexpr std::string_view kPrefix = "gitdir: ";
  if (!line.starts_with(kPrefix)) return {};
  fs::path target = line.substr(kPrefix.size());
  return target.is_absolute() ? target : submodule_dir / target;
}

// The part of `gitdir` after "/worktrees/<worktree>/modules/": the module's name when the
// git dir lives in that worktree's admin dir (git submodule update in a linked worktree).
std::string module_name_in(const fs::path& gitdir, std::string_view worktree) {
  const std::string marker = fmt::format("/worktrees/{}/modules/", worktree);
  const std::string text = gitdir.lexically_normal().native();
  auto at = text.rfind(marker);
  if (at == std::string::npos) return {};
  std::string name = text.substr(at + marker.size());
  while (!name.empty() && name.back() == '/') name.pop_back();
  return name;
}

Result<void> set_core_worktree(const fs::path& module_gitdir, const fs::path& workdir) {
  git_config* raw = nullptr;
  const fs::path config = module_gitdir / "config";
  int rc = git_config_open_ondisk(&raw, config.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "open", config.native()));
  ConfigPtr cfg(raw);
  rc = git_config_set_string(cfg.get(), "core.worktree", workdir.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "set core.worktree in", config.native()));
  return {};
}

// Carries one submodule: its git dir (saved from the old worktree's admin dir) into the new
// worktree's admin dir, its links made absolute (so the directory's move below cannot break
// them), then its working directory. A checkout the prepare made at either place is moved
// into the old tree's swap directory first.
// A small regular file with the same bytes at both places holds nothing to carry (say, a
// post_create command wrote the same .env). Bounded, so the gap never reads a big file.
bool is_same_small_file(const fs::path& a, const fs::path& b) {
  constexpr std::uintmax_t kMaxBytes = 64 * 1024;
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(a, ec)) ||
      !fs::is_regular_file(fs::symlink_status(b, ec)))
    return false;
  const auto size = fs::file_size(a, ec);
  if (ec || size > kMaxBytes || fs::file_size(b, ec) != size || ec) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::stringstream ca, cb;
  ca << fa.rdbuf();
  cb << fb.rdbuf();
  return fa && fb && ca.str() == cb.str();
}

// A directory of the old tree's swap area that no earlier (possibly interrupted) carry used.
fs::path unused_swap_dir(const fs::path& old_tree) {
  for (std::size_t n = 0;; ++n) {
    fs::path candidate = old_tree / kSwappedDirName / std::to_string(n);
    if (!exists_no_follow(candidate)) return candidate;
  }
}

Result<bool> carry_submodule(git_repository* repo, const fs::path& old_tree,
                             std::string_view old_session_id, const fs::path& new_tree,
                             const fs::path& new_admin, const std::string& path) {
  const fs::path src = old_tree / path;
  const fs::path dst = new_tree / path;
  const bool is_prepared_checkout = exists_no_follow(dst / ".git");
  if (exists_no_follow(dst) && !is_empty_dir(dst) && !is_prepared_checkout) return false;
  const fs::path swapped = unused_swap_dir(old_tree);

  const fs::path gitdir = gitdir_of(src);
  const std::string old_worktree = fmt::format("baton-{}", old_session_id);
  const std::string module = gitdir.empty() ? "" : module_name_in(gitdir, old_worktree);
  if (!module.empty()) {
    const fs::path saved = saved_modules_path(repo, old_session_id) / module;
    const fs::path target = new_admin / "modules" / module;
    if (exists_no_follow(saved)) {
      if (exists_no_follow(target)) {
        if (auto m = move_path(target, swapped / "gitdir"); !m) return tl::unexpected(m.error());
      }
      if (auto m = move_path(saved, target); !m) return tl::unexpected(m.error());
    }
    if (exists_no_follow(target)) {
      if (auto w = write_atomically(src / ".git", fmt::format("gitdir: {}\n", target.native())); !w)
        return tl::unexpected(w.error());
      if (auto c = set_core_worktree(target, dst); !c) return tl::unexpected(c.error());
    }
  }
  if (is_prepared_checkout) {
    if (auto m = move_path(dst, swapped / "tree"); !m) return tl::unexpected(m.error());
  }
  // rename(2) replaces an empty directory (what a checkout leaves for an uninitialized one).
  if (auto m = move_path(src, dst); !m) return tl::unexpected(m.error());
  return true;
}

}  // namespace

Result<void> write_carry_manifest(const fs::path& tree, const std::vector<CarryEntry>& entries) {
  const fs::path file = tree / kCarryManifestName;
  if (entries.empty()) {
    std::error_code ec;
    fs::remove(file, ec);
    if (ec) return tl::unexpected(os_error(ec.value(), "remove", file.native()));
    return {};
  }
  // One record per entry, "<tag>\t<path>\0": a path may hold any byte but NUL.
  std::string content;
  for (const auto& e : entries) {
    content += tag_of(e.kind);
    content += '\t';
    content += e.path;
    content += '\0';
  }
  return write_atomically(file, content);
}

Result<std::vector<CarryEntry>> read_carry_manifest(const fs::path& tree) {
  const fs::path file = tree / kCarryManifestName;
  std::vector<CarryEntry> entries;
  std::ifstream in(file, std::ios::binary);
  if (!in) return entries;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string content = buffer.str();
  std::size_t at = 0;
  while (at < content.size()) {
    auto end = content.find('\0', at);
    if (end == std::string::npos || end < at + 3 || content[at + 1] != '\t') {
      return tl::unexpected(
          Error{kInvalidName, fmt::format("read {}: not a carry manifest", file.native())});
    }
    CarryEntry e;
    switch (content[at]) {
      case kIgnoredTag:
        e.kind = CarryKind::kIgnored;
        break;
      case kNestedTag:
        e.kind = CarryKind::kNestedRepository;
        break;
      case kSubmoduleTag:
        e.kind = CarryKind::kSubmodule;
        break;
      default:
        return tl::unexpected(
            Error{kInvalidName, fmt::format("read {}: unknown entry kind", file.native())});
    }
    e.path = content.substr(at + 2, end - at - 2);
    // Never outside the tree: the manifest is baton's, but it sits in a directory others write.
    bool is_outside = e.path.empty() || fs::path(e.path).is_absolute();
    for (const auto& part : fs::path(e.path)) is_outside |= part == "..";
    if (is_outside) {
      return tl::unexpected(
          Error{kInvalidName, fmt::format("read {}: bad path '{}'", file.native(), e.path)});
    }
    entries.push_back(std::move(e));
    at = end + 1;
  }
  return entries;
}

Result<std::vector<CarryEntry>> uncarried_entries(const fs::path& tree) {
  auto entries = read_carry_manifest(tree);
  if (!entries) return tl::unexpected(entries.error());
  std::vector<CarryEntry> left;
  for (auto& e : *entries)
    if (exists_no_follow(tree / e.path)) left.push_back(std::move(e));
  return left;
}

fs::path saved_modules_path(git_repository* repo, std::string_view session_id) {
  return directory_path(git_repository_commondir(repo)) / "baton" / "modules" /
         std::string(session_id);
}

Result<void> save_submodule_git_dirs(git_repository* repo, std::string_view worktree_name,
                                     std::string_view session_id) {
  const fs::path modules = directory_path(git_repository_commondir(repo)) / "worktrees" /
                           std::string(worktree_name) / "modules";
  if (!exists_no_follow(modules)) return {};
  const fs::path saved = saved_modules_path(repo, session_id);
  if (exists_no_follow(saved)) {
    return tl::unexpected(Error{EEXIST, fmt::format("save submodule git dirs {}: {} already exists",
                                                    modules.native(), saved.native())});
  }
  return move_path(modules, saved);
}

Result<void> delete_saved_modules(git_repository* repo, std::string_view session_id) {
  const fs::path saved = saved_modules_path(repo, session_id);
  std::error_code ec;
  fs::remove_all(saved, ec);
  if (ec) return tl::unexpected(os_error(ec.value(), "delete", saved.native()));
  return {};
}

namespace {

// The kept directory beside a retired tree and the manifest of what it holds.
struct KeptDir {
  fs::path path;
  std::vector<CarryEntry> listed;
};

Result<KeptDir> open_kept_dir(const fs::path& old_tree, std::string_view old_session_id) {
  KeptDir kept{old_tree.parent_path() / fmt::format("{}{}", kKeptDirPrefix, old_session_id), {}};
  auto listed = read_carry_manifest(kept.path);
  if (!listed) return tl::unexpected(listed.error());
  kept.listed = std::move(*listed);
  return kept;
}

// Moves entry `e` of `old_tree` whole into the kept directory, listed in its manifest first
// (an entry listed but not there yet is simply not shown), then renamed.
Result<void> keep_whole(KeptDir& kept, const fs::path& old_tree, const CarryEntry& e) {
  const fs::path to = kept.path / e.path;
  if (exists_no_follow(to)) return tl::unexpected(Error{EEXIST, to.native() + " exists"});
  std::error_code ec;
  fs::create_directories(kept.path, ec);
  if (ec) return tl::unexpected(os_error(ec.value(), "create", kept.path.native()));
  kept.listed.push_back(e);
  if (auto m = write_carry_manifest(kept.path, kept.listed); !m) return tl::unexpected(m.error());
  return move_path(old_tree / e.path, to);
}

}  // namespace

Result<CarryResult> carry_entries(git_repository* repo, const fs::path& old_tree,
                                  std::string_view old_session_id, const fs::path& new_tree) {
  CarryResult result;
  auto entries = read_carry_manifest(old_tree);
  if (!entries) return tl::unexpected(entries.error());
  if (entries->empty()) return result;
  auto kept = open_kept_dir(old_tree, old_session_id);
  if (!kept) return tl::unexpected(kept.error());
  result.kept_dir = kept->path;
  auto wt = open_worktree(new_tree);
  if (!wt) return tl::unexpected(wt.error());
  const fs::path new_admin = directory_path(git_repository_path(wt->get()));

  for (const auto& e : *entries) {
    const fs::path src = old_tree / e.path;
    const fs::path dst = new_tree / e.path;
    if (!exists_no_follow(src)) continue;  // carried before
    if (e.kind == CarryKind::kSubmodule) {
      auto moved = carry_submodule(repo, old_tree, old_session_id, new_tree, new_admin, e.path);
      if (!moved) {
        result.failed.push_back(fmt::format("{} ({})", e.path, moved.error().message));
      } else if (*moved) {
        result.carried.push_back(e.path);
      } else {
        // Its git dir would have to come along to a place no prune reaches: not done here.
        result.failed.push_back(
            fmt::format("{} (a submodule; the new tree has other content there)", e.path));
      }
      continue;
    }
    if (is_same_symlink(src, dst) || is_same_small_file(src, dst)) {
      // The prepare made the same (workspace.symlinks, post_create): nothing to carry.
      std::error_code ec;
      fs::remove(src, ec);
      continue;
    }
    if (exists_no_follow(dst) && !is_empty_dir(dst)) {
      if (auto k = keep_whole(*kept, old_tree, e); !k) {
        result.failed.push_back(fmt::format("{} ({})", e.path, k.error().message));
      } else {
        result.kept.push_back(e.path);
      }
      continue;
    }
    std::error_code ec;
    if (is_empty_dir(dst) && !fs::is_directory(fs::symlink_status(src, ec))) fs::remove(dst, ec);
    if (auto m = move_path(src, dst); !m) {
      result.failed.push_back(fmt::format("{} ({})", e.path, m.error().message));
      continue;
    }
    result.carried.push_back(e.path);
  }
  return result;
}

Result<KeepResult> keep_entries(const fs::path& old_tree, std::string_view old_session_id) {
  KeepResult result;
  CarryResult& moved = result.moved;
  auto entries = read_carry_manifest(old_tree);
  if (!entries) return tl::unexpected(entries.error());
  if (entries->empty()) return result;
  auto kept = open_kept_dir(old_tree, old_session_id);
  if (!kept) return tl::unexpected(kept.error());
  moved.kept_dir = kept->path;
  for (const auto& e : *entries) {
    if (!exists_no_follow(old_tree / e.path)) continue;  // kept before
    if (auto k = keep_whole(*kept, old_tree, e); !k) {
      moved.failed.push_back(fmt::format("{} ({})", e.path, k.error().message));
      continue;
    }
    moved.kept.push_back(e.path);
    result.has_submodules |= e.kind == CarryKind::kSubmodule;
  }
  return result;
}

std::vector<KeptTree> list_kept(const fs::path& project_dir) {
  std::vector<KeptTree> kept;
  std::error_code ec;
  for (const auto& child : fs::directory_iterator(project_dir, ec)) {
    const std::string leaf = child.path().filename().native();
    if (!leaf.starts_with(kKeptDirPrefix)) continue;
    KeptTree k{leaf.substr(kKeptDirPrefix.size()), child.path(), {}};
    if (auto listed = read_carry_manifest(child.path())) {
      for (const auto& e : *listed)
        if (exists_no_follow(child.path() / e.path)) k.entries.push_back(e.path);
    }
    kept.push_back(std::move(k));
  }
  std::sort(kept.begin(), kept.end(),
            [](const KeptTree& a, const KeptTree& b) { return a.session < b.session; });
  return kept;
}

}  // namespace baton::git
