// Every fault point of the handoff (the list comes from the daemon, so a new step cannot be
// missed), made to fail and made to SIGKILL the daemon. After each, one more `replace` must
// converge: exactly one active orchestrator on the canonical branch, the branch checked out
// once, no baton leftovers, and every byte of the uncommitted work still there.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

class FaultPoints : public OrchestratorE2E {
 protected:
  // Empty when converged, else what is wrong.
  std::string convergence_problem() {
    auto s = status();
    if (s["active_count"] != 1) return "active_count " + s["active_count"].dump();
    if (s["health"] != "ok") return "health " + s["health"].dump() + " error " + s["error"].dump();
    auto wl = git({"worktree", "list", "--porcelain"}).out;
    std::size_t count = 0;
    for (auto p = wl.find("branch refs/heads/baton/shop-orchestrator"); p != std::string::npos;
         p = wl.find("branch refs/heads/baton/shop-orchestrator", p + 1))
      ++count;
    if (count != 1) return "branch checked out " + std::to_string(count) + " times:\n" + wl;
    if (wl.find("worktree " + stable() + "\n") == std::string::npos)
      return "not at the stable path:\n" + wl;
    for (const auto& e : fs::directory_iterator(home_ + "/worktrees/shop")) {
      const auto name = e.path().filename().string();
      if (name != "orchestrator") return "leftover " + name;
    }
    const auto refs = git({"for-each-ref", "--format=%(refname)", "refs/heads/baton/tmp"}).out;
    if (!refs.empty()) return "leftover temporary branches: " + refs;
    // Every byte of the work: in the tree, or in a preserved commit.
    if (read_file(stable() + "/app.txt") == "v2 uncommitted\n" &&
        read_file(stable() + "/notes.md") == "untracked work\n")
      return "";
    const auto preserved = git({"for-each-ref", "--format=%(refname)", "refs/baton/preserved"}).out;
    for (std::size_t a = 0, b; (b = preserved.find('\n', a)) != std::string::npos; a = b + 1) {
      const auto ref = preserved.substr(a, b - a);
      if (git({"show", ref + ":app.txt"}).out == "v2 uncommitted\n" &&
          git({"show", ref + ":notes.md"}).out == "untracked work\n")
        return "";
    }
    return "uncommitted work lost";
  }
};

TEST_F(FaultPoints, EveryPointFailedOrKilledConvergesOnTheNextReplace) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  // The list, from the daemon itself.
  std::vector<std::string> names;
  {
    auto r = baton({"debug", "fault-points"}, opts());
    ASSERT_EQ(r.status, 0) << r.err;
    for (std::size_t a = 0, e; (e = r.out.find('\n', a)) != std::string::npos; a = e + 1)
      names.push_back(r.out.substr(a, e - a));
  }
  ASSERT_GE(names.size(), 10u);
  std::string table = "fault point            fail   kill\n";
  int failures = 0;
  for (const auto& point : names) {
    std::string row = point + std::string(23 - std::min<std::size_t>(point.size(), 22), ' ');
    for (const std::string mode : {"fail", "kill"}) {
      // Each case starts from a converged project, so one failure cannot hide in the next.
      eventually([&] { return status()["health"] == "ok"; }, 10000);
      write(stable() + "/app.txt", "v2 uncommitted\n");
      write(stable() + "/notes.md", "untracked work\n");
      auto o = opts();
      o.env["BATON_FAULT"] = point + ":" + mode;
      auto faulty = baton({"replace", repo_}, o);
      std::string result;
      if (faulty.status == 0) {
        result = "NOFAULT";
      } else {
        auto again = b({"replace", repo_});
        std::string problem = again.status == 0 ? "" : "replace: " + again.err;
        if (problem.empty()) {
          eventually([&] { return (problem = convergence_problem()).empty(); }, 10000);
        }
        result = problem.empty() ? "ok" : "FAILED";
        if (!problem.empty()) {
          ++failures;
          ADD_FAILURE() << point << ":" << mode << " did not converge: " << problem
                        << "\nfirst replace: " << faulty.err;
        }
      }
      row += result + std::string(7 - std::min<std::size_t>(result.size(), 6), ' ');
    }
    table += row + "\n";
  }
  std::printf("%s", table.c_str());
  EXPECT_EQ(failures, 0) << table;
}

}  // namespace
}  // namespace baton::test
