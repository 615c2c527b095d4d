// The `notes` method: a project's handoff notes (handoff_note.hpp), listed from the session
// records that name them, or one note's text, read off the loop.
#include "plugin/atomic_file.hpp"
#include "plugin/control_methods.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"

namespace baton::plugin {

namespace proto = runtime::protocol;
using proto::Json;
using runtime::RequestPtr;

namespace {

// Clang-tidy 14 takes nlohmann's noexcept move for one that throws.
struct NoteRead {  // NOLINT(bugprone-exception-escape)
  std::string error;
  std::string text;
};

// The note a session started with, else the one written when it was retired.
const std::string* note_of(const SessionRecord& s) {
  if (!s.handoff_note.empty()) return &s.handoff_note;
  if (!s.retired_note.empty()) return &s.retired_note;
  return nullptr;
}

void show_note(Orchestrator& orch, const RequestPtr& req, const SessionRecord& s) {
  const std::string* path = note_of(s);
  if (!path)
    return req->fail(wire_name(ErrorCode::kNotFound),
                     "session '" + s.id + "' has no handoff note (baton notes " + s.project + ")");
  run_off_loop<NoteRead>(
      orch.loop(),
      [path = *path] {
        auto text = read_file(path);
        if (text) return NoteRead{"", *text};
        return NoteRead{
            text.error().empty() ? "the handoff note " + path + " is gone" : text.error(), ""};
      },
      [req, id = s.id, path = *path](const NoteRead& r) {
        if (!r.error.empty()) return req->fail(wire_name(ErrorCode::kFailed), r.error);
        req->reply(Json{{"session", id}, {"path", path}, {"text", r.text}});
      });
}

// Newest first: one entry per note, the session that started with it and those it retired.
Json list_notes(Orchestrator& orch, const std::string& project) {
  struct Entry {
    const SessionRecord* reader = nullptr;
    std::vector<std::string> retired;
  };
  std::map<std::string, Entry> by_path;
  for (const SessionRecord* s : orch.project_sessions(project)) {
    if (!s->handoff_note.empty()) by_path[s->handoff_note].reader = s;
    if (!s->retired_note.empty()) by_path[s->retired_note].retired.push_back(s->id);
  }
  std::vector<std::pair<std::string, Entry>> entries(by_path.begin(), by_path.end());
  auto number = [](const Entry& e) { return e.reader ? e.reader->number : 0u; };
  std::sort(entries.begin(), entries.end(),
            [&](const auto& a, const auto& b) { return number(a.second) > number(b.second); });
  Json list = Json::array();
  for (auto& [path, e] : entries) {
    std::sort(e.retired.begin(), e.retired.end());
    list.push_back(Json{{"session", e.reader ? Json(e.reader->id) : Json(nullptr)},
                        {"retired", e.retired},
                        {"at", e.reader ? Json(e.reader->created_at) : Json(nullptr)},
                        {"reason", e.reader ? e.reader->handoff_reason : std::string()},
                        {"path", path}});
  }
  return Json{{"project", project}, {"notes", list}};
}

void notes(Orchestrator& orch, const RequestPtr& req) {
  const std::string id = string_param(req, "id");
  // `baton notes shop-3`: a session id alone shows its note; any other word is a target.
  const std::string target = string_param(req, "target");
  if (id.empty()) {
    if (const SessionRecord* s = orch.session(target); s && note_of(*s))
      return show_note(orch, req, *s);
  }
  with_project(orch, req, false, [&orch, req, id](ProjectState& p) {
    if (id.empty()) return req->reply(list_notes(orch, p.id));
    const SessionRecord* s = orch.session(id);
    if (!s || s->project != p.id)
      return req->fail(wire_name(ErrorCode::kNotFound),
                       "no session '" + id + "' in " + p.id + " (baton notes " + p.id + ")");
    show_note(orch, req, *s);
  });
}

}  // namespace

void register_note_methods(Orchestrator& orch) {
  orch.daemon().add_method("notes", [&orch](const RequestPtr& req) { notes(orch, req); });
}

}  // namespace baton::plugin
