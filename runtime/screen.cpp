#include "runtime/screen.hpp"

#include <vterm.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace baton::runtime {

namespace {

// libvterm marks the right half of a wide character with this value in chars[0].
constexpr std::uint32_t kWideCharTail = 0xffffffffu;
// A resync starts the tail after a newline found this far into it, so parsing resumes at a
// line's first byte rather than inside an escape sequence or a UTF-8 character.
constexpr std::size_t kResyncNewlineSearchBytes = 64u << 10;
// libvterm 0.1.4 decodes a text run into a stack array sized by everything left in the
// vterm_input_write() call (4 bytes per input byte): a few MB in one call overflow the stack.
constexpr std::size_t kParseChunkBytes = 4u << 10;
// Parsed bytes are dropped from the front of the backlog once they are at least this many and
// half of it, which keeps compaction amortised O(1) per byte.
constexpr std::size_t kCompactBytes = 1u << 20;

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

void append_cell_chars(std::string& out, const VTermScreenCell& cell) {
  for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] != 0; ++i) {
    append_utf8(out, cell.chars[i]);
  }
}

void append_number(std::string& out, int n) {
  out += std::to_string(n);
}

void append_cup(std::string& out, int row, int col) {
  out += "\x1b[";
  append_number(out, row + 1);
  out += ';';
  append_number(out, col + 1);
  out += 'H';
}

// A colour as a terminal is told it: the default, a palette index or 24-bit RGB.
struct Color {
  enum class Kind : std::uint8_t { kDefault, kIndexed, kRgb };
  Kind kind = Kind::kDefault;
  std::uint8_t index = 0;
  std::uint8_t red = 0;
  std::uint8_t green = 0;
  std::uint8_t blue = 0;

  bool operator==(const Color&) const = default;

