// The handoff, top to bottom as its five phases. Each persisted transition is one visible
// persist_then() line; git work runs off the loop; a failure before retire touches nothing.
#include "plugin/handoff.hpp"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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
#include "hooks/runner.hpp"
#include "plugin/fault.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/outlived_agent.hpp"
#include "plugin/trust.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;
using runtime::protocol::Json;

namespace {

struct StepResult {
  std::string error;  // empty: ok
  ErrorCode code = ErrorCode::kFailed;
  std::vector<std::string> notes;
};

unsigned number_suffix(const std::string& id) {
  const auto dash = id.rfind('-');
  if (dash == std::string::npos) return 0;
  try {
    return static_cast<unsigned>(std::stoul(id.substr(dash + 1)));
  } catch (...) {
    return 0;
  }
}

std::string read_small_file(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found && !ec;
}

// Removes a worktree prepared by an earlier, unfinished handoff: aside, prune, delete, and its
// temporary branch. Idempotent.
std::string discard_prepared(git_repository* repo, const std::string& project_dir,
                             const std::string& session_id) {
  const std::string prepared = project_dir + "/" + std::string(git::kPrepareDirPrefix) + session_id;
  const std::string trash = project_dir + "/" + std::string(git::kTrashDirPrefix) + session_id;
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

// True when the tree at `path` is the linked worktree baton made for `session_id`.
bool is_worktree_of(const std::string& path, const std::string& session_id) {
  const std::string gitfile = read_small_file(path + "/.git");
  const std::string admin = "/worktrees/" + git::worktree_name(session_id);
  const auto nl = gitfile.find_last_not_of("\r\n");
  const std::string link = gitfile.substr(0, nl == std::string::npos ? 0 : nl + 1);
  return link.size() >= admin.size() &&
         link.compare(link.size() - admin.size(), admin.size(), admin) == 0;
}

// Every handoff ends by sweeping what an interrupted one left: trash trees, admin entries of
// baton worktrees whose tree is gone, temporary branches nobody has checked out. Errors are
// only logged: the sessions they belong to carry their own.
void sweep_leftovers(const std::string& repo_path, const std::string& project_dir) {
  auto proj = git::open_project(repo_path);
  if (!proj) return;
  auto inv = git::inventory(proj->repo.get(), project_dir);
  if (!inv) return;
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

// Who has `branch` checked out, by baton's own check (DESIGN.md §8: libgit2's is wrong).
tl::expected<std::optional<fs::path>, std::string> branch_holder(const std::string& repo_path,
                                                                 const std::string& branch) {
  auto proj = git::open_project(repo_path);
  if (!proj) return tl::make_unexpected(proj.error().message);
  auto holder = git::who_has_branch_checked_out(proj->repo.get(), branch);
  if (!holder) return tl::make_unexpected(holder.error().message);
  return *holder;
}

}  // namespace

Handoff::Handoff(Orchestrator& orch, HandoffRequest req) : orch_(orch), req_(std::move(req)) {}

ProjectState* Handoff::project() {
  return orch_.find_project(req_.project);
}

void Handoff::join(ProgressFn progress, OutcomeFn done, OutcomeFn waited) {
  if (progress) progress_fns_.push_back(std::move(progress));
  if (done) {
    if (is_done_)
      done(outcome_);
    else
      done_fns_.push_back(std::move(done));
  }
  if (waited) {
    if (is_waited_)
      waited(outcome_);
    else
      waited_fns_.push_back(std::move(waited));
  }
}

void Handoff::progress(const std::string& step, const std::string& detail) {
  step_ = step;
  spdlog::info("handoff {}: {} {}", req_.project, step, detail);
  for (auto& fn : progress_fns_) fn(step, detail);
}

void Handoff::persist_then(std::function<void()> next) {
  auto self = shared_from_this();
  const GapStep resumed = gap_step_;
  gap_enter(GapStep::kPersist);
  orch_.persist([self, resumed, next = std::move(next)](tl::expected<void, std::string> r) {
    self->gap_enter(resumed);
    if (!r) return self->fail(ErrorCode::kPersistFailed, r.error());
    next();
  });
}

void Handoff::gap_enter(GapStep next, std::chrono::steady_clock::time_point at) {
  if (!is_in_gap_) return;
  outcome_.gap_steps_us[static_cast<std::size_t>(gap_step_)] += static_cast<long>(
      std::chrono::duration_cast<std::chrono::microseconds>(at - gap_mark_).count());
  gap_mark_ = at;
  gap_step_ = next;
}

void Handoff::start() {
  progress("preflight", req_.project);
  preflight();
}

// ---- 1. preflight: config, agent, repository, branch, trust, before_retire. Touches nothing.
void Handoff::preflight() {
  auto self = shared_from_this();
  ProjectState* p = project();
  orch_.reload_config(*p, req_.env, [self, p](tl::expected<ProjectConfig, std::string> cfg) {
    if (!cfg) return self->fail(ErrorCode::kConfigError, cfg.error());
    self->cfg_ = *cfg;
    // `down` starts nothing: it stops the orchestrator with the config it runs under, the
    // allowed one in force, when newer content waits for `baton allow`.
    if (self->req_.is_down && !cfg->is_allowed && p->config && p->config->is_allowed)
      self->cfg_ = *p->config;
    self->agent_ = self->req_.agent.empty() ? self->cfg_.agent : self->req_.agent;
    auto it = self->cfg_.agents.find(self->agent_);
    if (self->req_.is_down) {
      // Nothing will be started: only the retire phase runs.
    } else if (it == self->cfg_.agents.end()) {
      std::string names;
      for (const auto& [name, spec] : self->cfg_.agents)
        names += (names.empty() ? "" : ", ") + name;
      return self->fail(ErrorCode::kAgentNotFound,
                        "agent '" + self->agent_ + "' is not defined: use " + names);
    }
    std::string argv0 =
        self->req_.is_down || it->second.command.empty() ? "" : it->second.command[0];
    if (argv0 == "$SHELL") argv0 = "/bin/sh";
    const auto path_it = self->req_.env.find("PATH");
    const std::string path = path_it == self->req_.env.end() ? "/usr/bin:/bin" : path_it->second;
    if (!self->req_.is_down && !is_on_path(argv0, path))
      return self->fail(ErrorCode::kAgentNotFound,
                        "agent '" + self->agent_ + "' runs '" + argv0 + "', which is not on PATH");
    if (!self->req_.is_down) {
      // `baton up` says which agent and why (DESIGN.md §7 defaults).
      self->progress("preflight",
                     "agent " + self->agent_ + " (" +
                         (self->req_.agent.empty() ? self->cfg_.agent_reason : "--agent") + ")");
    }
    self->project_dir_ = self->cfg_.workspace_root + "/" + p->id;
    self->stable_path_ = self->project_dir_ + "/" + std::string(git::kStableDirName);

    struct Checked {
      StepResult r;
      unsigned max_number = 0;
      std::string stable_owner;  // session id of the tree at the stable path, if any
    };
    const std::string repo_path = p->path;
    const std::string state_dir = self->orch_.paths().state_dir;
    const ProjectConfig cfg_copy = self->cfg_;
    const std::string project_dir = self->project_dir_;
    std::string busy_prepare;  // a prepare left by an unfinished handoff is discarded here
    run_off_loop<Checked>(
        self->orch_.loop(),
        [repo_path, state_dir, cfg_copy, project_dir]() -> Checked {
          Checked c;
          if (cfg_copy.needs_trust() && !is_allowed(state_dir, repo_path, cfg_copy.content_hash)) {
            c.r.code = ErrorCode::kNotAllowed;
            c.r.error = not_allowed_message(cfg_copy, repo_path);
            return c;
          }
          auto proj = git::open_project(repo_path);
          if (!proj) {
            c.r.error = proj.error().message;
            return c;
          }
          if (auto b = git::ensure_canonical_branch(proj->repo.get(), cfg_copy.branch,
                                                    cfg_copy.base_branch);
              !b) {
            c.r.error = b.error().message;
            return c;
          }
          // The user's own worktree on the canonical branch would make the handoff fail after
          // retire (check_branch_free): refuse here, while nothing is touched yet.
          auto heads = git::list_worktree_heads(proj->repo.get());
          if (!heads) {
            c.r.error = heads.error().message;
            return c;
          }
          const std::string ref = "refs/heads/" + cfg_copy.branch;
          for (const auto& h : *heads) {
            if (h.name.rfind(git::kWorktreeNamePrefix, 0) == 0) continue;
            if (h.head_ref != ref && h.rebasing_ref != ref) continue;
            c.r.code = ErrorCode::kBranchBusy;
            c.r.error = "branch " + cfg_copy.branch + " is checked out at " + h.path.string() +
                        ": switch that worktree to another branch (git switch main), then run "
                        "'baton replace'";
            return c;
          }
          // Something the user put at the stable path would stop the move onto it after every
          // orchestrator was retired: refuse now, and keep it.
          const std::string stable = project_dir + "/" + std::string(git::kStableDirName);
          std::error_code ec;
          const auto type = fs::symlink_status(stable, ec).type();
          const bool is_foreign_dir = type == fs::file_type::directory &&
                                      !exists(stable + "/.git") && !fs::is_empty(stable, ec);
          if (type != fs::file_type::not_found && type != fs::file_type::directory) {
            c.r.code = ErrorCode::kInTheWay;
            c.r.error = stable + " is in the way: a " +
                        (type == fs::file_type::symlink ? "symlink" : "file") +
                        ", not the orchestrator's worktree; move it away, then run 'baton replace'";
            return c;
          }
          if (is_foreign_dir) {
            c.r.code = ErrorCode::kInTheWay;
            c.r.error = stable +
                        " is in the way: a directory that is not a git worktree; move it away, "
                        "then run 'baton replace'";
            return c;
          }
          auto inv = git::inventory(proj->repo.get(), project_dir);
          if (!inv) {
            c.r.error = inv.error().message;
            return c;
          }
          for (const auto& ref : inv->preserved_refs)
            c.max_number = std::max(c.max_number, number_suffix(ref));
          for (const auto& d : inv->trash_dirs)
            c.max_number = std::max(c.max_number, number_suffix(d.session_id));
          for (const auto& d : inv->prepare_dirs) {
            c.max_number = std::max(c.max_number, number_suffix(d.session_id));
            if (auto e = discard_prepared(proj->repo.get(), project_dir, d.session_id);
                !e.empty()) {
              c.r.error = e;
              return c;
            }
          }
          for (const auto& b : inv->temp_branches)
            c.max_number = std::max(c.max_number, number_suffix(b));
          const std::string gitfile =
              read_small_file(project_dir + "/" + std::string(git::kStableDirName) + "/.git");
          const std::string admin = "/worktrees/" + std::string(git::kWorktreeNamePrefix);
          if (const auto at = gitfile.rfind(admin); at != std::string::npos) {
            c.stable_owner = gitfile.substr(at + admin.size());
            while (!c.stable_owner.empty() &&
                   (c.stable_owner.back() == '/' || c.stable_owner.back() == '\r'))
              c.stable_owner.pop_back();
            c.max_number = std::max(c.max_number, number_suffix(c.stable_owner));
          }
          return c;
        },
        [self, p](Checked c) {
          if (!c.r.error.empty()) return self->fail(c.r.code, c.r.error);
          unsigned n = std::max(c.max_number, self->orch_.store().projects[p->id].last_number);
          for (const auto* s : self->orch_.project_sessions(p->id)) n = std::max(n, s->number);
          self->new_number_ = n + 1;
          self->new_id_ = p->id + "-" + std::to_string(self->new_number_);
          self->prepared_name_ = git::worktree_name(self->new_id_);
          self->prepared_path_ =
              self->project_dir_ + "/" + std::string(git::kPrepareDirPrefix) + self->new_id_;
          self->temp_branch_ = git::temp_branch_name(self->new_id_);
          // A tree at the stable path that no session owns: a handoff died between moving it
          // there and recording its session. It is retired like any other, so its work is kept.
          if (!c.stable_owner.empty()) {
            const SessionRecord* owner = self->orch_.session(c.stable_owner);
            if (!owner || owner->state == SessionState::kRetired) {
              SessionRecord orphan;
              orphan.id = c.stable_owner;
              orphan.number = number_suffix(orphan.id);
              orphan.project = p->id;
              orphan.agent = owner ? owner->agent : self->agent_;
              orphan.branch = self->cfg_.branch;
              orphan.worktree = self->stable_path_;
              orphan.state = SessionState::kRetiring;
              orphan.created_at = owner ? owner->created_at : now_iso8601();
              orphan.updated_at = now_iso8601();
              self->orch_.store().sessions[orphan.id] = orphan;
            }
          }
          for (const auto* s : self->orch_.project_sessions(p->id)) {
            // Exited ones too: their tree may still hold the stable path and uncommitted work.
            if (s->state == SessionState::kActive || s->state == SessionState::kRetiring ||
                s->state == SessionState::kExited)
              self->to_retire_.push_back(s->id);
            if (s->state == SessionState::kRetiring && !s->last_error.empty())
              self->was_stuck_.insert(s->id);
          }
          const auto* current = current_orchestrator(self->orch_.project_sessions(p->id));
          if (!self->cfg_.hooks.before_retire || self->to_retire_.empty()) return self->prepare();
          const auto h =
              self->hook_request("before_retire", *self->cfg_.hooks.before_retire,
                                 current ? current->id : "", current ? current->worktree : p->path);
          hooks::run_hook(self->orch_.loop(), h, [self](hooks::HookResult r) {
            if (!r.ok()) return self->fail(ErrorCode::kHookFailed, r.describe("before_retire"));
            self->prepare();
          });
        });
  });
}

// ---- 2. prepare: the new worktree at .prepare-<id>, checked out before anything stops.
void Handoff::prepare() {
  if (faulted("preflight.done")) return;
  if (req_.is_down) {
    if (to_retire_.empty())
      return fail(ErrorCode::kMissing, req_.project + " has no orchestrator to stop");
    return retire_next();
  }
  progress("prepare", prepared_path_);
  auto self = shared_from_this();
  auto& rec = orch_.store().projects[req_.project];
  rec.last_number = std::max(rec.last_number, new_number_);
  rec.journal = HandoffJournal{"prepare",      new_id_,      agent_,       to_retire_,
                               prepared_path_, temp_branch_, now_iso8601()};
  persist_then([self] {
    if (self->faulted("prepare.persisted")) return;
    const std::string repo_path = self->project()->path;
    const std::string project_dir = self->project_dir_;
    const std::string id = self->new_id_;
    const std::string branch = self->cfg_.branch;
    const std::vector<std::string> symlinks = self->cfg_.symlinks;
    run_off_loop<StepResult>(
        self->orch_.loop(),
        [repo_path, project_dir, id, branch, symlinks]() -> StepResult {
          StepResult r;
          std::error_code ec;
          fs::create_directories(project_dir, ec);
          if (ec) {
            r.error = "cannot create " + project_dir + ": " + ec.message();
            return r;
          }
          auto proj = git::open_project(repo_path);
          if (!proj) {
            r.error = proj.error().message;
            return r;
          }
          auto prepared = git::prepare_worktree(proj->repo.get(), project_dir, id, branch);
          if (!prepared) {
            r.error = prepared.error().message;
            return r;
          }
          // Submodules as the user's own checkout has them, before anything is stopped.
          if (auto sm = git::init_submodules(proj->repo.get(), prepared->path); !sm) {
            r.notes.push_back(sm.error().message);
          } else {
            r.notes = std::move(sm->notes);
          }
          for (const auto& link : symlinks) {
            const fs::path src = fs::path(repo_path) / link;
            const fs::path dst = prepared->path / link;
            if (!fs::exists(src, ec)) continue;
            fs::create_directories(dst.parent_path(), ec);
            fs::remove(dst, ec);
            fs::create_symlink(src, dst, ec);
            if (ec) {
              r.error = "cannot link " + dst.string() + " to " + src.string() + ": " + ec.message();
              discard_prepared(proj->repo.get(), project_dir, id);
              return r;
            }
          }
          return r;
        },
        [self](StepResult r) {
          if (!r.error.empty()) return self->fail(ErrorCode::kPrepareFailed, r.error);
          for (auto& n : r.notes) self->outcome_.notes.push_back(n);
          if (self->faulted("prepare.done")) return;
          // post_create commands, then before_spawn, each through the hook runner.
          self->prepare_hooks_ = self->cfg_.post_create;
          if (self->cfg_.hooks.before_spawn)
            self->prepare_hooks_.push_back(*self->cfg_.hooks.before_spawn);
          self->run_prepare_hook(0);
        });
  });
}

// A member, not a self-referencing std::function: a function that captures the shared_ptr
// holding it is a cycle, and that cycle kept every Handoff (and its copy of the `baton`
// command's environment) alive for the daemon's lifetime.
void Handoff::run_prepare_hook(std::size_t i) {
  if (i == prepare_hooks_.size()) {
    to_retire_.empty() ? handoff() : retire_next();
    return;
  }
  const std::string event = i < cfg_.post_create.size() ? "post_create" : "before_spawn";
  const auto h = hook_request(event, prepare_hooks_[i], new_id_, prepared_path_);
  auto self = shared_from_this();
  hooks::run_hook(orch_.loop(), h, [self, i, event](hooks::HookResult hr) {
    if (hr.ok()) return self->run_prepare_hook(i + 1);
    const std::string msg = hr.describe(event);
    const std::string repo_path = self->project()->path;
    const std::string project_dir = self->project_dir_;
    const std::string id = self->new_id_;
    run_off_loop(
        self->orch_.loop(),
        [repo_path, project_dir, id] {
          if (auto proj = git::open_project(repo_path))
            discard_prepared(proj->repo.get(), project_dir, id);
        },
        [self, msg] { self->fail(ErrorCode::kHookFailed, msg); });
  });
}

// ---- 3. retire: every active or retiring orchestrator — stop, preserve, aside, prune.
void Handoff::retire_next() {
  if (to_retire_.empty()) return check_branch_free();
  const std::string id = to_retire_.front();
  to_retire_.erase(to_retire_.begin());
  retire(id);
}

void Handoff::retire(const std::string& id) {
  SessionRecord* rec = orch_.session(id);
  if (!rec) return retire_next();
  progress("retire", id);
  // Until its agent is stopped, a failure puts it back as it was (fail()).
  unstopped_.try_emplace(id, Unstopped{rec->state, rec->restore_marker});
  rec->state = SessionState::kRetiring;
  rec->restore_marker = false;
  rec->updated_at = now_iso8601();
  auto self = shared_from_this();
  persist_then([self, id] {
    if (self->faulted("retire.persisted")) return;
    SessionRecord* rec = self->orch_.session(id);
    auto after_stop = [self, id] {
      self->is_past_stop_ = true;
      self->gap_enter(GapStep::kPreserve);
      if (self->faulted("retire.stopped")) return;
      SessionRecord* rec = self->orch_.session(id);
      const std::string repo_path = self->project()->path;
      const std::string worktree = rec->worktree;
      const std::string trash = self->project_dir_ + "/" + std::string(git::kTrashDirPrefix) + id;
      const std::string branch = self->cfg_.branch;
      const bool has_preserved = !rec->preserved_commit.empty();
      struct Retired {
        StepResult r;
        std::string ref;
        std::string commit;
        std::chrono::steady_clock::time_point preserved_at;  // the gap's preserve step ends
      };
      run_off_loop<Retired>(
          self->orch_.loop(),
          [repo_path, worktree, trash, branch, id, has_preserved]() -> Retired {
            Retired out;
            auto proj = git::open_project(repo_path);
            if (!proj) {
              out.r.error = proj.error().message;
              return out;
            }
            // Retrying a retire: once the tree is aside, the path may already hold the next
            // orchestrator's tree, which must never be touched.
            const bool has_tree = !worktree.empty() && exists(worktree) && !exists(trash) &&
                                  is_worktree_of(worktree, id);
            if (has_tree && !has_preserved) {
              // The same scan lists what no commit holds (ignored files, nested repositories,
              // submodules); the list goes into the tree before it moves, so a retried retire
              // or a restarted daemon still knows what to carry out of the trash (or, for
              // `down`, keep in .kept-<id>: finish_trash).
              std::vector<git::CarryEntry> carry;
              auto p = git::preserve_uncommitted(proj->repo.get(), worktree, id, &carry);
              if (!p) {
                out.r.error = p.error().message;
                return out;
              }
              if (*p) {
                out.ref = (*p)->ref;
                out.commit = (*p)->oid;
                out.r.notes = (*p)->notes;
              }
              if (auto m = git::write_carry_manifest(worktree, carry); !m) {
                out.r.error = m.error().message;
                return out;
              }
            }
            out.preserved_at = std::chrono::steady_clock::now();
            if (has_tree) {
              if (auto a = git::release_rename_aside(worktree, trash); !a) {
                out.r.error = a.error().message;
                return out;
              }
            }
            // Its submodules' git dirs live in its admin dir, which the prune deletes.
            if (auto sm =
                    git::save_submodule_git_dirs(proj->repo.get(), git::worktree_name(id), id);
                !sm) {
              out.r.error = sm.error().message;
              return out;
            }
            // The branch-free check comes once, after every retire (check_branch_free).
            if (auto pr = git::release_prune(proj->repo.get(), git::worktree_name(id), "");
                !pr && pr.error().code != git::kWorktreeNotFound) {
              out.r.error = pr.error().message;
              return out;
            }
            return out;
          },
          [self, id, trash](Retired out) {
            if (out.preserved_at != std::chrono::steady_clock::time_point{}) {
              self->gap_enter(GapStep::kRelease, out.preserved_at);
            }
            SessionRecord* rec = self->orch_.session(id);
            if (!out.commit.empty()) {
              rec->preserved_ref = out.ref;
              rec->preserved_commit = out.commit;
            }
            for (auto& n : out.r.notes) self->outcome_.notes.push_back(id + ": " + n);
            rec->updated_at = now_iso8601();
            if (!out.r.error.empty()) {
              rec->last_error = out.r.error;
              return self->persist_then([self, out] { self->fail(out.r.code, out.r.error); });
            }
            if (!rec->preserved_commit.empty()) {
              self->preserved_commits_.push_back(rec->preserved_commit);
              self->outcome_.preserved.push_back(Json{
                  {"session", id}, {"ref", rec->preserved_ref}, {"commit", rec->preserved_commit}});
            }
            if (self->faulted("retire.released")) return;
            self->orch_.run_session_hook("after_retire", *rec);
            self->trash_.push_back(trash);
            self->outcome_.retired.push_back(id);
            self->persist_then([self] { self->retire_next(); });
          });
    };
    runtime::Session* live = self->orch_.daemon().find_session_exact(id);
    if (live && live->is_running()) {
      self->is_past_stop_ = true;
      if (!self->has_stopped_any_) {
        self->has_stopped_any_ = true;
        self->first_stop_ = std::chrono::steady_clock::now();
        self->is_in_gap_ = true;
        self->gap_mark_ = self->first_stop_;
        self->gap_step_ = GapStep::kStop;
      } else {
        self->gap_enter(GapStep::kStop);
      }
      live->on_exit([after_stop](runtime::Session&) { after_stop(); });
      live->stop();
      return;
    }
    // An agent that outlived a daemon: recognised by pid and start time, then killed.
    if (rec && rec->pid > 0 && rec->pid_start_time != 0 &&
        process_start_time(rec->pid) == rec->pid_start_time) {
      kill(-static_cast<pid_t>(rec->pid), SIGKILL);
      kill(static_cast<pid_t>(rec->pid), SIGKILL);
    }
    after_stop();
  });
}

// The last step of retire: nobody holds the canonical branch any more.
void Handoff::check_branch_free() {
  if (req_.is_down) return handoff();
  auto self = shared_from_this();
  const std::string repo_path = project()->path;
  const std::string branch = cfg_.branch;
  run_off_loop<StepResult>(
      orch_.loop(),
      [repo_path, branch]() -> StepResult {
        StepResult r;
        auto holder = branch_holder(repo_path, branch);
        if (!holder) {
          r.error = holder.error();
        } else if (*holder) {
          r.code = ErrorCode::kBranchBusy;
          r.error = "branch " + branch + " is checked out at " + (*holder)->string() +
                    ": switch that worktree to another branch (git switch main), then run 'baton "
                    "replace'";
        }
        return r;
      },
      [self](StepResult r) {
        if (!r.error.empty()) return self->fail(r.code, r.error);
        self->handoff();
      });
}

// ---- 4. handoff: the prepared tree to the stable path, adopt the branch, re-apply work.
void Handoff::handoff() {
  if (req_.is_down) return finish_trash();
  gap_enter(GapStep::kAdopt);
  progress("handoff", stable_path_);
  auto& journal = orch_.store().projects[req_.project].journal;
  journal.phase = "handoff";
  auto self = shared_from_this();
  persist_then([self] {
    if (self->faulted("handoff.persisted")) return;
    const std::string repo_path = self->project()->path;
    const std::string name = self->prepared_name_;
    const std::string stable = self->stable_path_;
    const std::string prepared = self->prepared_path_;
    const std::string branch = self->cfg_.branch;
    const std::string temp = self->temp_branch_;
    const std::vector<std::string> commits =
        self->cfg_.carry_uncommitted ? self->preserved_commits_ : std::vector<std::string>{};
    // The retired trees (trash path, session id) to carry ignored entries, nested
    // repositories and submodules out of.
    std::vector<std::pair<std::string, std::string>> retired_trees;
    for (std::size_t i = 0; i < self->trash_.size() && i < self->outcome_.retired.size(); ++i)
      retired_trees.emplace_back(self->trash_[i], self->outcome_.retired[i]);
    run_off_loop<StepResult>(
        self->orch_.loop(),
        [repo_path, name, stable, prepared, branch, temp, commits, retired_trees,
         env = self->req_.env]() -> StepResult {
          StepResult r;
          auto proj = git::open_project(repo_path);
          if (!proj) {
            r.error = proj.error().message;
            return r;
          }
          if (exists(prepared)) {
            if (auto m = git::move_worktree(proj->repo.get(), name, stable); !m) {
              r.error = m.error().message;
              return r;
            }
          }
          if (fault_hit(env, "handoff.moved")) {
            r.code = ErrorCode::kFault;
            r.error = "fault injected at handoff.moved";
            return r;
          }
          if (auto a = git::adopt_branch(proj->repo.get(), stable, branch, temp); !a) {
            r.error = a.error().message;
            return r;
          }
          if (fault_hit(env, "handoff.adopted")) {
            r.code = ErrorCode::kFault;
            r.error = "fault injected at handoff.adopted";
            return r;
          }
          for (const auto& c : commits) {
            auto ra = git::reapply_preserved(proj->repo.get(), stable, c);
            if (!ra) {
              r.notes.push_back("could not re-apply " + c + ": " + ra.error().message);
            } else if (!ra->conflicts.empty()) {
              std::string files;
              for (const auto& f : ra->conflicts) files += (files.empty() ? "" : ", ") + f;
              r.notes.push_back("preserved work " + c.substr(0, 12) + " conflicts in " + files +
                                "; it stays at its ref (baton preserved apply)");
            } else {
              for (auto& n : ra->notes) r.notes.push_back(n);
            }
          }
          if (fault_hit(env, "handoff.reapplied")) {
            r.code = ErrorCode::kFault;
            r.error = "fault injected at handoff.reapplied";
            return r;
          }
          // Before the launch: the new agent starts in a tree that already holds the old
          // one's .env, node_modules/ and submodules. One rename per entry, no copy.
          for (const auto& [trash, old_id] : retired_trees) {
            auto carried = git::carry_entries(proj->repo.get(), trash, old_id, stable);
            if (!carried) {
              r.notes.push_back("could not carry from " + trash + ": " + carried.error().message);
              continue;
            }
            for (const auto& k : carried->kept)
              r.notes.push_back("kept " + k + " (the new tree has its own) in " +
                                carried->kept_dir.string() + " (baton preserved ls)");
            for (const auto& f : carried->failed)
              r.notes.push_back("not carried: " + f + "; kept in " + trash);
          }
          return r;
        },
        [self](StepResult r) {
          if (!r.error.empty())
            return self->fail(
                r.code == ErrorCode::kFault ? ErrorCode::kFault : ErrorCode::kAdoptFailed, r.error);
          for (auto& n : r.notes) self->outcome_.notes.push_back(n);
          if (self->faulted("handoff.done")) return;
          self->launch();
        });
  });
}

// ---- 5. launch: start the agent there, persist it active, verify, then delete the trash.
void Handoff::launch() {
  progress("launch", agent_);
  SessionRecord rec;
  rec.id = new_id_;
  rec.number = new_number_;
  rec.project = req_.project;
  rec.agent = agent_;
  rec.branch = cfg_.branch;
  rec.worktree = stable_path_;
  rec.state = SessionState::kActive;
  rec.created_at = now_iso8601();
  rec.updated_at = rec.created_at;
  rec.restore_marker = true;
  // The previous agent after a failed launch comes back with its resume command. The files
  // the agent reads are written off the loop; the gap's spawn step includes them.
  gap_enter(GapStep::kSpawn);
  auto self = shared_from_this();
  orch_.prepare_launch(
      rec, cfg_, req_.env, req_.is_fallback,
      [self, rec](tl::expected<Orchestrator::PreparedLaunch, std::string> prepared) mutable {
        auto started = prepared
                           ? self->orch_.spawn(rec, *prepared)
                           : tl::expected<void, std::string>(tl::make_unexpected(prepared.error()));
        self->launched(std::move(rec), std::move(started));
      });
}

void Handoff::launched(SessionRecord rec, tl::expected<void, std::string> started) {
  if (has_stopped_any_) {
    const auto exec_seen = std::chrono::steady_clock::now();
    gap_enter(GapStep::kSpawn, exec_seen);
    is_in_gap_ = false;
    outcome_.gap_ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(exec_seen - first_stop_).count());
  }
  if (started && fault_hit(req_.env, "launch.started")) {
    // The agent runs but is not on disk as active: recovery must find it by its tree.
    orch_.store().sessions[rec.id] = rec;
    return fail(ErrorCode::kFault, "fault injected at launch.started");
  }
  if (!started) {
    rec.state = SessionState::kExited;
    rec.restore_marker = false;
    rec.last_error = started.error();
  }
  orch_.store().sessions[rec.id] = rec;
  orch_.store().projects[req_.project].journal = HandoffJournal{};
  auto self = shared_from_this();
  const std::string err = started ? std::string() : started.error();
  if (started) {
    // Attached views of the project continue on the new agent (issue 8).
    std::string from;
    for (const auto& id : outcome_.retired) from += (from.empty() ? "" : ", ") + id;
    std::string notice = "baton: orchestrator " +
                         std::string(from.empty() ? "started: " : "replaced: ") + from +
                         (from.empty() ? "" : " \u2192 ") + rec.id;
    if (outcome_.gap_ms >= 0) notice += " (gap " + std::to_string(outcome_.gap_ms) + " ms)";
    orch_.settle_followers(req_.project, notice);
  }
  persist_then([self, err] {
    if (!err.empty()) {
      return self->fall_back(err, [self](const std::string& msg) {
        self->outcome_.launch_error = msg;
        self->fail(ErrorCode::kLaunchFailed, msg);
      });
    }
    self->after_launch();
  });
}

void Handoff::after_launch() {
  if (faulted("launch.persisted")) return;
  auto self = shared_from_this();
  const std::string repo_path = project()->path;
  const std::string branch = cfg_.branch;
  const std::string stable = stable_path_;
  run_off_loop<StepResult>(
      orch_.loop(),
      [repo_path, branch, stable]() -> StepResult {
        StepResult r;
        auto holder = branch_holder(repo_path, branch);
        if (!holder) {
          r.error = holder.error();
        } else if (!*holder || !git::is_same_path(**holder, stable)) {
          r.error = "verification failed: " + branch + " is not checked out at " + stable;
        }
        return r;
      },
      [self](StepResult r) {
        if (!r.error.empty()) return self->fail(ErrorCode::kVerifyFailed, r.error);
        if (self->faulted("verify.done")) return;
        self->outcome_.session = self->new_id_;
        if (const SessionRecord* rec = self->orch_.session(self->new_id_))
          self->orch_.run_session_hook("after_spawn", *rec);
        self->finish_trash();
      });
}

void Handoff::finish_trash() {
  auto self = shared_from_this();
  const auto trash = trash_;
  const std::string repo_path = project()->path;
  const std::string project_dir = project_dir_;
  const bool is_down = req_.is_down;
  run_off_loop<std::map<std::string, std::string>>(
      orch_.loop(),
      [trash, repo_path, project_dir, is_down]() {
        std::map<std::string, std::string> errors;
        auto proj = git::open_project(repo_path);
        for (const auto& t : trash) {
          if (!exists(t)) continue;
          const std::string leaf = fs::path(t).filename().string();
          const std::string id = leaf.substr(git::kTrashDirPrefix.size());
          // `down`: what no commit holds (ignored files, nested repositories, submodule
          // work) is kept whole, never deleted; a submodule's git dir stays saved.
          bool keeps_modules = false;
          if (is_down) {
            auto kept = git::keep_entries(t, id);
            if (!kept) {
              errors[t] = kept.error().message;
              continue;
            }
            keeps_modules = kept->has_submodules;
            for (const auto& k : kept->moved.kept)
              spdlog::info("down: kept {} in {}", k, kept->moved.kept_dir.string());
          }
          if (auto d = git::delete_trash(t); !d) {
            errors[t] = d.error().message;
          } else if (proj && !keeps_modules) {
            // The submodule git dirs its tree did not take along go with it.
            if (auto m = git::delete_saved_modules(proj->repo.get(), id); !m)
              spdlog::warn("{}", m.error().message);
          }
        }
        sweep_leftovers(repo_path, project_dir);
        // A handoff's git work leaves megabytes free in the worker threads' malloc arenas,
        // which glibc keeps: 32 MB of a daemon's 51 MB after 20,000-file handoffs
        // (docs/BENCHMARKS.md). Here, after the new agent runs, it costs the gap nothing.
        malloc_trim(0);
        return errors;
      },
      [self](std::map<std::string, std::string> errors) {
        if (self->faulted("trash.deleted")) return;
        std::string first_error;
        for (const auto& id : self->outcome_.retired) {
          SessionRecord* rec = self->orch_.session(id);
          if (!rec) continue;
          const std::string trash =
              self->project_dir_ + "/" + std::string(git::kTrashDirPrefix) + id;
          rec->updated_at = now_iso8601();
          if (auto it = errors.find(trash); it != errors.end()) {
            rec->last_error = it->second;  // stays retiring: health says stuck
            // A cleanup stuck before this handoff does not fail it: the new agent runs, and
            // the daemon goes on retrying the cleanup (Orchestrator::schedule_cleanup).
            if (self->was_stuck_.count(id))
              self->outcome_.notes.push_back("cleanup of " + id + " is still stuck (" + it->second +
                                             "); baton retries it");
            else if (first_error.empty())
              first_error = it->second;
          } else {
            rec->state = SessionState::kRetired;
            rec->last_error.clear();
            // Its record stays in the store; the exited runtime session (screen model, feeder
            // thread, scrollback: ~370 kB) would otherwise stay for the daemon's lifetime, one
            // per handoff (docs/BENCHMARKS.md, memory after 1,000 handoffs).
            runtime::Session* old = self->orch_.daemon().find_session_exact(id);
            if (old && !old->is_running()) self->orch_.daemon().remove_session(id);
          }
        }
        self->orch_.forget_old_retired(self->req_.project);
        self->persist_then([self, first_error] {
          if (!first_error.empty()) return self->fail(ErrorCode::kStuck, first_error);
          self->succeed();
        });
      });
}

void Handoff::succeed() {
  outcome_.ok = true;
  is_done_ = true;
  if (ProjectState* p = project()) {
    if (p->handoff.get() == this) p->handoff.reset();
    orch_.schedule_cleanup(req_.project);
    p->is_stuck = false;  // an orchestrator runs again
    // A successful handoff with the configured agent clears an earlier launch failure.
    if (!req_.is_fallback) p->launch_error.clear();
  }
  auto fns = std::move(done_fns_);
  done_fns_.clear();
  for (auto& fn : fns) fn(outcome_);
  watch_launch_grace();
}

// `replace` returns as soon as the agent runs; `--wait` also waits out launch_grace. An agent
// that dies within it is replaced by the previous agent on the branch, so the project always
// has an orchestrator. After the grace a crash is a crash: the orchestrator relaunches the
// same agent with back-off, so the watch ends with the grace and leaves nothing registered.
void Handoff::watch_launch_grace() {
  // `baton down` started nothing: there is no launch to fall back from, and clients that
  // follow the project have nothing to continue on.
  if (req_.is_down) {
    orch_.settle_followers(req_.project, "");
    return end_launch_grace("");
  }
  runtime::Session* live = orch_.daemon().find_session_exact(new_id_);
  // It may have died while the launch was being verified.
  if (!live) return on_launch_grace_exit(-1);
  if (!live->is_running()) return on_launch_grace_exit(live->exit_status());
  auto self = shared_from_this();
  if (ProjectState* p = project()) p->launch_watch = self;
  grace_timer_ = runtime::Timer::make(orch_.loop());
  grace_timer_->start(static_cast<std::uint64_t>(cfg_.launch_grace_ms),
                      [self] { self->end_launch_grace(""); });
  grace_listener_ =
      live->on_exit([self](runtime::Session& s) { self->on_launch_grace_exit(s.exit_status()); });
}

void Handoff::stop_watching_launch_grace() {
  if (grace_timer_) grace_timer_->close();
  grace_timer_ = nullptr;
  if (grace_listener_ != 0) {
    if (runtime::Session* s = orch_.daemon().find_session_exact(new_id_))
      s->remove_exit_listener(grace_listener_);
    grace_listener_ = 0;
  }
  if (ProjectState* p = project(); p && p->launch_watch.get() == this) p->launch_watch.reset();
}

void Handoff::end_launch_grace(const std::string& launch_error) {
  stop_watching_launch_grace();
  if (is_waited_) return;
  if (ProjectState* p = project(); p && !launch_error.empty()) p->launch_error = launch_error;
  if (!launch_error.empty()) {
    outcome_.ok = false;
    outcome_.launch_error = launch_error;
    outcome_.failure = Failure{ErrorCode::kLaunchFailed, launch_error};
  }
  is_waited_ = true;
  auto fns = std::move(waited_fns_);
  waited_fns_.clear();
  for (auto& fn : fns) fn(outcome_);
}

void Handoff::on_launch_grace_exit(int status) {
  // Whatever comes next, this process's grace is over: no timer, no second call.
  stop_watching_launch_grace();
  // `baton shutdown` stopped it: it keeps its restore marker and comes back with the daemon.
  if (orch_.daemon().is_shutting_down()) return end_launch_grace("");
  // Stopped by a later handoff's retire: that is no launch failure.
  const SessionRecord* rec = orch_.session(new_id_);
  if (rec && (rec->state == SessionState::kRetiring || rec->state == SessionState::kRetired))
    return end_launch_grace("");
  // The agent's own last words say why (claude: "Unable to connect to ..."); status and
  // the command's error line show them.
  std::string last;
  if (rec) {
    for (auto it = rec->last_lines.rbegin(); it != rec->last_lines.rend() && last.empty(); ++it)
      last = *it;
  }
  while (!last.empty() && last.back() == ' ') last.pop_back();
  if (last.size() > 120) last = last.substr(0, 117) + "...";
  auto self = shared_from_this();
  fall_back(agent_ + " exited with status " + std::to_string(status) + " within " +
                std::to_string(cfg_.launch_grace_ms / 1000) + " s" +
                (last.empty() ? "" : " (" + last + ")"),
            [self](const std::string& msg) { self->end_launch_grace(msg); });
}

void Handoff::fall_back(const std::string& why, std::function<void(const std::string&)> then) {
  // A daemon that is leaving starts nothing; the store keeps what recovery needs.
  if (req_.is_fallback || orch_.daemon().is_shutting_down()) return then(why);
  // The agent to fall back to: the newest orchestrator this handoff or an earlier one retired.
  const SessionRecord* prev =
      newest_where(orch_.project_sessions(req_.project), [this](const SessionRecord& r) {
        return r.id != new_id_ &&
               (r.state == SessionState::kRetired || r.state == SessionState::kRetiring);
      });
  if (!prev) return then(why);
  // Another handoff already runs for the project: it will leave an orchestrator behind.
  if (ProjectState* p = project(); p && p->handoff && p->handoff.get() != this) return then(why);
  auto req = req_;
  req.agent = prev->agent;
  req.is_fallback = true;
  // A fault point arms one handoff, never the fallback that repairs it.
  req.env.erase(std::string(kFaultEnv));
  has_fallen_back_ = true;
  const std::string msg = why + "; relaunched " + prev->agent;
  auto fallback = std::make_shared<Handoff>(orch_, req);
  if (ProjectState* p = project()) {
    p->launch_error = msg;
    p->handoff = fallback;
  }
  // `replace` (and --wait) answers once the previous agent runs again, not before: the user
  // sees the project's real state when the command returns.
  fallback->join(
      nullptr,
      [then, msg](const HandoffOutcome& o) {
        then(o.ok ? msg : msg + ", which failed too: " + o.failure.message);
      },
      nullptr);
  fallback->start();
}

hooks::HookRequest Handoff::hook_request(const std::string& event, const CommandSpec& cmd,
                                         const std::string& session, const std::string& worktree) {
  hooks::HookRequest h;
  h.event = event;
  h.argv = cmd.argv;
  h.cwd = worktree;
  h.env = {{"BATON_PROJECT", req_.project}, {"BATON_SESSION", session},
           {"BATON_WORKTREE", worktree},    {"BATON_BRANCH", cfg_.branch},
           {"BATON_AGENT", agent_},         {"BATON_EVENT", event}};
  h.timeout_ms = cfg_.hooks.timeout_ms;
  h.log_path = orch_.paths().logs_dir + "/hooks.log";
  return h;
}

bool Handoff::faulted(std::string_view point) {
  if (!fault_hit(req_.env, point)) return false;
  fail(ErrorCode::kFault, "fault injected at " + std::string(point));
  return true;
}

bool Handoff::has_running_orchestrator() {
  const SessionRecord* cur = newest_active(orch_.project_sessions(req_.project));
  runtime::Session* live = cur ? orch_.daemon().find_session_exact(cur->id) : nullptr;
  return live && live->is_running();
}

std::string Handoff::failed_step(ErrorCode code) const {
  if (code == ErrorCode::kPersistFailed) return "persist";
  if (code == ErrorCode::kBranchBusy) return "branch check";
  if (code == ErrorCode::kAdoptFailed) return "adopt";
  if (code == ErrorCode::kVerifyFailed) return "verify";
  if (code == ErrorCode::kLaunchFailed) return "launch";
  return step_;
}

// A failure before any agent was stopped leaves the running orchestrator as it was. One after
// the stop must not leave the project without an orchestrator: when none runs, the previous
// agent is started on the branch (as after a failed launch); either way the error, naming the
// step, stays in `status` and health is not `ok` until a handoff succeeds.
void Handoff::fail(ErrorCode code, const std::string& message) {
  if (!is_past_stop_) {
    for (const auto& [id, was] : unstopped_) {
      SessionRecord* rec = orch_.session(id);
      if (!rec || rec->state != SessionState::kRetiring) continue;
      rec->state = was.state;
      rec->restore_marker = was.has_restore_marker;
      rec->updated_at = now_iso8601();
    }
    if (!unstopped_.empty()) orch_.persist([](tl::expected<void, std::string>) {});
    unstopped_.clear();
  } else if (code != ErrorCode::kStuck && !req_.is_down && !req_.is_fallback) {
    const std::string recorded = failed_step(code) + " failed: " + message;
    if (!has_running_orchestrator() && !has_fallen_back_ && !orch_.daemon().is_shutting_down()) {
      auto self = shared_from_this();
      return fall_back(recorded, [self, code](const std::string& msg) {
        // No previous agent, or it failed too: say what to run.
        ProjectState* p = self->project();
        if (p && !self->has_running_orchestrator()) {
          p->launch_error = msg + ": fix it, then run 'baton replace'";
          p->is_stuck = true;
        }
        self->finish_failure(code, msg);
      });
    }
    if (ProjectState* p = project(); p && !has_fallen_back_) {
      const bool is_running = has_running_orchestrator();
      p->launch_error = recorded + (is_running ? "; run 'baton replace' to finish it"
                                               : ": fix it, then run 'baton replace'");
      p->is_stuck = !is_running;
    }
  }
  finish_failure(code, message);
}

void Handoff::finish_failure(ErrorCode code, const std::string& message) {
  spdlog::warn("handoff {} failed ({}): {}", req_.project, wire_name(code), message);
  outcome_.ok = false;
  outcome_.failure = Failure{code, message};
  ProjectState* p = project();
  if (p && p->handoff.get() == this) {
    p->handoff.reset();
    orch_.settle_followers(req_.project, "baton: orchestrator replace failed: " + message);
    orch_.schedule_cleanup(req_.project);
  }
  is_done_ = true;
  is_waited_ = true;
  auto done = std::move(done_fns_);
  auto waited = std::move(waited_fns_);
  done_fns_.clear();
  waited_fns_.clear();
  for (auto& fn : done) fn(outcome_);
  for (auto& fn : waited) fn(outcome_);
}

}  // namespace baton::plugin
