// `baton doctor` (issue 20, point 6) through the real binaries: a clean setup reports every
// check ok and exits 0; a broken one (run directory mode, an agent missing or of an untested
// version, a config nobody allowed, a tiny inotify limit) exits 1 with the fix of each; the
// checks that need a daemon say so when none runs, and doctor never starts one; the tmux
// plugin is checked in a real tmux server reachable through $TMUX.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Pin {
  std::string package;
  std::string version;
};

// scripts/tested-agents.txt, the versions doctor compares with: command → pin.
std::map<std::string, Pin> tested_agents() {
  std::map<std::string, Pin> pins;
  std::istringstream in(read_file(std::string(BATON_SOURCE_DIR) + "/scripts/tested-agents.txt"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string command;
    Pin pin;
    fields >> command >> pin.package >> pin.version;
    pins[command] = pin;
  }
  return pins;
}

class Doctor : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    pins_ = tested_agents();
    ASSERT_EQ(pins_.size(), 2u);
    // Fake agents printing what the real ones print for --version.
    fake_agent("codex", "codex-cli " + pins_["codex"].version);
    fake_agent("claude", pins_["claude"].version + " (Claude Code)");
  }

  void fake_agent(const std::string& command, const std::string& version_line) {
    agent(command, "[ \"$1\" = --version ] && echo '" + version_line + "'\n");
  }

  // The user's environment as doctor sees it: the fakes first, no tmux or kitty around it, an
  // inotify limit that does not depend on the machine.
  RunOptions doctor_opts() {
    RunOptions o = opts();
    o.env["PATH"] = bin_ + ":/usr/local/bin:/usr/bin:/bin";
    o.env["TMUX"] = "";
    o.env["KITTY_WINDOW_ID"] = "";
    o.env["KITTY_LISTEN_ON"] = "";
    o.env["BATON_TEST_INOTIFY_WATCHES"] = "524288";
    return o;
  }

  RunResult doctor(RunOptions o, const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv{"doctor"};
    argv.insert(argv.end(), args.begin(), args.end());
    return baton(argv, std::move(o));
  }

  // The line of check `name` ("fail  trust        ..."), or "".
  static std::string line_of(const std::string& out, const std::string& name) {
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (line.size() > 6 && line.compare(6, name.size() + 1, name + " ") == 0) return line;
    }
    return "";
  }

  static std::string status_of(const std::string& line) { return line.substr(0, line.find(' ')); }

  std::map<std::string, Pin> pins_;
};

