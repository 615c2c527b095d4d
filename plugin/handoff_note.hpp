// The handoff note (DESIGN.md §9): a Markdown file under $BATON_HOME that tells the new
// orchestrator what the old one was doing. The old agent may write its own summary there
// first (the drain's summarize step); baton then adds what it knows under "## From baton";
// the preserved paths follow after adopt. The new agent gets the path in BATON_HANDOFF_NOTE.
//
// compose_* are pure; the rest reads and writes files and git, synchronously: the handoff
// calls them off the loop (plugin/off_loop.hpp).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace baton::plugin {

// $BATON_HOME/notes/<project>/<new session id>.md: one note per handoff, named after the
// session that reads it.
inline std::string note_path(const std::string& baton_home, const std::string& project,
                             const std::string& new_session_id) {
  return baton_home + "/notes/" + project + "/" + new_session_id + ".md";
}

inline constexpr std::size_t kNoteScreenLines = 40;
inline constexpr std::size_t kNoteCommitsShown = 100;
inline constexpr std::size_t kNotePathsShown = 200;

// One agent the handoff retires.
struct NoteAgent {
  std::string session_id;
  std::string agent;
  std::string conversation_id;          // "" when unknown
  std::string transcript_path;          // "" when unknown
  std::vector<std::string> last_lines;  // its screen, as captured before the stop
  bool is_running = false;              // false: the lines are those kept when it exited
};

struct NoteCommit {
  std::string short_id;
  std::string subject;
};

// The commits on the canonical branch since the old agent started.
struct NoteCommits {
  std::string since_session;  // the session whose start they are counted from
  bool is_known = false;      // false: no start commit recorded, or the listing failed
  std::string why_unknown;
  std::vector<NoteCommit> shown;
  std::size_t more = 0;
};

// One of the project's workers (docs/workers.md): the new orchestrator takes over its team.
struct NoteWorker {
  std::string name;
  std::string branch;
  std::string health;    // worker_health()
  std::string activity;  // "" when unknown
  std::string last_line;
};

struct NoteInput {
  std::string project;
  std::string branch;
  std::string new_session;
  std::string reason;      // --reason, or the trigger ("replace", "up", "recovery")
  std::string written_at;  // ISO 8601
  std::vector<NoteAgent> old_agents;
  NoteCommits commits;
  std::vector<std::string> queued_messages;  // told, not yet typed: the new agent gets them
  std::vector<NoteWorker> workers;
};

// A retired session's uncommitted work, preserved and re-applied in the new tree.
struct NoteCarried {
  std::string session_id;
  std::string commit;
  std::vector<std::string> paths;
  std::size_t more = 0;
  std::string why_unknown;  // the paths could not be listed
};

// The last `max_lines` lines of a screen, trailing spaces and trailing blank lines dropped.
std::vector<std::string> trim_screen(std::vector<std::string> lines,
                                     std::size_t max_lines = kNoteScreenLines);

// baton's part of the note, starting with "## From baton".
std::string compose_note(const NoteInput& in);
// The whole file: what the old agent wrote there (if anything) first, then baton's part; a
// note only baton writes gets a title of its own.
std::string compose_note_file(const std::string& agent_part, const NoteInput& in);
// The section appended after adopt: the preserved paths, re-applied in the new tree unless
// carry_uncommitted is off, and what the handoff reported (conflicts, kept entries).
std::string compose_carried_section(const std::vector<NoteCarried>& carried,
                                    const std::vector<std::string>& handoff_notes,
                                    bool is_reapplied);

// ---- off the loop

// What baton reads from git and the file system for the note.
struct NoteFacts {
  std::string repo_path;
  std::string branch;
  std::string start_commit;  // of the session the commits are counted from; "" when unknown
  std::string since_session;
  // codex's rollout files: $CODEX_HOME (default ~/.codex)/sessions/YYYY/MM/DD/*-<thread>.jsonl
  std::map<std::string, std::string> codex_threads;  // session id → thread id
  std::string codex_home;
};

// Fills the commit list (git) and each codex agent's transcript path (when found).
void gather_note_facts(const NoteFacts& facts, NoteInput& in);

// codex's rollout file of a thread, newest day first; "" when none is found.
std::string find_codex_rollout(const std::string& codex_home, const std::string& thread_id);

// Writes the note at `path` atomically (temp, fsync, rename): what is already there — the old
// agent's summary — is kept first. Errors name the path.
tl::expected<void, std::string> write_note(const std::string& path, const NoteInput& in);

// Lists each preserved commit's paths (git), then appends the section to the note at `path`
// atomically. Errors name the path.
tl::expected<void, std::string> append_carried(const std::string& path,
                                               const std::string& repo_path,
                                               std::vector<NoteCarried> carried,
                                               const std::vector<std::string>& handoff_notes,
                                               bool is_reapplied);

}  // namespace baton::plugin
