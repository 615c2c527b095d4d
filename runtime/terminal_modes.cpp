#include "runtime/terminal_modes.hpp"

#include <cstring>
#include <optional>

namespace baton::runtime {

namespace {

constexpr char kEsc = '\x1b';
// Long enough for any DECSET list an application writes at once ("?1000;1002;1006" etc.);
// a CSI longer than this is some other sequence (SGR with RGB colours) or garbage, and is
// skipped without growing the buffer.
constexpr std::size_t kMaxModeParamBytes = 64;
// Parameters bigger than any mode number are ignored rather than overflowing.
constexpr int kMaxModeNumber = 99999;

bool is_param_or_intermediate(unsigned char c) {
  return c >= 0x20 && c <= 0x3f;
}
bool is_final(unsigned char c) {
  return c >= 0x40 && c <= 0x7e;
}

// The C0 controls that cancel a control sequence (ECMA-48 / the DEC parser): CAN and SUB.
bool cancels_sequence(unsigned char c) {
  return c == 0x18 || c == 0x1a;
}

void append_decset(std::string& out, int mode) {
  out += "\x1b[?";
  out += std::to_string(mode);
  out += 'h';
}

}  // namespace

void TerminalModes::reset() {
  *this = TerminalModes();
}

void TerminalModes::on_private_mode(int mode, bool set) {
  switch (mode) {
    case 1:
      app_cursor_keys_ = set;
      break;
    case 25:
      cursor_visible_ = set;
      break;
    case 47:
    case 1047:
    case 1049:
      alt_screen_ = set;
      break;
    case 1004:
      focus_events_ = set;
      break;
    case 2004:
      bracketed_paste_ = set;
      break;
    case 9:
    case 1000:
    case 1002:
    case 1003:
      if (set) {
        mouse_mode_ = mode;
      } else if (mouse_mode_ == mode) {
        mouse_mode_ = 0;
      }
      break;
    case 1005:
    case 1006:
    case 1015:
      if (set) {
        mouse_encoding_ = mode;
      } else if (mouse_encoding_ == mode) {
        mouse_encoding_ = 0;
      }
      break;
    default:
      break;
  }
}

void TerminalModes::feed(std::string_view bytes) {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    if (state_ == State::kGround) {
      // Nearly all output is text: skip to the next ESC in one call.
      const void* esc = std::memchr(p, kEsc, static_cast<std::size_t>(end - p));
      if (esc == nullptr) return;
      p = static_cast<const char*>(esc) + 1;
      state_ = State::kEsc;
      continue;
    }
    const auto c = static_cast<unsigned char>(*p++);
    if (state_ == State::kEsc) {
      switch (c) {
        case '[':
          state_ = State::kCsi;
          params_.clear();
          break;
        case '=':
          app_keypad_ = true;
          state_ = State::kGround;
          break;
        case '>':
          app_keypad_ = false;
          state_ = State::kGround;
          break;
        case 'c':
          reset();
          state_ = State::kGround;
          break;
        case kEsc:
          break;
        default:
          // Other escapes (charsets, DECSC, OSC/DCS introducers) carry no tracked mode; their
          // payload holds no ESC, so the ground state skips it.
          state_ = State::kGround;
          break;
      }
      continue;
    }
    // kCsi
    if (is_param_or_intermediate(c)) {
      // One byte past the bound marks the sequence as too long; it is then only consumed.
      if (params_.size() <= kMaxModeParamBytes) params_ += static_cast<char>(c);
      continue;
    }
    if (is_final(c)) {
      state_ = State::kGround;
      if (params_.size() > kMaxModeParamBytes) continue;
      if (c == 'p' && params_ == "!") {
        // DECSTR, as xterm does it: keys and cursor back to their defaults; mouse, paste and
        // the screen buffer are left alone.
        app_cursor_keys_ = false;
        app_keypad_ = false;
        cursor_visible_ = true;
        continue;
      }
      if ((c != 'h' && c != 'l') || params_.empty() || params_[0] != '?') continue;
      int value = 0;
      bool has_digits = false;
      bool is_valid = true;
      for (std::size_t i = 1; i <= params_.size(); ++i) {
        const char d = i < params_.size() ? params_[i] : ';';
        if (d >= '0' && d <= '9') {
          if (value <= kMaxModeNumber) value = value * 10 + (d - '0');
          has_digits = true;
        } else if (d == ';') {
          if (has_digits && is_valid && value <= kMaxModeNumber) on_private_mode(value, c == 'h');
          value = 0;
          has_digits = false;
          is_valid = true;
        } else {
          // A sub-parameter or intermediate byte: not a plain DECSET parameter.
          is_valid = false;
        }
      }
      continue;
    }
    if (c == static_cast<unsigned char>(kEsc)) {
      state_ = State::kEsc;
    } else if (cancels_sequence(c)) {
      state_ = State::kGround;
    }
    // Other C0 controls inside a CSI are executed by the terminal and the CSI goes on.
  }
}

