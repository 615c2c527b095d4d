// The handoff, top to bottom as its six phases: preflight, prepare, drain, retire, adopt,
// launch. Each persisted transition is one visible persist_then() line; each phase's git work
// is one step of plugin/handoff_steps.hpp, run off the loop; a failure before retire stops
// nothing.
#include "plugin/handoff.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "git/branch.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"
#include "plugin/fault.hpp"
#include "plugin/handoff_note.hpp"
#include "plugin/health.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/standby_steps.hpp"
#include "plugin/worker_notice.hpp"
#include "runtime/iso_time.hpp"
#include "runtime/search_path.hpp"

namespace baton::plugin {

using Notes = std::vector<std::string>;

namespace {

// What a responsive old agent is asked, when summarize_prompt is not set.
constexpr std::string_view kDefaultSummarizePrompt =
    "You are being replaced by a new orchestrator. Write your handoff notes \u2014 the goal, the "
    "current state, the next steps and open questions \u2014 to {note_path}, then stop.";
constexpr std::string_view kNotePathVariable = "{note_path}";
constexpr std::uint64_t kSummaryTickMs = 5000;

std::string with_note_path(std::string text, const std::string& path) {
  for (auto at = text.find(kNotePathVariable); at != std::string::npos;
       at = text.find(kNotePathVariable, at + path.size()))
    text.replace(at, kNotePathVariable.size(), path);
  return text;
}

}  // namespace

Handoff::Handoff(Orchestrator& orch, HandoffRequest req) : Retirement(orch, std::move(req)) {}

std::shared_ptr<Handoff> Handoff::self() {
  return std::static_pointer_cast<Handoff>(shared_from_this());
}

HandoffJournal& Handoff::journal() {
  return orch_.store().projects[req_.project].journal;
}

void Handoff::start() {
  progress("preflight", req_.project);
  preflight();
}

// ---- 1. preflight: the config and the agent on the loop; then off it check_preflight (trust,
// repository, canonical branch, the user's worktrees, the stable path, leftovers); then the
// sessions to retire and before_retire. Nothing is stopped before it passed.
void Handoff::preflight() {
  auto self = this->self();
  orch_.reload_config(*project(), req_.env, [self](tl::expected<ProjectConfig, std::string> cfg) {
    self->on_config(std::move(cfg));
  });
}

void Handoff::on_config(tl::expected<ProjectConfig, std::string> cfg) {
  if (!cfg) return fail(ErrorCode::kConfigError, cfg.error());
  cfg_ = *cfg;
  agent_ = req_.agent.empty() ? cfg_.agent : req_.agent;
  if (auto runnable = runnable_agent(cfg_.agents, agent_, runtime::search_path(req_.env));
      !runnable)
    return fail(ErrorCode::kAgentNotFound, runnable.error());
  // `baton up` says which agent and why (DESIGN.md §7 defaults).
  progress("preflight",
           "agent " + agent_ + " (" + (req_.agent.empty() ? cfg_.agent_reason : "--agent") + ")");
  check_project();
}

void Handoff::on_checked(Expected<Preflight> checked) {
  if (!checked) return fail(checked.error());
  // A standby still being prepared (or followed) is stopped first, where it can be; preflight
  // then looks again at what it left.
  if (orch_.standby().cancel_unless_quick(req_.project)) {
    progress("preflight", "waiting for the standby's preparation to stop");
    auto self = this->self();
    return orch_.standby().when_idle(req_.project, [self] { self->check_project(); });
  }
  unsigned n = std::max(checked->max_number, orch_.store().projects[req_.project].last_number);
  for (const auto* s : orch_.project_sessions(req_.project)) n = std::max(n, s->number);
  // The standby holds the next number: taking it, the handoff takes its id too.
  const StandbyRecord* standby =
      req_.is_fallback ? nullptr
                       : orch_.standby().usable(req_.project, standby_config_key(cfg_), n);
  if (standby) standby_ = *standby;
  // One that cannot be taken (not ready, made with another config) but holds the next number
  // is discarded before the prepare, which reuses its number: session numbers follow each
  // other whether or not a standby was there.
  const auto& recorded = orch_.store().projects[req_.project].standby;
  const auto sessions = orch_.project_sessions(req_.project);
  is_standby_discarded_ = !standby && recorded && recorded->number == n &&
                          !orch_.standby().is_busy(req_.project) &&
                          std::none_of(sessions.begin(), sessions.end(),
                                       [n](const SessionRecord* s) { return s->number >= n; });
  new_number_ = standby || is_standby_discarded_ ? n : n + 1;
  new_id_ = req_.project + "-" + std::to_string(new_number_);
  prepared_name_ = git::worktree_name(new_id_);
  prepared_path_ = prepared_path(project_dir_, new_id_);
  temp_branch_ = git::temp_branch_name(new_id_);
  take_over_sessions(*checked);
  auto self = this->self();
  run_before_retire([self] { self->prepare(); });
}

// ---- 2. prepare: the journal records the handoff; off the loop prepare_tree checks out
// .prepare-<id> while the old agent still runs; then post_create and before_spawn.
void Handoff::prepare() {
  if (faulted("preflight.done")) return;
  auto& rec = orch_.store().projects[req_.project];
  rec.last_number = std::max(rec.last_number, new_number_);
  rec.journal = HandoffJournal{HandoffPhase::kPrepare, agent_};
  if (standby_) {
    // From this persist on, the standby is this handoff's prepared tree: recovery discards it
    // as it would .prepare-<id>, and a new standby is made after the handoff.
    progress("standby", "taking " + standby_path(project_dir_) + " for " + new_id_);
    rec.standby.reset();
    // The next one is prepared once this handoff ended.
    if (ProjectState* p = project()) {
      p->standby_state = StandbyState::kPreparing;
      p->standby_bytes = 0;
      p->standby_checked_out.clear();
      standby_index_ = std::move(p->standby_index);
      p->standby_index.reset();
    }
  } else {
    progress("prepare", why_no_standby() + prepared_path_);
    if (is_standby_discarded_) rec.standby.reset();
  }
  auto self = this->self();
  persist_then([self] {
    if (self->faulted("prepare.persisted")) return;
    if (self->standby_) return self->take_standby();
    run_off_loop<Expected<Notes>>(
        self->orch_.loop(),
        [repo_path = self->project()->path, project_dir = self->project_dir_, id = self->new_id_,
         branch = self->cfg_.branch, symlinks = self->cfg_.symlinks,
         is_discarded = self->is_standby_discarded_]() -> Expected<Notes> {
          if (is_discarded) {
            if (auto d = discard_standby(repo_path, project_dir, standby_ids(project_dir, id)); !d)
              return error(ErrorCode::kPrepareFailed, d.error().message);
          }
          return prepare_tree(repo_path, project_dir, id, branch, symlinks);
        },
        [self](Expected<Notes> notes) { self->on_prepared(std::move(notes)); });
  });
}

std::string Handoff::why_no_standby() {
  ProjectState* p = project();
  // The first `up` has no standby to take, and nothing to say about it.
  if (!p || to_retire_.empty() || req_.is_fallback || cfg_.standby == StandbyMode::kOff) return "";
  const auto& rec = orch_.store().projects[req_.project].standby;
  std::string why = "no standby";
  if (rec && rec->is_ready) {
    why = "the standby was prepared with another config";
  } else if (p->standby_state != StandbyState::kReady) {
    why = "standby " + std::string(standby_state_name(p->standby_state));
    if (!p->standby_reason.empty()) why += " (" + p->standby_reason + ")";
  }
  return why + ": preparing ";
}

// Off the loop: .standby becomes .prepare-<id> (a rename). A standby that is not there any
// more (deleted by hand) is replaced by a tree prepared the usual way, and the notes say so.
void Handoff::take_standby() {
  auto self = this->self();
  run_off_loop<Expected<Notes>>(
      orch_.loop(),
      [repo_path = project()->path, project_dir = project_dir_, id = new_id_, branch = cfg_.branch,
       symlinks = cfg_.symlinks]() -> Expected<Notes> {
        auto taken = plugin::take_standby(repo_path, project_dir, id);
        if (taken) return Notes{};
        (void)discard_standby(repo_path, project_dir, {id});
        auto notes = prepare_tree(repo_path, project_dir, id, branch, symlinks);
        if (!notes) return notes;
        notes->insert(notes->begin(), "the standby could not be taken (" + taken.error().message +
                                          "): prepared a new tree");
        return notes;
      },
      [self](Expected<Notes> notes) {
        self->is_standby_taken_ = notes && notes->empty();
        if (self->is_standby_taken_ && self->faulted("standby.taken")) return;
        self->on_prepared(std::move(notes));
      });
}

void Handoff::on_prepared(Expected<Notes> notes) {
  if (!notes) return fail(notes.error());
  for (auto& n : *notes) outcome_.notes.push_back(n);
  if (faulted("prepare.done")) return;
  // post_create commands, then before_spawn, each through the hook runner. A ready standby
  // ran its post_create when it was prepared (one taken as soon as its checkout ended did not).
  prepare_hooks_.clear();
  if (!is_standby_taken_ || !standby_->is_ready) prepare_hooks_ = cfg_.post_create;
  post_create_count_ = prepare_hooks_.size();
  if (cfg_.hooks.before_spawn) prepare_hooks_.push_back(*cfg_.hooks.before_spawn);
  run_prepare_hook(0);
}

// A member, not a self-referencing std::function: a function that captures the shared_ptr
// holding it is a cycle, and that cycle kept every Handoff (and its copy of the `baton`
// command's environment) alive for the daemon's lifetime.
void Handoff::run_prepare_hook(std::size_t i) {
  if (i == prepare_hooks_.size()) return drain();
  const std::string event = i < post_create_count_ ? "post_create" : "before_spawn";
  const auto h = hook_request(event, prepare_hooks_[i], new_id_, prepared_path_);
  auto self = this->self();
  hooks::run_hook(orch_.loop(), h, [self, i, event](const hooks::HookResult& hr) {
    if (hr.ok()) return self->run_prepare_hook(i + 1);
    self->on_prepare_hook_failed(hr.describe(event));
  });
}

void Handoff::on_prepare_hook_failed(const std::string& message) {
  auto self = this->self();
  run_off_loop(
      orch_.loop(),
      [repo_path = project()->path, project_dir = project_dir_, id = new_id_] {
        (void)discard_prepared(repo_path, project_dir, id);
      },
      [self, message] { self->fail(ErrorCode::kHookFailed, message); });
}

// ---- 3. drain: before the first stop signal, the old agent's turn ends (Retirement::
// drain_turn: idle by its hooks, up to drain_timeout); then a responsive agent — its turn
// ended by its own report, and a codex or claude preset or summarize_prompt set — is asked
// to write its notes into the note file, which is waited for up to summarize_timeout.
// Neither happens with --now (or --fresh, for the notes); neither is part of the gap.
void Handoff::drain() {
  auto self = this->self();
  drain_turn([self](const Drained& drained) { self->summarize(drained); });
}

void Handoff::skip_drain() {
  Retirement::skip_drain();
  if (note_wait_) note_wait_->skip();
}

void Handoff::summarize(const Drained& drained) {
  if (drained.session.empty() || !drained.is_turn_reported || req_.is_fresh || is_drain_skipped_)
    return write_note();
  const auto spec = cfg_.agents.find(drained.agent);
  const bool is_known_kind = spec != cfg_.agents.end() && (spec->second.kind == AgentKind::kCodex ||
                                                           spec->second.kind == AgentKind::kClaude);
  if (!is_known_kind && cfg_.summarize_prompt.empty()) return write_note();
  const std::string path = note_path(orch_.paths().home, req_.project, new_id_);
  const std::string text = with_note_path(
      cfg_.summarize_prompt.empty() ? std::string(kDefaultSummarizePrompt) : cfg_.summarize_prompt,
      path);
  // The note's directory exists before the agent is told to write there.
  auto self = this->self();
  run_off_loop<std::string>(
      orch_.loop(),
      [dir = std::filesystem::path(path).parent_path()] {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        return ec ? "cannot create " + dir.string() + ": " + ec.message() : std::string();
      },
      [self, drained, path, text](const std::string& error) {
        if (!error.empty()) {
          self->progress("drain", error);
          self->outcome_.notes.push_back(error);
          return self->write_note();
        }
        self->ask_for_notes(drained, path, text);
      });
}

void Handoff::ask_for_notes(const Drained& drained, const std::string& path,
                            const std::string& text) {
  if (is_drain_skipped_) return write_note();
  progress("drain", "asked " + drained.agent + " for its handoff notes in " + path);
  typing_ = std::make_unique<MessageTyping>(orch_.daemon(), drained.session);
  auto self = this->self();
  typing_->type(text, [self, drained, path](bool entered) {
    self->typing_.reset();
    if (!entered) {
      if (self->orch_.daemon().is_shutting_down())
        return self->fail(ErrorCode::kFailed, "the daemon is shutting down");
      self->progress("drain", drained.agent + " exited before it was asked for its notes");
      return self->write_note();
    }
    if (self->faulted("summarize.asked")) return;
    if (self->is_drain_skipped_) return self->write_note();
    self->note_wait_ = std::make_unique<NoteWait>(self->orch_, drained.session, path);
    const std::string agent = drained.agent;
    self->note_wait_->start(
        static_cast<std::uint64_t>(self->cfg_.summarize_timeout_ms), kSummaryTickMs,
        [self, agent](long waited_s) {
          self->progress("drain", "asked " + agent + " for its handoff notes (" +
                                      std::to_string(waited_s) + " s)");
        },
        [self, agent](WaitEnd end) { self->on_summarized(end, agent); });
  });
}

void Handoff::on_summarized(WaitEnd end, const std::string& agent) {
  note_wait_.reset();
  switch (end) {
    case WaitEnd::kDone:
      progress("drain", agent + " wrote its handoff notes");
      break;
    case WaitEnd::kTimedOut: {
      const std::string note = agent + " wrote no handoff notes within " +
                               duration_text(cfg_.summarize_timeout_ms) + " (summarize_timeout)";
      progress("drain", note);
      outcome_.notes.push_back(note);
      break;
    }
    case WaitEnd::kSkipped:
      progress("drain", "--now: stopped waiting for " + agent + "'s notes");
      break;
    case WaitEnd::kExited:
      if (orch_.daemon().is_shutting_down())
        return fail(ErrorCode::kFailed, "the daemon is shutting down");
      progress("drain", agent + " exited before it wrote its notes");
      break;
  }
  write_note();
}

// The note is written before the first stop signal, outside the gap. Nothing to retire (the
// first `up`), --fresh and a fallback (the previous agent resumes its own conversation) write
// none. A note that cannot be written does not stop the handoff: the work moves on, the
// outcome says why the new agent starts without one.
void Handoff::write_note() {
  if (to_retire_.empty() || req_.is_fresh || req_.is_fallback) return retire();
  NoteInput in;
  in.project = req_.project;
  in.branch = cfg_.branch;
  in.new_session = new_id_;
  in.reason = req_.reason.empty() ? req_.trigger : req_.reason;
  in.written_at = runtime::iso8601_now();
  // Messages told and not yet typed: the new agent gets them after its first turn, and reads
  // here that they are coming.
  in.queued_messages = orch_.outbox().queued_texts(req_.project);
  // The team the new orchestrator takes over.
  for (const SessionRecord* w : orch_.registry().workers_of(req_.project)) {
    if (w->state == SessionState::kRetired) continue;
    NoteWorker nw{w->name, w->branch, std::string(worker_health(*w)), "", ""};
    if (const Activity* a = orch_.activity().get(w->id)) nw.activity = wire_name(a->state);
    runtime::Session* live = orch_.daemon().find_session_exact(w->id);
    nw.last_line =
        last_screen_line(live && live->is_running() ? live->peek_capture() : w->last_lines);
    in.workers.push_back(std::move(nw));
  }
  NoteFacts facts;
  facts.repo_path = project()->path;
  facts.branch = cfg_.branch;
  // The agents' environment decides where claude and codex keep their conversations.
  std::map<std::string, std::string> env = req_.env;
  for (const auto& [k, v] : cfg_.env) env[k] = v;
  const auto env_or = [&env](const std::string& key, const std::string& fallback) {
    auto it = env.find(key);
    return it == env.end() || it->second.empty() ? fallback : it->second;
  };
  facts.codex_home = env_or("CODEX_HOME", env_or("HOME", "") + "/.codex");
  for (const auto& id : to_retire_) {
    const SessionRecord* rec = orch_.session(id);
    if (!rec) continue;
    NoteAgent a;
    a.session_id = id;
    a.agent = rec->agent;
    a.conversation_id = rec->conversation_id;
    const auto spec = cfg_.agents.find(rec->agent);
    const AgentKind kind = spec == cfg_.agents.end() ? AgentKind::kGeneric : spec->second.kind;
    if (kind == AgentKind::kClaude && !a.conversation_id.empty())
      a.transcript_path = claude_transcript_path(env, rec->worktree, a.conversation_id);
    if (kind == AgentKind::kCodex && !a.conversation_id.empty())
      facts.codex_threads[id] = a.conversation_id;
    runtime::Session* live = orch_.daemon().find_session_exact(id);
    a.is_running = live && live->is_running();
    a.last_lines = trim_screen(a.is_running ? live->capture(true) : rec->last_lines);
    in.old_agents.push_back(std::move(a));
  }
  if (const SessionRecord* cur = current_orchestrator(orch_.project_sessions(req_.project))) {
    facts.since_session = cur->id;
    facts.start_commit = cur->start_commit;
  }
  note_path_ = note_path(orch_.paths().home, req_.project, new_id_);
  auto self = this->self();
  run_off_loop<tl::expected<void, std::string>>(
      orch_.loop(),
      [in = std::move(in), facts = std::move(facts), path = note_path_]() mutable {
        gather_note_facts(facts, in);
        return plugin::write_note(path, in);
      },
      [self](const tl::expected<void, std::string>& written) { self->on_note_written(written); });
}

void Handoff::on_note_written(const tl::expected<void, std::string>& written) {
  if (!written) {
    outcome_.notes.push_back("no handoff note: " + written.error());
    note_path_.clear();
  }
  retire();
}

// ---- 4. retire: every active, retiring or exited orchestrator, one at a time
// (Retirement::retire_next: mark retiring → persist → stop → retire_tree off the loop →
// persist); then, off the loop, check_branch_free: nobody holds the canonical branch any more.
void Handoff::retire() {
  // The first `up` has nothing to retire, and no branch to free.
  if (to_retire_.empty()) return adopt();
  journal().phase = HandoffPhase::kRetire;
  retire_next();
}

void Handoff::after_retire() {
  // Named only once retired: a handoff that fails before the stop leaves no record naming a
  // note nobody reads. Persisted with adopt's first transition.
  if (!note_path_.empty()) {
    for (const auto& id : outcome_.retired)
      if (SessionRecord* rec = orch_.session(id)) rec->retired_note = note_path_;
  }
  auto self = this->self();
  run_off_loop<Expected<void>>(
      orch_.loop(),
      [repo_path = project()->path, branch = cfg_.branch] {
        return check_branch_free(repo_path, branch);
      },
      [self](Expected<void> is_free) {
        if (!is_free) return self->fail(is_free.error());
        self->adopt();
      });
}

// ---- 5. adopt: off the loop adopt_tree moves the prepared tree to the stable path, adopts
// the canonical branch, re-applies the preserved work and carries what no commit holds.
void Handoff::adopt() {
  gap_enter(GapStep::kAdopt);
  progress("adopt", stable_path_);
  journal().phase = HandoffPhase::kAdopt;
  AdoptTree in{project()->path,
               prepared_path_,
               prepared_name_,
               stable_path_,
               cfg_.branch,
               temp_branch_,
               {},
               {}};
  if (cfg_.carry_uncommitted) in.commits = preserved_commits_;
  // Read ahead: only a taken standby's (a tree prepared now was read by nobody yet).
  if (is_standby_taken_) in.index = std::move(standby_index_);
  for (const auto& id : outcome_.retired)
    in.retired_trees.emplace_back(trash_path(project_dir_, id), id);
  // The adopt.moved/adopted/reapplied points fire on the worker thread, inside the step.
  const FaultHit fault = [env = req_.env](std::string_view point) { return fault_hit(env, point); };
  auto self = this->self();
  auto used = std::make_shared<git::SharedIndex>();
  persist_then([self, in = std::move(in), fault, used]() mutable {
    if (self->faulted("adopt.persisted")) return;
    run_off_loop<Expected<Notes>>(
        self->orch_.loop(),
        [in = std::move(in), fault, used]() mutable {
          auto notes = adopt_tree(in, fault);
          *used = std::move(in.index);  // freed after the reply, not inside the gap
          return notes;
        },
        [self, used](Expected<Notes> notes) {
          self->keep_until_reply(used);
          self->on_adopted(std::move(notes));
        });
  });
}

void Handoff::on_adopted(Expected<Notes> notes) {
  if (!notes) return fail(notes.error());
  for (auto& n : *notes) outcome_.notes.push_back(n);
  if (faulted("adopt.done")) return;
  launch();
}

// ---- 6. launch: start the agent there, persist it active, verify, then delete the trash.
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
  rec.created_at = runtime::iso8601_now();
  rec.updated_at = rec.created_at;
  rec.restore_marker = true;
  if (!note_path_.empty()) {
    rec.handoff_note = note_path_;
    rec.handoff_reason = req_.reason.empty() ? req_.trigger : req_.reason;
  }
  // The previous agent after a failed launch comes back with its resume command. The files
  // the agent reads are written off the loop; the gap's spawn step includes them.
  gap_enter(GapStep::kSpawn);
  auto self = this->self();
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
  journal() = HandoffJournal{};
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
  auto self = this->self();
  persist_then([self, err = started ? std::string() : started.error()] {
    if (err.empty()) return self->verify();
    self->fall_back(err, [self](const std::string& msg) {
      self->outcome_.launch_error = msg;
      self->fail(ErrorCode::kLaunchFailed, msg);
    });
  });
}

