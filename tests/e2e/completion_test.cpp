// Shell completion (issue 20): `baton __complete` against the real binaries and daemon, the
// scripts of completions/ in real bash, zsh (interactive, in tmux on a private socket) and
// fish, and their install rules.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::string kScripts = std::string(BATON_SOURCE_DIR) + "/completions";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool has_program(const std::string& name) {
  return run_process({"sh", "-c", "command -v " + name}).status == 0;
}

// The names a CLI11 help text lists in one section ("Subcommands:", "Options:"): the first
// word of each indented line, each name of "-h,--help" apart.
std::vector<std::string> help_section(const std::string& help, const std::string& section) {
  std::vector<std::string> names;
  bool is_inside = false;
  for (const auto& line : lines_of(help)) {
    if (!line.empty() && line[0] != ' ') {
      is_inside = line == section;
      continue;
    }
    if (!is_inside || line.size() < 3 || line[2] == ' ') continue;
    std::string first = line.substr(2, line.find(' ', 2) - 2);
    std::stringstream names_of(first);
    for (std::string name; std::getline(names_of, name, ',');) names.push_back(name);
  }
  return names;
}

// What the tests ask of `baton __complete` and of the bash script, with or without a project.
template <typename Base>
class CompletionTest : public Base {
 protected:
  virtual RunOptions run_options() { return {}; }

  RunResult run(const std::vector<std::string>& args) { return this->baton(args, run_options()); }

  // `baton __complete -- WORDS...`: the directive line, then the candidates.
  std::vector<std::string> complete(const std::vector<std::string>& words) {
    std::vector<std::string> args{"__complete", "--"};
    args.insert(args.end(), words.begin(), words.end());
    auto r = run(args);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return lines_of(r.out);
  }

  // COMPREPLY of the bash script, its function called as bash-completion would.
  std::vector<std::string> bash_complete(const std::vector<std::string>& comp_words) {
    const std::string script =
        "source \"$0\" && COMP_WORDS=(\"$@\") && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && "
        "_baton && printf '%s\\n' \"${COMPREPLY[@]}\"";
    std::vector<std::string> argv{"bash", "--norc", "--noprofile",
                                  "-c",   script,   kScripts + "/baton.bash"};
    argv.insert(argv.end(), comp_words.begin(), comp_words.end());
    auto o = run_options();
    o.env["BATON_HOME"] = this->home_;
    auto r = run_process(argv, o);
    EXPECT_EQ(r.status, 0) << r.err;
    std::vector<std::string> reply;
    for (auto& l : lines_of(r.out))
      if (!l.empty()) reply.push_back(l);
    return reply;
  }

  std::string bin_dir() { return fs::path(BATON_BIN).parent_path().string(); }
};

// No daemon runs unless a test starts one.
class Completion : public CompletionTest<BatonTest> {};

// A repository with an allowed config and fake agents (the daemon runs).
class ProjectCompletion : public CompletionTest<OrchestratorE2E> {
 protected:
  RunOptions run_options() override { return opts(); }

  // The orchestrator of the repository and a plain session `foo`: the orchestrator's id.
  std::string start_sessions() {
    auto up = b({"up", "--detach", repo_});
    EXPECT_EQ(up.status, 0) << up.err;
    EXPECT_EQ(b({"new", "--name", "foo", "--", "sleep", "100"}).status, 0);
    return up.out.substr(0, up.out.find('\n'));
  }

  // The private tmux server of the zsh test, stopped whatever the test's end.
  RunResult tmux(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"tmux", "-S", tmp_ + "/tmux.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.timeout_ms = 10000});
  }

  void TearDown() override {
    if (has_tmux_) tmux({"kill-server"});
    OrchestratorE2E::TearDown();
  }

  bool has_tmux_ = false;
};

