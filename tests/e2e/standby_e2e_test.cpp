// The standby (issue 21, plugin/standby.hpp): the next orchestrator's tree prepared ahead at
// .standby and taken by `replace` instead of a checkout; rebuilt when its config changes,
// replaced by a plain prepare when it is not ready, kept across a daemon kill when valid and
// discarded when not, removed by `down`; and every standby fault point converges without a
// handoff of the running orchestrator.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

#ifdef BATON_FAULTS
#include "plugin/fault.hpp"
#endif

namespace baton::test {
namespace {

using Json = nlohmann::json;

class StandbyE2E : public OrchestratorE2E {
 protected:
  std::string standby_dir() { return home_ + "/worktrees/shop/.standby"; }

  // Waits for a ready standby; returns the session id it reserved ("" when none got ready).
  std::string ready_standby(int timeout_ms = 15000) {
    Json s;
    if (!eventually(
            [&] {
              s = status();
              return s["standby"]["state"] == "ready";
            },
            timeout_ms)) {
      ADD_FAILURE() << "no ready standby: " << s.dump();
      return "";
    }
    return standby_id();
  }

  // The session id whose temporary branch the tree at .standby has checked out.
  std::string standby_id() {
    const std::string head = git({"rev-parse", "--abbrev-ref", "HEAD"}, standby_dir()).out;
    const std::string prefix = "baton/tmp/";
    if (head.rfind(prefix, 0) != 0) return "";
    return head.substr(prefix.size(), head.find('\n') - prefix.size());
  }

  Json replace_json(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"replace", repo_, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = b(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return Json::parse(r.out, nullptr, false);
  }

  static bool has_step(const Json& out, const std::string& step) {
    const auto& steps = out["steps"];
    return steps.is_array() && std::find(steps.begin(), steps.end(), step) != steps.end();
  }

  std::string daemon_log() { return read_file(home_ + "/logs/daemon.log"); }
};

TEST_F(StandbyE2E, AReplaceTakesTheStandbyWithoutACheckoutAndANewOneFollows) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(ready_standby(), "shop-2");
  Json s = status();
  EXPECT_GT(s["standby"]["bytes"].get<long>(), 0) << s.dump();
  // A baton worktree like the others: locked, naming the session it is for.
  const std::string list = git({"worktree", "list", "--porcelain"}).out;
  EXPECT_NE(list.find("worktree " + standby_dir() + "\n"), std::string::npos) << list;
  EXPECT_NE(list.find("locked baton orchestrator shop-2"), std::string::npos) << list;
  EXPECT_EQ(read_file(standby_dir() + "/app.txt"), "v1\n");
  EXPECT_NE(baton_ok({"status", repo_}, opts()).find("\nstandby  ready, 0 MiB\n"),
            std::string::npos);

  const Json out = replace_json({"--now", "--fresh"});
  ASSERT_TRUE(out.is_object());
  EXPECT_EQ(out["session"]["id"], "shop-2") << out.dump();
  EXPECT_TRUE(has_step(out, "standby")) << out.dump();
  EXPECT_FALSE(has_step(out, "prepare")) << out.dump();
  EXPECT_NE(screen_of("shop-2").find("cwd=" + stable()), std::string::npos);