std::string TerminalModes::restore_sequence() const {
  std::string out;
  if (app_cursor_keys_) out += "\x1b[?1h";
  if (app_keypad_) out += "\x1b=";
  if (!cursor_visible_) out += "\x1b[?25l";
  if (mouse_mode_ != 0) append_decset(out, mouse_mode_);
  if (mouse_encoding_ != 0) append_decset(out, mouse_encoding_);
  if (focus_events_) out += "\x1b[?1004h";
  if (bracketed_paste_) out += "\x1b[?2004h";
  return out;
}

bool QueryScanner::scan(std::string_view bytes, std::vector<TerminalQuery>* found) {
  // The queries' parameters are at most two bytes ("?6", ">0"); keeping at most three tells
  // "longer" apart without leaving std::string's small buffer, so scanning never allocates.
  constexpr std::size_t kMaxQueryParamBytes = 3;
  bool has_query = false;
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    if (state_ == State::kGround) {
      const void* esc = std::memchr(p, kEsc, static_cast<std::size_t>(end - p));
      if (esc == nullptr) break;
      p = static_cast<const char*>(esc) + 1;
      state_ = State::kEsc;
      continue;
    }
    const auto c = static_cast<unsigned char>(*p++);
    if (state_ == State::kEsc) {
      if (c == '[') {
        state_ = State::kCsi;
        params_.clear();
      } else if (c != static_cast<unsigned char>(kEsc)) {
        // Like libvterm, an ESC inside an OSC or DCS string starts a new sequence, so the
        // string's payload needs no state of its own here.
        state_ = State::kGround;
      }
      continue;
    }
    if (is_param_or_intermediate(c)) {
      if (params_.size() < kMaxQueryParamBytes) params_ += static_cast<char>(c);
      continue;
    }
    if (is_final(c)) {
      state_ = State::kGround;
      std::optional<TerminalQuery> query;
      if (c == 'c' && (params_.empty() || params_ == "0")) {
        query = TerminalQuery::kPrimaryAttributes;
      } else if (c == 'c' && (params_ == ">" || params_ == ">0")) {
        query = TerminalQuery::kSecondaryAttributes;
      } else if (c == 'n' && params_ == "5") {
        query = TerminalQuery::kStatus;
      } else if (c == 'n' && params_ == "6") {
        query = TerminalQuery::kCursor;
      } else if (c == 'n' && params_ == "?6") {
        query = TerminalQuery::kExtendedCursor;
      }
      if (query) {
        has_query = true;
        if (found) found->push_back(*query);
      }
      continue;
    }
    if (c == static_cast<unsigned char>(kEsc)) {
      state_ = State::kEsc;
    } else if (cancels_sequence(c)) {
      state_ = State::kGround;
    }
  }
  return has_query;
}

}  // namespace baton::runtime