TEST_F(Completion, OffersEverySubcommandTheHelpListsAndNoHiddenOne) {
  const auto help = run({"--help"});
  ASSERT_EQ(help.status, 0);
  const auto subcommands = help_section(help.out, "Subcommands:");
  ASSERT_GT(subcommands.size(), 10u) << help.out;
  const auto offered = complete({""});
  ASSERT_FALSE(offered.empty());
  EXPECT_EQ(offered[0], ":none");
  for (const auto& s : subcommands) EXPECT_TRUE(contains(offered, s)) << s << " is not offered";
  EXPECT_EQ(offered.size(), subcommands.size() + 1) << help.out;
  EXPECT_FALSE(contains(offered, "debug"));
  EXPECT_FALSE(contains(offered, "__complete"));
}

TEST_F(Completion, OffersEveryOptionEachSubcommandsHelpLists) {
  for (const auto& sub : help_section(run({"--help"}).out, "Subcommands:")) {
    const auto help = run({sub, "--help"});
    ASSERT_EQ(help.status, 0) << sub;
    const auto offered = complete({sub, "-"});
    for (const auto& option : help_section(help.out, "Options:")) {
      // The long name is offered; a short one only when there is no long one.
      if (option.rfind("--", 0) == 0 || option == "-h") {
        if (option == "-h") continue;
        EXPECT_TRUE(contains(offered, option)) << "baton " << sub << " " << option;
      }
    }
  }
  EXPECT_TRUE(contains(complete({"-"}), "--version"));
  EXPECT_EQ(complete({"config", ""}), (std::vector<std::string>{":none", "check"}));
}

