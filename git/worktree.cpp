#include "git/worktree.hpp"

#include <cerrno>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <git2.h>

#include "git/attributes.hpp"
#include "git/branch.hpp"
#include "git/checked_out.hpp"
#include "git/handles.hpp"
#include "git/repository.hpp"

namespace baton::git {

namespace fs = std::filesystem;

std::string worktree_name(std::string_view session_id) {
  return fmt::format("{}{}", kWorktreeNamePrefix, session_id);
}

WorktreeOwner worktree_owner(const fs::path& tree) {
  WorktreeOwner owner;
  std::ifstream gitfile(tree / ".git");
  std::string link;
  if (!std::getline(gitfile, link)) return owner;
  while (!link.empty() && (link.back() == '/' || link.back() == '\r')) link.pop_back();
  constexpr std::string_view kAdminDirs = "/worktrees/";
  const auto at = link.rfind(kAdminDirs);
  if (at == std::string::npos) return owner;
  owner.admin_name = link.substr(at + kAdminDirs.size());
  if (owner.admin_name.rfind(kWorktreeNamePrefix, 0) == 0)
    owner.session_id = owner.admin_name.substr(kWorktreeNamePrefix.size());
  return owner;
}

static fs::path admin_dir(git_repository* repo, std::string_view name) {
  return directory_path(git_repository_commondir(repo)) / "worktrees" / std::string(name);
}

// Undoes a failed prepare: only what this call created, so a retry starts from scratch
// without touching anything that existed before.
struct PrepareRollback {
  git_repository* repo;
  fs::path admin;
  fs::path dir;
  std::string temp_ref;
  bool made_admin = false;
  bool made_dir = false;
  bool made_branch = false;
  bool is_committed = false;

  ~PrepareRollback() {
    if (is_committed) return;
    std::error_code ec;
    if (made_dir) fs::remove_all(dir, ec);
    if (made_admin) fs::remove_all(admin, ec);
    if (made_branch) {
      git_reference* raw = nullptr;
      if (git_reference_lookup(&raw, repo, temp_ref.c_str()) == 0) {
        ReferencePtr ref(raw);
        git_reference_delete(ref.get());
      }
    }
  }
};

// libgit2's checkout writes an index without a cache-tree (TREE extension). Without one,
// the next git_index_write_tree (preserve, inside the handoff's gap) rebuilds every tree and,
// with strict object creation on (the default), checks every blob exists: ~230 ms at 20,000
// files here, against ~130 ms with a cache-tree. Build it now, before anything is stopped.
static Result<void> write_cache_tree(const fs::path& worktree_path) {
  auto wt_repo = open_worktree(worktree_path);
  if (!wt_repo) return tl::unexpected(wt_repo.error());
  git_index* raw = nullptr;
  int rc = git_repository_index(&raw, wt_repo->get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read index of", worktree_path.native()));
  IndexPtr index(raw);
  git_oid tree;
  rc = git_index_write_tree(&tree, index.get());
  if (rc == 0) rc = git_index_write(index.get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "write index of", worktree_path.native()));
  return {};
}

namespace {

struct CancelCheck {
  const std::function<bool()>* is_cancelled;
  bool was_cancelled = false;
};

}  // namespace

// Asked for each file the checkout plans to write, before any is written.
static int cancel_cb(git_checkout_notify_t, const char*, const git_diff_file*, const git_diff_file*,
                     const git_diff_file*, void* payload) {
  auto* check = static_cast<CancelCheck*>(payload);
  if (!(*check->is_cancelled)()) return 0;
  check->was_cancelled = true;
  return GIT_EUSER;
}

Result<PreparedWorktree> prepare_worktree(git_repository* repo, const fs::path& project_dir,
                                          std::string_view session_id, std::string_view canonical) {
  return prepare_worktree_at(repo, project_dir / fmt::format("{}{}", kPrepareDirPrefix, session_id),
                             session_id, canonical);
}

// What prepare_worktree_at and prepare_worktree_on_branch share: the checks that nothing is
// in the way, then the worktree added at `path` on the branch `ref` (at `tip`), locked with
// `reason`, its cache-tree written. The rollback undoes what it made on any failure.
static Result<void> add_locked_worktree(git_repository* repo, PreparedWorktree& prepared,
                                        git_reference* ref, const git_oid& tip,
                                        const std::string& reason,
                                        const std::function<bool()>& is_cancelled,
                                        PrepareRollback& rollback) {
  // libgit2 1.5's worktree add checks opts.ref with the buggy git_branch_is_checked_out;
  // the callers made sure nobody holds the branch, so its answer cannot matter here. Without
  // opts.ref it would create a branch named after the worktree instead.
  git_worktree_add_options opts = GIT_WORKTREE_ADD_OPTIONS_INIT;
  opts.ref = ref;
  // The directory is new (git_worktree_add creates it with O_EXCL semantics), so nothing in
  // it can be lost; SAFE alone would not create files "missing" from an empty directory.
  opts.checkout_options.checkout_strategy = GIT_CHECKOUT_FORCE;
  git_commit* raw_commit = nullptr;
  int rc = git_commit_lookup(&raw_commit, repo, &tip);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read commit", prepared.tip));
  CommitPtr commit(raw_commit);
  git_tree* raw_tree = nullptr;
  rc = git_commit_tree(&raw_tree, commit.get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read the tree of", prepared.tip));
  TreePtr tree(raw_tree);
  auto needs_filters = checkout_needs_filters(repo, tree.get());
  if (!needs_filters) return tl::unexpected(needs_filters.error());
  opts.checkout_options.disable_filters = *needs_filters ? 0 : 1;
  CancelCheck cancel{&is_cancelled};
  if (is_cancelled) {
    opts.checkout_options.notify_flags = GIT_CHECKOUT_NOTIFY_UPDATED;
    opts.checkout_options.notify_cb = cancel_cb;
    opts.checkout_options.notify_payload = &cancel;
  }
  git_worktree* raw_wt = nullptr;
  rollback.made_admin = true;
  rollback.made_dir = true;
  rc = git_worktree_add(&raw_wt, repo, prepared.name.c_str(), prepared.path.c_str(), &opts);
  if (rc < 0 && cancel.was_cancelled) {
    return tl::unexpected(
        Error{kCancelled, fmt::format("prepare worktree {}: cancelled", prepared.path.native())});
  }
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "add worktree", prepared.path.native()));
  WorktreePtr wt(raw_wt);
  prepared.path = directory_path(git_worktree_path(wt.get()));
  // Locked, with a reason naming the session, so a user's `git worktree prune` or another
  // tool never drops a live agent's checkout; release_prune unlocks it.
  rc = git_worktree_lock(wt.get(), reason.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "lock worktree", prepared.path.native()));
  return write_cache_tree(prepared.path);
}

