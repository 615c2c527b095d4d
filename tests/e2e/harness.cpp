#include "tests/e2e/harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace baton::test {

RunResult run_process(const std::vector<std::string>& argv, const RunOptions& opts) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return {};
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    const auto key = kv.substr(0, kv.find('='));
    if (!opts.env.count(key)) env_store.push_back(kv);
  }
  for (const auto& [k, v] : opts.env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  envp.reserve(env_store.size() + 1);
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    setpgid(0, 0);
    if (!opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) _exit(126);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  RunResult r;
  std::string_view input = opts.input;
  if (input.empty()) {
    close(in[1]);
    in[1] = -1;
  } else {
    fcntl(in[1], F_SETFL, O_NONBLOCK);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.timeout_ms);
  bool out_open = true, err_open = true, timed_out = false;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    if (!out_open) fds[0].fd = -1;
    if (!err_open) fds[1].fd = -1;
    poll(fds, 3, static_cast<int>(std::min<long>(left, 200)));
    if (fds[0].revents) {
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n > 0)
        r.out.append(buf, static_cast<std::size_t>(n));
      else
        out_open = false;
    }
    if (fds[1].revents) {
      const ssize_t n = read(err[0], buf, sizeof buf);
      if (n > 0)
        r.err.append(buf, static_cast<std::size_t>(n));
      else
        err_open = false;
    }
    if (in[1] >= 0 && fds[2].revents) {
      const ssize_t n = write(in[1], input.data(), input.size());
      if (n > 0) input.remove_prefix(static_cast<std::size_t>(n));
      if (n < 0 && errno != EAGAIN) input = {};
      if (input.empty()) {
        close(in[1]);
        in[1] = -1;
      }
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out) {
    r.status = -1;
  } else if (WIFEXITED(status)) {
    r.status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.status = 128 + WTERMSIG(status);
  }
  return r;
}

bool eventually(const std::function<bool()>& pred, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

namespace {

// The state letter of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat, or 0 if it is gone.
char stat_state(const std::string& stat_path) {
  std::ifstream stat(stat_path);
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return 0;
  return line[paren + 2];
}

}  // namespace

bool process_exists(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0) return errno != ESRCH;
  // A zombie still answers kill(0); it has no running code left. But a killed multithreaded
  // process shows its leader as a zombie while its other threads are still exiting, and
  // those still hold its files: a daemon's listening socket then accepts a connection and
  // drops it. So it is gone only when no thread is left but zombies.
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(task_dir, ec)) {
    const char state = stat_state(t.path().string() + "/stat");
    if (state != 0 && state != 'Z') return true;
  }
  if (ec) return stat_state("/proc/" + std::to_string(pid) + "/stat") != 'Z';
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void BatonTest::SetUp() {
  // Under /tmp whatever TMPDIR says: the control socket's path must fit in sun_path.
  tmp_dir_ = std::make_unique<TempDir>("baton-e2e", "/tmp");
  tmp_ = tmp_dir_->str();
  home_ = tmp_ + "/home";
}

void BatonTest::TearDown() {
  if (HasFailure()) std::cerr << "daemon log:\n" << read_file(home_ + "/logs/daemon.log");
  pid_t pid = daemon_pid();
  // A test that killed the daemon leaves agents running under their holders: a daemon
  // started now adopts them, and its shutdown stops them with everything else.
  if ((pid <= 0 || !process_exists(pid)) && !holder_sockets().empty()) {
    baton({"sessions"}, RunOptions{.env = {{"BATON_FAULT", ""}}, .timeout_ms = 20000});
    pid = daemon_pid();
  }
  if (pid > 0 && process_exists(pid)) {
    auto r = baton({"shutdown"}, RunOptions{.timeout_ms = 20000});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(eventually([&] { return !process_exists(pid); }, 10000))
        << "daemon " << pid << " still running after shutdown";
    // `shutdown` stops every agent and so every holder: none is left listening.
    EXPECT_TRUE(eventually([&] { return holder_sockets().empty(); }, 10000))
        << holder_sockets().size() << " holder(s) left after shutdown";
  }
  // Nothing the daemon does writes there but a crash message or a sanitizer's report.
  const std::string daemon_stderr = read_file(home_ + "/logs/daemon.stderr");
  EXPECT_EQ(daemon_stderr, "") << "the daemon wrote to logs/daemon.stderr";
  tmp_dir_.reset();
}

std::vector<std::string> BatonTest::holder_sockets() {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(home_ + "/run/holders", ec)) {
    if (e.path().extension() == ".sock") found.push_back(e.path().string());
  }
  return found;
}

void BatonTest::kill_holders() {
  for (const auto& path : holder_sockets()) {
    const pid_t holder = static_cast<pid_t>(std::stol(std::filesystem::path(path).stem().string()));
    kill(holder, SIGKILL);
    eventually([&] { return !process_exists(holder); });
  }
}

RunResult BatonTest::baton(const std::vector<std::string>& args, RunOptions opts) {
  std::vector<std::string> argv{BATON_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  opts.env["BATON_HOME"] = home_;
  return run_process(argv, opts);
}

std::string BatonTest::baton_ok(const std::vector<std::string>& args, RunOptions opts) {
  auto r = baton(args, std::move(opts));
  EXPECT_EQ(r.status, 0) << "baton " << testing::PrintToString(args) << ": " << r.err;
  return r.out;
}

pid_t BatonTest::daemon_pid() {
  const std::string s = read_file(home_ + "/run/daemon.lock");
  return s.empty() ? -1 : static_cast<pid_t>(std::atol(s.c_str()));
}

pid_t BatonTest::attach_in_background(const std::string& target, const std::string& out_path,
                                      const std::string& err_path, const RunOptions& opts) {
  std::map<std::string, std::string> env = opts.env;
  env["BATON_HOME"] = home_;
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    const std::string kv(*e);
    if (!env.count(kv.substr(0, kv.find('=')))) env_store.push_back(kv);
  }
  for (const auto& [k, v] : env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  envp.reserve(env_store.size() + 1);
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int in_fd = open("/dev/null", O_RDONLY);
    const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) _exit(126);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    if (!opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) _exit(126);
    char* argv[] = {const_cast<char*>(BATON_BIN), const_cast<char*>("attach"),
                    const_cast<char*>(target.c_str()), nullptr};
    execve(BATON_BIN, argv, envp.data());
    _exit(127);
  }
  return pid;
}

int BatonTest::exit_of(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string BatonTest::capture(const std::string& target) {
  return baton({"capture", target}).out;
}

int BatonTest::wait_exited(const std::string& target, int timeout_ms) {
  int status = -1;
  eventually(
      [&] {
        auto j = nlohmann::json::parse(baton({"sessions", "--all", "--json"}).out, nullptr, false);
        if (j.is_discarded()) return false;
        for (const auto& s : j["sessions"]) {
          if (s["id"] == target && s["state"] == "exited") {
            status = s["exit_status"].get<int>();
            return true;
          }
        }
        return false;
      },
      timeout_ms);
  return status;
}

}  // namespace baton::test
