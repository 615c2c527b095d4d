#include "git/reapply.hpp"

#include <string>
#include <vector>

#include <fmt/format.h>
#include <git2.h>

#include "git/branch.hpp"
#include "git/handles.hpp"
#include "git/repository.hpp"
#include "git/tree_changes.hpp"

namespace baton::git {

namespace fs = std::filesystem;

namespace {

struct CheckoutTally {
  std::size_t written = 0;
  std::vector<std::string> conflicts;
};

}  // namespace

static int tally_cb(git_checkout_notify_t why, const char* path, const git_diff_file*,
                    const git_diff_file*, const git_diff_file*, void* payload) {
  auto* tally = static_cast<CheckoutTally*>(payload);
  if (why == GIT_CHECKOUT_NOTIFY_CONFLICT) {
    tally->conflicts.emplace_back(path);
  } else if (why == GIT_CHECKOUT_NOTIFY_UPDATED) {
    ++tally->written;
  }
  return 0;
}

static Result<TreePtr> tree_of(const git_commit* commit) {
  git_tree* raw = nullptr;
  int rc = git_commit_tree(&raw, commit);
  if (rc < 0)
    return tl::unexpected(libgit2_error(rc, "read tree of", oid_hex(*git_commit_id(commit))));
  return TreePtr(raw);
}

// The tree of `commit`'s parent number `n` (0: the old HEAD, 1: the index commit).
static Result<TreePtr> parent_tree_of(git_commit* commit, unsigned n, const char* what) {
  git_commit* raw = nullptr;
  int rc = git_commit_parent(&raw, commit, n);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, what, oid_hex(*git_commit_id(commit))));
  CommitPtr parent(raw);
  return tree_of(parent.get());
}

// An in-memory three-way merge: base = the preserved commit's parent (the old HEAD), ours =
// the new HEAD, theirs = the preserved tree; returns the merged tree. Nothing is written to
// the worktree. On conflicts, `conflicts` lists their paths and the result is empty.
static Result<ObjectPtr> merge_into(git_repository* wt, git_tree* base, git_tree* ours,
                                    git_tree* theirs, const std::string& where,
                                    std::vector<std::string>& conflicts) {
  git_merge_options merge_opts = GIT_MERGE_OPTIONS_INIT;
  git_index* raw_merged = nullptr;
  int rc = git_merge_trees(&raw_merged, wt, base, ours, theirs, &merge_opts);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "merge preserved work into", where));
  IndexPtr merged(raw_merged);

  if (git_index_has_conflicts(merged.get())) {
    git_index_conflict_iterator* raw_it = nullptr;
    rc = git_index_conflict_iterator_new(&raw_it, merged.get());
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "list conflicts in", where));
    ConflictIteratorPtr it(raw_it);
    const git_index_entry *ancestor = nullptr, *our = nullptr, *their = nullptr;
    while (git_index_conflict_next(&ancestor, &our, &their, it.get()) == 0) {
      const git_index_entry* any = our != nullptr ? our : their != nullptr ? their : ancestor;
      conflicts.emplace_back(any->path);
    }
    return ObjectPtr();
  }

  git_oid merged_tree_oid;
  rc = git_index_write_tree_to(&merged_tree_oid, merged.get(), wt);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "write merged tree for", where));
  git_object* raw_target = nullptr;
  rc = git_object_lookup(&raw_target, wt, &merged_tree_oid, GIT_OBJECT_TREE);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up merged tree for", where));
  return ObjectPtr(raw_target);
}

// The preserved stage: the base → index-commit changes, put into the worktree's index for
// exactly those paths (a three-way merge onto the new HEAD's tree when the branch moved). The
// entries get no stat data, so git re-reads those files once. A stage that does not merge is
// left at HEAD, with a note: the files themselves are back either way.
static Result<void> restore_stage(git_repository* wt, git_tree* base, git_tree* ours,
                                  git_tree* index_tree, const std::string& where,
                                  ReapplyResult& result) {
  auto staged = tree_changes(wt, base, index_tree);
  if (!staged) return tl::unexpected(staged.error());
  if (staged->empty()) return {};
  int rc = 0;

  IndexPtr merged;
  if (!git_oid_equal(git_tree_id(base), git_tree_id(ours))) {
    git_merge_options merge_opts = GIT_MERGE_OPTIONS_INIT;
    git_index* raw_merged = nullptr;
    rc = git_merge_trees(&raw_merged, wt, base, ours, index_tree, &merge_opts);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "merge the preserved stage into", where));
    merged.reset(raw_merged);
    if (git_index_has_conflicts(merged.get())) {
      result.notes.push_back(
          "the preserved stage conflicts with the new HEAD: its files are "
          "back unstaged");
      return {};
    }
  }

  git_index* raw_index = nullptr;
  rc = git_repository_index(&raw_index, wt);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read index of", where));
  IndexPtr index(raw_index);
  for (const std::string& staged_path : *staged) {
    const char* path = staged_path.c_str();
    const git_index_entry* want = nullptr;
    git_index_entry from_tree{};
    TreeEntryPtr tree_entry;
    if (merged) {
      want = git_index_get_bypath(merged.get(), path, 0);
    } else {
      git_tree_entry* raw_entry = nullptr;
      if (git_tree_entry_bypath(&raw_entry, index_tree, path) == 0) {
        tree_entry.reset(raw_entry);
        from_tree.mode = git_tree_entry_filemode(raw_entry);
        git_oid_cpy(&from_tree.id, git_tree_entry_id(raw_entry));
        from_tree.path = path;
        want = &from_tree;
      } else {
        git_error_clear();
      }
    }
    if (want != nullptr) {
      git_index_entry entry{};
      entry.mode = want->mode;
      entry.id = want->id;
      entry.path = path;
      rc = git_index_add(index.get(), &entry);
      if (rc < 0) return tl::unexpected(libgit2_error(rc, "stage", path));
    } else {
      rc = git_index_remove(index.get(), path, 0);
      if (rc < 0 && rc != GIT_ENOTFOUND) return tl::unexpected(libgit2_error(rc, "unstage", path));
      git_error_clear();
    }
  }
  rc = git_index_write(index.get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "write index of", where));
  return {};
}

