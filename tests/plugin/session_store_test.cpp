#include "plugin/session_store.hpp"

#include <grp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "plugin/atomic_file.hpp"
#include "tests/support/temp_dir.hpp"

namespace baton::plugin::testing {
namespace {

namespace fs = std::filesystem;

using baton::test::TempDir;

void write_raw(const fs::path& file, std::string_view content) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_raw(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Every file in `dir` other than `keep`, by name.
std::vector<std::string> other_files(const fs::path& dir, const std::string& keep) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().native();
    if (name != keep) names.push_back(name);
  }
  return names;
}

std::vector<fs::path> corrupt_files(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().native().starts_with("store.json.corrupt-")) {
      found.push_back(entry.path());
    }
  }
  return found;
}

// Every field set to a value that differs from its default.
StoreData full_store() {
  StoreData d;
  ProjectRecord p;
  p.id = "web";
  p.path = "/src/web";
  p.last_number = 7;
  p.journal.phase = HandoffPhase::kRetire;
  p.journal.agent = "claude-code";
  d.projects[p.id] = p;

  SessionRecord s;
  s.id = "web-6";
  s.project = "web";
  s.role = SessionRole::kWorker;
  s.name = "fix-login";
  s.prompt = "fix it";
  s.base_commit = "abc";
  s.agent = "codex";
  s.argv = {"codex", "resume", "--last"};
  s.branch = "baton/web-orchestrator";
  s.worktree = "/ws/web/orchestrator";
  s.pid = 43210;
  s.pid_start_time = 18446744073709551000ull;
  s.state = SessionState::kRetiring;
  s.exit_status = -9;
  s.last_lines = {"line one", "ünïcødé ✓", ""};
  s.created_at = "2024-05-01T09:00:00Z";
  s.updated_at = "2024-05-01T10:00:01Z";
  s.preserved_ref = "refs/baton/preserved/web-6";
  s.preserved_commit = "0123456789abcdef0123456789abcdef01234567";
  s.last_error = "cannot remove /ws/web/.trash-web-6/x: Operation not permitted";
  s.restore_marker = true;
  s.number = 6;
  s.start_commit = "89abcdef0123456789abcdef0123456789abcdef";
  s.handoff_note = "/h/notes/web/web-6.md";
  s.handoff_reason = "context full";
  s.retired_note = "/h/notes/web/web-7.md";
  d.sessions[s.id] = s;

  SessionRecord running = s;
  running.id = "web-7";
  running.number = 7;
  running.state = SessionState::kActive;
  running.exit_status.reset();
  d.sessions[running.id] = running;
  return d;
}

void expect_same(const StoreData& a, const StoreData& b) {
  EXPECT_EQ(a.schema, b.schema);
  ASSERT_EQ(a.projects.size(), b.projects.size());
  for (const auto& [id, p] : a.projects) {
    SCOPED_TRACE("project " + id);
    ASSERT_TRUE(b.projects.contains(id));
    const ProjectRecord& q = b.projects.at(id);
    EXPECT_EQ(p.id, q.id);
    EXPECT_EQ(p.path, q.path);
    EXPECT_EQ(p.last_number, q.last_number);
    EXPECT_EQ(p.journal.phase, q.journal.phase);
    EXPECT_EQ(p.journal.agent, q.journal.agent);
  }
  ASSERT_EQ(a.sessions.size(), b.sessions.size());
  for (const auto& [id, s] : a.sessions) {
    SCOPED_TRACE("session " + id);
    ASSERT_TRUE(b.sessions.contains(id));
    const SessionRecord& t = b.sessions.at(id);
    EXPECT_EQ(s.id, t.id);
    EXPECT_EQ(s.project, t.project);
    EXPECT_EQ(s.role, t.role);
    EXPECT_EQ(s.name, t.name);
    EXPECT_EQ(s.prompt, t.prompt);
    EXPECT_EQ(s.base_commit, t.base_commit);
    EXPECT_EQ(s.agent, t.agent);
    EXPECT_EQ(s.argv, t.argv);
    EXPECT_EQ(s.branch, t.branch);
    EXPECT_EQ(s.worktree, t.worktree);
    EXPECT_EQ(s.pid, t.pid);
    EXPECT_EQ(s.pid_start_time, t.pid_start_time);
    EXPECT_EQ(s.state, t.state);
    EXPECT_EQ(s.exit_status, t.exit_status);
    EXPECT_EQ(s.last_lines, t.last_lines);
    EXPECT_EQ(s.created_at, t.created_at);
    EXPECT_EQ(s.updated_at, t.updated_at);
    EXPECT_EQ(s.preserved_ref, t.preserved_ref);
    EXPECT_EQ(s.preserved_commit, t.preserved_commit);
    EXPECT_EQ(s.last_error, t.last_error);
    EXPECT_EQ(s.restore_marker, t.restore_marker);
    EXPECT_EQ(s.number, t.number);
    EXPECT_EQ(s.start_commit, t.start_commit);
    EXPECT_EQ(s.handoff_note, t.handoff_note);
    EXPECT_EQ(s.handoff_reason, t.handoff_reason);
    EXPECT_EQ(s.retired_note, t.retired_note);
  }
}

