// A real repository, fake agents on PATH and an allowed baton.toml, for orchestrator tests.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.hpp"

namespace baton::test {

class OrchestratorE2E : public BatonTest {
 protected:
  void SetUp() override {
    BatonTest::SetUp();
    repo_ = tmp_ + "/shop";
    bin_ = tmp_ + "/bin";
    std::filesystem::create_directories(repo_);
    std::filesystem::create_directories(bin_);
    git({"init", "-q", "-b", "main"});
    write(repo_ + "/README.md", "shop\n");
    write(repo_ + "/app.txt", "v1\n");
    git({"add", "."});
    git({"commit", "-q", "-m", "init"});
    // Prints where it runs, then waits; HUP ends it like a real agent.
    agent("agent-ok",
          "echo \"AGENT $0 cwd=$(pwd) branch=$(git rev-parse --abbrev-ref HEAD) "
          "session=$BATON_SESSION\"\n"
          "while :; do sleep 1; done\n");
    agent("agent-fail", "echo 'agent-fail: no network'; exit 1\n");
    agent("agent-stubborn", "trap '' HUP TERM\necho STUBBORN $$\nwhile :; do sleep 1; done\n");
    config(
        "[orchestrator]\nagent = \"ok\"\nlaunch_grace = \"1s\"\n"
        "[agents.ok]\ncommand = [\"agent-ok\"]\n"
        "[agents.fail]\ncommand = [\"agent-fail\"]\n"
        "[agents.stubborn]\ncommand = [\"agent-stubborn\"]\n");
    baton_ok({"allow", repo_});
  }

  void write(const std::string& path, const std::string& content) {
    std::ofstream(path) << content;
  }

  void agent(const std::string& name, const std::string& body) {
    const std::string path = bin_ + "/" + name;
    write(path, "#!/bin/sh\n" + body);
    chmod(path.c_str(), 0755);
  }

  void config(const std::string& toml) { write(repo_ + "/baton.toml", toml); }

  RunResult git(const std::vector<std::string>& args, const std::string& cwd = "") {
    std::vector<std::string> argv{"git", "-c", "user.name=t", "-c", "user.email=t@t"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.cwd = cwd.empty() ? repo_ : cwd});
  }

  RunOptions opts() {
    RunOptions o;
    o.env["PATH"] = bin_ + ":" + std::string(std::getenv("PATH"));
    o.cwd = repo_;
    return o;
  }

  RunResult b(const std::vector<std::string>& args) { return baton(args, opts()); }

  nlohmann::json status() {
    return nlohmann::json::parse(baton_ok({"status", repo_, "--json"}, opts()));
  }

  std::string stable() { return home_ + "/worktrees/shop/orchestrator"; }

  std::string screen_of(const std::string& id) {
    std::string s;
    eventually([&] {
      s = capture(id);
      return s.find("AGENT") != std::string::npos || s.find("STUBBORN") != std::string::npos;
    });
    return s;
  }

  int active_count() { return status()["active_count"].get<int>(); }

  // Waits until the orchestrator runs again with another pid than `old_pid` (a relaunch or a
  // restore); `s` is the last status read.
  bool runs_again(long old_pid, nlohmann::json& s) {
    return eventually(
        [&] {
          s = status();
          return s["orchestrator"]["state"] == "active" &&
                 s["orchestrator"]["pid"].get<long>() != old_pid;
        },
        15000);
  }

  // What the user reads: the last line of stderr (up and replace print progress before it).
  static std::string last_line(const std::string& err) {
    const auto end = err.find_last_not_of('\n');
    if (end == std::string::npos) return "";
    const auto nl = err.rfind('\n', end);
    const auto start = nl == std::string::npos ? 0 : nl + 1;
    return err.substr(start, end - start + 1) + "\n";
  }

  // Empty when `project` (repository `repo`) converged (issue 6), else what is wrong: exactly
  // one active orchestrator, healthy, on the canonical branch at the stable path; the branch
  // checked out in exactly one worktree; no other baton worktree, directory or temporary
  // branch; every preserved commit a session recorded reachable from refs/baton/preserved/*;
  // and every file of `work` (path → content) whole in the new tree or in one preserved ref.
  // A session's state in `sessions --all`; "" when it is not listed.
  std::string session_state(const std::string& id) {
    auto j = nlohmann::json::parse(baton({"sessions", repo_, "--all", "--json"}, opts()).out,
                                   nullptr, false);
    if (j.is_discarded()) return "";
    for (const auto& s : j["sessions"])
      if (s["id"] == id) return s["state"].get<std::string>();
    return "";
  }

