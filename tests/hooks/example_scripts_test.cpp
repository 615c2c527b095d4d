// The example hook scripts users bind from baton.toml, tmux and kitty: they parse as POSIX sh,
// pass shellcheck when it is installed, notify through whatever is there, and never fail a
// handoff for want of a notifier. Fake tmux and baton binaries record how they were called.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace baton::hooks {
namespace {

namespace fs = std::filesystem;

const fs::path kExamples = BATON_HOOK_EXAMPLES_DIR;
const char* const kScripts[] = {"notify-tmux", "notify-desktop", "replace-orchestrator"};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_executable(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  chmod(path.c_str(), 0755);
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command line; returns its exit status (or -1).
int sh(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ExampleScriptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directory(dir_ / "bin");
  }

  // A PATH holding only bin/ (for fakes) and the few tools the scripts use, so nothing the
  // machine happens to have (notify-send, kitten, tmux) takes part.
  std::string minimal_path() {
    for (const char* tool : {"tr", "sed", "grep", "tail", "mktemp", "rm", "cat", "sleep"}) {
      const fs::path link = dir_ / "bin" / tool;
      std::error_code ec;
      for (const char* d : {"/usr/bin/", "/bin/"}) {
        if (fs::exists(std::string(d) + tool)) {
          fs::create_symlink(std::string(d) + tool, link, ec);
          break;
        }
      }
    }
    return (dir_ / "bin").string();
  }

  // Runs an example with a clean notifier environment; stdout and stderr go to files.
  int run_example(const std::string& script, const std::string& env, const std::string& args) {
    return sh("env -u TMUX -u KITTY_WINDOW_ID -u BATON_BIN PATH=" + quote(minimal_path()) + " " +
              env + " /bin/sh " + quote((kExamples / script).string()) + " " + args + " >" +
              quote((dir_ / "out").string()) + " 2>" + quote((dir_ / "err").string()) +
              " </dev/null");
  }

  test::TempDir tmp_{"baton-hook-examples"};
  fs::path dir_;
};

TEST_F(ExampleScriptsTest, ScriptsAreExecutableAndParseAsPosixSh) {
  for (const char* name : kScripts) {
    const fs::path script = kExamples / name;
    ASSERT_TRUE(fs::exists(script)) << script;
    EXPECT_EQ(access(script.c_str(), X_OK), 0) << script;
    EXPECT_EQ(read_file(script).rfind("#!/bin/sh\n", 0), 0u) << script;
    EXPECT_EQ(sh("/bin/sh -n " + quote(script.string())), 0) << script;
  }
}

TEST_F(ExampleScriptsTest, ScriptsAreShellcheckClean) {
  if (sh("command -v shellcheck >/dev/null 2>&1") != 0) GTEST_SKIP() << "shellcheck not installed";
  for (const char* name : kScripts) {
    EXPECT_EQ(sh("shellcheck -s sh " + quote((kExamples / name).string())), 0) << name;
  }
}

TEST_F(ExampleScriptsTest, NotifyDesktopWithoutANotifierPrintsOnStderrAndSucceeds) {
  const int status = run_example(
      "notify-desktop", "BATON_EVENT=after_spawn BATON_PROJECT=shop BATON_SESSION=shop-4", "");
  EXPECT_EQ(status, 0);
  EXPECT_EQ(read_file(dir_ / "out"), "");
  EXPECT_EQ(read_file(dir_ / "err"), "baton: after_spawn shop (shop-4)\n");
}

TEST_F(ExampleScriptsTest, NotifyDesktopUsesNotifySendWhenPresent) {
  minimal_path();
  write_executable(dir_ / "bin" / "notify-send", "#!/bin/sh\nprintf '%s\\n' \"$@\" > " +
                                                     quote((dir_ / "called").string()) + "\n");
  EXPECT_EQ(run_example("notify-desktop", "", "'hook says hi'"), 0);
  EXPECT_EQ(read_file(dir_ / "called"), "baton\nhook says hi\n");
  EXPECT_EQ(read_file(dir_ / "err"), "");
}

TEST_F(ExampleScriptsTest, NotifyTmuxOutsideTmuxDoesNothing) {
  minimal_path();
  write_executable(dir_ / "bin" / "tmux",
                   "#!/bin/sh\necho called > " + quote((dir_ / "called").string()) + "\n");
  EXPECT_EQ(run_example("notify-tmux", "BATON_EVENT=on_exit", ""), 0);
  EXPECT_FALSE(fs::exists(dir_ / "called"));
  EXPECT_EQ(read_file(dir_ / "out") + read_file(dir_ / "err"), "");
}

TEST_F(ExampleScriptsTest, NotifyTmuxInsideTmuxShowsTheEventWithDisplayMessage) {
  minimal_path();
  write_executable(dir_ / "bin" / "tmux", "#!/bin/sh\nprintf '%s\\n' \"$@\" > " +
                                              quote((dir_ / "called").string()) + "\n");
  EXPECT_EQ(run_example("notify-tmux",
                        "TMUX=/tmp/tmux-1/default,1,0 BATON_EVENT=after_spawn BATON_PROJECT=shop "
                        "BATON_SESSION='shop-#4'",
                        ""),
            0);
  EXPECT_EQ(read_file(dir_ / "called"),
            "display-message\n--\nbaton: after_spawn shop (shop-##4)\n");
}

TEST_F(ExampleScriptsTest, ReplaceOrchestratorReportsTheNewSessionAndSucceeds) {
  minimal_path();
  const fs::path fake = dir_ / "fake-baton";
  write_executable(fake, "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + quote((dir_ / "args").string()) +
                             "\necho '[1/6] preflight' >&2\n"
                             "echo '{\"project\":\"shop\",\"session\":{\"id\":\"shop-5\","
                             "\"agent\":\"codex\"},\"retired\":[\"shop-4\"],\"gap_ms\":812}'\n");
  EXPECT_EQ(run_example("replace-orchestrator", "BATON_BIN=" + quote(fake.string()), "/srv/shop"),
            0);
  EXPECT_EQ(read_file(dir_ / "args"), "replace\n--wait\n--json\n--progress\n/srv/shop\n");
  EXPECT_EQ(read_file(dir_ / "err"), "baton: orchestrator replaced by shop-5 (gap 812 ms)\n");
}

TEST_F(ExampleScriptsTest, ReplaceOrchestratorReportsTheErrorAndExitsWithBatonsStatus) {
  minimal_path();
  const fs::path fake = dir_ / "fake-baton";
  write_executable(fake,
                   "#!/bin/sh\necho '[1/6] preflight' >&2\n"
                   "echo 'before_retire hook exited with status 3: tests failing' >&2\nexit 3\n");
  EXPECT_EQ(run_example("replace-orchestrator", "BATON_BIN=" + quote(fake.string()), ""), 3);
  EXPECT_EQ(read_file(dir_ / "err"),
            "baton: replace failed: before_retire hook exited with status 3: tests failing\n");
}

// baton's own errors start with "baton: "; the notification says it once, on one line.
TEST_F(ExampleScriptsTest, ReplaceOrchestratorSaysBatonOnceWhenBatonsErrorStartsWithIt) {
  minimal_path();
  const fs::path fake = dir_ / "fake-baton";
  write_executable(fake,
                   "#!/bin/sh\necho \"baton: no project at '/srv/x': run 'baton up /srv/x' "
                   "first\" >&2\nexit 1\n");
  EXPECT_EQ(run_example("replace-orchestrator", "BATON_BIN=" + quote(fake.string()), "/srv/x"), 1);
  EXPECT_EQ(read_file(dir_ / "err"),
            "baton: replace failed: no project at '/srv/x': run 'baton up /srv/x' first\n");
}

TEST_F(ExampleScriptsTest, ReplaceOrchestratorWithoutAnErrorLineReportsTheExitStatus) {
  minimal_path();
  const fs::path fake = dir_ / "fake-baton";
  write_executable(fake, "#!/bin/sh\nexit 4\n");
  EXPECT_EQ(run_example("replace-orchestrator", "BATON_BIN=" + quote(fake.string()), ""), 4);
  EXPECT_EQ(read_file(dir_ / "err"), "baton: replace failed: exit status 4\n");
}

TEST_F(ExampleScriptsTest, ReplaceOrchestratorWithoutBatonSaysSo) {
  EXPECT_EQ(run_example("replace-orchestrator", "", ""), 127);
  EXPECT_EQ(read_file(dir_ / "err"),
            "baton: cannot find 'baton' (put it on PATH or set BATON_BIN)\n");
}

}  // namespace
}  // namespace baton::hooks
