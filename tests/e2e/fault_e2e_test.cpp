// Every fault point of the handoff and of start-up recovery (plugin/fault.hpp's list, which
// the daemon lists too, so a new step cannot be missed), made to fail and made to SIGKILL the
// daemon, one test per row: point × fail/kill × replace/recovery. After each, one more
// `replace` must converge (OrchestratorE2E::convergence_problem): exactly one active
// orchestrator on the canonical branch, the branch checked out once, no baton leftovers, every
// preserved commit reachable, and every byte of the uncommitted work still there, an ignored
// file the carry moves included.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugin/fault.hpp"
#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;

const std::map<std::string, std::string> kWork = {{"app.txt", "v2 uncommitted\n"},
                                                  {"notes.md", "untracked work\n"}};

// Ignored, so no preserved commit can hold it: only the carry brings it over (issue 15).
constexpr const char* kIgnoredFile = ".env";
constexpr const char* kIgnoredWork = "TOKEN=fault\n";

// One row of the table: where the point is armed (the `baton replace` command, or the
// restarted daemon's start-up recovery) and what it does there.
struct FaultCase {
  std::string point;
  std::string where;  // replace | recovery
  std::string mode;   // fail | kill
};

// GoogleTest finds a row's printer by this name.
void PrintTo(const FaultCase& c, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << c.point << " " << c.where << " " << c.mode;
}

// The rows: a handoff's point failed and killed in a replace, and killed inside the handoff
// recovery resumes (failed there, it is the same state as a failed replace); a recovery point
// failed and killed in recovery.
std::vector<FaultCase> fault_cases() {
  std::vector<FaultCase> cases;
  for (const auto point : plugin::kFaultPoints) {
    const std::string name(point);
    if (point == "recovery.adopting" || point == "recovery.adopted") {
      // A holder is adopted whole or not at all: there is no step to fail, only a daemon to
      // kill in the middle.
      cases.push_back({name, "recovery", "kill"});
    } else if (point.starts_with(plugin::kRecoveryFaultPrefix)) {
      cases.push_back({name, "recovery", "fail"});
      cases.push_back({name, "recovery", "kill"});
    } else if (point == "summarize.asked") {
      // Only a running agent is asked for its notes; the handoff recovery resumes has none.
      cases.push_back({name, "replace", "fail"});
      cases.push_back({name, "replace", "kill"});
    } else {
      cases.push_back({name, "replace", "fail"});
      cases.push_back({name, "replace", "kill"});
      cases.push_back({name, "recovery", "kill"});
    }
  }
  return cases;
}

