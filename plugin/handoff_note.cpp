#include "plugin/handoff_note.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "git/commit_log.hpp"
#include "git/repository.hpp"
#include "plugin/atomic_file.hpp"

namespace baton::plugin {

namespace {

namespace fs = std::filesystem;

std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

// A code fence longer than any run of backticks in the lines, so a screen that shows Markdown
// cannot end the block early.
std::string fence_for(const std::vector<std::string>& lines) {
  std::size_t longest = 0;
  for (const auto& line : lines) {
    std::size_t run = 0;
    for (char c : line) {
      run = c == '`' ? run + 1 : 0;
      longest = std::max(longest, run);
    }
  }
  return std::string(std::max<std::size_t>(3, longest + 1), '`');
}

// Markdown code span for a value that may hold backticks.
std::string code(const std::string& s) {
  const std::string f = s.find('`') == std::string::npos ? "`" : "`` ";
  const std::string g = s.find('`') == std::string::npos ? "`" : " ``";
  return f + s + g;
}

void add_agent(std::string& out, const NoteAgent& a) {
  out += "\n### Old agent " + a.session_id + " (" + a.agent + ")\n\n";
  if (!a.conversation_id.empty()) out += "- Conversation id: " + code(a.conversation_id) + "\n";
  if (!a.transcript_path.empty()) out += "- Transcript: " + code(a.transcript_path) + "\n";
  if (a.last_lines.empty()) {
    out += "- Screen: nothing was shown\n";
    return;
  }
  out += a.is_running ? "- Its last screen lines before it was stopped:\n\n"
                      : "- Its last screen lines when it exited:\n\n";
  const std::string fence = fence_for(a.last_lines);
  out += fence + "\n";
  for (const auto& line : a.last_lines) out += line + "\n";
  out += fence + "\n";
}

void add_commits(std::string& out, const NoteInput& in) {
  const NoteCommits& c = in.commits;
  out += "\n### Commits on " + code(in.branch) +
         (c.since_session.empty() ? "" : " since " + c.since_session + " started") + "\n\n";
  if (!c.is_known) {
    out += "Unknown: " + c.why_unknown + ".\n";
    return;
  }
  if (c.shown.empty()) {
    out += "None.\n";
    return;
  }
  for (const auto& commit : c.shown) out += "- " + commit.short_id + " " + commit.subject + "\n";
  if (c.more > 0) out += "- \u2026 and " + std::to_string(c.more) + " more\n";
}

void add_workers(std::string& out, const std::vector<NoteWorker>& workers) {
  out += "\n### Workers\n\n";
  if (workers.empty()) {
    out += "None.\n";
    return;
  }
  out += "Your team keeps running ('baton workers', 'baton guide'):\n\n";
  for (const auto& w : workers) {
    out += "- " + w.name + " on `" + w.branch + "`: " + w.health;
    if (!w.activity.empty()) out += ", " + w.activity;
    if (!w.last_line.empty()) out += " — last line: `" + w.last_line + "`";
    out += "\n";
  }
}

void add_messages(std::string& out, const std::vector<std::string>& messages) {
  out += "\n### Queued messages\n\n";
  if (messages.empty()) {
    out += "None.\n";
    return;
  }
  out += "baton types these to you, one per turn end, in this order:\n\n";
  for (std::size_t i = 0; i < messages.size(); ++i) {
    std::string text = messages[i];
    // One list item per message, its later lines indented into it.
    for (std::size_t pos = text.find('\n'); pos != std::string::npos;
         pos = text.find('\n', pos + 4))
      text.replace(pos, 1, "\n   ");
    out += std::to_string(i + 1) + ". " + text + "\n";
  }
}

}  // namespace

std::vector<std::string> trim_screen(std::vector<std::string> lines, std::size_t max_lines) {
  for (auto& line : lines) line = rstrip(std::move(line));
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() > max_lines)
    lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(max_lines));
  return lines;
}

std::string compose_note(const NoteInput& in) {
  std::string out = "## From baton\n\n";
  std::string from;
  for (const auto& a : in.old_agents) from += (from.empty() ? "" : ", ") + a.session_id;
  out += "- Project: " + in.project + ", branch " + code(in.branch) + "\n";
  out += "- Handoff: " + (from.empty() ? std::string("(none)") : from) + " \u2192 " +
         in.new_session + "\n";
  out += "- Reason: " + (in.reason.empty() ? std::string("not given") : in.reason) + "\n";
  out += "- Written: " + in.written_at + "\n";
  for (const auto& a : in.old_agents) add_agent(out, a);
  add_commits(out, in);
  add_messages(out, in.queued_messages);
  add_workers(out, in.workers);
  return out;
}

