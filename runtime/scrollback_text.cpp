#include "runtime/scrollback_text.hpp"

#include <cstdint>

namespace baton::runtime {

namespace {

constexpr char kEsc = '\x1b';
constexpr char kBel = '\x07';

}  // namespace

std::vector<std::string> scrollback_lines(std::string_view bytes) {
  enum class State : std::uint8_t { kGround, kEsc, kCsi, kString, kStringEsc };
  std::vector<std::string> lines;
  std::string line;
  State state = State::kGround;
  bool is_after_cr = false;
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    switch (state) {
      case State::kGround:
        if (ch == kEsc) {
          state = State::kEsc;
        } else if (ch == '\n') {
          lines.push_back(std::move(line));
          line.clear();
          is_after_cr = false;
        } else if (ch == '\r') {
          // CR LF ends the line; after a CR alone, what follows overwrites it.
          is_after_cr = true;
        } else if (ch == '\t' || c >= 0x20) {
          if (is_after_cr) line.clear();
          is_after_cr = false;
          line += ch;
        }
        break;
      case State::kEsc:
        if (ch == '[') {
          state = State::kCsi;
        } else if (ch == ']' || ch == 'P' || ch == '_' || ch == '^' || ch == 'X') {
          state = State::kString;  // OSC, DCS, APC, PM, SOS: up to BEL or ST
        } else if (c >= 0x20 && c <= 0x2f) {
          // An intermediate (ESC ( B): the next byte ends the sequence.
        } else {
          state = State::kGround;
        }
        break;
      case State::kCsi:
        if (c >= 0x40 && c <= 0x7e) state = State::kGround;
        break;
      case State::kString:
        if (ch == kBel) state = State::kGround;
        if (ch == kEsc) state = State::kStringEsc;
        break;
      case State::kStringEsc:
        state = ch == '\\' ? State::kGround : State::kString;
        break;
    }
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

}  // namespace baton::runtime
