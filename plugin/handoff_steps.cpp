#include "plugin/handoff_steps.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>

#include <spdlog/spdlog.h>

#include "git/branch.hpp"
#include "git/carry.hpp"
#include "git/checked_out.hpp"
#include "git/inventory.hpp"
#include "git/preserve.hpp"
#include "git/preserved_refs.hpp"
#include "git/reapply.hpp"
#include "git/release.hpp"
#include "git/repository.hpp"
#include "git/submodules.hpp"
#include "git/worktree.hpp"
#include "plugin/standby_steps.hpp"
#include "plugin/trust.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

namespace {

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found && !ec;
}

std::string discard_prepared_in(git_repository* repo, const std::string& project_dir,
                                const std::string& session_id) {
  const std::string prepared = prepared_path(project_dir, session_id);
  const std::string trash = trash_path(project_dir, session_id);
  if (exists(prepared)) {
    if (auto r = git::release_rename_aside(prepared, trash); !r) return r.error().message;
  }
  if (auto r = git::release_prune(repo, git::worktree_name(session_id), ""); !r) {
    if (r.error().code != git::kWorktreeNotFound) return r.error().message;
  }
  if (exists(trash)) {
    if (auto r = git::delete_trash(trash); !r) return r.error().message;
  }
  if (auto r = git::delete_temp_branch(repo, session_id); !r) return r.error().message;
  return {};
}

// Who has `branch` checked out, by baton's own check (DESIGN.md §8: libgit2's is wrong).
tl::expected<std::optional<fs::path>, std::string> branch_holder(const std::string& repo_path,
                                                                 const std::string& branch) {
  auto proj = git::open_project(repo_path);
  if (!proj) return tl::make_unexpected(proj.error().message);
  auto holder = git::who_has_branch_checked_out(proj->repo.get(), branch);
  if (!holder) return tl::make_unexpected(holder.error().message);
  return *holder;
}

std::string branch_busy_message(const std::string& branch, const std::string& where) {
  return "branch " + branch + " is checked out at " + where +
         ": switch that worktree to another branch (git switch main), then run 'baton replace'";
}

// Whether `tree` lies under `project_dir`: a baton worktree of this BATON_HOME's project.
// Compared resolved: git records the path it was given, and a BATON_HOME reached through a
// symlink must still recognise its own trees.
bool is_under(const fs::path& tree, const std::string& project_dir) {
  std::error_code ec;
  fs::path t = fs::weakly_canonical(tree, ec);
  if (ec) t = tree.lexically_normal();
  fs::path dir = fs::weakly_canonical(project_dir, ec);
  if (ec) dir = fs::path(project_dir).lexically_normal();
  return t.string().rfind(dir.string() + "/", 0) == 0;
}

bool is_one_of(const fs::path& tree, const std::vector<std::string>& trees) {
  std::error_code ec;
  for (const auto& t : trees) {
    if (!t.empty() && fs::equivalent(tree, t, ec)) return true;
  }
  return false;
}

// A worktree on the canonical branch that is not this project's — the user's own, or baton's
// of another BATON_HOME (its admin entry has baton's name, its tree lies elsewhere) — would
// make the handoff fail after retire (check_branch_free): refused while nothing is touched.
Expected<void> check_other_worktrees(git_repository* repo, const std::string& branch,
                                     const std::string& project_dir,
                                     const std::vector<std::string>& known_trees) {
  auto heads = git::list_worktree_heads(repo);
  if (!heads) return error(ErrorCode::kFailed, heads.error().message);
  const std::string ref = "refs/heads/" + branch;
  for (const auto& h : *heads) {
    if (h.head_ref != ref && h.rebasing_ref != ref) continue;
    const bool is_batons = h.name.rfind(git::kWorktreeNamePrefix, 0) == 0;
    // A baton entry whose tree is gone is pruned by the sweep; it holds nothing.
    if (is_batons &&
        (!h.exists_on_disk || is_under(h.path, project_dir) || is_one_of(h.path, known_trees)))
      continue;
    if (!is_batons)
      return error(ErrorCode::kBranchBusy, branch_busy_message(branch, h.path.string()));
    return error(ErrorCode::kBranchBusy,
                 "branch " + branch + " is checked out at " + h.path.string() +
                     ", the orchestrator of another baton (another BATON_HOME): run 'baton "
                     "down' with that BATON_HOME first, then run 'baton replace'");
  }
  return {};
}