// The last step of launch: off the loop, verify_branch — the branch is where the agent runs.
void Handoff::verify() {
  if (faulted("launch.persisted")) return;
  auto self = this->self();
  run_off_loop<Expected<void>>(
      orch_.loop(),
      [repo_path = project()->path, branch = cfg_.branch, stable = stable_path_] {
        return verify_branch(repo_path, branch, stable);
      },
      [self](Expected<void> verified) { self->on_verified(std::move(verified)); });
}

void Handoff::on_verified(Expected<void> verified) {
  if (!verified) return fail(verified.error());
  if (faulted("verify.done")) return;
  outcome_.session = new_id_;
  if (const SessionRecord* rec = orch_.session(new_id_))
    orch_.run_session_hook("after_spawn", *rec);
  finish_note();
}

// After the exec, outside the gap (its steps and targets stay as they were): off the loop the
// preserved paths are appended to the note — atomically, so the new agent reads it with or
// without them, never half — and the branch tip the new agent started at is read for its
// start_commit, persisted before the reply.
void Handoff::finish_note() {
  struct Finished {
    std::string tip;
    std::string note_error;
  };
  std::vector<NoteCarried> carried;
  for (const auto& p : outcome_.preserved)
    carried.push_back({p.value("session", ""), p.value("commit", ""), {}, 0, {}});
  auto self = this->self();
  run_off_loop<Finished>(
      orch_.loop(),
      [path = note_path_, repo_path = project()->path, branch = cfg_.branch,
       carried = std::move(carried), notes = outcome_.notes,
       is_reapplied = cfg_.carry_uncommitted]() mutable {
        Finished out;
        if (auto project = git::open_project(repo_path)) {
          if (auto tip = git::branch_tip(project->repo.get(), branch)) out.tip = git::oid_hex(*tip);
        }
        if (!path.empty()) {
          if (auto a = append_carried(path, repo_path, std::move(carried), notes, is_reapplied); !a)
            out.note_error = a.error();
        }
        return out;
      },
      [self](const Finished& out) {
        if (SessionRecord* rec = self->orch_.session(self->new_id_)) rec->start_commit = out.tip;
        if (!out.note_error.empty())
          self->outcome_.notes.push_back("handoff note incomplete: " + out.note_error);
        self->persist_then([self] { self->reply(); });
      });
}

