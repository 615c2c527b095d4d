// What a repaint and a capture write for the screen model (runtime/screen.cpp): a cell's
// characters in UTF-8, a cell's pen (attributes and colours) as one SGR sequence from a reset,
// a cursor position, and the resets of the tracked modes that are at their default. Pure
// functions over libvterm's cell and state types; the screen decides what to write where.
#pragma once

#include <cstdint>
#include <string>

#include <vterm.h>

#include "runtime/terminal_modes.hpp"

namespace baton::runtime {

// A colour as a terminal is told it: the default, a palette index or 24-bit RGB.
struct Color {
  enum class Kind : std::uint8_t { kDefault, kIndexed, kRgb };
  Kind kind = Kind::kDefault;
  std::uint8_t index = 0;
  std::uint8_t red = 0;
  std::uint8_t green = 0;
  std::uint8_t blue = 0;

  bool operator==(const Color&) const = default;

  static Color from(const VTermColor& c, bool is_foreground);
};

struct Pen {
  bool is_bold = false;
  bool is_italic = false;
  bool is_blink = false;
  bool is_reverse = false;
  bool is_strike = false;
  int underline = VTERM_UNDERLINE_OFF;
  int font = 0;
  Color fg;
  Color bg;

  bool operator==(const Pen&) const = default;

  static Pen from(const VTermScreenCell& cell);
  // The pen the application will write its next characters with.
  static Pen from(const VTermState* state);
};

// A cell's characters (a base character and its combining ones) in UTF-8.
void append_cell_chars(std::string& out, const VTermScreenCell& cell);

// CUP to a 0-based row and column.
void append_cup(std::string& out, int row, int col);

// Always from a reset, so the result does not depend on what the terminal had before.
void append_sgr(std::string& out, const Pen& pen);

// A cell that a cleared screen already shows: no character, nothing visible on a blank.
bool is_blank_on_clear(const VTermScreenCell& cell, const Pen& pen);

// Resets of the tracked modes that are at their default, so a repaint on a terminal that
// still has an older application state (a slow client's) ends up exact.
void append_mode_defaults(std::string& out, const TerminalModes& modes);

}  // namespace baton::runtime