class SessionStoreTest : public ::testing::Test {
 protected:
  std::string state_dir() const { return (tmp_.path() / "state").native(); }
  fs::path store_path() const { return tmp_.path() / "state" / "store.json"; }
  void write_store(std::string_view content) {
    fs::create_directories(state_dir());
    write_raw(store_path(), content);
  }
  std::string valid_json() const { return to_json(full_store()).dump(2); }

  TempDir tmp_;
};

// --- the store ----------------------------------------------------------------------------

TEST_F(SessionStoreTest, EveryFieldSurvivesASaveAndALoad) {
  StoreData saved = full_store();
  auto written = save_store(state_dir(), saved);
  ASSERT_TRUE(written) << written.error();
  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->warning, "");
  expect_same(saved, loaded->data);
}

TEST_F(SessionStoreTest, AMissingExitStatusIsWrittenAsNull) {
  nlohmann::json j = to_json(full_store());
  EXPECT_TRUE(j["sessions"]["web-7"]["exit_status"].is_null());
  EXPECT_EQ(j["sessions"]["web-6"]["exit_status"], -9);
  EXPECT_EQ(j["schema"], kStoreSchema);
}

TEST_F(SessionStoreTest, AMissingFileLoadsAsAnEmptyStoreWithoutAWarning) {
  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->warning, "");
  EXPECT_TRUE(loaded->data.projects.empty());
  EXPECT_TRUE(loaded->data.sessions.empty());
  EXPECT_EQ(loaded->data.schema, kStoreSchema);
}

TEST_F(SessionStoreTest, ATruncatedFileIsMovedAsideWithItsBytesAndAWarningNamingBothPaths) {
  std::string json = valid_json();
  std::string truncated = json.substr(0, json.size() / 2);
  write_store(truncated);

  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_TRUE(loaded->data.sessions.empty());
  EXPECT_TRUE(loaded->data.projects.empty());
  EXPECT_FALSE(fs::exists(store_path()));
  auto moved = corrupt_files(state_dir());
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(read_raw(moved[0]), truncated);
  EXPECT_NE(loaded->warning.find("state file " + store_path().native() + " was corrupt ("),
            std::string::npos)
      << loaded->warning;
  EXPECT_NE(loaded->warning.find("moved aside to " + moved[0].native()), std::string::npos)
      << loaded->warning;
}

TEST_F(SessionStoreTest, TheMovedAsideFileIsNamedAfterTheTimeOfTheMove) {
  write_store("{");
  ASSERT_TRUE(load_store(state_dir()));
  auto moved = corrupt_files(state_dir());
  ASSERT_EQ(moved.size(), 1u);
  std::string stamp = moved[0].filename().native().substr(std::strlen("store.json.corrupt-"));
  ASSERT_EQ(stamp.size(), 15u) << stamp;  // YYYYmmddTHHMMSS
  EXPECT_EQ(stamp[8], 'T');
}

