// baton-daemon: forks into the background (unless --foreground), takes BATON_HOME's lock,
// listens on the control socket and runs the loop until `baton shutdown` or SIGTERM.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "baton_version.hpp"
#include "plugin/control_methods.hpp"
#include "plugin/fault.hpp"
#include "plugin/off_loop.hpp"
#include "plugin/orchestrator.hpp"
#include "runtime/daemon.hpp"
#include "runtime/log.hpp"
#include "runtime/paths.hpp"

extern char** environ;

namespace {

std::map<std::string, std::string> environment_map() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
  }
  return env;
}

}  // namespace

int main(int argc, char** argv) {
  bool foreground = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--foreground") == 0) {
      foreground = true;
    } else if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("baton-daemon %s\n", baton::kBatonVersion);
      return 0;
    } else {
      std::fprintf(stderr,
                   "baton-daemon: unknown argument '%s' (usage: baton-daemon [--foreground])\n",
                   argv[i]);
      return 2;
    }
  }
  // The environment of the `baton` command that started the daemon, before the daemon sets
  // its own variables: projects restored at start-up run with it (ProjectState::env).
  auto start_env = environment_map();
  // Sized before libuv's first use of its pool: git work and fsyncs share it (DESIGN.md §8).
  setenv("UV_THREADPOOL_SIZE", "8", 0);
  // glibc gives threads up to 8 arenas per core, and each keeps its own high-water mark: the
  // pool's git work and every session's screen thread made a daemon's RSS creep up, handoff
  // after handoff, with a live heap that did not grow (heaptrack: the same at 40 and 240
  // handoffs). Two arenas: the loop's and one the other threads share (docs/BENCHMARKS.md).
  // Before any thread exists; MALLOC_ARENA_MAX in the environment still wins.
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);

  const auto paths = baton::runtime::Paths::from_env();
  const int ready_fd = foreground ? -1 : baton::runtime::daemonize();
  baton::runtime::Daemon daemon(paths);
  daemon.set_version(baton::kBatonVersion);
  if (auto r = daemon.lock(); !r) {
    const bool is_running = r.error() == baton::runtime::Daemon::kAlreadyRunning;
    if (foreground)
      std::fprintf(stderr, "baton-daemon: %s (%s)\n", r.error().c_str(), paths.home.c_str());
    baton::runtime::report_ready(ready_fd, is_running, r.error());
    return is_running && !foreground ? 0 : 1;
  }
  baton::runtime::init_log(paths, foreground);
  if (!foreground) baton::runtime::keep_stderr(paths);
  if (auto r = daemon.listen(); !r) {
    spdlog::error("{}", r.error());
    if (foreground) std::fprintf(stderr, "baton-daemon: %s\n", r.error().c_str());
    baton::runtime::report_ready(ready_fd, false, r.error());
    return 1;
  }
  // Before the plugin's recovery: an agent whose holder outlived the last daemon is adopted
  // (same id, same pid), not stopped and relaunched.
  daemon.adopt_holders([](std::string_view step) {
    // Test builds only: a kill here is a daemon dying mid-adoption. Failing a step means
    // nothing for adoption (a holder is taken whole or left as it is), so only kill is armed.
    baton::plugin::fault_hit(baton::plugin::daemon_fault_env(), step);
  });
  baton::plugin::Orchestrator orchestrator(daemon, std::move(start_env));
  baton::plugin::register_control_methods(orchestrator);
  orchestrator.start();
  baton::runtime::report_ready(ready_fd, true, "");
  const int rc = daemon.run() == 0 ? 0 : 1;
  // A standby's checkout may still write (plugin/off_loop.hpp, BackgroundJob): the process
  // leaves without running static destructors under it; the next daemon discards its tree.
  if (baton::plugin::BackgroundJob::running() > 0) {
    spdlog::info("leaving a background checkout unfinished");
    spdlog::shutdown();
    std::fflush(nullptr);
    _exit(rc);
  }
  return rc;
}
