#include "runtime/keys.hpp"

#include <cctype>
#include <map>

namespace baton::runtime {

namespace {

const std::map<std::string, std::string>& named_keys() {
  static const std::map<std::string, std::string> keys = {
      {"Enter", "\r"},      {"Tab", "\t"},         {"BTab", "\x1b[Z"},   {"Escape", "\x1b"},
      {"Esc", "\x1b"},      {"Space", " "},        {"BSpace", "\x7f"},   {"Up", "\x1b[A"},
      {"Down", "\x1b[B"},   {"Right", "\x1b[C"},   {"Left", "\x1b[D"},   {"Home", "\x1b[H"},
      {"End", "\x1b[F"},    {"PageUp", "\x1b[5~"}, {"PPage", "\x1b[5~"}, {"PageDown", "\x1b[6~"},
      {"NPage", "\x1b[6~"}, {"Delete", "\x1b[3~"}, {"DC", "\x1b[3~"},    {"Insert", "\x1b[2~"},
      {"IC", "\x1b[2~"},    {"F1", "\x1bOP"},      {"F2", "\x1bOQ"},     {"F3", "\x1bOR"},
      {"F4", "\x1bOS"},     {"F5", "\x1b[15~"},    {"F6", "\x1b[17~"},   {"F7", "\x1b[18~"},
      {"F8", "\x1b[19~"},   {"F9", "\x1b[20~"},    {"F10", "\x1b[21~"},  {"F11", "\x1b[23~"},
      {"F12", "\x1b[24~"},
  };
  return keys;
}

// C-x for a letter or one of @[\]^_? as a terminal encodes it.
bool control_byte(char c, unsigned char& out) {
  if (c == '?') {
    out = 0x7f;
    return true;
  }
  const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u >= '@' && u <= '_') {
    out = static_cast<unsigned char>(u - '@');
    return true;
  }
  if (c == ' ' || c == '2') {
    out = 0;
    return true;
  }
  return false;
}

}  // namespace

std::string key_bytes(const std::string& word) {
  if (auto it = named_keys().find(word); it != named_keys().end()) return it->second;
  if (word.size() >= 3 && (word[0] == 'C' || word[0] == 'M') && word[1] == '-') {
    const std::string rest = word.substr(2);
    if (word[0] == 'M') {
      // Appended, not `"\x1b" + key_bytes(rest)`: GCC 12 at -O2/-O3 sees a false overlap in
      // that operator+'s insert at the front (-Wrestrict, DESIGN.md §8).
      std::string bytes(1, '\x1b');
      bytes += key_bytes(rest);
      return bytes;
    }
    unsigned char b;
    if (rest.size() == 1 && control_byte(rest[0], b)) return std::string(1, static_cast<char>(b));
  }
  return word;
}

tl::expected<unsigned char, std::string> parse_detach_key(const std::string& spec) {
  std::string rest;
  if (spec.size() >= 3 && spec.compare(0, 2, "C-") == 0) rest = spec.substr(2);
  if (spec.size() >= 2 && spec[0] == '^') rest = spec.substr(1);
  unsigned char b;
  if (rest.size() == 1 && control_byte(rest[0], b)) return b;
  return tl::make_unexpected("detach key '" + spec +
                             "' is not a control key such as C-\\\\ or C-a");
}

}  // namespace baton::runtime