TEST_F(SessionStoreTest, AnEmptyFileIsMovedAsideAsCorrupt) {
  write_store("");
  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_NE(loaded->warning, "");
  EXPECT_EQ(corrupt_files(state_dir()).size(), 1u);
}

TEST_F(SessionStoreTest, ASecondCorruptionInTheSameSecondDoesNotOverwriteTheFirst) {
  write_store("{\"first\"");
  ASSERT_TRUE(load_store(state_dir()));
  write_store("{\"second\"");
  ASSERT_TRUE(load_store(state_dir()));
  auto moved = corrupt_files(state_dir());
  ASSERT_EQ(moved.size(), 2u);
  std::set<std::string> contents{read_raw(moved[0]), read_raw(moved[1])};
  EXPECT_EQ(contents, (std::set<std::string>{"{\"first\"", "{\"second\""}));
}

TEST_F(SessionStoreTest, AFieldOfTheWrongTypeMovesTheFileAsideAndIsNamed) {
  nlohmann::json j = to_json(full_store());
  j["sessions"]["web-6"]["pid"] = "43210";
  std::string bytes = j.dump(2);
  write_store(bytes);

  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_TRUE(loaded->data.sessions.empty());
  EXPECT_NE(loaded->warning.find("sessions.web-6.pid"), std::string::npos) << loaded->warning;
  auto moved = corrupt_files(state_dir());
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(read_raw(moved[0]), bytes);
}

TEST_F(SessionStoreTest, EverySessionStateIsWrittenAndReadByItsWireName) {
  const std::pair<SessionState, const char*> states[] = {{SessionState::kActive, "active"},
                                                         {SessionState::kRetiring, "retiring"},
                                                         {SessionState::kRetired, "retired"},
                                                         {SessionState::kExited, "exited"}};
  for (const auto& [state, name] : states) {
    StoreData d = full_store();
    d.sessions.at("web-6").state = state;
    const nlohmann::json j = to_json(d);
    EXPECT_EQ(j["sessions"]["web-6"]["state"], name);
    auto back = from_json(j);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->sessions.at("web-6").state, state) << name;
  }
}

// A state no baton writes is bad input like a field of the wrong type: the file is kept
// aside, and the line names the field and the value.
TEST_F(SessionStoreTest, AnUnknownSessionStateMovesTheFileAsideAndIsNamed) {
  nlohmann::json j = to_json(full_store());
  j["sessions"]["web-6"]["state"] = "paused";
  std::string bytes = j.dump(2);
  write_store(bytes);

  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_TRUE(loaded->data.sessions.empty());
  EXPECT_NE(
      loaded->warning.find("field sessions.web-6.state: \"paused\" is not a session state (active, "
                           "retiring, retired, exited)"),
      std::string::npos)
      << loaded->warning;
  auto moved = corrupt_files(state_dir());
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(read_raw(moved[0]), bytes);
}

TEST_F(SessionStoreTest, FromJsonNamesTheMistypedFieldInsideTheJournal) {
  nlohmann::json j = to_json(full_store());
  j["projects"]["web"]["journal"]["agent"] = 6;
  auto d = from_json(j);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("projects.web.journal.agent"), std::string::npos) << d.error();
  EXPECT_NE(d.error().find("expected a string, got number"), std::string::npos) << d.error();
}

TEST_F(SessionStoreTest, EachJournalPhaseIsWrittenByItsNameAndReadBack) {
  const std::map<HandoffPhase, std::string> names = {{HandoffPhase::kNone, ""},
                                                     {HandoffPhase::kPrepare, "prepare"},
                                                     {HandoffPhase::kRetire, "retire"},
                                                     {HandoffPhase::kAdopt, "adopt"}};
  for (const auto& [phase, name] : names) {
    StoreData d = full_store();
    d.projects.at("web").journal.phase = phase;
    const nlohmann::json j = to_json(d);
    EXPECT_EQ(j["projects"]["web"]["journal"]["phase"], name);
    auto back = from_json(j);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->projects.at("web").journal.phase, phase) << name;
  }
}