// Something the user put at the stable path would stop the move onto it after every
// orchestrator was retired: refused now, and kept.
Expected<void> check_stable_path(const std::string& stable) {
  std::error_code ec;
  const auto type = fs::symlink_status(stable, ec).type();
  if (type != fs::file_type::not_found && type != fs::file_type::directory) {
    return error(ErrorCode::kInTheWay,
                 stable + " is in the way: a " +
                     (type == fs::file_type::symlink ? "symlink" : "file") +
                     ", not the orchestrator's worktree; move it away, then run 'baton replace'");
  }
  const bool is_foreign_dir =
      type == fs::file_type::directory && !exists(stable + "/.git") && !fs::is_empty(stable, ec);
  if (is_foreign_dir) {
    return error(ErrorCode::kInTheWay,
                 stable +
                     " is in the way: a directory that is not a git worktree; move it away, "
                     "then run 'baton replace'");
  }
  return {};
}

// Every handoff ends by sweeping what an interrupted one left: trash trees, admin entries of
// baton worktrees whose tree is gone, temporary branches nobody has checked out. Errors are
// only logged: the sessions they belong to carry their own.
void sweep_leftovers(const std::string& repo_path, const std::string& project_dir,
                     const std::vector<std::string>& standby_ids) {
  auto proj = git::open_project(repo_path);
  if (!proj) return;
  auto inv = git::inventory(proj->repo.get(), project_dir);
  if (!inv) return;
  // The standby's own pieces are the standby's to keep or discard (plugin/standby.hpp).
  remove_standby_pieces(*inv, standby_ids);
  // The next worker's tree (workers/.standby) is the workers' own.
  remove_standby_pieces(*inv, plugin::standby_ids(workers_dir(project_dir), ""));
  for (const auto& t : inv->trash_dirs) {
    if (auto d = git::delete_trash(t.path); !d) {
      spdlog::warn("{}", d.error().message);
    } else if (auto m = git::delete_saved_modules(proj->repo.get(), t.session_id); !m) {
      spdlog::warn("{}", m.error().message);
    }
  }
  for (const auto& e : inv->stale_entries) {
    if (e.name.rfind(git::kWorktreeNamePrefix, 0) != 0) continue;
    if (auto r = git::release_prune(proj->repo.get(), e.name, ""); !r)
      spdlog::warn("{}", r.error().message);
  }
  for (const auto& b : inv->temp_branches) {
    const std::string id = b.substr(git::kTempBranchPrefix.size());
    if (auto r = git::delete_temp_branch(proj->repo.get(), id); !r)
      spdlog::warn("{}", r.error().message);
  }
}

// Re-applies each preserved commit in the new tree; conflicts leave the ref and become notes.
void reapply_all(git_repository* repo, const std::string& stable,
                 const std::vector<std::string>& commits, std::vector<std::string>& notes,
                 git_index* index) {
  for (const auto& c : commits) {
    auto ra = git::reapply_preserved(repo, stable, c, index);
    if (!ra) {
      notes.push_back("could not re-apply " + c + ": " + ra.error().message);
    } else if (!ra->conflicts.empty()) {
      std::string files;
      for (const auto& f : ra->conflicts) files += (files.empty() ? "" : ", ") + f;
      notes.push_back("preserved work " + c.substr(0, 12) + " conflicts in " + files +
                      "; it stays at its ref (baton preserved apply)");
    } else {
      for (auto& n : ra->notes) notes.push_back(n);
    }
  }
}

// The new agent starts in a tree that already holds the old one's .env, node_modules/ and
// submodules: one rename per entry, no copy.
void carry_all(git_repository* repo, const std::string& stable,
               const std::vector<std::pair<std::string, std::string>>& retired_trees,
               std::vector<std::string>& notes) {
  for (const auto& [trash, old_id] : retired_trees) {
    auto carried = git::carry_entries(repo, trash, old_id, stable);
    if (!carried) {
      notes.push_back("could not carry from " + trash + ": " + carried.error().message);
      continue;
    }
    for (const auto& k : carried->kept)
      notes.push_back("kept " + k + " (the new tree has its own) in " + carried->kept_dir.string() +
                      " (baton preserved ls)");
    for (const auto& f : carried->failed)
      notes.push_back("not carried: " + f + "; kept in " + trash);
  }
}

}  // namespace

