// Concurrency (issue 6, point 2): many replaces at once, for one project and for ten, and a
// replace racing shutdown, attach and a config edit, each ending converged
// (OrchestratorE2E::convergence_problem); and 200 handoffs leaking no fd, process or worktree.
#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/attach_probe.hpp"
#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

namespace fs = std::filesystem;

const std::map<std::string, std::string> kWork = {{"app.txt", "v2 uncommitted\n"},
                                                  {"notes.md", "untracked work\n"}};

class Concurrency : public OrchestratorE2E {
 protected:
  void write_work(const std::string& tree) {
    for (const auto& [file, content] : kWork) write(tree + "/" + file, content);
  }

  void expect_converged(const std::string& repo, const std::string& project,
                        const std::map<std::string, std::string>& work = kWork) {
    std::string problem;
    EXPECT_TRUE(eventually(
        [&] { return (problem = convergence_problem(repo, project, work)).empty(); }, 20000))
        << project << ": " << problem;
  }

  std::size_t count_entries(const std::string& dir) {
    std::size_t n = 0;
    if (DIR* d = opendir(dir.c_str())) {
      while (const dirent* e = readdir(d)) n += e->d_name[0] != '.';
      closedir(d);
    }
    return n;
  }

  // Processes whose parent is the daemon: its sessions and hooks.
  std::size_t count_children(pid_t parent) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string stat = read_file(e.path().string() + "/stat");
      const auto paren = stat.rfind(')');
      if (paren == std::string::npos) continue;
      char state = 0;
      long ppid = 0;
      if (std::sscanf(stat.c_str() + paren + 2, "%c %ld", &state, &ppid) == 2 && ppid == parent &&
          state != 'Z')
        ++n;
    }
    return n;
  }
};

TEST_F(Concurrency, TwentyConcurrentReplacesOfOneProjectConverge) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write_work(stable());
  std::vector<RunResult> results(20);
  std::vector<std::thread> threads;
  threads.reserve(20);
  for (int i = 0; i < 20; ++i) threads.emplace_back([&, i] { results[i] = b({"replace", repo_}); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r.status, 0) << r.err;
  expect_converged(repo_, "shop");
}

TEST_F(Concurrency, ReplacesOfTenProjectsAtOnceConverge) {
  std::vector<std::string> repos{repo_};
  for (int i = 1; i < 10; ++i) {
    const std::string repo = tmp_ + "/proj" + std::to_string(i);
    fs::create_directories(repo);
    git({"init", "-q", "-b", "main"}, repo);
    write(repo + "/app.txt", "v1\n");
    fs::copy_file(repo_ + "/baton.toml", repo + "/baton.toml");
    git({"add", "app.txt"}, repo);
    git({"commit", "-q", "-m", "init"}, repo);
    baton_ok({"allow", repo});
    repos.push_back(repo);
  }
  auto all_at_once = [&](const std::string& verb) {
    std::vector<RunResult> results(repos.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < repos.size(); ++i)
      threads.emplace_back([&, i] { results[i] = b({verb, repos[i], "--detach"}); });
    for (auto& t : threads) t.join();
    for (const auto& r : results) EXPECT_EQ(r.status, 0) << verb << ": " << r.err;
  };
  all_at_once("up");
  for (const auto& repo : repos)
    write_work(home_ + "/worktrees/" + fs::path(repo).filename().string() + "/orchestrator");
  std::vector<RunResult> results(repos.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < repos.size(); ++i)
    threads.emplace_back([&, i] { results[i] = b({"replace", repos[i]}); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r.status, 0) << r.err;
  for (const auto& repo : repos) expect_converged(repo, fs::path(repo).filename().string());
}

TEST_F(Concurrency, AReplaceRacingShutdownConvergesOnTheNextCommand) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write_work(stable());
  const pid_t pid = daemon_pid();
  std::thread replace([&] { b({"replace", repo_}); });
  std::thread shutdown([&] { baton({"shutdown"}); });
  replace.join();
  shutdown.join();
  // Whichever won, the daemon may be gone; the next replace starts one and finishes the job.
  eventually([&] { return !process_exists(pid) || status()["health"] == "ok"; }, 20000);
  auto again = b({"replace", repo_});
  EXPECT_EQ(again.status, 0) << again.err;
  expect_converged(repo_, "shop");
}