// An older baton called phase 4 "handoff"; its interrupted handoff is still finished.
TEST_F(SessionStoreTest, AnOlderJournalsHandoffPhaseIsReadAsAdopt) {
  nlohmann::json j = to_json(full_store());
  j["projects"]["web"]["journal"]["phase"] = "handoff";
  auto d = from_json(j);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->projects.at("web").journal.phase, HandoffPhase::kAdopt);
  EXPECT_EQ(to_json(*d)["projects"]["web"]["journal"]["phase"], "adopt");
}

TEST_F(SessionStoreTest, FromJsonRefusesAJournalPhaseItDoesNotKnow) {
  nlohmann::json j = to_json(full_store());
  j["projects"]["web"]["journal"]["phase"] = "handof";
  auto d = from_json(j);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), "field projects.web.journal.phase: unknown handoff phase \"handof\"");
}

// An older baton wrote five journal fields nothing read: such a file loads, and the next save
// leaves them out.
TEST_F(SessionStoreTest, AnOlderJournalsUnreadFieldsLoadAndAreGoneAfterTheNextSave) {
  nlohmann::json j = to_json(full_store());
  auto& journal = j["projects"]["web"]["journal"];
  journal["new_session"] = "web-7";
  journal["retiring"] = {"web-5", "web-6"};
  journal["prepared_path"] = "/ws/web/.prepare-web-7";
  journal["temp_branch"] = "baton/tmp/web-7";
  journal["started_at"] = "2024-05-01T10:00:00Z";
  write_store(j.dump());
  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->warning, "");
  expect_same(full_store(), loaded->data);
  ASSERT_TRUE(save_store(state_dir(), loaded->data));
  const auto saved = nlohmann::json::parse(read_raw(store_path()))["projects"]["web"]["journal"];
  EXPECT_EQ(saved, (nlohmann::json{{"phase", "retire"}, {"agent", "claude-code"}}));
}

TEST_F(SessionStoreTest, FromJsonRefusesAFloatWhereAnIntegerBelongs) {
  nlohmann::json j = to_json(full_store());
  j["projects"]["web"]["last_number"] = 7.5;
  auto d = from_json(j);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("projects.web.last_number"), std::string::npos) << d.error();
}

TEST_F(SessionStoreTest, FromJsonRefusesANegativeSessionNumber) {
  nlohmann::json j = to_json(full_store());
  j["sessions"]["web-7"]["number"] = -1;
  auto d = from_json(j);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("sessions.web-7.number"), std::string::npos) << d.error();
}

TEST_F(SessionStoreTest, FromJsonRefusesAnExitStatusThatIsNeitherNullNorAnInteger) {
  nlohmann::json j = to_json(full_store());
  j["sessions"]["web-6"]["exit_status"] = "1";
  auto d = from_json(j);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("sessions.web-6.exit_status"), std::string::npos) << d.error();
}

TEST_F(SessionStoreTest, UnknownFieldsFromANewerBatonOfTheSameSchemaAreIgnored) {
  nlohmann::json j = to_json(full_store());
  j["future"] = {{"x", 1}};
  j["sessions"]["web-6"]["cgroup"] = "/baton/web-6";
  j["projects"]["web"]["journal"]["fault_point"] = 3;
  auto d = from_json(j);
  ASSERT_TRUE(d) << d.error();
  expect_same(full_store(), *d);
}

// An older baton kept each project's environment, secrets and all, in store.json (issue 14):
// such a file still loads, and the next save leaves the environment out.
TEST_F(SessionStoreTest, AnOlderStoresEnvironmentIsReadFineAndGoneAfterTheNextSave) {
  const std::string secret = "sk-old-store-3f9a1c";
  nlohmann::json j = to_json(full_store());
  j["projects"]["web"]["env"] = {{"API_URL", "https://example.test"}, {"MY_API_KEY", secret}};
  write_store(j.dump());
  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->warning, "");
  expect_same(full_store(), loaded->data);
  auto written = save_store(state_dir(), loaded->data);
  ASSERT_TRUE(written) << written.error();
  const std::string text = read_raw(store_path());
  EXPECT_EQ(text.find(secret), std::string::npos) << text;
  EXPECT_FALSE(nlohmann::json::parse(text)["projects"]["web"].contains("env")) << text;
}