// "retire_stopped_replace_kill": the row a failure names.
std::string case_name(const ::testing::TestParamInfo<FaultCase>& info) {
  std::string name = info.param.point + "_" + info.param.where + "_" + info.param.mode;
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

class FaultPoints : public OrchestratorE2E, public ::testing::WithParamInterface<FaultCase> {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    // A responsive agent (issue 17): it reports its turns through `baton signal` and writes
    // the notes it is asked for, so every row runs through the drain and its summary.
    agent("agent-ok",
          "echo \"AGENT $0 session=$BATON_SESSION\"\nbaton signal idle >/dev/null\n"
          "while read -r line; do\n"
          "  note=$(printf '%s\\n' \"$line\" | sed -n 's/.*notes to \\([^ ]*\\) now.*/\\1/p')\n"
          "  [ -n \"$note\" ] && baton signal working >/dev/null && echo notes > \"$note\" &&\n"
          "    baton signal idle >/dev/null\n"
          "done\n");
    config(
        "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
        "summarize_prompt = \"write your notes to {note_path} now\"\n"
        "[agents.ok]\ncommand = [\"agent-ok\"]\n");
    baton_ok({"allow", repo_});
    write(repo_ + "/.gitignore", std::string(kIgnoredFile) + "\n");
    git({"add", ".gitignore"});
    git({"commit", "-q", "-m", "ignore"});
  }

  // Each case starts from a converged project with fresh uncommitted work, so one failure
  // cannot hide in the next.
  void start_case() {
    eventually([&] { return status()["health"] == "ok"; }, 10000);
    // Its turn reported ended, so the drain asks it for its notes.
    eventually([&] { return status()["activity_source"] == "signal"; }, 10000);
    for (const auto& [file, content] : kWork) write(stable() + "/" + file, content);
    write(stable() + "/" + kIgnoredFile, kIgnoredWork);
  }

  std::size_t log_count(const std::string& needle) {
    const std::string log = read_file(home_ + "/logs/daemon.log");
    std::size_t n = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  }

  void wait_daemon_gone(pid_t pid) {
    EXPECT_TRUE(eventually([&] { return !process_exists(pid); }, 20000)) << "daemon " << pid;
  }

  // Kills the daemon in the middle of a handoff (agent stopped, work not yet preserved), so
  // the next start has an interrupted handoff to recover.
  void interrupt_a_handoff() {
    const pid_t pid = daemon_pid();
    auto o = opts();
    o.env["BATON_FAULT"] = "retire.stopped:kill";
    baton({"replace", repo_}, o);
    wait_daemon_gone(pid);
  }

  // `replace` once more, unarmed; then "ok" or what did not converge.
  std::string converge(const std::string& what, const std::string& first_error) {
    auto again = b({"replace", repo_});
    std::string problem = again.status == 0 ? "" : "replace: " + again.err;
    if (problem.empty()) {
      eventually([&] { return (problem = convergence_problem(repo_, "shop", kWork)).empty(); },
                 10000);
    }
    if (problem.empty() && read_file(stable() + "/" + kIgnoredFile) != kIgnoredWork)
      problem = std::string(kIgnoredFile) + " (ignored) was not carried";
    if (problem.empty()) return "ok";
    ADD_FAILURE() << what << " did not converge: " << problem << "\nfirst error: " << first_error;
    return "FAILED";
  }

  // What `status` shows right after a failed step, before any retry (issue 15): before the
  // first stop signal the running orchestrator is untouched and `ok`; after it, an agent runs
  // on the branch again (the new one, or the previous one relaunched), health is not `ok` and
  // the error names the step. Empty when it shows that, else what it shows.
  std::string status_problem_after_fail(const std::string& point, long pid_before) {
    static const std::set<std::string> kBeforeStop = {
        "preflight.done", "prepare.persisted", "prepare.done",    "drain.started",
        "drain.done",     "summarize.asked",   "retire.persisted"};
    const Json st = status();
    const Json& orch = st["orchestrator"];
    if (st["active_count"] != 1) return "active_count " + st["active_count"].dump();
    if (!orch.is_object() || orch["state"] != "active") return "no active orchestrator";
    if (!process_exists(static_cast<pid_t>(orch["pid"].get<long>())))
      return "the orchestrator's process is gone";
    if (kBeforeStop.count(point)) {
      if (st["health"] != "ok") return "health " + st["health"].dump();
      if (!st["error"].is_null()) return "error " + st["error"].dump();
      if (orch["pid"].get<long>() != pid_before) return "the running orchestrator was replaced";
      return "";
    }
    if (st["health"] == "ok") return "health ok";
    if (!st["error"].is_string()) return "error " + st["error"].dump();
    if (st["error"].get<std::string>().find(point) == std::string::npos)
      return "the error does not name the step: " + st["error"].dump();
    return "";
  }

  // The handoff armed by the `baton replace` command's environment. A point after the reply
  // (the old trees are deleted after it) is run with `--wait`, which waits for it.
  std::string handoff_case(const std::string& point, const std::string& mode) {
    start_case();
    auto o = opts();
    o.env["BATON_FAULT"] = point + ":" + mode;
    const pid_t pid = daemon_pid();
    const long orchestrator_pid = status()["orchestrator"]["pid"].get<long>();
    const bool is_after_reply =
        std::find(plugin::kFaultPointsAfterReply.begin(), plugin::kFaultPointsAfterReply.end(),
                  point) != plugin::kFaultPointsAfterReply.end();
    auto faulty =
        is_after_reply ? baton({"replace", repo_, "--wait"}, o) : baton({"replace", repo_}, o);
    if (faulty.status == 0) return "NOFAULT";
    if (mode == "kill") wait_daemon_gone(pid);
    if (mode == "fail") {
      if (auto shown = status_problem_after_fail(point, orchestrator_pid); !shown.empty()) {
        ADD_FAILURE() << point << ":fail, status before the retry: " << shown << "\n"
                      << faulty.err << status().dump();
        converge(point + ":" + mode, faulty.err);
        return "STATUS";
      }
    }
    return converge(point + ":" + mode, faulty.err);
  }

  // Start-up recovery armed by the daemon's environment.
  // `recovery.*` points of the resumed handoff and of the plain restart; the handoff's own
  // points inside the handoff recovery resumes.
  std::string recovery_case(const std::string& point, const std::string& mode) {
    start_case();
    const bool is_relaunch = point == "recovery.relaunched" || point == "recovery.restored";
    const bool is_adoption = point == "recovery.adopting" || point == "recovery.adopted";
    if (is_relaunch || is_adoption) {
      const pid_t pid = daemon_pid();
      kill(pid, SIGKILL);
      wait_daemon_gone(pid);
      // Daemon and holders both gone, as after a reboot: the orchestrator is relaunched, not
      // adopted (a living holder's agent would be).
      if (is_relaunch) kill_holders();
    } else {
      interrupt_a_handoff();
    }
    const std::string needle = "fault point " + point + ":";
    const std::size_t hits_before = log_count(needle);
    // The daemon started directly, not by a client: a client that finds it dead while it
    // starts would start another, armed too, which could die under the converging replace.
    RunOptions o = opts();
    o.env["BATON_HOME"] = home_;
    o.env["BATON_FAULT"] = point + ":" + mode;
    auto started = run_process({BATON_DAEMON_BIN}, o);
    // The armed daemon hits the point on its own; wait until it did (log line, then death).
    const bool hit = eventually(
        [&] {
          return log_count(needle) > hits_before &&
                 (mode == "fail" || !process_exists(daemon_pid()));
        },
        20000);
    if (!hit) return "NOFAULT";
    if (mode == "fail") {
      // Unarmed from here on: a fresh daemon for the converging replace.
      const pid_t pid = daemon_pid();
      baton_ok({"shutdown"});
      wait_daemon_gone(pid);
    }
    return converge("recovery " + point + ":" + mode, started.err);
  }
};

