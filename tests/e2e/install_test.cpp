// `cmake --install` (cmake/install.cmake): the build of these tests installed into a temp
// prefix, then used the way a user would, from there only: the executables, the holder in
// libexec, the tmux plugin in a real tmux, and the man pages through man.
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/e2e/harness.hpp"

namespace baton::test {
namespace {

namespace fs = std::filesystem;

// Everything a prefix gets (README.md, Install).
const std::vector<std::string> kInstalled = {
    "bin/baton",
    "bin/baton-daemon",
    "libexec/baton/baton-holder",
    "share/baton/tmux/baton.tmux",
    "share/baton/tmux/scripts/baton-tmux",
    "share/baton/kitty/baton.conf",
    "share/baton/kitty/baton-kitty",
    "share/baton/hooks/README.md",
    "share/baton/hooks/notify-desktop",
    "share/baton/hooks/notify-tmux",
    "share/baton/hooks/replace-orchestrator",
    "share/bash-completion/completions/baton",
    "share/zsh/vendor-completions/_baton",
    "share/fish/vendor_completions.d/baton.fish",
    "share/man/man1/baton.1",
    "share/man/man5/baton.toml.5",
};

bool has_program(const std::string& name) {
  return run_process({"sh", "-c", "command -v " + name}).status == 0;
}

std::string exe_of(pid_t pid) {
  char buf[PATH_MAX];
  const auto path = "/proc/" + std::to_string(pid) + "/exe";
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

class Install : public BatonTest {
 protected:
  void SetUp() override {
    BatonTest::SetUp();
    prefix_ = tmp_ + "/prefix";
    const auto r = run_process({CMAKE_COMMAND, "--install", BATON_BINARY_DIR, "--prefix", prefix_});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    // Nothing of the build tree on the PATH: what runs comes from the prefix.
    path_ = tmp_ + "/path";
    fs::create_directories(path_);
  }

  void TearDown() override {
    if (daemon_pid() > 0) run({"shutdown"}, 20000);
    BatonTest::TearDown();
  }

  std::string installed(const std::string& rel) const { return prefix_ + "/" + rel; }

  std::map<std::string, std::string> env() const {
    return {{"BATON_HOME", home_}, {"PATH", path_ + ":/usr/bin:/bin"}, {"TMUX", ""}};
  }

  RunResult run(const std::vector<std::string>& args, int timeout_ms = 60000) {
    std::vector<std::string> argv{installed("bin/baton")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.env = env(), .timeout_ms = timeout_ms});
  }

  void write(const std::string& path, const std::string& content, mode_t mode = 0644) {
    std::ofstream(path) << content;
    chmod(path.c_str(), mode);
  }

  std::string prefix_, path_;
};

TEST_F(Install, PutsEveryFileUnderThePrefix) {
  for (const auto& rel : kInstalled) EXPECT_TRUE(fs::is_regular_file(installed(rel))) << rel;
  for (const auto* rel : {"bin/baton", "bin/baton-daemon", "libexec/baton/baton-holder",
                          "share/baton/tmux/baton.tmux", "share/baton/kitty/baton-kitty",
                          "share/baton/hooks/replace-orchestrator"})
    EXPECT_EQ(access(installed(rel).c_str(), X_OK), 0) << rel << " is not executable";
  // The holder is no command: it stays off the PATH.
  EXPECT_FALSE(fs::exists(installed("bin/baton-holder")));
}

TEST_F(Install, InstalledBatonRunsItsDaemonAndItsHolderFromThePrefix) {
  const auto version = run({"--version"});
  ASSERT_EQ(version.status, 0) << version.err;
  EXPECT_EQ(version.out.rfind("baton ", 0), 0u) << version.out;

  const auto started = run({"new", "--", "sh", "-c", "echo installed-agent; exec sleep 600"});
  ASSERT_EQ(started.status, 0) << started.err;
  const std::string id = started.out.substr(0, started.out.find('\n'));
  std::string screen;
  ASSERT_TRUE(eventually([&] {
    screen = run({"capture", id}).out;
    return screen.find("installed-agent") != std::string::npos;
  })) << screen;

  EXPECT_EQ(exe_of(daemon_pid()), fs::canonical(installed("bin/baton-daemon")).string());
  const auto holders = holder_sockets();
  ASSERT_EQ(holders.size(), 1u);
  const auto holder = static_cast<pid_t>(std::stol(fs::path(holders[0]).stem().string()));
  EXPECT_EQ(exe_of(holder), fs::canonical(installed("libexec/baton/baton-holder")).string());

  const pid_t daemon = daemon_pid();
  const auto down = run({"shutdown"}, 20000);
  EXPECT_EQ(down.status, 0) << down.err;
  EXPECT_TRUE(eventually([&] { return !process_exists(daemon); }));
  EXPECT_TRUE(eventually([&] { return holder_sockets().empty(); }));
}

// A real tmux on private sockets: the inner server loads the installed plugin, its client runs
// in a pane of the outer server (key bindings fire only on a client's input). A decoy `baton`
// first on tmux's PATH shows whether a key runs it instead of the installed one.
TEST_F(Install, InstalledTmuxPluginBindsKeysThatRunTheInstalledBaton) {
  if (!has_program("tmux")) GTEST_SKIP() << "tmux is not installed";
  write(path_ + "/baton", "#!/bin/sh\necho DECOY-BATON; sleep 5\n", 0755);
  const std::string repo = tmp_ + "/shop";
  fs::create_directories(repo);
  const auto git = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv{"git", "-c", "user.name=t", "-c", "user.email=t@t"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.cwd = repo});
  };
  ASSERT_EQ(git({"init", "-q", "-b", "main"}).status, 0);
  write(repo + "/baton.toml",
        "[project]\nname = \"shop\"\n[orchestrator]\nagent = \"fake\"\n"
        "[agents.fake]\ncommand = [\"sh\", \"-c\", \"echo INSTALLED-ORCHESTRATOR; exec sleep "
        "600\"]\n");
  ASSERT_EQ(git({"add", "."}).status, 0);
  ASSERT_EQ(git({"commit", "-q", "-m", "init"}).status, 0);
  ASSERT_EQ(run({"allow", repo}).status, 0);
  ASSERT_EQ(run({"up", repo, "--detach"}).status, 0);

