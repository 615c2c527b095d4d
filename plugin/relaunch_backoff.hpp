// The back-off of a crashed agent's relaunch, the orchestrator's and a worker's alike: 1 s,
// 2 s, 4 s … at most kMaxRelaunches times in kRelaunchWindowMs, then it is left exited.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace baton::plugin {

inline constexpr std::size_t kMaxRelaunches = 5;
inline constexpr std::uint64_t kRelaunchWindowMs = 10 * 60 * 1000;

// `times`: the earlier relaunches (loop time, ms), those outside the window dropped here. The
// delay of the next one, recorded at `now`; nullopt when the window holds kMaxRelaunches.
inline std::optional<std::uint64_t> next_relaunch_delay(std::vector<std::uint64_t>& times,
                                                        std::uint64_t now) {
  std::erase_if(times, [now](std::uint64_t t) { return now - t > kRelaunchWindowMs; });
  if (times.size() >= kMaxRelaunches) return std::nullopt;
  const std::uint64_t delay_ms = std::uint64_t{1000} << times.size();
  times.push_back(now);
  return delay_ms;
}

}  // namespace baton::plugin