// ---- after the reply: the trash, the launch grace, and the fallback to the previous agent

// Deleting a retired tree grows with the repository (seconds at 50,000 files), so `replace`
// does not wait for it: it returns as soon as the agent runs. The project stays held
// (ProjectState::handoff) until the deletion and the sweep after it ended, so no other
// handoff's retire runs beside them; a command arriving meanwhile waits for that.
void Handoff::reply() {
  // Nothing retired (a first `up`): no tree to delete, so nothing slow to skip. The reply
  // comes from succeed(), after the last persist, and a command that reads the state next
  // finds the handoff finished.
  if (!outcome_.retired.empty()) answer_done();
  // Before the watch: an agent already dead falls back at once, and its fallback must see the
  // deletion under way (fall_back).
  put_away_trash(TrashMode::kDelete);
  watch_launch_grace();
}

void Handoff::after_put_away() {
  is_trash_put_away_ = true;
  if (waiting_fallback_) {
    auto fallback = std::move(waiting_fallback_);
    fallback->start();
  }
  answer_waiting_when_over();
}

// `--wait` fails with the launch's error, else with the deletion's (kStuck, in outcome_).
void Handoff::answer_waiting_when_over() {
  if (is_grace_over_ && is_trash_put_away_) answer_waiting(grace_error_);
}

