// Runs the real baton binaries against a private BATON_HOME, as a user would.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace baton::test {

struct RunResult {
  int status = -1;  // exit code, or 128 + signal; -1 when it timed out
  std::string out;
  std::string err;
};

struct RunOptions {
  std::map<std::string, std::string> env;  // added to this process's environment
  std::string input;                       // written to stdin, then closed
  int timeout_ms = 60000;
  std::string cwd;
};

RunResult run_process(const std::vector<std::string>& argv, const RunOptions& opts = {});

// Polls until pred() holds or timeout_ms passed; returns the last value of pred().
bool eventually(const std::function<bool()>& pred, int timeout_ms = 10000);

bool process_exists(pid_t pid);
std::string read_file(const std::string& path);

// A fixture with its own BATON_HOME; TearDown shuts the daemon down and checks it left.
class BatonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  RunResult baton(const std::vector<std::string>& args, RunOptions opts = {});
  std::string baton_ok(const std::vector<std::string>& args, RunOptions opts = {});
  // The pid the daemon wrote to its lock file, or -1.
  pid_t daemon_pid();
  // The session holders' sockets under BATON_HOME/run/holders (one per living holder).
  std::vector<std::string> holder_sockets();
  // SIGKILLs every holder, as a reboot would end them (their agents get SIGHUP); their
  // sockets stay behind for the next daemon to find dead.
  void kill_holders();
  std::string capture(const std::string& target);
  // `baton attach TARGET` in the background: stdin /dev/null, stdout and stderr into the
  // files (not a terminal, so the session's bytes as they come), `opts.env` added. Reap it
  // with exit_of.
  pid_t attach_in_background(const std::string& target, const std::string& out_path,
                             const std::string& err_path, const RunOptions& opts = {});
  // The background process's exit status once it exited (128 + signal), -1 while it runs.
  static int exit_of(pid_t pid);
  // Waits until `baton sessions --all --json` shows target exited; returns its exit status.
  int wait_exited(const std::string& target, int timeout_ms = 10000);

  std::unique_ptr<TempDir> tmp_dir_;
  std::string home_;
  std::string tmp_;
};

}  // namespace baton::test
