#include "plugin/printable.hpp"

#include <cstdio>

namespace baton::cli {

namespace {

// As TOML writes a character in a string: \u001B.
std::string unicode_escape(unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u%04X", value);
  return buf;
}

}  // namespace

std::string printable(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out += unicode_escape(c);
      continue;
    }
    // C1 controls (U+0080..U+009F: C2 80..C2 9F) act like ESC sequences in some terminals.
    if (c == 0xc2 && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9f) {
        out += unicode_escape(next);
        ++i;
        continue;
      }
    }
    // U+202A..U+202E and U+2066..U+2069 (E2 80 AA..AE, E2 81 A6..A9) reorder the text around
    // them: a value could show other characters than it holds.
    if (c == 0xe2 && i + 2 < text.size()) {
      const auto b1 = static_cast<unsigned char>(text[i + 1]);
      const auto b2 = static_cast<unsigned char>(text[i + 2]);
      const bool is_override =
          (b1 == 0x80 && b2 >= 0xaa && b2 <= 0xae) || (b1 == 0x81 && b2 >= 0xa6 && b2 <= 0xa9);
      if (is_override) {
        out += unicode_escape(0x2000u + ((b1 & 0x3fu) << 6) + (b2 & 0x3fu));
        i += 2;
        continue;
      }
    }
    out += static_cast<char>(c);
  }
  return out;
}

std::string printable_list(const runtime::protocol::Json& list, const char* separator) {
  std::string out;
  for (const auto& item : list) {
    if (!item.is_string()) continue;
    if (!out.empty()) out += separator;
    out += printable(item.get<std::string>());
  }
  return out;
}

}  // namespace baton::cli