TEST_P(FaultPoints, FailedOrKilledConvergesOnTheNextReplace) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  const FaultCase& c = GetParam();
  const std::string result =
      c.where == "replace" ? handoff_case(c.point, c.mode) : recovery_case(c.point, c.mode);
  EXPECT_EQ(result, "ok") << c.point << " " << c.where << " " << c.mode;
}

INSTANTIATE_TEST_SUITE_P(EveryPoint, FaultPoints, ::testing::ValuesIn(fault_cases()), case_name);

// The table's rows come from plugin/fault.hpp: the daemon, built with the same list, names
// exactly those points.
TEST_F(OrchestratorE2E, TheDaemonListsExactlyTheFaultPointsTheTableRuns) {
  auto r = b({"debug", "fault-points"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string want;
  for (const auto point : plugin::kFaultPoints) want += std::string(point) + "\n";
  EXPECT_EQ(r.out, want);
  EXPECT_GE(plugin::kFaultPoints.size(), 16u);
}

// A point after the reply fails the deletion, not the replace (issue 21): a plain `replace`
// answered already, with the new agent running; `status` shows the failure.
TEST_F(OrchestratorE2E, AFailureAfterTheReplyLeavesThePlainReplaceSucceeded) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto o = opts();
  o.env["BATON_FAULT"] = "trash.deleted:fail";
  auto r = baton({"replace", repo_}, o);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "shop-2\n");
  EXPECT_TRUE(eventually([&] { return status()["error"].is_string(); })) << status().dump();
  const Json st = status();
  EXPECT_EQ(st["orchestrator"]["id"], "shop-2");
  EXPECT_NE(st["error"].get<std::string>().find("trash.deleted"), std::string::npos) << st.dump();
}

// A handoff note is written before the stop (issue 17): a handoff that fails before it leaves
// no note for a session that never starts, and the next one writes its own.
TEST_F(OrchestratorE2E, AHandoffFailingBeforeTheStopLeavesNoNoteBehind) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto o = opts();
  o.env["BATON_FAULT"] = "retire.persisted:fail";
  auto r = baton({"replace", repo_}, o);
  ASSERT_NE(r.status, 0);
  const std::string notes = home_ + "/notes/shop/";
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(notes + "shop-2.md"); }));
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-1");
  EXPECT_EQ(status()["orchestrator"]["handoff_note"], nullptr);
  ASSERT_EQ(b({"replace", repo_}).status, 0);
  EXPECT_TRUE(std::filesystem::exists(notes + "shop-3.md"));
  EXPECT_EQ(status()["orchestrator"]["handoff_note"], notes + "shop-3.md");
}

}  // namespace
}  // namespace baton::test