// Neither the directory nor the admin entry may exist: both would be a leftover of an
// earlier attempt, which its owner releases first.
static Result<void> check_nothing_in_the_way(const PreparedWorktree& prepared,
                                             const fs::path& admin) {
  std::error_code ec;
  if (fs::exists(prepared.path, ec)) {
    return tl::unexpected(Error{
        kAlreadyExists, fmt::format("prepare worktree {}: directory already exists (a leftover "
                                    "of an earlier attempt; release it first)",
                                    prepared.path.native())});
  }
  if (fs::exists(admin, ec)) {
    return tl::unexpected(
        Error{kAlreadyExists, fmt::format("prepare worktree {}: admin entry {} already exists",
                                          prepared.path.native(), admin.native())});
  }
  fs::create_directories(prepared.path.parent_path(), ec);
  if (ec)
    return tl::unexpected(
        os_error(ec.value(), "create directory", prepared.path.parent_path().native()));
  return {};
}

Result<PreparedWorktree> prepare_worktree_at(git_repository* repo, const fs::path& path,
                                             std::string_view session_id,
                                             std::string_view canonical,
                                             const std::function<bool()>& is_cancelled) {
  init_libgit2();
  if (auto valid = validate_session_id(session_id); !valid) return tl::unexpected(valid.error());
  if (auto valid = validate_branch_name(canonical); !valid) return tl::unexpected(valid.error());

  PreparedWorktree prepared;
  prepared.name = worktree_name(session_id);
  prepared.path = path;
  prepared.temp_branch = temp_branch_name(session_id);
  PrepareRollback rollback{repo, admin_dir(repo, prepared.name), prepared.path,
                           full_branch_ref(prepared.temp_branch)};
  if (auto clear = check_nothing_in_the_way(prepared, rollback.admin); !clear)
    return tl::unexpected(clear.error());

  auto tip = branch_tip(repo, canonical);
  if (!tip) return tl::unexpected(tip.error());
  prepared.tip = oid_hex(*tip);

  // The temporary branch may be left from an interrupted attempt; reset it unless some
  // worktree holds it. git_reference_create, not git_branch_create: no checked-out query.
  auto holder = who_has_branch_checked_out(repo, prepared.temp_branch);
  if (!holder) return tl::unexpected(holder.error());
  if (*holder) {
    return tl::unexpected(
        Error{kBranchCheckedOut,
              fmt::format("prepare worktree {}: temporary branch {} is checked out "
                          "at {}",
                          prepared.path.native(), prepared.temp_branch, (*holder)->native())});
  }
  git_reference* raw_ref = nullptr;
  std::string message = fmt::format("baton: prepare {} at {}", session_id, canonical);
  int rc =
      git_reference_create(&raw_ref, repo, rollback.temp_ref.c_str(), &*tip, 1, message.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "create branch", rollback.temp_ref));
  ReferencePtr temp_ref(raw_ref);
  rollback.made_branch = true;

  const std::string reason = "baton orchestrator " + std::string(session_id);
  if (auto added =
          add_locked_worktree(repo, prepared, temp_ref.get(), *tip, reason, is_cancelled, rollback);
      !added)
    return tl::unexpected(added.error());
  rollback.is_committed = true;
  return prepared;
}