  // The next one is prepared, and follows the canonical branch while the orchestrator commits.
  EXPECT_EQ(ready_standby(), "shop-3");
  write(stable() + "/later.txt", "committed after the standby\n");
  git({"add", "later.txt"}, stable());
  git({"commit", "-q", "-m", "later"}, stable());
  EXPECT_TRUE(eventually([&] { return read_file(standby_dir() + "/later.txt") != ""; }, 25000))
      << daemon_log();
  EXPECT_EQ(git({"status", "--porcelain"}, standby_dir()).out, "");
  const Json again = replace_json({"--now"});
  EXPECT_EQ(again["session"]["id"], "shop-3") << again.dump();
  EXPECT_TRUE(has_step(again, "standby")) << again.dump();
  EXPECT_EQ(read_file(stable() + "/later.txt"), "committed after the standby\n");
  EXPECT_EQ(ready_standby(), "shop-4");
  EXPECT_EQ(convergence_problem(repo_, "shop"), "");
}

// post_create runs once per tree, in the standby, and the standby is made again when what it
// was prepared with changes.
TEST_F(StandbyE2E, AConfigChangeRebuildsTheStandbyAndItsPostCreateIsNotRunTwice) {
  const std::string log = tmp_ + "/post_create.log";
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(ready_standby(), "shop-2");
  EXPECT_FALSE(std::filesystem::exists(standby_dir() + "/made"));
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[workspace]\npost_create = [\"touch made; echo $BATON_SESSION >> " +
      log + "\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_TRUE(eventually(
      [&] {
        return std::filesystem::exists(standby_dir() + "/made") &&
               status()["standby"]["state"] == "ready";
      },
      15000))
      << status().dump() << daemon_log();
  // Rebuilt under the same number: no session took it.
  EXPECT_EQ(standby_id(), "shop-2");
  EXPECT_EQ(read_file(log), "shop-2\n");
  const Json out = replace_json();
  EXPECT_EQ(out["session"]["id"], "shop-2") << out.dump();
  EXPECT_TRUE(has_step(out, "standby")) << out.dump();
  EXPECT_TRUE(std::filesystem::exists(stable() + "/made"));
  ASSERT_EQ(ready_standby(), "shop-3");
  EXPECT_EQ(read_file(log), "shop-2\nshop-3\n");
}

// A standby that is not ready (its post_create fails) is not taken: the replace prepares a
// tree as before, says why, and runs post_create there.
TEST_F(StandbyE2E, AReplaceWithoutAReadyStandbyPreparesATreeAndSaysWhy) {
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[workspace]\npost_create = [\"case $PWD in */.standby) exit 3;; esac; touch made\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  Json s;
  ASSERT_TRUE(eventually(
      [&] {
        s = status();
        return s["standby"]["state"] == "failed";
      },
      15000))
      << s.dump();
  EXPECT_NE(s["standby"]["reason"].get<std::string>().find("post_create"), std::string::npos)
      << s.dump();
  // Nothing of it is left, and its number is free again.
  EXPECT_FALSE(std::filesystem::exists(standby_dir()));
  EXPECT_EQ(git({"for-each-ref", "refs/heads/baton/tmp"}).out, "");
  auto r = b({"replace", repo_, "--progress"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("[2/6] prepare standby failed (post_create"), std::string::npos) << r.err;
  EXPECT_EQ(status()["orchestrator"]["id"], "shop-2");
  EXPECT_TRUE(std::filesystem::exists(stable() + "/made"));
}

// A valid standby survives a daemon kill and no handoff runs for it; one the store no longer
// names (a lost record) is discarded and made again, again without a handoff.
TEST_F(StandbyE2E, AValidStandbyIsKeptAcrossADaemonKillAndAnUnknownOneIsDiscarded) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(ready_standby(), "shop-2");
  const long agent = status()["orchestrator"]["pid"].get<long>();
  auto kill_daemon = [&] {
    const pid_t pid = daemon_pid();
    kill(pid, SIGKILL);
    ASSERT_TRUE(eventually([&] { return !process_exists(pid); }));
  };
  kill_daemon();
  Json s = status();
  ASSERT_EQ(ready_standby(), "shop-2");
  s = status();
  EXPECT_EQ(s["orchestrator"]["pid"].get<long>(), agent) << s.dump();
  EXPECT_EQ(s["health"], "ok") << s.dump();
  EXPECT_EQ(daemon_log().find("finishing an interrupted handoff"), std::string::npos);

  kill_daemon();
  const std::string store_path = home_ + "/state/store.json";
  auto store = Json::parse(read_file(store_path));
  store["projects"]["shop"].erase("standby");
  write(store_path, store.dump());
  s = status();  // a daemon again
  EXPECT_TRUE(eventually([&] { return standby_id() == "shop-3"; }, 20000))
      << status().dump() << daemon_log();
  s = status();
  EXPECT_EQ(s["orchestrator"]["pid"].get<long>(), agent) << s.dump();
  EXPECT_EQ(daemon_log().find("finishing an interrupted handoff"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return status()["standby"]["state"] == "ready"; }));
  EXPECT_EQ(git({"for-each-ref", "--format=%(refname)", "refs/heads/baton/tmp"}).out,
            "refs/heads/baton/tmp/shop-3\n");
  EXPECT_EQ(convergence_problem(repo_, "shop"), "");
}

// What a daemon killed while a follow writes leaves: the follow's marker beside a tree between
// two commits. The next daemon prepares the standby again (no handoff) and never takes it.
TEST_F(StandbyE2E, AStandbyLeftInTheMiddleOfAFollowIsPreparedAgainNotTaken) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(ready_standby(), "shop-2");
  const long agent = status()["orchestrator"]["pid"].get<long>();
  const pid_t pid = daemon_pid();
  kill(pid, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !process_exists(pid); }));
  const std::string marker = home_ + "/worktrees/shop/.standby-following";
  write(marker, "shop-2\n");
  Json s = status();  // a daemon again
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(marker); }, 15000)) << daemon_log();
  EXPECT_NE(daemon_log().find("left in the middle of a follow; preparing it again"),
            std::string::npos)
      << daemon_log();
  ASSERT_EQ(ready_standby(), "shop-2");
  s = status();
  EXPECT_EQ(s["orchestrator"]["pid"].get<long>(), agent) << s.dump();
  EXPECT_EQ(daemon_log().find("finishing an interrupted handoff"), std::string::npos);
  Json out = replace_json({"--now"});
  EXPECT_TRUE(has_step(out, "standby")) << out.dump();
  // The next standby is prepared after the replace: converged once it is ready.
  EXPECT_TRUE(eventually([&] { return standby_id() == "shop-3"; }, 15000)) << daemon_log();
  ASSERT_EQ(ready_standby(), "shop-3");
  EXPECT_EQ(convergence_problem(repo_, "shop"), "");
}