  static Color from(const VTermColor& c, bool is_foreground) {
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

  static Pen from(const VTermScreenCell& cell) {
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

  // The pen the application will write its next characters with.
  static Pen from(const VTermState* state) {
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
};

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

// Always from a reset, so the result does not depend on what the terminal had before.
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

// A cell that a cleared screen already shows: no character, nothing visible on a blank.
bool is_blank_on_clear(const VTermScreenCell& cell, const Pen& pen) {
  return (cell.chars[0] == 0 || cell.chars[0] == ' ') && pen.bg.kind == Color::Kind::kDefault &&
         !pen.is_reverse && pen.underline == VTERM_UNDERLINE_OFF && !pen.is_strike;
}

// Resets of the tracked modes that are at their default, so a repaint on a terminal that
// still has an older application state (a slow client's) ends up exact.
void append_mode_defaults(std::string& out, const TerminalModes& modes) {
  if (!modes.app_cursor_keys()) out += "\x1b[?1l";
  if (!modes.app_keypad()) out += "\x1b>";
  if (modes.mouse_mode() == 0) out += "\x1b[?1003l\x1b[?1002l\x1b[?1000l\x1b[?9l";
  if (modes.mouse_encoding() == 0) out += "\x1b[?1006l\x1b[?1015l\x1b[?1005l";
  if (!modes.focus_events()) out += "\x1b[?1004l";
  if (!modes.bracketed_paste()) out += "\x1b[?2004l";
}

void on_output_cb(const char* bytes, std::size_t len, void* user) {
  const auto& fn = *static_cast<const Screen::OutputFn*>(user);
  if (fn) fn(std::string_view(bytes, len));
}

}  // namespace

// libvterm 0.1.4 does not record which rows were soft-wrapped (VTermLineInfo has no
// `continuation` yet; DESIGN.md §8), so it is derived from the screen callbacks: libvterm
// wraps inside one text run without reporting a cursor move, so a glyph drawn at column 0
// of the row below a glyph that reached the last column, with no cursor move in between, is
// a soft wrap. Scrolls move the marks with their rows; erasing a row or drawing at its
// column 0 by explicit positioning clears its mark.
struct Screen::Wraps {
  explicit Wraps(VTermScreen* screen, int rows, int cols)
      : vts(screen), rows(rows), cols(cols), full_width_cols(cols) {
    for (auto& marks : is_continued) marks.assign(static_cast<std::size_t>(rows), 0);
  }

  bool is_continuation(int row) const {
    return row > 0 && row < rows && is_continued[buffer][static_cast<std::size_t>(row)] != 0;
  }

  void clear() {
    for (auto& marks : is_continued) std::fill(marks.begin(), marks.end(), 0);
    is_armed = false;
  }

  void on_damage(VTermRect rect) {
    auto& marks = is_continued[buffer];
    const int width = rect.end_col - rect.start_col;
    if (rect.end_row - rect.start_row == 1 && width <= 2 && width < full_width_cols) {
      // One glyph (or a one- or two-cell erase, which happens only at the cursor and so
      // cannot be mistaken for a wrap: reaching column 0 of another row moves the cursor).
      const int row = rect.start_row;
      if (rect.start_col == 0 && row < rows) {
        marks[static_cast<std::size_t>(row)] = is_armed && row == armed_row + 1;
      }
      is_armed = rect.end_col >= cols - 1;
      armed_row = row;
      armed_col = rect.start_col;
      armed_end_col = rect.end_col;
      return;
    }
    if (rect.start_col == 0 && rect.end_col >= full_width_cols) {
      // Whole rows: an erase, a screen switch or a redraw; only a row left blank loses its
      // mark (DECSCNM and friends redraw rows without changing them).
      VTermScreenCell cell;
      for (int row = std::max(rect.start_row, 0); row < std::min(rect.end_row, rows); ++row) {
        if (vterm_screen_get_cell(vts, VTermPos{row, 0}, &cell) && cell.chars[0] == 0) {
          marks[static_cast<std::size_t>(row)] = 0;
        }
      }
    }
  }

  void on_moverect(VTermRect dest, VTermRect src) {
    // Only whole-row moves (scrolls, inserted or deleted lines) carry rows' marks; a move
    // inside a row (inserted or deleted characters) leaves them.
    if (src.start_col != 0 || dest.start_col != 0 || src.end_col < full_width_cols) return;
    auto& marks = is_continued[buffer];
    const int delta = dest.start_row - src.start_row;
    const int count = src.end_row - src.start_row;
    moved.assign(marks.begin() + std::clamp(src.start_row, 0, rows),
                 marks.begin() + std::clamp(src.end_row, 0, rows));
    for (int i = 0; i < count && i < static_cast<int>(moved.size()); ++i) {
      const int row = dest.start_row + i;
      if (row >= 0 && row < rows) marks[static_cast<std::size_t>(row)] = moved[i];
    }
    if (is_armed && armed_row >= src.start_row && armed_row < src.end_row) armed_row += delta;
  }

  void on_movecursor(VTermPos pos) {
    // libvterm reports the cursor once at the end of a text run: on the last glyph (the
    // deferred-wrap "phantom" column) or just after it. Anything else is an explicit move.
    if (is_armed && (pos.row != armed_row || (pos.col != armed_col && pos.col != armed_end_col))) {
      is_armed = false;
    }
  }

  void on_altscreen(bool is_on) {
    buffer = is_on ? 1 : 0;
    if (is_on) std::fill(is_continued[1].begin(), is_continued[1].end(), 0);
    is_armed = false;
  }

  void on_resize(int new_rows, int new_cols) {
    rows = new_rows;
    cols = new_cols;
    for (auto& marks : is_continued) marks.resize(static_cast<std::size_t>(rows), 0);
    is_armed = false;
  }

  static int on_damage_cb(VTermRect rect, void* user) {
    static_cast<Wraps*>(user)->on_damage(rect);
    return 1;
  }
  static int on_moverect_cb(VTermRect dest, VTermRect src, void* user) {
    static_cast<Wraps*>(user)->on_moverect(dest, src);
    // Handled: libvterm need not report the destination as damage as well.
    return 1;
  }
  static int on_movecursor_cb(VTermPos pos, VTermPos /*oldpos*/, int /*visible*/, void* user) {
    static_cast<Wraps*>(user)->on_movecursor(pos);
    return 1;
  }
  static int on_settermprop_cb(VTermProp prop, VTermValue* val, void* user) {
    if (prop == VTERM_PROP_ALTSCREEN) static_cast<Wraps*>(user)->on_altscreen(val->boolean);
    return 1;
  }
  static int on_resize_cb(int rows, int cols, void* user) {
    static_cast<Wraps*>(user)->on_resize(rows, cols);
    return 1;
  }

  // No sb_pushline: libvterm would copy every row scrolled off the top cell by cell.
  static constexpr VTermScreenCallbacks kCallbacks = {
      &on_damage_cb, &on_moverect_cb, &on_movecursor_cb, &on_settermprop_cb,
      nullptr,       &on_resize_cb,   nullptr,           nullptr,
  };

  VTermScreen* vts;
  int rows;
  int cols;
  // A whole-row move or erase is at least this wide; narrower than cols only during a resize
  // that shrinks the columns.
  int full_width_cols;
  int buffer = 0;  // 1 while the alternate screen is shown
  // Per buffer and row: the row continues the one above it.
  std::vector<std::uint8_t> is_continued[2];
  // The last glyph reached the last column, and the cursor has not moved since.
  bool is_armed = false;
  int armed_row = 0;
  int armed_col = 0;
  int armed_end_col = 0;
  std::vector<std::uint8_t> moved;  // scratch for on_moverect
};

Screen::Screen(int rows, int cols) : rows_(std::max(rows, 1)), cols_(std::max(cols, 1)) {
  vt_ = vterm_new(rows_, cols_);
  // Sessions run with a UTF-8 LANG (DESIGN.md §3, §8).
  vterm_set_utf8(vt_, 1);
  vts_ = vterm_obtain_screen(vt_);
  vterm_screen_enable_altscreen(vts_, 1);
  wraps_ = std::make_unique<Wraps>(vts_, rows_, cols_);
  vterm_screen_set_callbacks(vts_, &Wraps::kCallbacks, wraps_.get());
  vterm_output_set_callback(vt_, &on_output_cb, &output_);
  reset_vterm();
}

Screen::~Screen() {
  vterm_free(vt_);
}

void Screen::set_output(OutputFn fn) {
  output_ = std::move(fn);
}

void Screen::push(std::string_view bytes) {
  // Cheap and exact over every byte, so a repaint restores the modes even after a resync.
  modes_.feed(bytes);
  backlog_.append(bytes);
  if (backlog_bytes() > kMaxBacklogBytes) resync();
}

std::size_t Screen::pump(std::size_t budget_bytes) {
  if (backlog_bytes() > kMaxBacklogBytes) resync();
  const std::size_t n = std::min(budget_bytes, backlog_bytes());
  if (n == 0) return 0;
  parse(std::string_view(backlog_).substr(backlog_off_, n));
  backlog_off_ += n;
  if (backlog_off_ == backlog_.size()) {
    // A burst leaves megabytes of capacity behind; an idle session should not keep them.
    if (backlog_.capacity() > kCompactBytes) {
      std::string().swap(backlog_);
    } else {
      backlog_.clear();
    }
    backlog_off_ = 0;
  } else if (backlog_off_ >= kCompactBytes && backlog_off_ >= backlog_.size() / 2) {
    backlog_.erase(0, backlog_off_);
    backlog_off_ = 0;
  }
  return n;
}

void Screen::catch_up() {
  pump(backlog_bytes());
}

bool Screen::has_backlog() const {
  return backlog_off_ < backlog_.size();
}

std::size_t Screen::backlog_bytes() const {
  return backlog_.size() - backlog_off_;
}

void Screen::parse(std::string_view bytes) {
  parsed_modes_.feed(bytes);
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), kParseChunkBytes);
    vterm_input_write(vt_, bytes.data(), n);
    bytes.remove_prefix(n);
  }
}

