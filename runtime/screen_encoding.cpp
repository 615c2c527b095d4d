#include "runtime/screen_encoding.hpp"

namespace baton::runtime {

namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x110000) {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += "\xef\xbf\xbd";  // U+FFFD
  }
}

void append_number(std::string& out, int n) {
  out += std::to_string(n);
}

void append_color(std::string& out, const Color& c, bool is_foreground) {
  switch (c.kind) {
    case Color::Kind::kDefault:
      return;
    case Color::Kind::kIndexed:
      // The 16 basic colours go out in their short form, which every terminal knows.
      if (c.index < 8) {
        out += ';';
        append_number(out, (is_foreground ? 30 : 40) + c.index);
      } else if (c.index < 16) {
        out += ';';
        append_number(out, (is_foreground ? 90 : 100) + c.index - 8);
      } else {
        out += is_foreground ? ";38;5;" : ";48;5;";
        append_number(out, c.index);
      }
      return;
    case Color::Kind::kRgb:
      out += is_foreground ? ";38;2;" : ";48;2;";
      append_number(out, c.red);
      out += ';';
      append_number(out, c.green);
      out += ';';
      append_number(out, c.blue);
      return;
  }
}

}  // namespace

Color Color::from(const VTermColor& c, bool is_foreground) {
  Color out;
  if (is_foreground ? VTERM_COLOR_IS_DEFAULT_FG(&c) : VTERM_COLOR_IS_DEFAULT_BG(&c)) return out;
  if (VTERM_COLOR_IS_INDEXED(&c)) {
    out.kind = Kind::kIndexed;
    out.index = c.indexed.idx;
  } else {
    out.kind = Kind::kRgb;
    out.red = c.rgb.red;
    out.green = c.rgb.green;
    out.blue = c.rgb.blue;
  }
  return out;
}

Pen Pen::from(const VTermScreenCell& cell) {
  Pen pen;
  pen.is_bold = cell.attrs.bold;
  pen.is_italic = cell.attrs.italic;
  pen.is_blink = cell.attrs.blink;
  pen.is_reverse = cell.attrs.reverse;
  pen.is_strike = cell.attrs.strike;
  pen.underline = static_cast<int>(cell.attrs.underline);
  pen.font = static_cast<int>(cell.attrs.font);
  pen.fg = Color::from(cell.fg, true);
  pen.bg = Color::from(cell.bg, false);
  return pen;
}

Pen Pen::from(const VTermState* state) {
  VTermValue v;
  Pen pen;
  if (vterm_state_get_penattr(state, VTERM_ATTR_BOLD, &v)) pen.is_bold = v.boolean;
  if (vterm_state_get_penattr(state, VTERM_ATTR_ITALIC, &v)) pen.is_italic = v.boolean;
  if (vterm_state_get_penattr(state, VTERM_ATTR_BLINK, &v)) pen.is_blink = v.boolean;
  if (vterm_state_get_penattr(state, VTERM_ATTR_REVERSE, &v)) pen.is_reverse = v.boolean;
  if (vterm_state_get_penattr(state, VTERM_ATTR_STRIKE, &v)) pen.is_strike = v.boolean;
  if (vterm_state_get_penattr(state, VTERM_ATTR_UNDERLINE, &v)) pen.underline = v.number;
  if (vterm_state_get_penattr(state, VTERM_ATTR_FONT, &v)) pen.font = v.number;
  if (vterm_state_get_penattr(state, VTERM_ATTR_FOREGROUND, &v)) {
    pen.fg = Color::from(v.color, true);
  }
  if (vterm_state_get_penattr(state, VTERM_ATTR_BACKGROUND, &v)) {
    pen.bg = Color::from(v.color, false);
  }
  return pen;
}

void append_cell_chars(std::string& out, const VTermScreenCell& cell) {
  for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] != 0; ++i) {
    append_utf8(out, cell.chars[i]);
  }
}

void append_cup(std::string& out, int row, int col) {
  out += "\x1b[";
  append_number(out, row + 1);
  out += ';';
  append_number(out, col + 1);
  out += 'H';
}

void append_sgr(std::string& out, const Pen& pen) {
  out += "\x1b[0";
  if (pen.is_bold) out += ";1";
  if (pen.is_italic) out += ";3";
  switch (pen.underline) {
    case VTERM_UNDERLINE_OFF:
      break;
    case VTERM_UNDERLINE_DOUBLE:
      out += ";21";
      break;
    case VTERM_UNDERLINE_CURLY:
      out += ";4:3";
      break;
    default:
      out += ";4";
      break;
  }
  if (pen.is_blink) out += ";5";
  if (pen.is_reverse) out += ";7";
  if (pen.is_strike) out += ";9";
  if (pen.font > 0 && pen.font < 10) {
    out += ';';
    append_number(out, 10 + pen.font);
  }
  append_color(out, pen.fg, true);
  append_color(out, pen.bg, false);
  out += 'm';
}

bool is_blank_on_clear(const VTermScreenCell& cell, const Pen& pen) {
  return (cell.chars[0] == 0 || cell.chars[0] == ' ') && pen.bg.kind == Color::Kind::kDefault &&
         !pen.is_reverse && pen.underline == VTERM_UNDERLINE_OFF && !pen.is_strike;
}

void append_mode_defaults(std::string& out, const TerminalModes& modes) {
  if (!modes.app_cursor_keys()) out += "\x1b[?1l";
  if (!modes.app_keypad()) out += "\x1b>";
  if (modes.mouse_mode() == 0) out += "\x1b[?1003l\x1b[?1002l\x1b[?1000l\x1b[?9l";
  if (modes.mouse_encoding() == 0) out += "\x1b[?1006l\x1b[?1015l\x1b[?1005l";
  if (!modes.focus_events()) out += "\x1b[?1004l";
  if (!modes.bracketed_paste()) out += "\x1b[?2004l";
}

}  // namespace baton::runtime