std::string stable_path(const std::string& project_dir) {
  return project_dir + "/" + std::string(git::kStableDirName);
}

std::string prepared_path(const std::string& project_dir, const std::string& session_id) {
  return project_dir + "/" + std::string(git::kPrepareDirPrefix) + session_id;
}

std::string trash_path(const std::string& project_dir, const std::string& session_id) {
  return project_dir + "/" + std::string(git::kTrashDirPrefix) + session_id;
}

std::string workers_dir(const std::string& project_dir) {
  return project_dir + "/" + std::string(kWorkersDirName);
}

unsigned number_suffix(const std::string& id) {
  const auto dash = id.rfind('-');
  if (dash == std::string::npos) return 0;
  try {
    return static_cast<unsigned>(std::stoul(id.substr(dash + 1)));
  } catch (...) {
    return 0;
  }
}

Expected<Preflight> check_preflight(const std::string& repo_path, const std::string& state_dir,
                                    const std::string& project_dir, const ProjectConfig& cfg,
                                    const std::vector<std::string>& known_trees) {
  if (cfg.needs_trust() && !is_allowed(state_dir, repo_path, cfg.content_hash))
    return error(ErrorCode::kNotAllowed, not_allowed_message(cfg, repo_path));
  auto proj = git::open_project(repo_path);
  if (!proj) return error(ErrorCode::kFailed, proj.error().message);
  git_repository* repo = proj->repo.get();
  if (auto b = git::ensure_canonical_branch(repo, cfg.branch, cfg.base_branch); !b)
    return error(ErrorCode::kFailed, b.error().message);
  if (auto busy = check_other_worktrees(repo, cfg.branch, project_dir, known_trees); !busy)
    return tl::make_unexpected(busy.error());
  if (auto in_the_way = check_stable_path(stable_path(project_dir)); !in_the_way)
    return tl::make_unexpected(in_the_way.error());
  auto inv = git::inventory(repo, project_dir);
  if (!inv) return error(ErrorCode::kFailed, inv.error().message);
  // Session numbers are never reused: every number git and the directories hold counts.
  Preflight c;
  for (const auto& ref : inv->preserved_refs)
    c.max_number = std::max(c.max_number, number_suffix(ref));
  for (const auto& d : inv->trash_dirs)
    c.max_number = std::max(c.max_number, number_suffix(d.session_id));
  for (const auto& d : inv->prepare_dirs) {
    c.max_number = std::max(c.max_number, number_suffix(d.session_id));
    if (auto e = discard_prepared_in(repo, project_dir, d.session_id); !e.empty())
      return error(ErrorCode::kFailed, e);
  }
  for (const auto& b : inv->temp_branches) c.max_number = std::max(c.max_number, number_suffix(b));
  // Admin entries too, wherever their trees are: another BATON_HOME's worktrees of this
  // repository (or those of a store that was lost) hold names a new session must not take.
  if (auto heads = git::list_worktree_heads(repo)) {
    const std::string mine =
        std::string(git::kWorktreeNamePrefix) + fs::path(project_dir).filename().string() + "-";
    for (const auto& h : *heads) {
      if (h.name.rfind(mine, 0) == 0) c.max_number = std::max(c.max_number, number_suffix(h.name));
    }
  }
  c.stable_owner = git::worktree_owner(stable_path(project_dir)).session_id;
  if (!c.stable_owner.empty()) c.max_number = std::max(c.max_number, number_suffix(c.stable_owner));
  return c;
}

Expected<void> discard_prepared(const std::string& repo_path, const std::string& project_dir,
                                const std::string& session_id) {
  auto proj = git::open_project(repo_path);
  if (!proj) return error(ErrorCode::kFailed, proj.error().message);
  if (auto e = discard_prepared_in(proj->repo.get(), project_dir, session_id); !e.empty())
    return error(ErrorCode::kFailed, e);
  return {};
}

Expected<std::vector<std::string>> prepare_tree(const std::string& repo_path,
                                                const std::string& project_dir,
                                                const std::string& session_id,
                                                const std::string& branch,
                                                const std::vector<std::string>& symlinks) {
  auto notes = prepare_tree_at(repo_path, prepared_path(project_dir, session_id), session_id,
                               branch, symlinks);
  if (!notes && notes.error().code == ErrorCode::kPrepareFailed) {
    if (auto proj = git::open_project(repo_path))
      discard_prepared_in(proj->repo.get(), project_dir, session_id);
  }
  return notes;
}