void Screen::reset_vterm() {
  // CAN ends any sequence the parser is inside of, which a reset of the state does not; and
  // libvterm's hard reset neither leaves nor clears the alternate screen, so leave it first.
  vterm_input_write(vt_, "\x18\x1b[?1049l", 9);
  vterm_screen_reset(vts_, 1);
  wraps_->clear();
}

void Screen::resync() {
  std::size_t tail = backlog_.size() - std::min(backlog_.size(), kResyncTailBytes);
  if (tail > backlog_off_) {
    const std::size_t search = std::min(kResyncNewlineSearchBytes, backlog_.size() - tail);
    const void* nl = std::memchr(backlog_.data() + tail, '\n', search);
    if (nl != nullptr)
      tail = static_cast<std::size_t>(static_cast<const char*>(nl) - backlog_.data()) + 1;
    parsed_modes_.feed(std::string_view(backlog_).substr(backlog_off_, tail - backlog_off_));
    backlog_.erase(0, tail);
    backlog_off_ = 0;
  }
  reset_vterm();
  // The tail was written for the screen the application was on and the modes it had set.
  if (parsed_modes_.alt_screen()) parse("\x1b[?1049h\x1b[2J");
  parse(parsed_modes_.restore_sequence());
}

void Screen::resize(int rows, int cols) {
  rows = std::max(rows, 1);
  cols = std::max(cols, 1);
  if (rows == rows_ && cols == cols_) return;
  // The backlog was written for the old size.
  catch_up();
  wraps_->full_width_cols = std::min(cols_, cols);
  vterm_set_size(vt_, rows, cols);
  wraps_->full_width_cols = cols;
  rows_ = rows;
  cols_ = cols;
}

