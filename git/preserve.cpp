#include "git/preserve.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <git2.h>

#include "git/branch.hpp"
#include "git/handles.hpp"
#include "git/repository.hpp"
#include "git/tree_changes.hpp"

namespace baton::git {

namespace fs = std::filesystem;

std::string preserved_ref_name(std::string_view session_id) {
  return fmt::format("{}{}", kPreservedRefPrefix, session_id);
}

static const char* state_name(int state) {
  switch (state) {
    case GIT_REPOSITORY_STATE_MERGE:
      return "a merge";
    case GIT_REPOSITORY_STATE_REVERT:
    case GIT_REPOSITORY_STATE_REVERT_SEQUENCE:
      return "a revert";
    case GIT_REPOSITORY_STATE_CHERRYPICK:
    case GIT_REPOSITORY_STATE_CHERRYPICK_SEQUENCE:
      return "a cherry-pick";
    case GIT_REPOSITORY_STATE_BISECT:
      return "a bisect";
    case GIT_REPOSITORY_STATE_REBASE:
    case GIT_REPOSITORY_STATE_REBASE_INTERACTIVE:
    case GIT_REPOSITORY_STATE_REBASE_MERGE:
      return "a rebase";
    case GIT_REPOSITORY_STATE_APPLY_MAILBOX:
    case GIT_REPOSITORY_STATE_APPLY_MAILBOX_OR_REBASE:
      return "git am";
    default:
      return nullptr;
  }
}

// git_signature_default fails when user.name/user.email are unset (DESIGN.md §8).
static Result<SignaturePtr> signature_for(git_repository* repo) {
  git_signature* raw = nullptr;
  if (git_signature_default(&raw, repo) == 0) return SignaturePtr(raw);
  git_error_clear();
  int rc = git_signature_now(&raw, "baton", "baton@localhost");
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "make signature", "baton"));
  return SignaturePtr(raw);
}

// Puts the worktree's current content of `path` into the in-memory index: the file (or
// symlink) when it exists, its removal when it does not.
static Result<void> stage_path(git_index* index, const fs::path& root, const char* path,
                               std::vector<std::string>& notes) {
  std::error_code ec;
  bool exists = fs::symlink_status(root / path, ec).type() != fs::file_type::not_found;
  if (exists) {
    int rc = git_index_add_bypath(index, path);
    if (rc == 0) return {};
    // A nested repository or another entry git cannot hold as a file: report, go on.
    std::string detail = git_error_last() != nullptr ? git_error_last()->message : "";
    git_error_clear();
    notes.push_back(fmt::format("not preserved: {} ({})", path, detail));
    return {};
  }
  int rc = git_index_remove_bypath(index, path);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "remove from index", path));
  return {};
}

// The initialized submodules of the index (gitlinks whose directory holds a .git): their
// working directories and git dirs are carried whole, since a commit holds only the gitlink.
static void list_submodules(git_index* index, const fs::path& root,
                            std::vector<CarryEntry>& carry) {
  std::error_code ec;
  for (std::size_t i = 0, n = git_index_entrycount(index); i < n; ++i) {
    const git_index_entry* e = git_index_get_byindex(index, i);
    if (e == nullptr || e->mode != GIT_FILEMODE_COMMIT || git_index_entry_stage(e) != 0) continue;
    if (fs::symlink_status(root / e->path / ".git", ec).type() == fs::file_type::not_found)
      continue;
    carry.push_back(CarryEntry{CarryKind::kSubmodule, e->path});
  }
}

static std::string without_trailing_slash(std::string path) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