Expected<std::vector<std::string>> fill_new_tree(git_repository* repo, const std::string& repo_path,
                                                 const std::string& tree,
                                                 const std::vector<std::string>& symlinks) {
  std::error_code ec;
  std::vector<std::string> notes;
  // Submodules as the user's own checkout has them, before anything is stopped.
  if (auto sm = git::init_submodules(repo, tree); !sm) {
    notes.push_back(sm.error().message);
  } else {
    notes = std::move(sm->notes);
  }
  for (const auto& link : symlinks) {
    const fs::path src = fs::path(repo_path) / link;
    const fs::path dst = fs::path(tree) / link;
    if (!fs::exists(src, ec)) continue;
    fs::create_directories(dst.parent_path(), ec);
    fs::remove(dst, ec);
    fs::create_symlink(src, dst, ec);
    if (ec) {
      // The caller discards the tree: it knows where a half-made one goes.
      return error(ErrorCode::kPrepareFailed,
                   "cannot link " + dst.string() + " to " + src.string() + ": " + ec.message());
    }
  }
  return notes;
}

Expected<std::vector<std::string>> prepare_tree_at(const std::string& repo_path,
                                                   const std::string& path,
                                                   const std::string& session_id,
                                                   const std::string& branch,
                                                   const std::vector<std::string>& symlinks,
                                                   const std::function<bool()>& is_cancelled) {
  std::error_code ec;
  const std::string project_dir = fs::path(path).parent_path().string();
  fs::create_directories(project_dir, ec);
  if (ec)
    return error(ErrorCode::kPrepareFailed, "cannot create " + project_dir + ": " + ec.message());
  auto proj = git::open_project(repo_path);
  if (!proj) return error(ErrorCode::kPrepareFailed, proj.error().message);
  auto prepared =
      git::prepare_worktree_at(proj->repo.get(), path, session_id, branch, is_cancelled);
  if (!prepared && prepared.error().code == git::kCancelled)
    return error(ErrorCode::kFailed, prepared.error().message);
  if (!prepared) return error(ErrorCode::kPrepareFailed, prepared.error().message);
  return fill_new_tree(proj->repo.get(), repo_path, prepared->path.string(), symlinks);
}

RetiredTree retire_tree(const RetireTree& in) {
  RetiredTree out;
  auto failed = [&out](std::string message) {
    out.result = error(ErrorCode::kFailed, std::move(message));
    return out;
  };
  auto proj = git::open_project(in.repo_path);
  if (!proj) return failed(proj.error().message);
  git_repository* repo = proj->repo.get();
  // Retrying a retire: once the tree is aside, the path may already hold the next
  // orchestrator's tree, which must never be touched.
  const bool has_tree = !in.worktree.empty() && exists(in.worktree) && !exists(in.trash) &&
                        git::worktree_owner(in.worktree).session_id == in.session_id;
  if (has_tree && !in.has_preserved) {
    // The same scan lists what no commit holds (ignored files, nested repositories,
    // submodules); the list goes into the tree before it moves, so a retried retire or a
    // restarted daemon still knows what to carry out of the trash (or, for `down`, keep in
    // .kept-<id>: delete_trash).
    std::vector<git::CarryEntry> carry;
    std::optional<git::ScanLimit> limit;
    if (in.scan_limit) limit = in.scan_limit(out.scan.why_full);
    if (limit) {
      out.scan.is_limited = true;
      out.scan.paths = limit->baseline.paths.size() + limit->changed.size();
    } else if (out.scan.why_full.empty()) {
      out.scan.why_full = "no change record";
    }
    auto p = git::preserve_uncommitted(repo, in.worktree, in.session_id, &carry,
                                       limit ? &*limit : nullptr);
    if (!p) return failed(p.error().message);
    if (*p) {
      out.ref = (*p)->ref;
      out.commit = (*p)->oid;
      out.notes = (*p)->notes;
    }
    if (auto m = git::write_carry_manifest(in.worktree, carry); !m)
      return failed(m.error().message);
  }
  out.preserved_at = std::chrono::steady_clock::now();
  if (has_tree) {
    if (auto a = git::release_rename_aside(in.worktree, in.trash); !a)
      return failed(a.error().message);
  }
  // Its submodules' git dirs live in its admin dir, which the prune deletes.
  const std::string name = git::worktree_name(in.session_id);
  if (auto sm = git::save_submodule_git_dirs(repo, name, in.session_id); !sm)
    return failed(sm.error().message);
  // The branch-free check comes once, after every retire (check_branch_free).
  if (auto pr = git::release_prune(repo, name, "");
      !pr && pr.error().code != git::kWorktreeNotFound)
    return failed(pr.error().message);
  return out;
}