Result<ReapplyResult> reapply_preserved(git_repository* repo, const fs::path& worktree_path,
                                        std::string_view commit_oid, git_index* index) {
  (void)repo;  // objects are shared; the worktree's repository reaches them
  auto wt_repo = open_worktree(worktree_path);
  if (!wt_repo) return tl::unexpected(wt_repo.error());
  git_repository* wt = wt_repo->get();
  // The checkout below reads the whole index unless one was read ahead (the standby's).
  if (index != nullptr) {
    if (auto used = use_index(wt, index); !used) return tl::unexpected(used.error());
  }
  const std::string& where = worktree_path.native();

  git_oid oid;
  std::string hex(commit_oid);
  if (git_oid_fromstr(&oid, hex.c_str()) < 0) {
    return tl::unexpected(Error{kInvalidName, fmt::format("re-apply {}: not a commit id", hex)});
  }
  git_commit* raw_commit = nullptr;
  int rc = git_commit_lookup(&raw_commit, wt, &oid);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up preserved commit", hex));
  CommitPtr preserved(raw_commit);

  auto theirs = tree_of(preserved.get());
  if (!theirs) return tl::unexpected(theirs.error());
  TreePtr base;
  if (git_commit_parentcount(preserved.get()) > 0) {
    auto parent_tree = parent_tree_of(preserved.get(), 0, "read parent of");
    if (!parent_tree) return tl::unexpected(parent_tree.error());
    base = std::move(*parent_tree);
  }

  git_object* raw_head = nullptr;
  rc = git_revparse_single(&raw_head, wt, "HEAD^{commit}");
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "resolve HEAD of", where));
  CommitPtr head(reinterpret_cast<git_commit*>(raw_head));
  auto ours = tree_of(head.get());
  if (!ours) return tl::unexpected(ours.error());

  ReapplyResult result;
  ObjectPtr target;
  if (base && git_oid_equal(git_tree_id(base.get()), git_tree_id(ours->get()))) {
    // The usual handoff: the branch did not move since the old agent's HEAD, so the merge is
    // the preserved tree itself. Merging two 20,000-entry trees and writing the merged index
    // back to trees cost ~100 ms of the gap.
    git_object* raw_target = nullptr;
    rc = git_object_dup(&raw_target, reinterpret_cast<git_object*>(theirs->get()));
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "copy preserved tree of", hex));
    target.reset(raw_target);
  } else {
    auto merged = merge_into(wt, base.get(), ours->get(), theirs->get(), where, result.conflicts);
    if (!merged) return tl::unexpected(merged.error());
    if (!result.conflicts.empty()) return result;
    target = std::move(*merged);
  }

  // The merged tree differs from HEAD's only where the preserved work changed something: the
  // paths of the base → preserved diff. The checkout is limited to them (exact paths, no
  // pathspec), so it neither stats nor reads attributes for the rest of the tree: this runs
  // inside the handoff's gap, which must not grow with the repository (DESIGN.md §5).
  auto changed = tree_changes(wt, base.get(), theirs->get());
  if (!changed) return tl::unexpected(changed.error());
  std::vector<std::string> paths = std::move(*changed);
  // The second parent is the index commit (preserve_uncommitted, as `git stash`).
  TreePtr index_tree;
  if (base && git_commit_parentcount(preserved.get()) > 1) {
    auto t = parent_tree_of(preserved.get(), 1, "read index commit of");
    if (!t) return tl::unexpected(t.error());
    index_tree = std::move(*t);
  }
  if (paths.empty()) {
    if (index_tree) {
      if (auto s = restore_stage(wt, base.get(), ours->get(), index_tree.get(), where, result); !s)
        return tl::unexpected(s.error());
    }
    result.is_applied = true;
    return result;
  }
  std::vector<char*> path_ptrs;
  path_ptrs.reserve(paths.size());
  for (auto& p : paths) path_ptrs.push_back(p.data());

  // Tree-to-tree from HEAD: only the preserved paths are written. DONT_UPDATE_INDEX keeps
  // the stage at HEAD, so the work comes back uncommitted and unstaged, untracked files
  // untracked. SAFE computes every conflict before writing anything.
  CheckoutTally tally;
  git_checkout_options opts = GIT_CHECKOUT_OPTIONS_INIT;
  opts.checkout_strategy =
      GIT_CHECKOUT_SAFE | GIT_CHECKOUT_DONT_UPDATE_INDEX | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
  opts.paths.strings = path_ptrs.data();
  opts.paths.count = path_ptrs.size();
  opts.baseline = ours->get();
  opts.notify_flags = GIT_CHECKOUT_NOTIFY_CONFLICT | GIT_CHECKOUT_NOTIFY_UPDATED;
  opts.notify_cb = tally_cb;
  opts.notify_payload = &tally;
  rc = git_checkout_tree(wt, target.get(), &opts);
  if (rc == GIT_ECONFLICT || (!tally.conflicts.empty() && rc < 0)) {
    git_error_clear();
    result.conflicts = std::move(tally.conflicts);
    return result;
  }
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "write preserved work into", where));
  if (index_tree) {
    if (auto s = restore_stage(wt, base.get(), ours->get(), index_tree.get(), where, result); !s)
      return tl::unexpected(s.error());
  }
  result.is_applied = true;
  result.files_written = tally.written;
  return result;
}

}  // namespace baton::git