// The one scan of the worktree against the index: the part of the handoff's gap that grows
// with the repository unless `paths` limits it. Only the workdir side: what is staged is in
// the index preserve starts from, and its tree comparison with HEAD finds a staged-only
// change; comparing HEAD with the index here too read all of HEAD's trees (~1/3 of the scan
// at 20,000 files). No rename detection (a rename is a delete plus an add in the tree either
// way) and no UPDATE_INDEX (the worktree's files, index included, stay as they are). Ignored
// entries cost little: an ignored directory is one entry, never entered (no
// RECURSE_IGNORED_DIRS), so node_modules/ is one rename later. `paths`: exact paths (a
// directory stands for everything under it); empty means nothing to read (a null list).
static tl::expected<StatusListPtr, int> scan_worktree(git_repository* wt, bool with_ignored,
                                                      std::vector<std::string>* paths) {
  if (paths != nullptr && paths->empty()) return StatusListPtr();
  git_status_options status_opts = GIT_STATUS_OPTIONS_INIT;
  status_opts.show = GIT_STATUS_SHOW_WORKDIR_ONLY;
  status_opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
                      GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
  if (with_ignored) status_opts.flags |= GIT_STATUS_OPT_INCLUDE_IGNORED;
  std::vector<char*> path_ptrs;
  if (paths != nullptr) {
    for (auto& p : *paths) path_ptrs.push_back(p.data());
    status_opts.flags |= GIT_STATUS_OPT_DISABLE_PATHSPEC_MATCH;
    status_opts.pathspec.strings = path_ptrs.data();
    status_opts.pathspec.count = path_ptrs.size();
  }
  git_status_list* raw_status = nullptr;
  int rc = git_status_list_new(&raw_status, wt, &status_opts);
  if (rc < 0) return tl::unexpected(rc);
  return StatusListPtr(raw_status);
}

// Sorted, without duplicates, and without a path that lies inside another: the scan's exact
// path list reads a directory's whole content through the directory alone, and a path inside
// an ignored directory or a nested repository would not be reported at all.
static std::vector<std::string> covering(std::vector<std::string> paths) {
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  std::vector<std::string> out;
  for (auto& p : paths) {
    bool is_inside = false;
    for (std::size_t slash = p.find('/'); slash != std::string::npos && !is_inside;
         slash = p.find('/', slash + 1)) {
      is_inside = std::binary_search(paths.begin(), paths.end(), p.substr(0, slash));
    }
    if (!is_inside) out.push_back(std::move(p));
  }
  return out;
}

// The paths a limited scan must read: the baseline's, those changed since, and those whose
// index entry changed since (a `git rm --cached` leaves the file untouched but untracked).
// nullopt: the trees cannot be compared; the scan reads everything.
static std::optional<std::vector<std::string>> limited_paths(git_repository* wt,
                                                             const ScanLimit& limit,
                                                             const git_oid& index_tree_oid) {
  if (limit.baseline.index_tree.empty()) return std::nullopt;
  git_oid then_oid;
  if (git_oid_fromstr(&then_oid, limit.baseline.index_tree.c_str()) < 0) return std::nullopt;
  git_tree* raw_then = nullptr;
  git_tree* raw_now = nullptr;
  if (git_tree_lookup(&raw_then, wt, &then_oid) < 0) return std::nullopt;
  TreePtr then_tree(raw_then);
  if (git_tree_lookup(&raw_now, wt, &index_tree_oid) < 0) return std::nullopt;
  TreePtr now_tree(raw_now);
  auto staged = tree_changes(wt, then_tree.get(), now_tree.get());
  if (!staged) return std::nullopt;
  std::vector<std::string> paths = limit.baseline.paths;
  paths.insert(paths.end(), limit.changed.begin(), limit.changed.end());
  paths.insert(paths.end(), staged->begin(), staged->end());
  return covering(std::move(paths));
}

