#include "plugin/worker_notice.hpp"

namespace baton::plugin {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

std::string last_screen_line(const std::vector<std::string>& lines) {
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string line = *it;
    while (!line.empty() && is_blank(line.back())) line.pop_back();
    std::size_t start = 0;
    while (start < line.size() && is_blank(line[start])) ++start;
    line.erase(0, start);
    if (line.empty()) continue;
    if (line.size() > kMaxNoticeLine) {
      std::size_t cut = kMaxNoticeLine;
      // Not inside a UTF-8 sequence: continuation bytes are 10xxxxxx.
      while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
      line = line.substr(0, cut) + "\u2026";
    }
    return line;
  }
  return {};
}

std::string worker_notice(const std::string& name, const std::string& what,
                          const std::string& line) {
  std::string text = "worker " + name + " " + what;
  if (!line.empty()) text += ": " + line;
  return text;
}

}  // namespace baton::plugin
