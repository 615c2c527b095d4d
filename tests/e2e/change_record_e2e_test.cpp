// The change record (issue 21, plugin/change_record.hpp): once the active orchestrator's tree
// is watched and scanned, a replace scans only what changed for uncommitted work and still
// brings every byte over; a daemon killed and started again records the tree again; without
// an orchestrator there is no record.
#include <signal.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;

class ChangeRecordE2E : public OrchestratorE2E {
 protected:
  bool is_recording() {
    return eventually([&] { return status()["change_record"] == "recording"; }, 15000);
  }
  Json replace_json() {
    auto r = b({"replace", repo_, "--json", "--now"});
    EXPECT_EQ(r.status, 0) << r.err;
    return Json::parse(r.out, nullptr, false);
  }
};

TEST_F(ChangeRecordE2E, AReplaceScansOnlyWhatChangedAndBringsEveryChangeOver) {
  write(repo_ + "/.gitignore", "*.log\n");
  git({"add", ".gitignore"});
  git({"commit", "-qm", "ignore logs"});
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(is_recording()) << status().dump();
  write(stable() + "/app.txt", "v2, not committed\n");
  std::filesystem::create_directories(stable() + "/docs/new");
  write(stable() + "/docs/new/plan.md", "plan\n");
  write(stable() + "/run.log", "ignored, carried\n");

  Json out = replace_json();
  ASSERT_TRUE(out["preserve_scan"].is_object()) << out.dump();
  EXPECT_EQ(out["preserve_scan"]["limited"], true) << out.dump();
  // The three paths and nothing else of the tree.
  EXPECT_EQ(out["preserve_scan"]["paths"], 3) << out.dump();
  EXPECT_EQ(out["session"]["id"], "shop-2") << out.dump();
  EXPECT_EQ(read_file(stable() + "/app.txt"), "v2, not committed\n");
  EXPECT_EQ(read_file(stable() + "/docs/new/plan.md"), "plan\n");
  EXPECT_EQ(read_file(stable() + "/run.log"), "ignored, carried\n");
  // The new tree gets a record of its own.
  EXPECT_TRUE(is_recording()) << status().dump();
}

TEST_F(ChangeRecordE2E, ADaemonKilledAndStartedAgainRecordsTheTreeAgain) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(is_recording()) << status().dump();
  const pid_t pid = daemon_pid();
  kill(pid, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !process_exists(pid); }));
  // Written while no daemon watched: the new record's full scan finds it.
  write(stable() + "/while-down.txt", "made with no daemon\n");
  ASSERT_TRUE(is_recording()) << status().dump();
  write(stable() + "/app.txt", "changed after the restart\n");
  Json out = replace_json();
  EXPECT_EQ(out["preserve_scan"]["limited"], true) << out.dump();
  EXPECT_EQ(read_file(stable() + "/while-down.txt"), "made with no daemon\n");
  EXPECT_EQ(read_file(stable() + "/app.txt"), "changed after the restart\n");
}

TEST_F(ChangeRecordE2E, WithoutAnOrchestratorThereIsNoRecord) {
  EXPECT_EQ(status()["change_record"], "off");
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  ASSERT_TRUE(is_recording()) << status().dump();
  ASSERT_EQ(b({"down", repo_}).status, 0);
  EXPECT_EQ(status()["change_record"], "off") << status().dump();
}

}  // namespace
}  // namespace baton::test