// `--wait` also waits out launch_grace. An agent that dies within it is replaced by the
// previous agent on the branch, so the project always has an orchestrator. After the grace a
// crash is a crash: the orchestrator relaunches the same agent with back-off, so the watch
// ends with the grace and leaves nothing registered.
void Handoff::watch_launch_grace() {
  runtime::Session* live = orch_.daemon().find_session_exact(new_id_);
  // It may have died while the launch was being verified.
  if (!live) return on_launch_grace_exit(-1);
  if (!live->is_running()) return on_launch_grace_exit(live->exit_status());
  auto self = this->self();
  if (ProjectState* p = project()) p->launch_watch = self;
  grace_timer_ = runtime::make_owned<runtime::Timer>(orch_.loop());
  grace_timer_->start(static_cast<std::uint64_t>(cfg_.launch_grace_ms),
                      [self] { self->end_launch_grace(""); });
  grace_listener_ =
      live->on_exit([self](runtime::Session& s) { self->on_launch_grace_exit(s.exit_status()); });
}

void Handoff::stop_watching_launch_grace() {
  grace_timer_.reset();
  if (grace_listener_ != 0) {
    if (runtime::Session* s = orch_.daemon().find_session_exact(new_id_))
      s->remove_exit_listener(grace_listener_);
    grace_listener_ = 0;
  }
  if (ProjectState* p = project(); p && p->launch_watch.get() == static_cast<LaunchWatch*>(this))
    p->launch_watch.reset();
}

