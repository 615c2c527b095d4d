// Attach latency as a user sees it (scripts/bench, issue 7): starts an attach client (`baton
// attach`, `tmux attach`) on a fresh 40x120 PTY and times from just before the fork to the
// moment the client has drawn MARKER, which the session printed on its last screen line, so
// the whole first screen is in. Then it types DETACH_KEY and reaps the client (outside the
// time). Repeats RUNS times; prints one line per run: the milliseconds, 3 decimals.
// Exit status 1 when a run never shows the marker within 5 s.
// Usage: attach_probe RUNS MARKER DETACH_KEY -- COMMAND [ARGS...]   (DETACH_KEY: C-\ or C-b,d)
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTimeoutMs = 5000;

// "C-\" → 0x1c; "C-b,d" → 0x02 'd' (tmux's prefix, then d).
std::string detach_bytes(const std::string& spec) {
  std::string out;
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    const auto comma = spec.find(',', pos);
    const std::string key =
        spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (key.size() == 3 && key[0] == 'C' && key[1] == '-')
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(key[2])) - '@');
    else
      out += key;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// Reads whatever the client writes until `until` returns true or the time runs out.
template <typename Pred>
bool drain_until(int master, std::string& seen, int timeout_ms, Pred until) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!until(seen)) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[65536];
    const ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) return false;  // EIO: the client is gone
    seen.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// Waits up to 2 s for the client to leave after the detach key, then kills it.
void reap(pid_t pid, int master) {
  std::string rest;
  drain_until(master, rest, 2000,
              [pid](const std::string&) { return waitpid(pid, nullptr, WNOHANG) == pid; });
  if (waitpid(pid, nullptr, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6 || std::strcmp(argv[4], "--") != 0) {
    std::fprintf(stderr, "usage: attach_probe RUNS MARKER DETACH_KEY -- COMMAND [ARGS...]\n");
    return 2;
  }
  const int runs = std::atoi(argv[1]);
  const std::string marker = argv[2];
  const std::string detach = detach_bytes(argv[3]);
  std::vector<char*> cmd(argv + 5, argv + argc);
  cmd.push_back(nullptr);
  winsize ws{};
  ws.ws_row = 40;
  ws.ws_col = 120;
  int failures = 0;
  for (int i = 0; i < runs; ++i) {
    int master = -1;
    const auto start = Clock::now();
    const pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
    if (pid < 0) {
      std::perror("attach_probe: forkpty");
      return 1;
    }
    if (pid == 0) {
      setenv("TERM", "xterm-256color", 1);
      execvp(cmd[0], cmd.data());
      std::perror("attach_probe: exec");
      _exit(127);
    }
    std::string seen;
    const bool found = drain_until(master, seen, kTimeoutMs, [&marker](const std::string& s) {
      return s.find(marker) != std::string::npos;
    });
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (found) {
      std::printf("%.3f\n", ms);
    } else {
      std::fprintf(stderr, "attach_probe: run %d: no '%s' within %d ms (%zu bytes seen)\n", i,
                   marker.c_str(), kTimeoutMs, seen.size());
      ++failures;
    }
    std::fflush(stdout);
    if (write(master, detach.data(), detach.size()) < 0) {
      // The client is gone already; reap it below.
    }
    reap(pid, master);
    close(master);
  }
  return failures == 0 ? 0 : 1;
}