TEST_F(Doctor, ACleanSetupReportsEveryCheckOk) {
  auto r = doctor(doctor_opts());
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  for (const char* name : {"tmux", "tmux-plugin", "kitty", "codex", "claude", "run-dir", "daemon",
                           "config", "trust", "inotify", "systemd"}) {
    const std::string line = line_of(r.out, name);
    EXPECT_EQ(status_of(line), "ok") << name << "\n" << r.out;
  }
  EXPECT_NE(line_of(r.out, "codex")
                .find("codex " + pins_["codex"].version + " (" + bin_ +
                      "/codex), the version baton is tested with"),
            std::string::npos)
      << r.out;
  EXPECT_NE(line_of(r.out, "run-dir").find(home_ + "/run is yours, mode 0700, socket 0600"),
            std::string::npos)
      << r.out;
  EXPECT_NE(line_of(r.out, "daemon").find("running (pid " + std::to_string(daemon_pid()) + ")"),
            std::string::npos)
      << r.out;
  EXPECT_NE(line_of(r.out, "config").find(repo_ + "/baton.toml loads; agent ok (set in "),
            std::string::npos)
      << r.out;
  EXPECT_NE(line_of(r.out, "trust").find(repo_ + "/baton.toml allowed as it is now"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find(" — fix: "), std::string::npos) << r.out;
}

TEST_F(Doctor, ABrokenSetupFailsAndSaysHowToFixEach) {
  ASSERT_EQ(chmod((home_ + "/run").c_str(), 0755), 0);
  fake_agent("codex", "codex-cli 0.1.0");
  fs::remove(bin_ + "/claude");
  // Changed after the allow, and it names the agent that is missing.
  config("[orchestrator]\nagent = \"claude-code\"\n[env]\nPAGER = \"less\"\n");
  auto o = doctor_opts();
  o.env["BATON_TEST_INOTIFY_WATCHES"] = "1024";
  auto r = doctor(o);
  EXPECT_EQ(r.status, 1) << r.out << r.err;

  const std::string run_dir = line_of(r.out, "run-dir");
  EXPECT_EQ(status_of(run_dir), "fail") << r.out;
  EXPECT_NE(run_dir.find("has mode 0755"), std::string::npos) << run_dir;
  EXPECT_NE(run_dir.find(" — fix: chmod 700 " + home_ + "/run"), std::string::npos) << run_dir;

  const std::string codex = line_of(r.out, "codex");
  EXPECT_EQ(status_of(codex), "warn") << r.out;
  EXPECT_NE(codex.find("codex 0.1.0 (" + bin_ + "/codex); baton is tested with " +
                       pins_["codex"].version),
            std::string::npos)
      << codex;
  EXPECT_NE(codex.find("npm install -g " + pins_["codex"].package + "@" + pins_["codex"].version),
            std::string::npos)
      << codex;

  const std::string claude = line_of(r.out, "claude");
  EXPECT_EQ(status_of(claude), "fail") << r.out;
  EXPECT_NE(claude.find("not on PATH, and it is this project's agent — fix: npm install -g " +
                        pins_["claude"].package + "@" + pins_["claude"].version),
            std::string::npos)
      << claude;

  const std::string trust = line_of(r.out, "trust");
  EXPECT_EQ(status_of(trust), "fail") << r.out;
  EXPECT_NE(trust.find("the settings [env] PAGER in " + repo_ + "/baton.toml are not allowed yet"),
            std::string::npos)
      << trust;
  EXPECT_NE(trust.find("run 'baton allow " + repo_ + "'"), std::string::npos) << trust;

  const std::string inotify = line_of(r.out, "inotify");
  EXPECT_EQ(status_of(inotify), "warn") << r.out;
  EXPECT_NE(inotify.find("fs.inotify.max_user_watches is 1024, below 65536"), std::string::npos)
      << inotify;
  EXPECT_NE(inotify.find("fix: sudo sysctl fs.inotify.max_user_watches=524288"), std::string::npos)
      << inotify;

  // The same checks as JSON, the fix apart.
  auto j = Json::parse(doctor(o, {"--json"}).out, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  std::map<std::string, Json> checks;
  for (const auto& c : j["checks"]) checks[c["name"].get<std::string>()] = c;
  EXPECT_EQ(checks.size(), 11u) << j.dump();
  EXPECT_EQ(checks["run-dir"]["status"], "fail");
  EXPECT_EQ(checks["run-dir"]["fix"], "chmod 700 " + home_ + "/run");
  EXPECT_EQ(checks["claude"]["status"], "fail");
  EXPECT_EQ(checks["trust"]["status"], "fail");
  EXPECT_EQ(checks["inotify"]["status"], "warn");
  EXPECT_EQ(checks["daemon"]["status"], "ok");
  EXPECT_TRUE(checks["daemon"]["fix"].is_null());
  EXPECT_EQ(j["failed"], 3);

  // Fixed, it is clean again.
  ASSERT_EQ(chmod((home_ + "/run").c_str(), 0700), 0);
  baton_ok({"allow", repo_}, opts());
  fake_agent("claude", pins_["claude"].version + " (Claude Code)");
  EXPECT_EQ(doctor(o).status, 0);
}

TEST_F(Doctor, AnAgentWhoseVersionCannotBeAskedFails) {
  agent("codex", "echo 'codex: cannot load its modules' >&2\nexit 3\n");
  auto r = doctor(doctor_opts());
  EXPECT_EQ(r.status, 1) << r.out;
  const std::string codex = line_of(r.out, "codex");
  EXPECT_EQ(status_of(codex), "fail") << r.out;
  EXPECT_NE(codex.find("'" + bin_ + "/codex --version' failed: exit status 3: codex: cannot load"),
            std::string::npos)
      << codex;
  EXPECT_NE(codex.find("fix: reinstall it: npm install -g "), std::string::npos) << codex;
}

TEST_F(Doctor, WithoutADaemonTheConfigIsNotCheckedAndNoDaemonStarts) {
  const pid_t pid = daemon_pid();
  baton_ok({"shutdown"});
  ASSERT_TRUE(eventually([&] { return !process_exists(pid); }));
  auto r = doctor(doctor_opts());
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(status_of(line_of(r.out, "daemon")), "ok") << r.out;
  EXPECT_NE(line_of(r.out, "daemon").find("not running"), std::string::npos) << r.out;
  for (const char* name : {"config", "trust"}) {
    EXPECT_EQ(status_of(line_of(r.out, name)), "warn") << r.out;
    EXPECT_NE(line_of(r.out, name).find("not checked: no daemon running"), std::string::npos)
        << r.out;
  }
  EXPECT_FALSE(fs::exists(home_ + "/run/control.sock"));
  const pid_t after = daemon_pid();
  EXPECT_TRUE(after <= 0 || !process_exists(after)) << "doctor started a daemon";
}

TEST_F(Doctor, AConfigErrorIsTheOneConfigCheckReports) {
  config("[orchestrator]\nagnet = \"codex\"\n");
  auto check = baton({"config", "check", repo_}, opts());
  ASSERT_EQ(check.status, 1);
  const std::string error = check.err.substr(std::string("baton: ").size(), check.err.size() - 8);
  auto r = doctor(doctor_opts());
  EXPECT_EQ(r.status, 1) << r.out;
  const std::string config_line = line_of(r.out, "config");
  EXPECT_EQ(status_of(config_line), "fail") << r.out;
  EXPECT_NE(config_line.find(error), std::string::npos) << config_line << "\n" << error;
  EXPECT_EQ(status_of(line_of(r.out, "trust")), "warn") << r.out;
}

TEST_F(Doctor, ADaemonOfAnotherProtocolFailsWithTheRestart) {
  auto o = doctor_opts();
  o.env["BATON_TEST_PROTOCOL_VERSION"] = "99";
  auto r = doctor(o);
  EXPECT_EQ(r.status, 1) << r.out;
  const std::string daemon = line_of(r.out, "daemon");
  EXPECT_EQ(status_of(daemon), "fail") << r.out;
  EXPECT_NE(daemon.find("protocol"), std::string::npos) << daemon;
  EXPECT_NE(daemon.find("fix: run 'baton shutdown'"), std::string::npos) << daemon;
}

TEST_F(Doctor, OutsideAGitRepositoryThereIsNoProjectToCheck) {
  auto o = doctor_opts();
  o.cwd = tmp_;
  auto r = doctor(o);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(line_of(r.out, "config").find(tmp_ + " is in no git repository"), std::string::npos)
      << r.out;
  EXPECT_EQ(status_of(line_of(r.out, "trust")), "ok") << r.out;
}

TEST_F(Doctor, AnExtraArgumentIsAUsageError) {
  auto r = doctor(doctor_opts(), {"extra"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("extra"), std::string::npos) << r.err;
}

// In a tmux server reachable through $TMUX: not loaded, loaded, and loaded with a `baton`
// the server cannot find.
TEST_F(Doctor, TheTmuxPluginIsCheckedInTheServerOfTmux) {
  if (run_process({"tmux", "-V"}).status != 0) GTEST_SKIP() << "tmux is not installed";
  const std::string socket = tmp_ + "/tmux.sock";
  auto tmux = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv{"tmux", "-S", socket, "-f", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.env = {{"BATON_HOME", home_}}, .timeout_ms = 10000});
  };
  ASSERT_EQ(tmux({"new-session", "-d", "-s", "t"}).status, 0);
  auto o = doctor_opts();
  o.env["TMUX"] = socket + ",1,0";

  std::string line = line_of(doctor(o).out, "tmux-plugin");
  EXPECT_EQ(status_of(line), "warn") << line;
  EXPECT_NE(line.find("not loaded in this tmux server — fix: add 'run-shell "), std::string::npos)
      << line;
  EXPECT_NE(line.find("baton.tmux' to ~/.tmux.conf"), std::string::npos) << line;

  const std::string plugin = std::string(BATON_SOURCE_DIR) + "/plugin/tmux/baton.tmux";
  ASSERT_EQ(tmux({"set", "-g", "@baton-bin", BATON_BIN, ";", "run-shell", plugin}).status, 0);
  line = line_of(doctor(o).out, "tmux-plugin");
  EXPECT_EQ(line, "ok    tmux-plugin  loaded: prefix + O, prefix + R run " + std::string(BATON_BIN))
      << line;

  ASSERT_EQ(tmux({"set", "-g", "@baton-bin", tmp_ + "/nowhere/baton"}).status, 0);
  auto r = doctor(o);
  EXPECT_EQ(r.status, 1) << r.out;
  line = line_of(r.out, "tmux-plugin");
  EXPECT_EQ(status_of(line), "fail") << line;
  EXPECT_NE(line.find("fix: set -g @baton-bin /path/to/baton"), std::string::npos) << line;
  tmux({"kill-server"});
}

}  // namespace
}  // namespace baton::test