TEST_F(StandbyE2E, DownRemovesTheStandbyAndOffKeepsNone) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_EQ(ready_standby(), "shop-2");
  ASSERT_EQ(b({"down", repo_}).status, 0);
  EXPECT_FALSE(std::filesystem::exists(standby_dir()));
  EXPECT_EQ(git({"for-each-ref", "refs/heads/baton/tmp"}).out, "");
  EXPECT_EQ(git({"worktree", "list", "--porcelain"}).out.find(".standby"), std::string::npos);
  EXPECT_EQ(status()["standby"]["state"], "off");

  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\nstandby = \"off\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n");
  baton_ok({"allow", repo_});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  auto r = b({"replace", repo_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const Json out = Json::parse(r.out);
  EXPECT_TRUE(has_step(out, "prepare")) << out.dump();
  const Json s = status();
  EXPECT_EQ(s["standby"]["state"], "off") << s.dump();
  EXPECT_EQ(s["standby"]["reason"], "standby = \"off\"") << s.dump();
  EXPECT_NE(baton_ok({"status", repo_}, opts()).find("\nstandby  off: standby = \"off\"\n"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(standby_dir()));
}

#ifdef BATON_FAULTS
// A replace that arrives while the standby's checkout runs waits for it and takes its tree
// (no second checkout), running the post_create the standby did not get to.
TEST_F(StandbyE2E, AReplaceDuringTheStandbysCheckoutTakesItsTreeAndRunsItsPostCreate) {
  const std::string log = tmp_ + "/post_create.log";
  const std::string release = tmp_ + "/release";
  config(
      "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
      "[agents.ok]\ncommand = [\"agent-ok\"]\n"
      "[workspace]\npost_create = [\"echo $BATON_SESSION >> " +
      log + "\"]\n");
  baton_ok({"allow", repo_});
  // The standby made after this `up` holds its checkout finished but not returned (a pause
  // on its worker thread) until `release` exists.
  auto armed = opts();
  armed.env["BATON_FAULT"] = "standby.prepared:pause";
  armed.env["BATON_FAULT_RELEASE"] = release;
  ASSERT_EQ(baton({"up", repo_, "--detach"}, armed).status, 0);
  ASSERT_TRUE(eventually([&] {
    return daemon_log().find("standby.prepared: paused") != std::string::npos;
  })) << daemon_log();
  RunResult replaced;
  std::thread replace([&] { replaced = b({"replace", repo_, "--json"}); });
  const bool waited = eventually([&] {
    return daemon_log().find("waiting for the standby's preparation") != std::string::npos;
  });
  write(release, "");
  replace.join();
  ASSERT_TRUE(waited) << daemon_log();
  ASSERT_EQ(replaced.status, 0) << replaced.err;
  const Json out = Json::parse(replaced.out);
  EXPECT_EQ(out["session"]["id"], "shop-2") << out.dump();
  EXPECT_TRUE(has_step(out, "standby")) << out.dump();
  // shop-1's tree ran it at `up`, shop-2's once, in the replace, and never in the standby.
  EXPECT_EQ(read_file(log).substr(0, 14), "shop-1\nshop-2\n") << read_file(log);
  EXPECT_EQ(ready_standby(), "shop-3");
  EXPECT_EQ(read_file(log), "shop-1\nshop-2\nshop-3\n");
}
#endif

TEST_F(StandbyE2E, ABadStandbyValueNamesTheFileAndLine) {
  config(
      "[orchestrator]\nagent = \"ok\"\nstandby = \"always\"\n[agents.ok]\ncommand = "
      "[\"agent-ok\"]\n");
  auto r = b({"up", repo_, "--detach"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(repo_ + "/baton.toml:3:11: [orchestrator] standby 'always' must be"),
            std::string::npos)
      << r.err;
}

#ifdef BATON_FAULTS
// Each standby fault point, failed and killed: the project converges — one orchestrator, the
// one that ran before for the points of the standby's own preparation (no handoff runs for
// it), and a ready standby again.
struct StandbyFault {
  std::string point;
  std::string mode;
};

class StandbyFaults : public StandbyE2E, public ::testing::WithParamInterface<StandbyFault> {};

std::vector<StandbyFault> standby_faults() {
  std::vector<StandbyFault> cases;
  for (const auto point : plugin::kStandbyFaultPoints) {
    cases.push_back({std::string(point), "fail"});
    cases.push_back({std::string(point), "kill"});
  }
  return cases;
}

std::string standby_fault_name(const ::testing::TestParamInfo<StandbyFault>& info) {
  std::string name = info.param.point + "_" + info.param.mode;
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// A killed daemon's successor converges alone (the standby is no leftover of a handoff, so
// the orchestrator keeps running, adopted); a failed standby waits for the next handoff, which
// converges too.
TEST_P(StandbyFaults, ConvergeWithAReadyStandby) {
  const auto& c = GetParam();
  auto armed = opts();
  armed.env["BATON_FAULT"] = c.point + ":" + c.mode;
  const bool is_taken = c.point == "standby.taken";
  if (is_taken) {
    ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
    ASSERT_EQ(ready_standby(), "shop-2");
  }
  const auto armed_run = baton({is_taken ? "replace" : "up", repo_}, armed);
  if (is_taken) {
    EXPECT_NE(armed_run.status, 0) << armed_run.err;
  } else {
    ASSERT_EQ(armed_run.status, 0) << armed_run.err;
  }
  const pid_t daemon = daemon_pid();
  const std::string needle = "fault point " + c.point;
  ASSERT_TRUE(eventually([&] { return daemon_log().find(needle) != std::string::npos; }, 15000))
      << daemon_log();
  if (c.mode == "kill") {
    ASSERT_TRUE(eventually([&] { return !process_exists(daemon); }, 15000));
  }
  // The next command starts a daemon again, unarmed.
  const long agent = status()["orchestrator"]["pid"].get<long>();
  if (c.mode == "fail" || is_taken) {
    ASSERT_EQ(b({"replace", repo_}).status, 0);
  }
  std::string problem;
  EXPECT_TRUE(eventually(
      [&] {
        problem = convergence_problem(repo_, "shop");
        return problem.empty() && status()["standby"]["state"] == "ready";
      },
      20000))
      << problem << "\n"
      << status().dump() << daemon_log();
  if (c.mode == "kill" && !is_taken) {
    EXPECT_EQ(status()["orchestrator"]["pid"].get<long>(), agent);
    EXPECT_EQ(daemon_log().find("finishing an interrupted handoff"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryPoint, StandbyFaults, ::testing::ValuesIn(standby_faults()),
                         standby_fault_name);
#endif

}  // namespace
}  // namespace baton::test