TEST_F(SessionStoreTest, FieldsAnOlderBatonDidNotWriteKeepTheirDefaults) {
  nlohmann::json j = {{"schema", 1}, {"sessions", {{"web-1", {{"project", "web"}, {"pid", 12}}}}}};
  auto d = from_json(j);
  ASSERT_TRUE(d) << d.error();
  const SessionRecord& s = d->sessions.at("web-1");
  EXPECT_EQ(s.id, "web-1");  // taken from its key
  EXPECT_EQ(s.role, SessionRole::kOrchestrator);
  EXPECT_EQ(s.pid, 12);
  EXPECT_FALSE(s.exit_status);
  EXPECT_TRUE(d->projects.empty());
}

TEST_F(SessionStoreTest, ANewerSchemaIsAnErrorAndTheFileStaysWhereItIs) {
  nlohmann::json j = to_json(full_store());
  j["schema"] = 2;
  std::string bytes = j.dump(2);
  write_store(bytes);

  auto loaded = load_store(state_dir());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error(), "store.json has schema 2, this baton understands 1 — upgrade baton");
  EXPECT_EQ(read_raw(store_path()), bytes);
  EXPECT_TRUE(corrupt_files(state_dir()).empty());
}

TEST_F(SessionStoreTest, ANewerSchemaIsRefusedEvenWhenItsFieldsChangedType) {
  // A newer baton may change a field's type; this one must not call that corruption.
  nlohmann::json j = {{"schema", 3}, {"sessions", {{"web-1", {{"pid", "a string now"}}}}}};
  auto d = from_json(j);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), "store.json has schema 3, this baton understands 1 — upgrade baton");
}

TEST_F(SessionStoreTest, AFileWithoutASchemaIsCorrupt) {
  auto d = from_json(nlohmann::json{{"sessions", nlohmann::json::object()}});
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("schema"), std::string::npos) << d.error();
}

TEST_F(SessionStoreTest, SaveCreatesTheStateDirectoryPrivateToItsOwner) {
  ASSERT_TRUE(save_store(state_dir(), full_store()));
  struct stat st {};
  ASSERT_EQ(::stat(state_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(store_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SessionStoreTest, LastLinesWithBrokenUtf8AreSavedInsteadOfThrowing) {
  StoreData d = full_store();
  d.sessions.at("web-6").last_lines = {"cut in the middle \xe2\x9c"};
  auto written = save_store(state_dir(), d);
  ASSERT_TRUE(written) << written.error();
  auto loaded = load_store(state_dir());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->warning, "");
  ASSERT_EQ(loaded->data.sessions.at("web-6").last_lines.size(), 1u);
  EXPECT_TRUE(loaded->data.sessions.at("web-6").last_lines[0].starts_with("cut in the middle "));
}

TEST_F(SessionStoreTest, AnUnreadableStoreIsAnErrorAndNotMovedAside) {
  fs::create_directories(store_path());  // a directory where the file should be
  auto loaded = load_store(state_dir());
  // open(2) succeeds on a directory and read(2) fails with EISDIR.
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().find("cannot read " + store_path().native()), std::string::npos)
      << loaded.error();
  EXPECT_TRUE(corrupt_files(state_dir()).empty());
}

// --- the atomic write ---------------------------------------------------------------------

class AtomicFileTest : public ::testing::Test {
 protected:
  TempDir tmp_;
};

TEST_F(AtomicFileTest, AWriteReplacesTheContentAndLeavesNoTempFileBehind) {
  std::string path = (tmp_.path() / "x.json").native();
  ASSERT_TRUE(write_file_atomic(path, "old"));
  auto written = write_file_atomic(path, "new content");
  ASSERT_TRUE(written) << written.error();
  EXPECT_EQ(read_raw(path), "new content");
  EXPECT_TRUE(other_files(tmp_.path(), "x.json").empty());
}

TEST_F(AtomicFileTest, ALargeWriteArrivesWhole) {
  std::string path = (tmp_.path() / "big").native();
  std::string content(std::size_t{3} * 1024 * 1024 + 17, 'z');
  ASSERT_TRUE(write_file_atomic(path, content));
  auto read = read_file(path);
  ASSERT_TRUE(read) << read.error();
  EXPECT_EQ(*read, content);
}

TEST_F(AtomicFileTest, ReadingAMissingFileGivesAnEmptyError) {
  auto read = read_file((tmp_.path() / "absent").native());
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), "");
}