TEST_F(Completion, ValueRulesNameOptionsOfTheCommandLine) {
  auto r = run({"__complete", "--check"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(Completion, FiltersByTheWordAndDescribesOnRequest) {
  EXPECT_EQ(complete({"sta"}), (std::vector<std::string>{":none", "status"}));
  auto r = run({"__complete", "--descriptions", "--", "status", "--t"});
  EXPECT_EQ(r.out, ":none\n--tmux\tOne short line for a status bar\n");
  EXPECT_EQ(complete({"new", "--", "sle"}), (std::vector<std::string>{":commands"}));
  EXPECT_EQ(complete({"up", "--detach", ""})[0], ":dirs");
  EXPECT_EQ(complete({"signal", "w"}),
            (std::vector<std::string>{":none", "working", "waiting_input"}));
  EXPECT_EQ(run({"__complete", "status"}).status, 2);
}

TEST_F(ProjectCompletion, OffersSessionIdsProjectsAndAgentsOfTheRunningDaemon) {
  const std::string id = start_sessions();
  ASSERT_FALSE(id.empty());
  const auto targets = complete({"attach", ""});
  EXPECT_TRUE(contains(targets, id));
  EXPECT_TRUE(contains(targets, "foo"));
  EXPECT_TRUE(contains(targets, "shop"));
  // kill refuses an orchestrator: only the plain session is offered.
  EXPECT_EQ(complete({"kill", ""}), (std::vector<std::string>{":none", "foo"}));
  EXPECT_EQ(complete({"status", "sh"}), (std::vector<std::string>{":dirs", "shop"}));
  const auto agents = complete({"replace", "--agent", ""});
  for (const char* a : {"codex", "claude-code", "shell", "ok", "fail", "stubborn"})
    EXPECT_TRUE(contains(agents, a)) << a;
  EXPECT_TRUE(contains(complete({"up", "--agent=s"}), "--agent=stubborn"));
  EXPECT_TRUE(contains(complete({"signal", "--session", ""}), id));
}

// The fake agent never ends its turn: the message waits in the outbox.
TEST_F(ProjectCompletion, OffersTheIdsOfQueuedMessagesToDrop) {
  start_sessions();
  auto told = b({"tell", "shop", "hello"});
  ASSERT_EQ(told.out, "m1 queued\n") << told.err;
  EXPECT_EQ(complete({"outbox", "shop", "drop", ""}), (std::vector<std::string>{":none", "m1"}));
  EXPECT_EQ(complete({"outbox", "shop", ""}), (std::vector<std::string>{":none", "ls", "drop"}));
}

TEST_F(ProjectCompletion, OffersTheIdsOfPreservedWork) {
  const std::string id = start_sessions();
  write(stable() + "/wip.txt", "not committed\n");
  ASSERT_EQ(b({"replace", "--now", repo_}).status, 0);
  EXPECT_EQ(complete({"preserved", "shop", "show", ""}), (std::vector<std::string>{":none", id}));
  EXPECT_TRUE(contains(complete({"preserved", ""}), "ls"));
  EXPECT_EQ(complete({"preserved", "ls", ""}), (std::vector<std::string>{":none"}));
}

TEST_F(Completion, WithoutADaemonAnswersAndStartsNone) {
  const auto offered = complete({"attach", ""});
  EXPECT_EQ(offered, (std::vector<std::string>{":none"}));
  EXPECT_TRUE(contains(complete({""}), "status"));
  EXPECT_FALSE(fs::exists(home_ + "/run/control.sock"));
  EXPECT_EQ(daemon_pid(), -1);
}

// A daemon stand-in on the control socket: answers `ls` and `sessions` with the given
// replies, or never answers at all.
class FakeDaemon {
 public:
  FakeDaemon(const std::string& run_dir, Json ls, Json sessions, bool is_silent)
      : ls_(std::move(ls)), sessions_(std::move(sessions)), is_silent_(is_silent) {
    fs::create_directories(run_dir);
    chmod(run_dir.c_str(), 0700);
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = run_dir + "/control.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 4), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDaemon() {
    is_stopping_ = true;
    thread_.join();
    close(listen_fd_);
  }
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  int connections() const { return connections_; }

 private:
  void serve() {
    while (!is_stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      std::string buf;
      char tmp[4096];
      while (!is_stopping_) {
        pollfd c{fd, POLLIN, 0};
        if (poll(&c, 1, 50) <= 0) continue;
        const ssize_t n = read(fd, tmp, sizeof tmp);
        if (n <= 0) break;
        buf.append(tmp, static_cast<std::size_t>(n));
        for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n')) {
          const Json req = Json::parse(buf.substr(0, nl), nullptr, false);
          buf.erase(0, nl + 1);
          if (is_silent_ || req.is_discarded()) continue;
          const Json result = req.value("method", "") == "ls" ? ls_ : sessions_;
          const std::string reply = Json{{"id", req["id"]}, {"result", result}}.dump() + "\n";
          EXPECT_EQ(write(fd, reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
        }
      }
      close(fd);
    }
  }

  Json ls_, sessions_;
  bool is_silent_;
  int listen_fd_ = -1;
  std::atomic<bool> is_stopping_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST_F(Completion, GivesUpOnADaemonThatNeverAnswers) {
  FakeDaemon fake(home_ + "/run", Json::object(), Json::object(), true);
  auto r = run({"__complete", "--", "attach", ""});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, ":none\n");
  EXPECT_EQ(fake.connections(), 1);
}

// Workers (docs/workers.md) are PROJECT/NAME wherever a session is taken; a stand-in daemon
// lists one the way `sessions` does.
TEST_F(Completion, OffersWorkersAsProjectSlashName) {
  const Json ls{{"projects", Json::array({{{"id", "shop"}, {"path", "/nowhere/shop"}}})}};
  const Json sessions{{"sessions", Json::array({{{"id", "shop-7"},
                                                 {"role", "worker"},
                                                 {"name", "fix-login"},
                                                 {"project", "shop"},
                                                 {"agent", "codex"},
                                                 {"state", "active"}}})}};
  FakeDaemon fake(home_ + "/run", ls, sessions, false);
  const auto offered = complete({"tell", "shop/"});
  EXPECT_EQ(offered, (std::vector<std::string>{":none", "shop/fix-login"}));
}

TEST_F(ProjectCompletion, BashScriptFillsCompreply) {
  const std::string id = start_sessions();
  EXPECT_EQ(bash_complete({BATON_BIN, "sta"}), (std::vector<std::string>{"status"}));
  EXPECT_EQ(bash_complete({BATON_BIN, "kill", ""}), (std::vector<std::string>{"foo"}));
  const auto targets = bash_complete({BATON_BIN, "attach", ""});
  EXPECT_TRUE(contains(targets, id));
  EXPECT_TRUE(contains(targets, "shop"));
  // bash splits `--agent=st` into three words; readline replaces only what follows the '='.
  EXPECT_EQ(bash_complete({BATON_BIN, "up", "--agent", "=", "st"}),
            (std::vector<std::string>{"stubborn"}));
  EXPECT_TRUE(contains(bash_complete({BATON_BIN, "up", "--agent", "="}), "codex"));
  // The shell adds directories where a path goes.
  fs::create_directories(tmp_ + "/shop/subdir");
  EXPECT_TRUE(
      contains(bash_complete({BATON_BIN, "status", tmp_ + "/shop/sub"}), tmp_ + "/shop/subdir"));
}

TEST_F(ProjectCompletion, FishScriptCompletesThroughFishsOwnEngine) {
  if (!has_program("fish")) GTEST_SKIP() << "fish is not installed";
  start_sessions();
  auto o = opts();
  o.env["PATH"] = bin_dir() + ":" + o.env["PATH"];
  o.env["BATON_HOME"] = home_;
  auto r =
      run_process({"fish", "--no-config", "-c",
                   "source " + kScripts +
                       "/baton.fish; and complete -C'baton sta'; and complete -C'baton kill '"},
                  o);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto lines = lines_of(r.out);
  EXPECT_TRUE(contains(lines, "status\tHealth of the project's orchestrator")) << r.out;
  EXPECT_TRUE(contains(lines, "foo\tsession running: sleep 100")) << r.out;
}

TEST_F(ProjectCompletion, ZshScriptCompletesAtAnInteractivePrompt) {
  if (!has_program("zsh")) GTEST_SKIP() << "zsh is not installed";
  if (!has_program("tmux")) GTEST_SKIP() << "tmux is not installed";
  start_sessions();
  const std::string zdot = tmp_ + "/zdot";
  fs::create_directories(zdot);
  write(zdot + "/.zshrc", "fpath=(" + kScripts +
                              " $fpath)\n"
                              "autoload -Uz compinit\n"
                              "compinit -u -d " +
                              tmp_ + "/zcompdump\nPS1='READY> '\n");
  const std::string path = bin_dir() + ":" + std::string(std::getenv("PATH"));
  ASSERT_EQ(
      tmux({"-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "30",
            "env ZDOTDIR='" + zdot + "' BATON_HOME='" + home_ + "' PATH='" + path + "' zsh -i"})
          .status,
      0);
  has_tmux_ = true;
  std::string screen;
  auto shows = [&](const std::string& text) {
    return eventually(
        [&] {
          screen = tmux({"capture-pane", "-p"}).out;
          return screen.find(text) != std::string::npos;
        },
        15000);
  };
  EXPECT_TRUE(shows("READY>")) << screen;
  // The X after the tab shows the space completion put after a whole word (tmux's capture
  // drops spaces at the end of a line); zsh reads it only once the completion is done.
  tmux({"send-keys", "baton sta", "Tab", "X"});
  EXPECT_TRUE(shows("READY> baton status X")) << screen;
  tmux({"send-keys", "C-u", "baton kill f", "Tab", "X"});
  EXPECT_TRUE(shows("READY> baton kill foo X")) << screen;
}

TEST_F(Completion, InstallPutsTheScriptsWhereTheShellsLook) {
  const std::string prefix = tmp_ + "/prefix";
  auto r = run_process({CMAKE_COMMAND, "--install", BATON_BINARY_DIR, "--prefix", prefix,
                        "--component", "completions"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(prefix + "/share/bash-completion/completions/baton"),
            read_file(kScripts + "/baton.bash"));
  EXPECT_EQ(read_file(prefix + "/share/zsh/vendor-completions/_baton"),
            read_file(kScripts + "/_baton"));
  EXPECT_EQ(read_file(prefix + "/share/fish/vendor_completions.d/baton.fish"),
            read_file(kScripts + "/baton.fish"));
}

}  // namespace
}  // namespace baton::test
