#include "plugin/fault.hpp"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace baton::plugin {

namespace {

constexpr int kMaxPauseMs = 60 * 1000;

}  // namespace

bool fault_hit(const std::map<std::string, std::string>& env, std::string_view point) {
  auto it = env.find(std::string(kFaultEnv));
  if (it == env.end()) return false;
  const std::string& spec = it->second;
  const auto colon = spec.rfind(':');
  if (colon == std::string::npos || std::string_view(spec).substr(0, colon) != point) return false;
  const std::string action = spec.substr(colon + 1);
  if (action == "kill") {
    spdlog::warn("fault point {}: killing the daemon", point);
    spdlog::default_logger()->flush();
    kill(getpid(), SIGKILL);
  }
  if (action == "pause") {
    spdlog::warn("fault point {}: paused", point);
    const auto release = env.find(std::string(kFaultReleaseEnv));
    for (int waited_ms = 0; release != env.end() && waited_ms < kMaxPauseMs; waited_ms += 20) {
      if (access(release->second.c_str(), F_OK) == 0) break;
      usleep(20 * 1000);
    }
    return false;
  }
  if (action != "fail") return false;
  spdlog::warn("fault point {}: failing the step", point);
  return true;
}

std::map<std::string, std::string> daemon_fault_env() {
  const char* spec = getenv(std::string(kFaultEnv).c_str());
  if (!spec || !*spec) return {};
  return {{std::string(kFaultEnv), spec}};
}

}  // namespace baton::plugin