// The tree of the in-memory index once `paths` were staged into it: the tree of the index as
// it was (`base`, cheap from its tree cache) with those paths' entries put in or taken out.
// git_index_write_tree_to makes the same tree, but then reads every tree of the result back
// into its cache: 40 ms of the gap at 200,000 files for two changed files. False when the
// update cannot be made; the caller then writes the tree from the index.
static bool index_tree_with(git_repository* wt, git_index* index, const git_oid& base,
                            const std::vector<std::string>& paths, git_oid& out) {
  if (paths.empty()) {
    git_oid_cpy(&out, &base);
    return true;
  }
  git_tree* raw = nullptr;
  if (git_tree_lookup(&raw, wt, &base) < 0) {
    git_error_clear();
    return false;
  }
  TreePtr tree(raw);
  std::vector<git_tree_update> updates;
  updates.reserve(paths.size());
  for (const auto& path : paths) {
    git_tree_update update{};
    update.path = path.c_str();
    if (const git_index_entry* e = git_index_get_bypath(index, path.c_str(), 0)) {
      update.action = GIT_TREE_UPDATE_UPSERT;
      git_oid_cpy(&update.id, &e->id);
      update.filemode = static_cast<git_filemode_t>(e->mode);
    } else {
      update.action = GIT_TREE_UPDATE_REMOVE;
    }
    updates.push_back(update);
  }
  if (git_tree_create_updated(&out, wt, tree.get(), updates.size(), updates.data()) < 0) {
    git_error_clear();
    return false;
  }
  return true;
}