TEST_F(AtomicFileTest, MissingParentDirectoriesAreCreated) {
  std::string path = (tmp_.path() / "a" / "b" / "c.json").native();
  auto written = write_file_atomic(path, "{}");
  ASSERT_TRUE(written) << written.error();
  EXPECT_EQ(read_raw(path), "{}");
}

// Runs write_file_atomic as an unprivileged user (the tests run as root, which writes
// through any mode bits) and returns its error, or "ok".
std::string write_as_nobody(const std::string& path) {
  constexpr uid_t kNobody = 65534;
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string result = "cannot drop privileges";
    if (::setgroups(0, nullptr) == 0 && ::setgid(kNobody) == 0 && ::setuid(kNobody) == 0) {
      auto written = write_file_atomic(path, "{}");
      result = written ? "ok" : written.error();
    }
    (void)!::write(fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string result;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) result.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return result;
}

TEST_F(AtomicFileTest, AWriteIntoADirectoryThatIsNotWritableNamesThePath) {
  fs::path dir = tmp_.path() / "ro";
  fs::create_directories(dir);
  std::string path = (dir / "x.json").native();
  std::string error;
  if (::geteuid() == 0) {
    ASSERT_EQ(::chmod(tmp_.path().c_str(), 0711), 0);
    ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chmod(dir.c_str(), 0500), 0);
    error = write_as_nobody(path);
  } else {
    ASSERT_EQ(::chmod(dir.c_str(), 0500), 0);
    auto written = write_file_atomic(path, "{}");
    error = written ? "ok" : written.error();
  }
  EXPECT_EQ(error, "cannot write " + path + ": Permission denied");
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(AtomicFileTest, AWriteUnderARegularFileNamesThePathAndTheOsError) {
  fs::path file = tmp_.path() / "plain";
  write_raw(file, "not a directory");
  std::string path = (file / "x.json").native();
  auto written = write_file_atomic(path, "{}");
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error(), "cannot write " + path + ": Not a directory");
  EXPECT_EQ(read_raw(file), "not a directory");
}

TEST_F(AtomicFileTest, ReadingAPathUnderARegularFileIsAnErrorNotMissing) {
  fs::path file = tmp_.path() / "plain";
  write_raw(file, "x");
  auto read = read_file((file / "y").native());
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), "cannot read " + (file / "y").native() + ": Not a directory");
}

// A tiny tmpfs makes the disk fill up for real.
class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_point_ = tmp_.path() / "tiny";
    fs::create_directories(mount_point_);
    if (::mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, "size=64k,mode=0700") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                   << "); ENOSPC is not exercised";
    }
    is_mounted_ = true;
  }
  void TearDown() override {
    if (is_mounted_) ::umount2(mount_point_.c_str(), MNT_DETACH);
  }

  TempDir tmp_;
  fs::path mount_point_;
  bool is_mounted_ = false;
};

TEST_F(FullDiskTest, AFullDiskSaysNoSpaceAndKeepsTheOldFileIntact) {
  std::string path = (mount_point_ / "store.json").native();
  ASSERT_TRUE(write_file_atomic(path, "old content"));

  auto written = write_file_atomic(path, std::string(std::size_t{256} * 1024, 'x'));
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error(), "cannot write " + path + ": No space left on device");
  EXPECT_EQ(read_raw(path), "old content");
  EXPECT_TRUE(other_files(mount_point_, "store.json").empty());
}

}  // namespace
}  // namespace baton::plugin::testing