Screen::Cursor Screen::cursor() {
  catch_up();
  VTermPos pos;
  vterm_state_get_cursorpos(vterm_obtain_state(vt_), &pos);
  return Cursor{pos.row, pos.col, modes_.cursor_visible()};
}

std::string Screen::render() {
  catch_up();
  std::string out;
  out.reserve(static_cast<std::size_t>(rows_) * static_cast<std::size_t>(cols_ + 16) + 256);
  // Hidden while drawing, so the cursor does not run across the screen.
  out += "\x1b[?25l";
  out += modes_.alt_screen() ? "\x1b[?1049h" : "\x1b[?1049l";
  // After the switch: 1049 restores the pen saved with the cursor (DECRC), and the clear
  // must use the default background.
  out += "\x1b[0m\x1b[H\x1b[2J";

  Pen pen;
  VTermScreenCell cell;
  for (int row = 0; row < rows_; ++row) {
    // Cells a cleared screen already shows are not sent; a row ends at its last other one.
    int end = cols_;
    while (end > 0) {
      if (!vterm_screen_get_cell(vts_, VTermPos{row, end - 1}, &cell)) break;
      if (cell.chars[0] == kWideCharTail || !is_blank_on_clear(cell, Pen::from(cell))) break;
      --end;
    }
    if (end == 0) continue;
    // Every row is placed explicitly: a full row leaves the terminal in its deferred-wrap
    // state, and whether the next character wraps differs between terminals.
    append_cup(out, row, 0);
    for (int col = 0; col < end; ++col) {
      if (!vterm_screen_get_cell(vts_, VTermPos{row, col}, &cell)) break;
      if (cell.chars[0] == kWideCharTail) continue;
      const Pen cell_pen = Pen::from(cell);
      if (cell_pen != pen) {
        append_sgr(out, cell_pen);
        pen = cell_pen;
      }
      if (cell.chars[0] == 0) {
        out += ' ';
      } else {
        append_cell_chars(out, cell);
      }
      if (cell.width == 2) ++col;
    }
  }

  const Pen app_pen = Pen::from(vterm_obtain_state(vt_));
  if (app_pen != pen) append_sgr(out, app_pen);
  append_mode_defaults(out, modes_);
  out += modes_.restore_sequence();
  VTermPos pos;
  vterm_state_get_cursorpos(vterm_obtain_state(vt_), &pos);
  append_cup(out, pos.row, pos.col);
  out += modes_.cursor_visible() ? "\x1b[?25h" : "\x1b[?25l";
  return out;
}

std::vector<std::string> Screen::capture(bool join_wrapped) {
  catch_up();
  std::vector<std::string> lines;
  std::string line;
  VTermScreenCell cell;
  for (int row = 0; row < rows_; ++row) {
    // Erased cells are blanks inside a row, but nothing at the end of a row that wraps: a
    // wide character that did not fit in the last column leaves one behind.
    std::size_t printed_len = line.size();
    for (int col = 0; col < cols_; ++col) {
      if (!vterm_screen_get_cell(vts_, VTermPos{row, col}, &cell)) break;
      if (cell.chars[0] == kWideCharTail) continue;
      if (cell.chars[0] == 0) {
        line += ' ';
      } else {
        append_cell_chars(line, cell);
        printed_len = line.size();
      }
      if (cell.width == 2) ++col;
    }
    if (join_wrapped && wraps_->is_continuation(row + 1)) {
      // Spaces the application printed before the wrap are part of the logical line.
      line.resize(printed_len);
      continue;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    lines.push_back(std::move(line));
    line.clear();
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

}  // namespace baton::runtime