Result<std::optional<PreservedCommit>> preserve_uncommitted(git_repository* repo,
                                                            const fs::path& worktree_path,
                                                            std::string_view session_id,
                                                            std::vector<CarryEntry>* carry,
                                                            const ScanLimit* limit) {
  (void)repo;  // refs/baton/ and the objects are shared; the worktree's repository suffices
  if (auto valid = validate_session_id(session_id); !valid) return tl::unexpected(valid.error());
  auto wt_repo = open_worktree(worktree_path);
  if (!wt_repo) return tl::unexpected(wt_repo.error());
  git_repository* wt = wt_repo->get();
  const std::string& where = worktree_path.native();
  PreservedCommit preserved;
  preserved.ref = preserved_ref_name(session_id);

  // The repository's index object is private to the repository opened above and is never
  // written back: an in-memory index that starts from the stage (and its stat cache). One
  // read ahead saves reading it here, unless its file changed since.
  if (limit != nullptr && limit->index) {
    if (auto used = use_index(wt, limit->index.get()); !used) return tl::unexpected(used.error());
  }
  git_index* raw_index = nullptr;
  int rc = git_repository_index(&raw_index, wt);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read index of", where));
  IndexPtr index(raw_index);

  // The index as it is, before any worktree content goes in: the index commit. An index with
  // conflicts has no tree; its stage is then not kept apart (the files still are).
  git_oid index_tree_oid;
  bool has_index_tree = git_index_write_tree_to(&index_tree_oid, index.get(), wt) == 0;
  if (!has_index_tree) git_error_clear();

  std::optional<std::vector<std::string>> scan_paths;
  if (limit != nullptr && has_index_tree) {
    scan_paths = limited_paths(wt, *limit, index_tree_oid);
    git_error_clear();
  }

  auto status = scan_worktree(wt, carry != nullptr, scan_paths ? &*scan_paths : nullptr);
  if (!status) return tl::unexpected(libgit2_error(status.error(), "scan worktree", where));
  std::size_t count = *status ? git_status_list_entrycount(status->get()) : 0;

  fs::path root = directory_path(git_repository_workdir(wt));
  if (carry != nullptr) {
    carry->clear();
    list_submodules(index.get(), root, *carry);
  }

  std::vector<std::string> staged_paths;
  constexpr unsigned kWorkdirChange = GIT_STATUS_WT_NEW | GIT_STATUS_WT_MODIFIED |
                                      GIT_STATUS_WT_DELETED | GIT_STATUS_WT_TYPECHANGE |
                                      GIT_STATUS_WT_RENAMED | GIT_STATUS_CONFLICTED;
  for (std::size_t i = 0; i < count; ++i) {
    const git_status_entry* entry = git_status_byindex(status->get(), i);
    const git_diff_delta* delta = entry->index_to_workdir;
    if (delta == nullptr) continue;
    const char* path =
        delta->new_file.path != nullptr ? delta->new_file.path : delta->old_file.path;
    // A retried retire's own manifest (or its temp file) is baton's, not the session's.
    if (std::string_view(path).starts_with(kCarryManifestName)) continue;
    if ((entry->status & GIT_STATUS_IGNORED) != 0) {
      if (carry != nullptr)
        carry->push_back(CarryEntry{CarryKind::kIgnored, without_trailing_slash(path)});
      continue;
    }
    if ((entry->status & kWorkdirChange) == 0) continue;  // staged only: already in the index
    // An untracked directory reported whole under RECURSE_UNTRACKED_DIRS holds a .git: a
    // nested repository, which no tree can hold (git would record only a gitlink).
    if ((entry->status & GIT_STATUS_WT_NEW) != 0 && std::string_view(path).ends_with('/')) {
      if (carry != nullptr) {
        carry->push_back(CarryEntry{CarryKind::kNestedRepository, without_trailing_slash(path)});
        continue;
      }
    }
    if (auto staged = stage_path(index.get(), root, path, preserved.notes); !staged) {
      return tl::unexpected(staged.error());
    }
    staged_paths.emplace_back(path);
  }
  const bool has_conflicts = git_index_has_conflicts(index.get());
  if (has_conflicts) {
    // A conflict whose path vanished from the worktree: the worktree has no version of it.
    git_index_conflict_cleanup(index.get());
  }

  git_oid tree_oid;
  if (!has_index_tree || has_conflicts ||
      !index_tree_with(wt, index.get(), index_tree_oid, staged_paths, tree_oid)) {
    rc = git_index_write_tree_to(&tree_oid, index.get(), wt);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "write tree of", where));
  }

  CommitPtr parent;
  git_reference* raw_head = nullptr;
  rc = git_repository_head(&raw_head, wt);
  if (rc == 0) {
    ReferencePtr head(raw_head);
    git_object* peeled = nullptr;
    rc = git_reference_peel(&peeled, head.get(), GIT_OBJECT_COMMIT);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "resolve HEAD of", where));
    parent.reset(reinterpret_cast<git_commit*>(peeled));
  } else if (rc != GIT_EUNBORNBRANCH) {
    return tl::unexpected(libgit2_error(rc, "resolve HEAD of", where));
  }
  git_oid empty_tree;
  git_oid_fromstr(&empty_tree, "4b825dc642cb6eb9a060e54bf8d69288fbe4904b");
  const git_oid* parent_tree = parent ? git_commit_tree_id(parent.get()) : &empty_tree;
  // Without a HEAD there is no base to keep the stage apart from: the worktree commit alone.
  const bool has_index_commit =
      parent && has_index_tree && !git_oid_equal(&index_tree_oid, parent_tree);
  if (git_oid_equal(&tree_oid, parent_tree) && !has_index_commit) return std::nullopt;

  {
    git_tree* new_tree = nullptr;
    git_tree* old_tree = nullptr;
    if (git_tree_lookup(&new_tree, wt, &tree_oid) == 0) {
      TreePtr new_owned(new_tree);
      if (parent) git_commit_tree(&old_tree, parent.get());
      TreePtr old_owned(old_tree);
      if (auto changed = tree_changes(wt, old_owned.get(), new_owned.get()))
        preserved.paths_changed = changed->size();
    }
    git_error_clear();
  }

  int state = git_repository_state(wt);
  std::string state_line;
  if (const char* doing = state_name(state)) {
    preserved.notes.push_back(fmt::format(
        "{} was in the middle of {}; its files are preserved as they were (conflict markers "
        "included), the {} itself is not",
        where, doing, doing));
    git_oid merge_head;
    if (state == GIT_REPOSITORY_STATE_MERGE &&
        git_reference_name_to_id(&merge_head, wt, "MERGE_HEAD") == 0) {
      state_line = fmt::format("\nIn the middle of a merge with {}.", oid_hex(merge_head));
    } else {
      state_line = fmt::format("\nIn the middle of {}.", doing);
    }
    git_error_clear();
  }

  auto signature = signature_for(wt);
  if (!signature) return tl::unexpected(signature.error());
  git_tree* raw_tree = nullptr;
  rc = git_tree_lookup(&raw_tree, wt, &tree_oid);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up tree", oid_hex(tree_oid)));
  TreePtr tree(raw_tree);
  std::string message = fmt::format("baton: uncommitted work of session {}\n\nWorktree: {}{}\n",
                                    session_id, where, state_line);
  // As `git stash`: the index commit on HEAD, the worktree commit on HEAD and the index
  // commit. The index commit is made even when the stage equals HEAD, so every preserved
  // commit has the same shape (second parent = the stage).
  CommitPtr index_commit;
  if (parent && has_index_tree) {
    git_tree* raw_index_tree = nullptr;
    rc = git_tree_lookup(&raw_index_tree, wt, &index_tree_oid);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up index tree of", where));
    TreePtr index_tree(raw_index_tree);
    std::string index_message =
        fmt::format("baton: index of session {}\n\nWorktree: {}\n", session_id, where);
    const git_commit* index_parents[] = {parent.get()};
    git_oid index_oid;
    rc = git_commit_create(&index_oid, wt, nullptr, signature->get(), signature->get(), nullptr,
                           index_message.c_str(), index_tree.get(), 1, index_parents);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "commit the index of", where));
    git_commit* raw_index_commit = nullptr;
    rc = git_commit_lookup(&raw_index_commit, wt, &index_oid);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up index commit of", where));
    index_commit.reset(raw_index_commit);
    preserved.index_oid = oid_hex(index_oid);
  }
  const git_commit* parents[] = {parent.get(), index_commit.get()};
  const std::size_t parent_count = parent ? (index_commit ? 2 : 1) : 0;
  git_oid commit_oid;
  rc = git_commit_create(&commit_oid, wt, nullptr, signature->get(), signature->get(), nullptr,
                         message.c_str(), tree.get(), parent_count, parents);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "commit preserved work of", where));

  // Pinned under refs/baton/, shared by all worktrees, instead of refs/stash, whose top
  // entry any worktree can replace (DESIGN.md §8). Forced: a retry of the same session
  // records the worktree's latest state.
  git_reference* raw_ref = nullptr;
  std::string log = fmt::format("baton: preserve {}", session_id);
  rc = git_reference_create(&raw_ref, wt, preserved.ref.c_str(), &commit_oid, 1, log.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "create ref", preserved.ref));
  git_reference_free(raw_ref);
  preserved.oid = oid_hex(commit_oid);
  return preserved;
}

