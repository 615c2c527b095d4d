#include "plugin/session_store.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>

#include "plugin/atomic_file.hpp"

namespace baton::plugin {
namespace {

using nlohmann::json;

constexpr const char* kStoreFile = "store.json";

// Reads the fields of one JSON object into a struct. Missing keys keep the struct's
// defaults (a file written by an older baton); unknown keys are ignored (a newer baton's
// additions); a present key of the wrong type is an error naming its full path, and the
// first such error wins.
class FieldReader {
 public:
  FieldReader(const json& object, std::string where, std::string* error)
      : object_(object), where_(std::move(where)), error_(error) {}

  void read(const char* key, std::string& out) {
    if (const json* v = find(key); v && expect(key, v->is_string(), "a string", *v)) {
      out = v->get<std::string>();
    }
  }
  void read(const char* key, SessionState& out) {
    const json* v = find(key);
    if (!v || !expect(key, v->is_string(), "a string", *v)) return;
    const auto state = session_state_from_wire(v->get<std::string>());
    if (!state) {
      *error_ = "field " + path(key) + ": " + v->dump() +
                " is not a session state (active, retiring, retired, exited)";
      return;
    }
    out = *state;
  }
  void read(const char* key, SessionRole& out) {
    const json* v = find(key);
    if (!v || !expect(key, v->is_string(), "a string", *v)) return;
    const auto role = session_role_from_wire(v->get<std::string>());
    if (!role) {
      *error_ =
          "field " + path(key) + ": " + v->dump() + " is not a session role (orchestrator, worker)";
      return;
    }
    out = *role;
  }
  void read(const char* key, bool& out) {
    if (const json* v = find(key); v && expect(key, v->is_boolean(), "a boolean", *v)) {
      out = v->get<bool>();
    }
  }
  void read(const char* key, long& out) {
    if (const json* v = find(key)) read_integer(key, *v, out);
  }
  void read(const char* key, int& out) {
    if (const json* v = find(key)) read_integer(key, *v, out);
  }
  void read(const char* key, unsigned& out) {
    if (const json* v = find(key)) read_integer(key, *v, out);
  }
  void read(const char* key, std::uint64_t& out) {
    if (const json* v = find(key)) read_integer(key, *v, out);
  }
  void read(const char* key, std::optional<int>& out) {
    const json* v = find(key);
    if (!v) return;
    if (v->is_null()) {
      out.reset();
      return;
    }
    int value = 0;
    if (read_integer(key, *v, value)) out = value;
  }
  void read(const char* key, std::vector<std::string>& out) {
    const json* v = find(key);
    if (!v || !expect(key, v->is_array(), "an array of strings", *v)) return;
    std::vector<std::string> items;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      std::string name = std::string(key) + "[" + std::to_string(i) + "]";
      if (!expect(name, item.is_string(), "a string", item)) return;
      items.push_back(item.get<std::string>());
    }
    out = std::move(items);
  }
  void read(const char* key, std::map<std::string, std::string>& out) {
    const json* v = find(key);
    if (!v || !expect(key, v->is_object(), "an object of strings", *v)) return;
    std::map<std::string, std::string> items;
    for (const auto& [name, item] : v->items()) {
      if (!expect(std::string(key) + "." + name, item.is_string(), "a string", item)) return;
      items.emplace(name, item.get<std::string>());
    }
    out = std::move(items);
  }

  void read(const char* key, HandoffPhase& out) {
    const json* v = find(key);
    if (!v || !expect(key, v->is_string(), "a string", *v)) return;
    const auto phase = phase_from_name(v->get<std::string>());
    if (!phase) {
      *error_ = "field " + path(key) + ": unknown handoff phase " + v->dump();
      return;
    }
    out = *phase;
  }

  // For nested objects: the reader for object_[key], or nullopt when absent or mistyped.
  std::optional<FieldReader> nested(const char* key) {
    const json* v = find(key);
    if (!v || !expect(key, v->is_object(), "an object", *v)) return std::nullopt;
    return FieldReader(*v, path(key), error_);
  }

