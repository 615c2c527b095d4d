// A worker's git and file work (docs/workers.md), one synchronous function per step, as the
// handoff's are (plugin/handoff_steps.hpp): the loop side (plugin/workers.cpp) runs each off
// the loop; the in-process tests call them against real repositories. A worker lives at
// <project dir>/workers/<name>, is prepared at workers/.prepare-<id> and put aside at
// workers/.trash-<id>, so no orchestrator handoff's sweep of <project dir> ever sees it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugin/handoff_steps.hpp"

namespace baton::plugin {

std::string worker_path(const std::string& project_dir, const std::string& name);
// "<project>-w<n>": numbered apart from the orchestrators' <project>-<n>.
std::string worker_id(const std::string& project, unsigned number);
// n of "<project>-w<n>" for this project, else 0.
unsigned worker_number(const std::string& project, std::string_view id);
// "baton/<prefix>-<name>", beside the canonical "baton/<prefix>-orchestrator".
std::string worker_branch(const std::string& session_prefix, const std::string& name);

// Why `name` cannot name a worker, as the end of "worker name 'x' ...": it must be a slug (A-Z
// a-z 0-9 . _ -, not starting with '.' or '-'), at most 64 characters, a valid branch
// component, and not "orchestrator" (its branch would be the canonical one).
std::optional<std::string> worker_name_problem(std::string_view name);

// ---- spawn
struct SpawnCheck {
  unsigned max_number = 0;  // the highest worker number git and the directories know of
  std::string base_commit;  // what the branch will start at (or starts at, when reused)
};
struct CheckSpawn {
  std::string repo_path;
  std::string project_dir;
  std::string project;
  std::string name;
  std::string branch;     // the worker's
  std::string base;       // a revision; "" = the canonical branch's tip
  std::string canonical;  // created from canonical_base when missing
  std::string canonical_base;
  bool reuse_branch = false;
};
// Before anything is made: the canonical branch exists, the base names a commit, the worker's
// branch does not exist (unless reused) and nobody has it checked out, and the worker numbers
// git knows of (admin entries, preserved refs, directories), so none is taken twice.
Expected<SpawnCheck> check_spawn(const CheckSpawn& in);

struct MakeWorker {
  std::string repo_path;
  std::string project_dir;
  std::string id;
  std::string name;
  std::string branch;
  std::string base;  // a revision; "" = the canonical branch
  std::string canonical;
  bool reuse_branch = false;
  std::vector<std::string> symlinks;
};
struct MadeWorker {
  std::string path;  // workers/<name>
  std::string tip;   // the commit it is checked out at
  std::vector<std::string> notes;
};
// The branch made from the base (or taken, reused), the tree checked out at workers/.prepare-
// <id> on it, locked "baton worker <name> <id>", filled (submodules, symlinks), then moved to
// workers/<name>. A failure leaves no tree behind (the branch made stays, at its base, and a
// retry takes it). Repeatable: a prepared tree an interrupted spawn left is discarded first.
Expected<MadeWorker> make_worker_tree(const MakeWorker& in);

// Undoes a spawn whose agent never started (a post_create that failed, a launch that did
// not): its tree removed wherever it got (prepared or in place) — nobody worked in it — and,
// when `made_branch_at` is set (the spawn made the branch there), the branch deleted if it
// still points there. Repeatable.
Expected<void> discard_worker_tree(const MakeWorker& in, const std::string& made_branch_at);

// ---- finish
struct FinishWorker {
  std::string repo_path;
  std::string project_dir;
  std::string id;
  std::string worktree;  // workers/<name>
  std::string branch;
  std::string canonical;
  bool has_preserved = false;  // an earlier try preserved its work already
  bool delete_branch = false;
};
struct FinishedWorker {
  std::string ref;  // the preserved work, when there was any
  std::string commit;
  std::vector<std::string> notes;
  std::vector<std::string> kept;  // what no commit holds, moved whole to kept_dir
  std::string kept_dir;
  bool is_branch_deleted = false;
  std::string why_branch_kept;  // with delete_branch: why it was not deleted
  Expected<void> result;
};
// Preserves the worker's uncommitted work at refs/baton/preserved/<id> (tracked and untracked;
// what no commit holds — ignored files, nested repositories — goes whole to
// workers/.kept-<id>), puts its tree aside and prunes its admin entry, deletes the tree, and
// with delete_branch deletes the branch when it is merged into the canonical one. Repeatable:
// a retry neither preserves twice nor touches another tree; a tree it cannot delete stays
// aside with the error (the worker stays finishing, health stuck).
FinishedWorker finish_worker_tree(const FinishWorker& in);

}  // namespace baton::plugin