  std::string convergence_problem(const std::string& repo, const std::string& project,
                                  const std::map<std::string, std::string>& work = {}) {
    auto st = nlohmann::json::parse(baton({"status", repo, "--json"}, opts()).out, nullptr, false);
    if (st.is_discarded()) return "status is not JSON";
    if (st["active_count"] != 1) return "active_count " + st["active_count"].dump();
    if (st["health"] != "ok")
      return "health " + st["health"].dump() + " error " + st["error"].dump();
    const std::string stable_path = home_ + "/worktrees/" + project + "/orchestrator";
    if (st["orchestrator"]["worktree"] != stable_path)
      return "orchestrator at " + st["orchestrator"]["worktree"].dump();
    const std::string branch = "baton/" + project + "-orchestrator";
    const std::string wl = git({"worktree", "list", "--porcelain"}, repo).out;
    std::size_t held = 0, trees = 0;
    for (auto at = wl.find("branch refs/heads/" + branch + "\n"); at != std::string::npos;
         at = wl.find("branch refs/heads/" + branch + "\n", at + 1))
      ++held;
    // Workers (docs/workers.md) are no orchestrator's trees: counted apart.
    const std::string workers_dir = home_ + "/worktrees/" + project + "/workers/";
    for (auto at = wl.find("worktree "); at != std::string::npos;
         at = wl.find("\nworktree ", at + 1))
      if (wl.compare(at + (wl[at] == '\n' ? 10 : 9), workers_dir.size(), workers_dir) != 0) ++trees;
    if (held != 1) return "branch checked out " + std::to_string(held) + " times:\n" + wl;
    // At most one standby (docs/orchestrator.md): a worktree at .standby on its own temporary
    // branch, and no other.
    // "refs/heads/<branch>\n" of the worktree at `path`; "" when there is none.
    auto branch_at = [&wl](const std::string& path) -> std::string {
      const auto at = wl.find("worktree " + path + "\n");
      if (at == std::string::npos) return "";
      const auto b = wl.find("branch refs/heads/", at);
      const auto end = b == std::string::npos ? b : wl.find('\n', b);
      return end == std::string::npos ? "" : wl.substr(b + 7, end - b - 7) + "\n";
    };
    const std::string standby_path = home_ + "/worktrees/" + project + "/.standby";
    const bool has_standby = wl.find("worktree " + standby_path + "\n") != std::string::npos;
    const std::string standby_branch = branch_at(standby_path);
    if (has_standby && !standby_branch.starts_with("refs/heads/baton/tmp/"))
      return "a standby not on its temporary branch:\n" + wl;
    const std::size_t want_trees = standby_branch.empty() ? 2 : 3;
    if (trees != want_trees)
      return std::to_string(trees) + " worktrees, want the main one, baton's and a standby:\n" + wl;
    if (wl.find("worktree " + stable_path + "\n") == std::string::npos)
      return "not at the stable path:\n" + wl;
    for (const auto& e : std::filesystem::directory_iterator(home_ + "/worktrees/" + project)) {
      if (e.path().filename() == "orchestrator" || e.path().filename() == "workers") continue;
      if (e.path().filename() == ".standby" && !standby_branch.empty()) continue;
      return "leftover " + e.path().string();
    }
    // The next worker's tree (docs/workers.md) has a temporary branch of its own.
    std::set<std::string> want_temp;
    for (const auto& branch : {standby_branch, branch_at(workers_dir + ".standby")})
      if (!branch.empty()) want_temp.insert(branch);
    std::string want_temps;
    for (const auto& t : want_temp) want_temps += t;
    const auto temp =
        git({"for-each-ref", "--format=%(refname)", "refs/heads/baton/tmp"}, repo).out;
    if (temp != want_temps) return "leftover temporary branches: " + temp;
    auto sessions = nlohmann::json::parse(baton({"sessions", "--all", "--json", repo}, opts()).out,
                                          nullptr, false);
    if (sessions.is_discarded()) return "sessions is not JSON";
    for (const auto& s : sessions["sessions"]) {
      if (!s.contains("preserved_commit") || !s["preserved_commit"].is_string()) continue;
      const std::string c = s["preserved_commit"];
      if (git({"for-each-ref", "--contains", c, "refs/baton/preserved"}, repo).out.empty())
        return "preserved commit " + c + " of " + s["id"].get<std::string>() + " is unreachable";
    }
    if (work.empty()) return "";
    auto holds_work = [&](const std::function<std::string(const std::string&)>& read) {
      for (const auto& [file, content] : work)
        if (read(file) != content) return false;
      return true;
    };
    if (holds_work([&](const std::string& f) { return read_file(stable_path + "/" + f); }))
      return "";
    const auto refs =
        git({"for-each-ref", "--format=%(refname)", "refs/baton/preserved"}, repo).out;
    for (std::size_t a = 0, e; (e = refs.find('\n', a)) != std::string::npos; a = e + 1) {
      const auto ref = refs.substr(a, e - a);
      if (holds_work([&](const std::string& f) { return git({"show", ref + ":" + f}, repo).out; }))
        return "";
    }
    return "uncommitted work lost";
  }

  std::string repo_;
  std::string bin_;
};

}  // namespace baton::test