  const std::string name = fs::path(tmp_).filename().string();
  const std::string inner = name + "-inner", outer = name + "-outer";
  const auto tmux = [&](const std::string& socket, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"tmux", "-L", socket};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, RunOptions{.env = env(), .timeout_ms = 10000});
  };
  struct KillServers {
    std::function<void()> done;
    ~KillServers() { done(); }
  } kill_servers{[&] {
    tmux(outer, {"kill-server"});
    tmux(inner, {"kill-server"});
  }};
  auto r = tmux(inner, {"-f", "/dev/null", "new-session", "-d", "-s", "in", "-x", "120", "-y", "40",
                        "-c", repo});
  ASSERT_EQ(r.status, 0) << r.err;
  r = tmux(inner, {"run-shell", installed("share/baton/tmux/baton.tmux")});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(tmux(inner, {"show-environment", "-g", "BATON_TMUX_BIN"}).out,
            "BATON_TMUX_BIN=" + installed("bin/baton") + "\n");
  EXPECT_NE(tmux(inner, {"list-keys", "-T", "prefix", "O"}).out.find("BATON_TMUX_HELPER"),
            std::string::npos);

  r = tmux(outer, {"-f", "/dev/null", "new-session", "-d", "-s", "out", "-x", "120", "-y", "40",
                   "env -u TMUX tmux -L '" + inner + "' attach -t in"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(eventually([&] { return !tmux(inner, {"list-clients"}).out.empty(); }));
  ASSERT_EQ(tmux(outer, {"send-keys", "-t", "out", "C-b", "O"}).status, 0);
  std::string screen;
  EXPECT_TRUE(eventually(
      [&] {
        screen = tmux(outer, {"capture-pane", "-p", "-t", "out"}).out;
        return screen.find("INSTALLED-ORCHESTRATOR") != std::string::npos;
      },
      15000))
      << screen;
  EXPECT_EQ(screen.find("DECOY-BATON"), std::string::npos) << screen;
}

TEST_F(Install, ManFindsTheInstalledPages) {
  if (!has_program("man")) GTEST_SKIP() << "man is not installed (scripts/setup --test)";
  for (const auto* page : {"share/man/man1/baton.1", "share/man/man5/baton.toml.5"}) {
    const auto r = run_process({"man", "--warnings", "-l", installed(page)},
                               RunOptions{.env = {{"MANPAGER", "cat"}, {"MANWIDTH", "100"}}});
    EXPECT_EQ(r.status, 0) << page << ": " << r.err;
    EXPECT_EQ(r.err, "") << page;
    EXPECT_NE(r.out.find("baton"), std::string::npos) << r.out;
  }
  // By name, as `man baton` finds it once PREFIX/bin is on the PATH (man-db looks in
  // PREFIX/share/man for it).
  const auto r = run_process(
      {"man", "-w", "baton.toml"},
      RunOptions{.env = {{"PATH", installed("bin") + ":/usr/bin:/bin"}, {"MANPATH", ""}}});
  EXPECT_EQ(r.out, installed("share/man/man5/baton.toml.5") + "\n") << r.err;
}

}  // namespace
}  // namespace baton::test
