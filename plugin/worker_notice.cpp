#include "plugin/worker_notice.hpp"

#include "plugin/handoff_note.hpp"

namespace baton::plugin {

std::string last_screen_line(const std::vector<std::string>& lines) {
  const auto last = trim_screen(lines, 1);
  if (last.empty()) return {};
  std::string line = last.front();
  line.erase(0, line.find_first_not_of(" \t"));
  if (line.size() > kMaxNoticeLine) {
    std::size_t cut = kMaxNoticeLine;
    // Not inside a UTF-8 sequence: continuation bytes are 10xxxxxx.
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line = line.substr(0, cut) + "\u2026";
  }
  return line;
}

std::string worker_notice(const std::string& name, const std::string& what,
                          const std::string& line) {
  std::string text = "worker " + name + " " + what;
  if (!line.empty()) text += ": " + line;
  return text;
}

}  // namespace baton::plugin