  const json& object() const { return object_; }
  bool has_error() const { return !error_->empty(); }

 private:
  const json* find(const char* key) const {
    if (!error_->empty()) return nullptr;
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  std::string path(std::string_view key) const {
    return where_.empty() ? std::string(key) : where_ + "." + std::string(key);
  }

  bool expect(std::string_view key, bool is_ok, const char* wanted, const json& got) {
    if (is_ok) return true;
    // nlohmann calls 7.5 a "number" just like 7: say which kind of number it was.
    std::string got_name = got.is_number_float() ? "a float" : got.type_name();
    *error_ = "field " + path(key) + ": expected " + wanted + ", got " + got_name;
    return false;
  }

  // Integers only (no floats, no numeric strings), and in range for the field's type.
  template <typename T>
  bool read_integer(std::string_view key, const json& v, T& out) {
    if (!expect(key, v.is_number_integer(), "an integer", v)) return false;
    bool is_in_range;
    if (v.is_number_unsigned()) {
      is_in_range = v.get<std::uint64_t>() <= std::uint64_t{std::numeric_limits<T>::max()};
    } else {
      auto value = v.get<std::int64_t>();
      is_in_range = std::numeric_limits<T>::is_signed
                        ? value >= std::int64_t{std::numeric_limits<T>::min()} &&
                              value <= std::int64_t(std::numeric_limits<T>::max())
                        : value >= 0;
    }
    if (!is_in_range) {
      *error_ = "field " + path(key) + ": " + v.dump() + " is out of range";
      return false;
    }
    out = v.get<T>();
    return true;
  }

  const json& object_;
  std::string where_;
  std::string* error_;
};

constexpr std::array<std::pair<HandoffPhase, std::string_view>, 4> kPhaseNames = {{
    {HandoffPhase::kNone, ""},
    {HandoffPhase::kPrepare, "prepare"},
    {HandoffPhase::kRetire, "retire"},
    {HandoffPhase::kAdopt, "adopt"},
}};

// What an older baton called the adopt phase.
constexpr std::string_view kOldAdoptName = "handoff";

json session_to_json(const SessionRecord& s) {
  return {
      {"id", s.id},
      {"project", s.project},
      {"role", std::string(wire_name(s.role))},
      {"name", s.name},
      {"prompt", s.prompt},
      {"base_commit", s.base_commit},
      {"agent", s.agent},
      {"argv", s.argv},
      {"branch", s.branch},
      {"worktree", s.worktree},
      {"pid", s.pid},
      {"pid_start_time", s.pid_start_time},
      {"state", std::string(wire_name(s.state))},
      {"exit_status", s.exit_status ? json(*s.exit_status) : json(nullptr)},
      {"last_lines", s.last_lines},
      {"created_at", s.created_at},
      {"updated_at", s.updated_at},
      {"preserved_ref", s.preserved_ref},
      {"preserved_commit", s.preserved_commit},
      {"last_error", s.last_error},
      {"restore_marker", s.restore_marker},
      {"number", s.number},
      {"conversation_id", s.conversation_id},
      {"conversation_source", s.conversation_source},
      {"resume_mode", s.resume_mode},
      {"permissions", s.permissions},
      {"start_commit", s.start_commit},
      {"handoff_note", s.handoff_note},
      {"handoff_reason", s.handoff_reason},
      {"retired_note", s.retired_note},
  };
}

void session_from_json(FieldReader& r, SessionRecord& s) {
  r.read("id", s.id);
  r.read("project", s.project);
  r.read("role", s.role);
  r.read("name", s.name);
  r.read("prompt", s.prompt);
  r.read("base_commit", s.base_commit);
  r.read("agent", s.agent);
  r.read("argv", s.argv);
  r.read("branch", s.branch);
  r.read("worktree", s.worktree);
  r.read("pid", s.pid);
  r.read("pid_start_time", s.pid_start_time);
  r.read("state", s.state);
  r.read("exit_status", s.exit_status);
  r.read("last_lines", s.last_lines);
  r.read("created_at", s.created_at);
  r.read("updated_at", s.updated_at);
  r.read("preserved_ref", s.preserved_ref);
  r.read("preserved_commit", s.preserved_commit);
  r.read("last_error", s.last_error);
  r.read("restore_marker", s.restore_marker);
  r.read("number", s.number);
  r.read("conversation_id", s.conversation_id);
  r.read("conversation_source", s.conversation_source);
  r.read("resume_mode", s.resume_mode);
  r.read("permissions", s.permissions);
  r.read("start_commit", s.start_commit);
  r.read("handoff_note", s.handoff_note);
  r.read("handoff_reason", s.handoff_reason);
  r.read("retired_note", s.retired_note);
}

json journal_to_json(const HandoffJournal& h) {
  return {{"phase", phase_name(h.phase)}, {"agent", h.agent}};
}

void journal_from_json(FieldReader& r, HandoffJournal& h) {
  r.read("phase", h.phase);
  r.read("agent", h.agent);
}

json project_to_json(const ProjectRecord& p) {
  json j = {
      {"id", p.id},
      {"path", p.path},
      {"last_number", p.last_number},
      {"last_worker_number", p.last_worker_number},
      {"journal", journal_to_json(p.journal)},
  };
  auto standby_json = [](const StandbyRecord& sb) {
    return json{{"id", sb.id},
                {"number", sb.number},
                {"ready", sb.is_ready},
                {"config", sb.config},
                {"bytes", sb.bytes}};
  };
  if (p.standby) j["standby"] = standby_json(*p.standby);
  if (p.worker_standby) j["worker_standby"] = standby_json(*p.worker_standby);
  return j;
}

void project_from_json(FieldReader& r, ProjectRecord& p) {
  r.read("id", p.id);
  r.read("path", p.path);
  r.read("last_number", p.last_number);
  r.read("last_worker_number", p.last_worker_number);
  if (auto journal = r.nested("journal")) journal_from_json(*journal, p.journal);
  auto read_standby = [](FieldReader& f) {
    StandbyRecord s;
    f.read("id", s.id);
    f.read("number", s.number);
    f.read("ready", s.is_ready);
    f.read("config", s.config);
    f.read("bytes", s.bytes);
    return s;
  };
  if (auto standby = r.nested("standby")) p.standby = read_standby(*standby);
  if (auto standby = r.nested("worker_standby")) p.worker_standby = read_standby(*standby);
}

// Reads a map of records keyed by id; a record without an id takes its key.
template <typename Record, typename ReadFn>
void read_records(FieldReader& top, const char* key, std::map<std::string, Record>& out,
                  ReadFn read_fn) {
  auto records = top.nested(key);
  if (!records) return;
  for (const auto& [id, item] : records->object().items()) {
    auto r = records->nested(id.c_str());
    if (!r) return;
    Record record;
    record.id = id;
    read_fn(*r, record);
    if (r->has_error()) return;
    out.emplace(id, std::move(record));
  }
}

// A file from a newer baton is not corrupt: it is refused as it is, neither moved aside nor
// misread. Empty when the schema is one this baton understands (or is not a number at all,
// which read_schema then reports).
std::string newer_schema_error(const json& j) {
  if (!j.is_object()) return {};
  auto it = j.find("schema");
  if (it == j.end() || !it->is_number_integer()) return {};
  bool is_newer = it->is_number_unsigned() ? it->get<std::uint64_t>() > std::uint64_t(kStoreSchema)
                                           : it->get<std::int64_t>() > kStoreSchema;
  if (!is_newer) return {};
  return "store.json has schema " + it->dump() + ", this baton understands " +
         std::to_string(kStoreSchema) + " — upgrade baton";
}

tl::expected<int, std::string> read_schema(const json& j) {
  if (!j.is_object()) {
    return tl::unexpected(std::string("expected a JSON object at the top, got ") + j.type_name());
  }
  auto it = j.find("schema");
  if (it == j.end()) return tl::unexpected(std::string("field schema is missing"));
  if (!it->is_number_integer()) {
    return tl::unexpected(std::string("field schema: expected an integer, got ") + it->type_name());
  }
  if (it->get<std::int64_t>() < 1) {
    return tl::unexpected("field schema: " + it->dump() + " is not a schema");
  }
  return static_cast<int>(it->get<std::int64_t>());
}

}  // namespace

std::string_view phase_name(HandoffPhase phase) {
  for (const auto& [p, name] : kPhaseNames) {
    if (p == phase) return name;
  }
  return "";
}

std::optional<HandoffPhase> phase_from_name(std::string_view name) {
  if (name == kOldAdoptName) return HandoffPhase::kAdopt;
  for (const auto& [p, known] : kPhaseNames) {
    if (known == name) return p;
  }
  return std::nullopt;
}

std::optional<SessionState> session_state_from_wire(std::string_view name) {
  for (auto state : {SessionState::kActive, SessionState::kRetiring, SessionState::kRetired,
                     SessionState::kExited}) {
    if (wire_name(state) == name) return state;
  }
  return std::nullopt;
}

std::optional<SessionRole> session_role_from_wire(std::string_view name) {
  for (auto role : {SessionRole::kOrchestrator, SessionRole::kWorker}) {
    if (wire_name(role) == name) return role;
  }
  return std::nullopt;
}

nlohmann::json to_json(const StoreData& d) {
  json projects = json::object();
  for (const auto& [id, p] : d.projects) projects[id] = project_to_json(p);
  json sessions = json::object();
  for (const auto& [id, s] : d.sessions) sessions[id] = session_to_json(s);
  return {{"schema", d.schema}, {"projects", projects}, {"sessions", sessions}};
}

tl::expected<StoreData, std::string> from_json(const nlohmann::json& j) {
  if (auto newer = newer_schema_error(j); !newer.empty()) return tl::unexpected(newer);
  auto schema = read_schema(j);
  if (!schema) return tl::unexpected(schema.error());
  StoreData d;
  d.schema = *schema;
  std::string error;
  FieldReader top(j, "", &error);
  read_records(top, "projects", d.projects, project_from_json);
  read_records(top, "sessions", d.sessions, session_from_json);
  if (!error.empty()) return tl::unexpected(error);
  return d;
}

tl::expected<LoadResult, std::string> load_store(const std::string& state_dir) {
  std::string path = state_dir + "/" + kStoreFile;
  auto content = read_file(path);
  if (!content) {
    if (content.error().empty()) return LoadResult{};
    return tl::unexpected(content.error());
  }

  std::string reason;
  json j;
  try {
    // The exception is caught right here: only its message (where the file broke) is wanted.
    j = json::parse(*content);
  } catch (const json::parse_error& e) {
    std::string_view what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag: a user reads this line.
    if (auto close = what.find("] "); close != std::string_view::npos) {
      what.remove_prefix(close + 2);
    }
    reason = std::string(what);
  }
  if (reason.empty()) {
    if (auto newer = newer_schema_error(j); !newer.empty()) return tl::unexpected(newer);
    auto data = from_json(j);
    if (data) return LoadResult{std::move(*data), {}};
    reason = data.error();
  }

  // Never silently discarded (issue 4, point 4): keep the bytes for a human to look at.
  auto moved = move_aside_corrupt(path);
  if (!moved) {
    return tl::unexpected("state file " + path + " is corrupt (" + reason +
                          ") and could not be moved aside: " + moved.error());
  }
  return LoadResult{StoreData{}, "state file " + path + " was corrupt (" + reason +
                                     "); moved aside to " + *moved};
}

tl::expected<void, std::string> save_store(const std::string& state_dir, const StoreData& d) {
  // Replace rather than throw on invalid UTF-8: last_lines come from a terminal and may end
  // in the middle of a multi-byte character.
  return write_file_atomic(state_dir + "/" + kStoreFile,
                           to_json(d).dump(2, ' ', false, json::error_handler_t::replace));
}

}  // namespace baton::plugin
