// What `capture --history` prints: the scrollback's bytes as plain lines, the way they
// scrolled past (escape sequences removed, CR LF and LF end a line, a lone CR starts the line
// again as a terminal would overwrite it). Exact for line-oriented output; a full-screen
// program's history is its redraws, so its screen comes from `capture` instead.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace baton::runtime {

std::vector<std::string> scrollback_lines(std::string_view bytes);

}  // namespace baton::runtime
