// The session store: every orchestrator session and the per-project handoff journal,
// persisted atomically at every transition (DESIGN.md §5) in <state_dir>/store.json.
// A corrupt or truncated file is reported and moved aside (store.json.corrupt-<time>),
// never silently discarded. Schema versioned. Synchronous: called off the loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

namespace baton::plugin {

inline constexpr int kStoreSchema = 1;

// An orchestrator session's state (DESIGN.md §6). The store and `status --json` carry the
// names wire_name() gives; it and session_state_from_wire() are the one mapping.
enum class SessionState {
  kActive,    // its agent runs, or comes back with the daemon (restore marker)
  kRetiring,  // a handoff is stopping it; a cleanup that failed leaves it here (health stuck)
  kRetired,   // stopped, its work preserved, its tree released
  kExited,    // its agent ended outside a handoff (a crash: relaunched with back-off)
};

constexpr std::string_view wire_name(SessionState state) {
  switch (state) {
    case SessionState::kActive:
      return "active";
    case SessionState::kRetiring:
      return "retiring";
    case SessionState::kRetired:
      return "retired";
    case SessionState::kExited:
      return "exited";
  }
  return "exited";
}

// nullopt for a name no baton writes: the store refuses it like a field of the wrong type.
std::optional<SessionState> session_state_from_wire(std::string_view name);

// What a session is to its project: the orchestrator on the canonical branch, or one of its
// workers, each on a branch and in a worktree of its own (docs/workers.md). Every selection
// of "the orchestrator" sees orchestrators only.
enum class SessionRole { kOrchestrator, kWorker };

constexpr std::string_view wire_name(SessionRole role) {
  return role == SessionRole::kWorker ? "worker" : "orchestrator";
}
std::optional<SessionRole> session_role_from_wire(std::string_view name);

struct SessionRecord {
  std::string id;  // <project>-<n>
  std::string project;
  SessionRole role = SessionRole::kOrchestrator;
  // A worker's name (its branch's and its directory's last part), its initial prompt and the
  // commit its branch was made at; empty for an orchestrator.
  std::string name;
  std::string prompt;
  std::string base_commit;
  std::string agent;
  std::vector<std::string> argv;
  std::string branch;
  std::string worktree;
  long pid = 0;
  std::uint64_t pid_start_time = 0;  // /proc/<pid>/stat field 22, to recognise the process
  // A record without a state (written by hand) loads as exited: it is never relaunched, and
  // the next handoff retires it, its work preserved.
  SessionState state = SessionState::kExited;
  std::optional<int> exit_status;
  std::vector<std::string> last_lines;
  std::string created_at;
  std::string updated_at;
  std::string preserved_ref;
  std::string preserved_commit;
  std::string last_error;
  bool restore_marker = false;
  unsigned number = 0;  // n of the id
  // The agent's own conversation (issue 8): claude's session id, codex's thread id. Source
  // "baton" when baton chose it at the first launch (claude --session-id) and the agent has
  // not confirmed it yet, "agent" when the agent reported it through its hook or notify.
  std::string conversation_id;
  std::string conversation_source;
  std::string resume_mode;  // how the last launch continued: new | id | last | none
  std::string permissions;  // the mode the agent was started with
  // The canonical branch's tip when a handoff launched this agent: the handoff note lists the
  // commits since (relaunches keep it, the conversation goes on).
  std::string start_commit;
  // The handoff note this agent started with, and why that handoff ran (--reason or the
  // trigger); empty after a first `up`, a `--fresh` replace or a fallback.
  std::string handoff_note;
  std::string handoff_reason;
  // The handoff note written when this session was retired (its successor's handoff_note).
  // The file is deleted when no kept record names it any more (forget_old_retired).
  std::string retired_note;
};

// The phase an unfinished handoff was in: recovery finishes a project whose journal is not
// kNone (a replace that converges). Cleared when the new orchestrator is persisted active.
enum class HandoffPhase { kNone, kPrepare, kRetire, kAdopt };

// The one mapping of a phase to store.json's "phase" and back. A journal an older baton wrote
// calls kAdopt "handoff": phase_from_name reads that too. Any other name is nullopt, and
// load_store refuses the file naming the field, as it does a field of the wrong type.
std::string_view phase_name(HandoffPhase phase);
std::optional<HandoffPhase> phase_from_name(std::string_view name);

// The handoff journal: what an unfinished handoff was doing, for recovery to finish it. An
// older baton also wrote new_session, retiring, prepared_path, temp_branch and started_at,
// which nothing read (preflight finds all of it in the store and the repository again): they
// are ignored on load and gone at the next save.
struct HandoffJournal {
  HandoffPhase phase = HandoffPhase::kNone;
  std::string agent;  // the agent the handoff was starting; recovery starts the same one
};

// The standby (plugin/standby.hpp): the next orchestrator's tree, prepared ahead under the
// session id it reserved. Recorded before its tree is made; ready once the tree and its
// post_create ran. A tree at .standby that no ready record names is discarded, never used.
struct StandbyRecord {
  std::string id;  // the reserved session id: its tree's admin entry and temporary branch
  unsigned number = 0;
  bool is_ready = false;
  std::string config;       // what it was prepared with (standby_config_key)
  std::uint64_t bytes = 0;  // its size on disk once ready
};

struct ProjectRecord {
  std::string id;
  std::string path;  // main worktree
  unsigned last_number = 0;
  // Workers are numbered apart (<project>-w<n>): a spawn must not take the number the
  // standby reserved for the next orchestrator.
  unsigned last_worker_number = 0;
  HandoffJournal journal;
  std::optional<StandbyRecord> standby;
  // The next worker's tree (plugin/worker_standby.hpp), under a reserved worker id.
  std::optional<StandbyRecord> worker_standby;
  // No environment: it may hold secrets, and it lives in memory only (ProjectState::env). An
  // older store's "env" is ignored on load and gone at the next save.
};

struct StoreData {
  int schema = kStoreSchema;
  std::map<std::string, ProjectRecord> projects;
  std::map<std::string, SessionRecord> sessions;
};

nlohmann::json to_json(const StoreData& d);
tl::expected<StoreData, std::string> from_json(const nlohmann::json& j);

struct LoadResult {
  StoreData data;
  std::string warning;  // set when a corrupt file was moved aside: says where
};

tl::expected<LoadResult, std::string> load_store(const std::string& state_dir);
tl::expected<void, std::string> save_store(const std::string& state_dir, const StoreData& d);

}  // namespace baton::plugin