Result<PreparedWorktree> prepare_worktree_on_branch(git_repository* repo, const fs::path& path,
                                                    std::string_view session_id,
                                                    std::string_view branch,
                                                    std::string_view lock_reason) {
  init_libgit2();
  if (auto valid = validate_session_id(session_id); !valid) return tl::unexpected(valid.error());
  if (auto valid = validate_branch_name(branch); !valid) return tl::unexpected(valid.error());

  PreparedWorktree prepared;
  prepared.name = worktree_name(session_id);
  prepared.path = path;
  // No temporary branch: the branch is checked out directly, and a rollback never deletes it.
  PrepareRollback rollback{repo, admin_dir(repo, prepared.name), prepared.path, {}};
  if (auto clear = check_nothing_in_the_way(prepared, rollback.admin); !clear)
    return tl::unexpected(clear.error());
  auto holder = who_has_branch_checked_out(repo, branch);
  if (!holder) return tl::unexpected(holder.error());
  if (*holder) {
    return tl::unexpected(Error{kBranchCheckedOut, fmt::format("branch {} is checked out at {}",
                                                               branch, (*holder)->native())});
  }
  git_reference* raw_ref = nullptr;
  const std::string ref_name = full_branch_ref(branch);
  int rc = git_reference_lookup(&raw_ref, repo, ref_name.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up branch", ref_name));
  ReferencePtr ref(raw_ref);
  const git_oid* tip = git_reference_target(ref.get());
  if (!tip) return tl::unexpected(Error{kInvalidName, ref_name + " is a symbolic reference"});
  prepared.tip = oid_hex(*tip);
  if (auto added = add_locked_worktree(repo, prepared, ref.get(), *tip, std::string(lock_reason),
                                       {}, rollback);
      !added)
    return tl::unexpected(added.error());
  rollback.is_committed = true;
  return prepared;
}

Result<void> relock_worktree(git_repository* repo, std::string_view name, std::string_view reason) {
  init_libgit2();
  git_worktree* raw = nullptr;
  int rc = git_worktree_lookup(&raw, repo, std::string(name).c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up worktree", name));
  WorktreePtr wt(raw);
  git_buf held = GIT_BUF_INIT;
  rc = git_worktree_is_locked(&held, wt.get());
  const std::string current = rc > 0 && held.ptr ? std::string(held.ptr, held.size) : "";
  git_buf_dispose(&held);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read the lock of worktree", name));
  if (rc > 0 && current == reason) return {};
  if (rc > 0 && (rc = git_worktree_unlock(wt.get())) < 0)
    return tl::unexpected(libgit2_error(rc, "unlock worktree", name));
  rc = git_worktree_lock(wt.get(), std::string(reason).c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "lock worktree", name));
  return {};
}

// Writes `content` to `file` through a temporary file and rename, so a crash leaves either
// the old link or the new one, never half of one.
static Result<void> write_link_file(const fs::path& file, const std::string& content) {
  fs::path temp = file;
  temp += ".baton-tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    if (!out) return tl::unexpected(os_error(errno, "write", temp.native()));
    out << content;
    out.flush();
    if (!out) return tl::unexpected(os_error(errno, "write", temp.native()));
  }
  if (std::rename(temp.c_str(), file.c_str()) != 0) {
    int saved = errno;
    std::error_code ec;
    fs::remove(temp, ec);
    return tl::unexpected(os_error(saved, "rename into place", file.native()));
  }
  return {};
}