Result<ScanBaseline> scan_baseline(const fs::path& worktree_path) {
  auto wt_repo = open_worktree(worktree_path);
  if (!wt_repo) return tl::unexpected(wt_repo.error());
  git_repository* wt = wt_repo->get();
  const std::string& where = worktree_path.native();
  ScanBaseline baseline;
  git_index* raw_index = nullptr;
  int rc = git_repository_index(&raw_index, wt);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read index of", where));
  IndexPtr index(raw_index);
  git_oid index_tree_oid;
  if (git_index_write_tree_to(&index_tree_oid, index.get(), wt) == 0) {
    baseline.index_tree = oid_hex(index_tree_oid);
  } else {
    git_error_clear();
  }
  auto status = scan_worktree(wt, true, nullptr);
  if (!status) return tl::unexpected(libgit2_error(status.error(), "scan worktree", where));
  for (std::size_t i = 0, n = git_status_list_entrycount(status->get()); i < n; ++i) {
    const git_diff_delta* delta = git_status_byindex(status->get(), i)->index_to_workdir;
    if (delta == nullptr) continue;
    const char* path =
        delta->new_file.path != nullptr ? delta->new_file.path : delta->old_file.path;
    baseline.paths.push_back(without_trailing_slash(path));
  }
  return baseline;
}

Result<bool> is_ignored_path(git_repository* worktree_repo, const std::string& path) {
  int ignored = 0;
  int rc = git_ignore_path_is_ignored(&ignored, worktree_repo, path.c_str());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "check ignore rules for", path));
  return ignored != 0;
}

}  // namespace baton::git
