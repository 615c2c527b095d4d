// Now as ISO 8601 text: the one timestamp of the session store, the runtime's sessions and
// the orchestrator's activity (UTC), and the one of log lines (local time, as the daemon's
// log writes it). Header-only, so the hook runner uses it without linking the runtime.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace baton::runtime {

enum class TimeZone { kUtc, kLocal };

// "2024-05-01T12:00:00.123Z" (UTC) or "2024-05-01T12:00:00.123" (local time: no zone suffix,
// like spdlog's default pattern). Milliseconds: several transitions of one handoff fall in
// the same second, and the newest-first order (DESIGN.md §6) compares these strings.
inline std::string iso8601_now(TimeZone zone = TimeZone::kUtc) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  if (zone == TimeZone::kUtc)
    gmtime_r(&t, &tm);
  else
    localtime_r(&t, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03d%s", date, static_cast<int>(ms),
                zone == TimeZone::kUtc ? "Z" : "");
  return out;
}

}  // namespace baton::runtime