Result<void> move_worktree(git_repository* repo, std::string_view name, const fs::path& new_path) {
  init_libgit2();
  fs::path admin = admin_dir(repo, name);
  git_worktree* raw = nullptr;
  int rc = git_worktree_lookup(&raw, repo, std::string(name).c_str());
  if (rc == GIT_ENOTFOUND) {
    return tl::unexpected(
        Error{kWorktreeNotFound,
              fmt::format("move worktree {}: no admin entry {}", name, admin.native())});
  }
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up worktree", admin.native()));
  WorktreePtr wt(raw);
  fs::path old_path = directory_path(git_worktree_path(wt.get()));

  std::error_code ec;
  bool is_old_there = fs::exists(old_path / ".git", ec);
  bool is_new_there = fs::exists(new_path, ec);
  if (!is_same_path(old_path, new_path)) {
    if (is_new_there) {
      // A crash between rename(2) and rewriting the links leaves the directory at the new
      // path with the admin entry still naming the old one: finish the move.
      bool is_ours = false;
      std::ifstream link(new_path / ".git");
      std::string line;
      if (link && std::getline(link, line)) {
        is_ours = line.starts_with("gitdir: ") && is_same_path(line.substr(8), admin);
      }
      if (!is_ours || is_old_there) {
        return tl::unexpected(
            os_error(EEXIST, fmt::format("move worktree {} to", name), new_path.native()));
      }
    } else {
      if (!fs::exists(old_path, ec)) {
        return tl::unexpected(Error{ENOENT, fmt::format("move worktree {}: directory {} is "
                                                        "missing",
                                                        name, old_path.native())});
      }
      fs::create_directories(new_path.parent_path(), ec);
      if (::rename(old_path.c_str(), new_path.c_str()) != 0) {
        return tl::unexpected(
            os_error(errno, fmt::format("move worktree {} from {} to", name, old_path.native()),
                     new_path.native()));
      }
    }
  }
  fs::path canonical_new = fs::weakly_canonical(new_path, ec);
  if (ec) canonical_new = new_path;
  auto written = write_link_file(new_path / ".git", fmt::format("gitdir: {}\n", admin.native()));
  if (!written) return written;
  return write_link_file(admin / "gitdir", fmt::format("{}\n", (canonical_new / ".git").native()));
}

namespace {

struct CheckoutCounts {
  std::size_t written = 0;      // GIT_CHECKOUT_NOTIFY_UPDATED: files created or rewritten
  std::size_t total_steps = 0;  // from the progress callback: writes plus removals
};

}  // namespace

static int count_written_cb(git_checkout_notify_t, const char*, const git_diff_file*,
                            const git_diff_file*, const git_diff_file*, void* payload) {
  ++static_cast<CheckoutCounts*>(payload)->written;
  return 0;
}

static void count_steps_cb(const char*, size_t, size_t total_steps, void* payload) {
  static_cast<CheckoutCounts*>(payload)->total_steps = total_steps;
}

static Result<CommitPtr> lookup_commit(git_repository* repo, const git_oid& oid) {
  git_commit* raw = nullptr;
  int rc = git_commit_lookup(&raw, repo, &oid);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up commit", oid_hex(oid)));
  return CommitPtr(raw);
}

// Brings the worktree from `from` to `to`, writing only the files that differ between the
// two trees. SAFE refuses (and writes nothing) if a file in the way was modified.
static Result<CheckoutCounts> checkout_tree_to_tree(git_repository* wt_repo, const fs::path& where,
                                                    const git_oid& from, const git_oid& to) {
  auto from_commit = lookup_commit(wt_repo, from);
  if (!from_commit) return tl::unexpected(from_commit.error());
  auto to_commit = lookup_commit(wt_repo, to);
  if (!to_commit) return tl::unexpected(to_commit.error());
  git_tree* raw_tree = nullptr;
  int rc = git_commit_tree(&raw_tree, from_commit->get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read tree of", oid_hex(from)));
  TreePtr baseline(raw_tree);

  CheckoutCounts counts;
  git_checkout_options opts = GIT_CHECKOUT_OPTIONS_INIT;
  opts.checkout_strategy = GIT_CHECKOUT_SAFE;
  opts.baseline = baseline.get();
  opts.notify_flags = GIT_CHECKOUT_NOTIFY_UPDATED;
  opts.notify_cb = count_written_cb;
  opts.notify_payload = &counts;
  opts.progress_cb = count_steps_cb;
  opts.progress_payload = &counts;
  rc = git_checkout_tree(wt_repo, reinterpret_cast<git_object*>(to_commit->get()), &opts);
  if (rc < 0) {
    return tl::unexpected(
        libgit2_error(rc, fmt::format("check out {} in", oid_hex(to)), where.native()));
  }
  return counts;
}

// Brings the worktree on `temp_branch` to `tip`: only the files that differ are written, then
// the temporary branch follows, so HEAD stays consistent with the files and a retry after a
// crash here sees a clean worktree at the new tip.
static Result<AdoptStats> follow_tip(git_repository* wt, const fs::path& worktree_path,
                                     const git_oid& tip, std::string_view temp_branch,
                                     const std::function<Result<void>()>& before_write = {}) {
  AdoptStats stats;
  stats.tip = oid_hex(tip);
  auto temp_tip = branch_tip(wt, temp_branch);
  if (!temp_tip) return tl::unexpected(temp_tip.error());
  if (git_oid_cmp(&*temp_tip, &tip) == 0) return stats;
  if (before_write) {
    if (auto ready = before_write(); !ready) return tl::unexpected(ready.error());
  }
  stats.tip_moved = true;
  auto counts = checkout_tree_to_tree(wt, worktree_path, *temp_tip, tip);
  if (!counts) return tl::unexpected(counts.error());
  stats.files_written = counts->written;
  stats.files_removed =
      counts->total_steps > counts->written ? counts->total_steps - counts->written : 0;
  const std::string temp_ref = full_branch_ref(temp_branch);
  git_reference* raw = nullptr;
  int rc = git_reference_create(&raw, wt, temp_ref.c_str(), &tip, 1,
                                "baton: follow the orchestrator branch");
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "move branch", temp_ref));
  git_reference_free(raw);
  return stats;
}