void Handoff::end_launch_grace(const std::string& launch_error) {
  stop_watching_launch_grace();
  if (is_waited_ || is_grace_over_) return;
  if (ProjectState* p = project(); p && !launch_error.empty()) p->launch_error = launch_error;
  is_grace_over_ = true;
  grace_error_ = launch_error;
  answer_waiting_when_over();
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
  auto self = this->self();
  fall_back(agent_ + " exited with status " + std::to_string(status) + " within " +
                std::to_string(cfg_.launch_grace_ms / 1000) + " s" +
                (last.empty() ? "" : " (" + last + ")"),
            [self](const std::string& msg) { self->end_launch_grace(msg); });
}

void Handoff::fall_back(const std::string& why,
                        const std::function<void(const std::string&)>& then) {
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
  // It holds the project from now on (health `replacing`, no crash relaunch), but its retire
  // and sweep must not run beside this handoff's deletion of the same trees.
  if (is_putting_away_) {
    progress("launch", "relaunching " + prev->agent + " once the old trees are deleted");
    waiting_fallback_ = std::move(fallback);
    return;
  }
  // A worker's spawn or finish that began once this handoff let the repository go works in
  // it: the fallback's git work waits for its end (docs/workers.md).
  if (ProjectState* p = project(); p && !p->worker_op.empty()) {
    progress("launch", "relaunching " + prev->agent + " once " + p->worker_op + " ended");
    p->after_worker_op.push_back([fallback] { fallback->start(); });
    return;
  }
  fallback->start();
}

