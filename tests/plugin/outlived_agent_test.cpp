// An agent that outlived its daemon (plugin/outlived_agent.hpp): recognised by pid and start
// time, killed with its process group; a pid reused by another process is left alone.
#include "plugin/outlived_agent.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace baton::plugin {
namespace {

namespace fs = std::filesystem;

bool eventually(const std::function<bool()>& pred, int timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// A stand-in agent in its own process group, as the runtime starts agents: a shell that
// starts a child (its "tool") and waits. The child's pid is written to `tool_pid_file`.
pid_t start_agent(const std::string& tool_pid_file) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const std::string script = "sleep 60 & echo $! > '" + tool_pid_file + "'; wait";
    execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Gone, or a zombie nobody reaped yet: either way it no longer runs.
bool is_gone(long pid) {
  return process_start_time(pid) == 0;
}

class OutlivedAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/baton-outlived-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (agent_ > 0) {
      kill(-agent_, SIGKILL);
      waitpid(agent_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }
  long tool_pid() {
    long pid = 0;
    eventually([&] {
      std::ifstream f(dir_ + "/tool.pid");
      return static_cast<bool>(f >> pid);
    });
    return pid;
  }

  std::string dir_;
  pid_t agent_ = -1;
};

TEST_F(OutlivedAgentTest, TheAgentAndItsProcessGroupAreKilledWhenTheStartTimeMatches) {
  agent_ = start_agent(dir_ + "/tool.pid");
  const long tool = tool_pid();
  ASSERT_GT(tool, 0);
  const std::uint64_t started = process_start_time(agent_);
  ASSERT_NE(started, 0u);
  EXPECT_TRUE(kill_outlived_agent(agent_, started));
  int status = 0;
  ASSERT_EQ(waitpid(agent_, &status, 0), agent_);
  agent_ = -1;
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(eventually([&] { return is_gone(tool); })) << "its tool " << tool << " still runs";
}

TEST_F(OutlivedAgentTest, AProcessWithAnotherStartTimeIsAReusedPidAndLeftAlone) {
  agent_ = start_agent(dir_ + "/tool.pid");
  ASSERT_GT(tool_pid(), 0);
  const std::uint64_t started = process_start_time(agent_);
  ASSERT_NE(started, 0u);
  EXPECT_FALSE(kill_outlived_agent(agent_, started + 1));
  EXPECT_FALSE(kill_outlived_agent(agent_, 0)) << "no start time recorded: nothing to compare";
  EXPECT_NE(process_start_time(agent_), 0u);
  EXPECT_EQ(waitpid(agent_, nullptr, WNOHANG), 0) << "the process was killed";
}

TEST_F(OutlivedAgentTest, AGoneProcessHasNoStartTime) {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  EXPECT_EQ(process_start_time(pid), 0u);
  EXPECT_FALSE(kill_outlived_agent(pid, 12345));
  EXPECT_FALSE(kill_outlived_agent(0, 12345));
}

}  // namespace
}  // namespace baton::plugin