TEST_F(Concurrency, AReplaceRacingAttachesConverges) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write_work(stable());
  std::atomic<bool> done{false};
  std::atomic<int> attaches{0};
  std::vector<int> attach_status;
  std::thread attacher([&] {
    // Attach to the session id over and over while handoffs run: a client ends when the
    // session it attached to is retired, or hangs up after 2 s (a dropped connection
    // mid-attach). (A client attached to the project would follow it instead.)
    while (!done) {
      auto st = baton({"status", repo_, "--json"});
      auto j = nlohmann::json::parse(st.out, nullptr, false);
      if (j.is_discarded() || !j["orchestrator"].is_object()) continue;
      AttachProbe probe(24, 80);
      auto reply = probe.attach(home_, j["orchestrator"]["id"].get<std::string>());
      if (!reply.is_object() || !reply.contains("session")) continue;
      ++attaches;  // the daemon answered: this client is attached
      probe.pump_until([](const std::string&) { return false; }, 2000);
      attach_status.push_back(probe.exit_status());  // -1: still attached when it hung up
    }
  });
  std::vector<RunResult> results(3);
  for (auto& r : results) {
    // Each handoff starts with a client attached to the orchestrator it retires.
    const int before = attaches;
    EXPECT_TRUE(eventually([&] { return attaches > before; }, 20000)) << "no client attached";
    r = b({"replace", repo_});
  }
  done = true;
  attacher.join();
  for (const auto& r : results) EXPECT_EQ(r.status, 0) << r.err;
  // At least one client was attached to a session the handoff retired, and saw it end.
  EXPECT_NE(
      std::count_if(attach_status.begin(), attach_status.end(), [](int s) { return s != -1; }), 0);
  expect_converged(repo_, "shop");
}

TEST_F(Concurrency, AReplaceRacingAConfigEditConverges) {
  agent("agent-two", "echo AGENT two\nwhile :; do sleep 1; done\n");
  const std::string with_two =
      "[orchestrator]\nagent = \"two\"\nlaunch_grace = \"1s\"\n"
      "[agents.two]\ncommand = [\"agent-two\"]\n[agents.ok]\ncommand = [\"agent-ok\"]\n";
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  write_work(stable());
  const std::string original = read_file(repo_ + "/baton.toml");
  std::thread replace([&] { b({"replace", repo_}); });
  // Edits while the handoff reads the config: an editor's rename, then an in-place write.
  for (int i = 0; i < 5; ++i) {
    write(repo_ + "/baton.toml.tmp", i % 2 ? original : with_two);
    fs::rename(repo_ + "/baton.toml.tmp", repo_ + "/baton.toml");
    write(repo_ + "/baton.toml", i % 2 ? with_two : original);
  }
  replace.join();
  write(repo_ + "/baton.toml", with_two);
  baton_ok({"allow", repo_});
  auto again = b({"replace", repo_});
  EXPECT_EQ(again.status, 0) << again.err;
  expect_converged(repo_, "shop");
  EXPECT_EQ(status()["orchestrator"]["agent"], "two");
}

// The soak: about 30 s, so it runs with `scripts/test --long`, not in the normal suite.
class Soak : public Concurrency {};

TEST_F(Soak, TwoHundredHandoffsLeakNoFdProcessOrWorktree) {
  ASSERT_EQ(b({"up", repo_, "--detach"}).status, 0);
  expect_converged(repo_, "shop", {});
  const pid_t pid = daemon_pid();
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  const std::size_t fds_before = count_entries(fd_dir);
  const std::size_t children_before = count_children(pid);
  const std::string worktrees_before = git({"worktree", "list"}).out;
  for (int i = 0; i < 200; ++i) {
    if (i % 20 == 0) write(stable() + "/notes.md", "handoff " + std::to_string(i) + "\n");
    auto r = b({"replace", repo_});
    ASSERT_EQ(r.status, 0) << "handoff " << i << ": " << r.err;
  }
  expect_converged(repo_, "shop", {{"notes.md", "handoff 180\n"}});
  EXPECT_EQ(daemon_pid(), pid);
  std::size_t fds = 0, children = 0;
  EXPECT_TRUE(eventually([&] { return (fds = count_entries(fd_dir)) <= fds_before; }, 20000))
      << fds << " fds open, " << fds_before << " before";
  EXPECT_TRUE(
      eventually([&] { return (children = count_children(pid)) <= children_before; }, 20000))
      << children << " child processes, " << children_before << " before";
  // The same two worktrees, the orchestrator's under a newer session.
  const std::string worktrees = git({"worktree", "list"}).out;
  EXPECT_EQ(std::count(worktrees.begin(), worktrees.end(), '\n'),
            std::count(worktrees_before.begin(), worktrees_before.end(), '\n'))
      << worktrees;
  EXPECT_EQ(git({"for-each-ref", "refs/heads/baton/tmp"}).out, "");
}

}  // namespace
}  // namespace baton::test