Result<AdoptStats> follow_branch(const fs::path& worktree_path, std::string_view canonical,
                                 std::string_view temp_branch,
                                 const std::function<Result<void>()>& before_write) {
  auto wt_repo = open_worktree(worktree_path);
  if (!wt_repo) return tl::unexpected(wt_repo.error());
  auto canonical_tip = branch_tip(wt_repo->get(), canonical);
  if (!canonical_tip) return tl::unexpected(canonical_tip.error());
  return follow_tip(wt_repo->get(), worktree_path, *canonical_tip, temp_branch, before_write);
}

Result<AdoptStats> adopt_branch(git_repository* repo, const fs::path& worktree_path,
                                std::string_view canonical, std::string_view temp_branch) {
  auto wt_repo = open_worktree(worktree_path);
  if (!wt_repo) return tl::unexpected(wt_repo.error());
  git_repository* wt = wt_repo->get();
  std::string canonical_ref = full_branch_ref(canonical);
  std::string temp_ref = full_branch_ref(temp_branch);
  AdoptStats stats;

  auto canonical_tip = branch_tip(wt, canonical);
  if (!canonical_tip) return tl::unexpected(canonical_tip.error());
  stats.tip = oid_hex(*canonical_tip);

  git_reference* raw_head = nullptr;
  int rc = git_reference_lookup(&raw_head, wt, "HEAD");
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read HEAD of", worktree_path.native()));
  ReferencePtr head(raw_head);
  bool is_on_canonical = git_reference_type(head.get()) == GIT_REFERENCE_SYMBOLIC &&
                         canonical_ref == git_reference_symbolic_target(head.get());

  if (!is_on_canonical) {
    auto followed = follow_tip(wt, worktree_path, *canonical_tip, temp_branch);
    if (!followed) return tl::unexpected(followed.error());
    stats.tip_moved = followed->tip_moved;
    stats.files_written = followed->files_written;
    stats.files_removed = followed->files_removed;

    auto holder = who_has_branch_checked_out(repo, canonical);
    if (!holder) return tl::unexpected(holder.error());
    if (*holder && !is_same_path(**holder, worktree_path)) {
      return tl::unexpected(Error{
          kBranchCheckedOut, fmt::format("adopt branch {} in {}: still checked out at {}",
                                         canonical, worktree_path.native(), (*holder)->native())});
    }
    // git_repository_set_head would run libgit2 1.5's buggy checked-out query (DESIGN.md
    // §8); the check above is baton's own, so write HEAD directly.
    git_reference* raw = nullptr;
    std::string message = fmt::format("baton: adopt {}", canonical);
    rc = git_reference_symbolic_create(&raw, wt, "HEAD", canonical_ref.c_str(), 1, message.c_str());
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "point HEAD of", worktree_path.native()));
    git_reference_free(raw);
  }

  // git_branch_delete would ask the buggy checked-out query too; delete the ref itself.
  git_reference* raw_temp = nullptr;
  rc = git_reference_lookup(&raw_temp, wt, temp_ref.c_str());
  if (rc == 0) {
    ReferencePtr temp(raw_temp);
    rc = git_reference_delete(temp.get());
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "delete branch", temp_ref));
  } else if (rc != GIT_ENOTFOUND) {
    return tl::unexpected(libgit2_error(rc, "look up branch", temp_ref));
  }
  return stats;
}

}  // namespace baton::git