std::string compose_note_file(const std::string& agent_part, const NoteInput& in) {
  std::string head = rstrip(agent_part);
  while (!head.empty() && (head.back() == '\n' || head.back() == '\r'))
    head = rstrip(head.substr(0, head.size() - 1));
  if (head.empty()) head = "# Handoff note for " + in.new_session;
  return head + "\n\n" + compose_note(in);
}

std::string compose_carried_section(const std::vector<NoteCarried>& carried,
                                    const std::vector<std::string>& handoff_notes,
                                    bool is_reapplied) {
  std::string out = is_reapplied
                        ? "\n### Uncommitted work preserved and re-applied\n\n"
                        : "\n### Uncommitted work preserved (not re-applied: carry_uncommitted "
                          "is off)\n\n";
  if (carried.empty()) out += "None: the old tree had no uncommitted work.\n";
  for (const auto& c : carried) {
    out += "From " + c.session_id + " (preserved at " +
           code("refs/baton/preserved/" + c.session_id) + ", commit " + c.commit.substr(0, 12) +
           "):\n\n";
    if (!c.why_unknown.empty()) out += "- the paths could not be listed: " + c.why_unknown + "\n";
    for (const auto& p : c.paths) out += "- " + code(p) + "\n";
    if (c.more > 0) out += "- \u2026 and " + std::to_string(c.more) + " more\n";
    out += "\n";
  }
  if (!handoff_notes.empty()) {
    out += "What the handoff reported:\n\n";
    for (const auto& n : handoff_notes) out += "- " + n + "\n";
  }
  return out;
}

// ---- off the loop

std::string find_codex_rollout(const std::string& codex_home, const std::string& thread_id) {
  if (codex_home.empty() || thread_id.empty()) return {};
  const std::string suffix = thread_id + ".jsonl";
  std::error_code ec;
  // sessions/YYYY/MM/DD: the names sort by date, the newest is the likeliest.
  auto sorted_dirs = [&ec](const fs::path& dir) {
    std::vector<fs::path> out;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec)) out.push_back(it->path());
    std::sort(out.rbegin(), out.rend());
    ec.clear();
    return out;
  };
  for (const auto& year : sorted_dirs(fs::path(codex_home) / "sessions"))
    for (const auto& month : sorted_dirs(year))
      for (const auto& day : sorted_dirs(month))
        for (fs::directory_iterator it(day, ec), end; !ec && it != end; it.increment(ec)) {
          const std::string name = it->path().filename().string();
          if (name.size() >= suffix.size() &&
              name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            return it->path().string();
        }
  return {};
}

void gather_note_facts(const NoteFacts& facts, NoteInput& in) {
  in.commits.since_session = facts.since_session;
  for (auto& a : in.old_agents) {
    auto it = facts.codex_threads.find(a.session_id);
    if (it != facts.codex_threads.end() && a.transcript_path.empty())
      a.transcript_path = find_codex_rollout(facts.codex_home, it->second);
  }
  if (facts.start_commit.empty()) {
    in.commits.why_unknown =
        facts.since_session.empty()
            ? "no orchestrator of this project was running"
            : facts.since_session + " was started before baton recorded where the branch was";
    return;
  }
  auto project = git::open_project(facts.repo_path);
  if (!project) {
    in.commits.why_unknown = project.error().message;
    return;
  }
  auto log =
      git::commits_since(project->repo.get(), facts.branch, facts.start_commit, kNoteCommitsShown);
  if (!log) {
    in.commits.why_unknown = log.error().message;
    return;
  }
  in.commits.is_known = true;
  for (auto& c : log->shown) in.commits.shown.push_back({c.short_id, c.subject});
  in.commits.more = log->more;
}

tl::expected<void, std::string> write_note(const std::string& path, const NoteInput& in) {
  auto existing = read_file(path);
  if (!existing && !existing.error().empty()) return tl::make_unexpected(existing.error());
  return write_file_atomic(path, compose_note_file(existing ? *existing : "", in));
}

tl::expected<void, std::string> append_carried(const std::string& path,
                                               const std::string& repo_path,
                                               std::vector<NoteCarried> carried,
                                               const std::vector<std::string>& handoff_notes,
                                               bool is_reapplied) {
  if (!carried.empty()) {
    auto project = git::open_project(repo_path);
    for (auto& c : carried) {
      if (!project) {
        c.why_unknown = project.error().message;
        continue;
      }
      auto paths = git::changed_paths(project->repo.get(), c.commit, kNotePathsShown);
      if (!paths) {
        c.why_unknown = paths.error().message;
        continue;
      }
      c.paths = std::move(paths->shown);
      c.more = paths->more;
    }
  }
  auto existing = read_file(path);
  if (!existing) {
    return tl::make_unexpected(existing.error().empty() ? "cannot read " + path + ": it is gone"
                                                        : existing.error());
  }
  return write_file_atomic(
      path, *existing + compose_carried_section(carried, handoff_notes, is_reapplied));
}

}  // namespace baton::plugin
