// What the orchestrator is told of a worker (docs/workers.md): one short line through the
// outbox, "worker fix-login waits for input: Allow this command? (y/n)".
#pragma once

#include <string>
#include <vector>

namespace baton::plugin {

// The last line of a screen with text on it, trimmed, at most kMaxNoticeLine characters
// (cut on a UTF-8 boundary, with "…").
std::string last_screen_line(const std::vector<std::string>& lines);
inline constexpr std::size_t kMaxNoticeLine = 160;

// "worker NAME WHAT: LINE", or "worker NAME WHAT" when the screen shows nothing.
std::string worker_notice(const std::string& name, const std::string& what,
                          const std::string& line);

}  // namespace baton::plugin
