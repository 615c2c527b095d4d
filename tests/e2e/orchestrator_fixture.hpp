// A real repository, fake agents on PATH and an allowed baton.toml, for orchestrator tests.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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

  std::string repo_;
  std::string bin_;
};

}  // namespace baton::test