Expected<void> check_branch_free(const std::string& repo_path, const std::string& branch) {
  auto holder = branch_holder(repo_path, branch);
  if (!holder) return error(ErrorCode::kFailed, holder.error());
  if (*holder)
    return error(ErrorCode::kBranchBusy, branch_busy_message(branch, (*holder)->string()));
  return {};
}

Expected<std::vector<std::string>> adopt_tree(const AdoptTree& in, const FaultHit& fault_hit) {
  auto faulted = [&fault_hit](std::string_view point) -> std::optional<Error> {
    if (!fault_hit || !fault_hit(point)) return std::nullopt;
    return Error{ErrorCode::kFault, "fault injected at " + std::string(point)};
  };
  auto proj = git::open_project(in.repo_path);
  if (!proj) return error(ErrorCode::kAdoptFailed, proj.error().message);
  git_repository* repo = proj->repo.get();
  if (exists(in.prepared)) {
    if (auto m = git::move_worktree(repo, in.prepared_name, in.stable); !m)
      return error(ErrorCode::kAdoptFailed, m.error().message);
  }
  if (auto f = faulted("adopt.moved")) return tl::make_unexpected(*f);
  if (auto a = git::adopt_branch(repo, in.stable, in.branch, in.temp_branch); !a)
    return error(ErrorCode::kAdoptFailed, a.error().message);
  if (auto f = faulted("adopt.adopted")) return tl::make_unexpected(*f);
  std::vector<std::string> notes;
  reapply_all(repo, in.stable, in.commits, notes, in.index.get());
  if (auto f = faulted("adopt.reapplied")) return tl::make_unexpected(*f);
  // Before the launch, so the new agent never starts in a tree that lacks them.
  carry_all(repo, in.stable, in.retired_trees, notes);
  return notes;
}

Expected<void> verify_branch(const std::string& repo_path, const std::string& branch,
                             const std::string& stable) {
  auto holder = branch_holder(repo_path, branch);
  if (!holder) return error(ErrorCode::kVerifyFailed, holder.error());
  if (!*holder || !git::is_same_path(**holder, stable))
    return error(ErrorCode::kVerifyFailed,
                 "verification failed: " + branch + " is not checked out at " + stable);
  return {};
}

std::map<std::string, std::string> delete_trash(const std::string& repo_path,
                                                const std::string& project_dir,
                                                const std::vector<std::string>& session_ids,
                                                TrashMode mode,
                                                const std::vector<std::string>& standby_ids) {
  std::map<std::string, std::string> errors;
  auto proj = git::open_project(repo_path);
  for (const auto& id : session_ids) {
    const std::string trash = trash_path(project_dir, id);
    if (!exists(trash)) continue;
    // `down`: what no commit holds (ignored files, nested repositories, submodule work) is
    // kept whole, never deleted; a submodule's git dir stays saved.
    bool keeps_modules = false;
    if (mode == TrashMode::kKeepUntracked) {
      auto kept = git::keep_entries(trash, id);
      if (!kept) {
        errors[id] = kept.error().message;
        continue;
      }
      keeps_modules = kept->has_submodules;
      for (const auto& k : kept->moved.kept)
        spdlog::info("down: kept {} in {}", k, kept->moved.kept_dir.string());
    }
    if (auto d = git::delete_trash(trash); !d) {
      errors[id] = d.error().message;
    } else if (proj && !keeps_modules) {
      // The submodule git dirs its tree did not take along go with it.
      if (auto m = git::delete_saved_modules(proj->repo.get(), id); !m)
        spdlog::warn("{}", m.error().message);
    }
  }
  sweep_leftovers(repo_path, project_dir, standby_ids);
  return errors;
}

}  // namespace baton::plugin
