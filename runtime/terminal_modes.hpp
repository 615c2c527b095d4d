// Terminal modes that libvterm 0.1.4 does not expose, tracked from the raw byte stream so a
// repaint can restore them (DESIGN.md §8), and a scanner for terminal queries that must be
// answered promptly (codex aborts when its cursor-position query goes unanswered).
// Both are incremental: an escape sequence split across two reads is still recognised.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace baton::runtime {

class TerminalModes {
 public:
  void feed(std::string_view bytes);
  void reset();

  bool alt_screen() const { return alt_screen_; }            // ?1049 / ?1047 / ?47
  bool bracketed_paste() const { return bracketed_paste_; }  // ?2004
  bool app_cursor_keys() const { return app_cursor_keys_; }  // ?1 (DECCKM)
  bool app_keypad() const { return app_keypad_; }            // ESC = / ESC >
  bool focus_events() const { return focus_events_; }        // ?1004
  bool cursor_visible() const { return cursor_visible_; }    // ?25
  int mouse_mode() const { return mouse_mode_; }             // 0, 9, 1000, 1002 or 1003
  int mouse_encoding() const { return mouse_encoding_; }     // 0, 1005, 1006 or 1015

  // Sequences that set every tracked mode that differs from a fresh terminal's default.
  // Excludes the alternate screen (render() switches to it before drawing).
  std::string restore_sequence() const;

 private:
  void on_private_mode(int mode, bool set);

  enum class State : std::uint8_t { kGround, kEsc, kCsi };
  State state_ = State::kGround;
  std::string params_;  // bytes of the CSI being parsed, bounded
  bool alt_screen_ = false;
  bool bracketed_paste_ = false;
  bool app_cursor_keys_ = false;
  bool app_keypad_ = false;
  bool focus_events_ = false;
  bool cursor_visible_ = true;
  int mouse_mode_ = 0;
  int mouse_encoding_ = 0;
};

enum class TerminalQuery : std::uint8_t {
  kPrimaryAttributes,    // DA1: CSI c, CSI 0 c
  kSecondaryAttributes,  // DA2: CSI > c, CSI > 0 c
  kStatus,               // DSR: CSI 5 n
  kCursor,               // DSR: CSI 6 n
  kExtendedCursor,       // DECXCPR: CSI ? 6 n
};

// Finds terminal queries (DA1 `CSI c`/`CSI 0 c`, DA2 `CSI > c`, DSR `CSI 5 n`/`CSI 6 n`,
// DECXCPR `CSI ? 6 n`) in a byte stream, across chunk boundaries.
class QueryScanner {
 public:
  // True when bytes complete at least one query; each one found is appended to `found`.
  bool scan(std::string_view bytes, std::vector<TerminalQuery>* found = nullptr);

 private:
  enum class State : std::uint8_t { kGround, kEsc, kCsi };
  State state_ = State::kGround;
  std::string params_;
};

}  // namespace baton::runtime