// A failure after the stop must not leave the project without an orchestrator: when none
// runs, the previous agent is started on the branch (as after a failed launch); either way
// the error, naming the step, stays in `status` and health is not `ok` until a handoff
// succeeds. A stuck cleanup leaves the new agent running, and a fallback never falls back.
bool Handoff::repair_after_stop(ErrorCode code, const std::string& message) {
  if (code == ErrorCode::kStuck || req_.is_fallback) return false;
  const std::string recorded = failed_step(code) + " failed: " + message;
  if (!has_running_orchestrator() && !has_fallen_back_ && !orch_.daemon().is_shutting_down()) {
    auto self = this->self();
    fall_back(recorded, [self, code](const std::string& msg) {
      // No previous agent, or it failed too: say what to run.
      ProjectState* p = self->project();
      if (p && !self->has_running_orchestrator()) {
        p->launch_error = msg + ": fix it, then run 'baton replace'";
        p->is_stuck = true;
      }
      self->finish_failure(code, msg);
    });
    return true;
  }
  if (ProjectState* p = project(); p && !has_fallen_back_) {
    const bool is_running = has_running_orchestrator();
    p->launch_error = recorded + (is_running ? "; run 'baton replace' to finish it"
                                             : ": fix it, then run 'baton replace'");
    p->is_stuck = !is_running;
  }
  return false;
}

void Handoff::undo_before_stop() {
  if (note_path_.empty()) return;
  run_off_loop(
      orch_.loop(),
      [path = note_path_] {
        std::error_code ec;
        std::filesystem::remove(path, ec);
      },
      [] {});
  note_path_.clear();
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

}  // namespace baton::plugin
