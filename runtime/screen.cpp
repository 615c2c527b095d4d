#include "runtime/screen.hpp"

#include <vterm.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "runtime/screen_encoding.hpp"

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
// Below this much backlog, pump() parses without looking for plain lines to skip.
constexpr std::size_t kSkipMinBytes = 8u << 10;
// How far past its budget pump() looks for the screenful of lines that must follow a skip.
constexpr std::size_t kSkipLookaheadBytes = 64u << 10;

// Where libvterm's parser is, as far as skipping needs to know (a conservative model of
// libvterm 0.1.4's parser: CAN and SUB cancel anything, C0 controls inside a sequence are
// executed without ending it, BEL or ESC \ end a string).
enum EscState : std::uint8_t { kGround = 0, kEsc, kEscIntermediate, kCsi, kString, kStringEsc };

std::uint8_t next_esc_state(std::uint8_t state, unsigned char c) {
  if (c == 0x18 || c == 0x1a) return kGround;
  if (c == 0x1b) return state == kString ? kStringEsc : kEsc;
  switch (state) {
    case kEsc:
      if (c < 0x20) return kEsc;
      if (c < 0x30) return kEscIntermediate;
      if (c == '[') return kCsi;
      if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') return kString;
      return kGround;
    case kEscIntermediate:
      return c < 0x30 ? kEscIntermediate : kGround;
    case kCsi:
      return c >= 0x40 && c <= 0x7e ? kGround : kCsi;
    case kString:
      return c == 0x07 ? kGround : kString;
    case kStringEsc:
      return c == '\\' ? static_cast<std::uint8_t>(kGround) : next_esc_state(kEsc, c);
    default:
      return kGround;
  }
}

void track_esc_state(std::uint8_t& state, std::string_view bytes) {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    if (state == kGround) {
      // Only ESC leaves the ground state.
      p = static_cast<const char*>(std::memchr(p, 0x1b, static_cast<std::size_t>(end - p)));
      if (p == nullptr) return;
    }
    state = next_esc_state(state, static_cast<unsigned char>(*p));
    ++p;
  }
}

// A plain line: printable ASCII, complete UTF-8 characters, TAB, BS and CR, ending with CR LF
// and holding at least one printable ASCII character (which ends any partial UTF-8 character
// libvterm still held). libvterm prints it without changing any state but the cursor and the
// cells it writes. Returns its length from p, CR LF included, or 0 when [p, end) does not
// start with one.
std::size_t plain_line_length(const char* p, const char* end) {
  const auto* nl =
      static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
  if (nl == nullptr || nl == p || nl[-1] != '\r') return 0;
  int continuation = 0;
  bool has_ascii = false;
  for (const char* q = p; q < nl; ++q) {
    const auto c = static_cast<unsigned char>(*q);
    if (continuation > 0) {
      if ((c & 0xc0) != 0x80) return 0;
      --continuation;
    } else if (c >= 0x20 && c < 0x7f) {
      has_ascii = true;
    } else if (c == '\r' || c == '\t' || c == '\b') {
    } else if (c >= 0xc2 && c <= 0xdf) {
      continuation = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      continuation = 2;
    } else if (c >= 0xf0 && c <= 0xf4) {
      continuation = 3;
    } else {
      return 0;
    }
  }
  if (continuation > 0 || !has_ascii) return 0;
  return static_cast<std::size_t>(nl + 1 - p);
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
    if (dest.start_row == 0 && src.start_row > 0 && src.end_row == rows && src.end_col == cols) {
      ++full_scrolls;
    }
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
  // Scrolls up of the whole screen (the scroll region is the screen), counted for skipping.
  std::uint64_t full_scrolls = 0;
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

// Plain lines that scroll the whole screen leave nothing behind once a screenful of further
// plain lines has scrolled them off: skipping them gives the same screen, byte for byte, as
// parsing them, at a fraction of the cost (libvterm moves the whole grid for every line that
// scrolls). So a flood of ordinary output (a build log, cat of a file) costs the model little
// CPU, and the model stays exact. Anything else (escape sequences, a scroll region, a cursor
// not on the bottom row) is parsed as before.
std::size_t Screen::pump(std::size_t budget_bytes) {
  if (backlog_bytes() > kMaxBacklogBytes) resync();
  const std::size_t total = std::min(budget_bytes, backlog_bytes());
  if (total == 0) return 0;
  const bool may_skip = backlog_bytes() >= kSkipMinBytes;
  std::size_t done = 0;
  while (done < total) {
    const std::size_t left = total - done;
    if (may_skip && is_at_scrolled_line_start_) {
      const std::size_t skip = skippable_bytes(left);
      if (skip > 0) {
        parsed_modes_.feed(std::string_view(backlog_).substr(backlog_off_, skip));
        backlog_off_ += skip;
        done += skip;
        continue;
      }
    }
    const char* const p = backlog_.data() + backlog_off_;
    std::size_t n = left;
    if (may_skip) {
      if (!is_at_scrolled_line_start_) {
        // Up to the end of the first plain line, where skipping may start.
        for (const char* q = p; q < p + left;) {
          const std::size_t len = plain_line_length(q, p + left);
          if (len > 0) {
            n = static_cast<std::size_t>(q + len - p);
            break;
          }
          q = static_cast<const char*>(
              std::memchr(q, '\n', static_cast<std::size_t>(p + left - q)));
          if (q == nullptr) break;
          ++q;
        }
      }
      if (n == left && n < backlog_bytes()) {
        // End on a line boundary when one is near, so the next call can skip from there.
        const void* nl = memrchr(p + left / 2, '\n', left - left / 2);
        if (nl != nullptr) n = static_cast<std::size_t>(static_cast<const char*>(nl) + 1 - p);
      }
    }
    parse_chunk(std::string_view(p, n));
    backlog_off_ += n;
    done += n;
  }
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
  return total;
}

void Screen::parse_chunk(std::string_view bytes) {
  is_at_scrolled_line_start_ = false;
  if (cols_ < 2 || bytes.size() < 2 || bytes.substr(bytes.size() - 2) != "\r\n") {
    parse(bytes);
    return;
  }
  const std::size_t nl = bytes.rfind('\n', bytes.size() - 2);
  const std::size_t start = nl == std::string_view::npos ? 0 : nl + 1;
  parse(bytes.substr(0, start));
  const std::string_view last = bytes.substr(start);
  if (esc_state_ != kGround ||
      plain_line_length(last.data(), last.data() + last.size()) != last.size()) {
    parse(last);
    return;
  }
  // Parsed from the ground state, a plain line changes no state but the cursor and cells: if
  // it scrolled the whole screen, the scroll region is the screen and its CR LF leaves the
  // cursor at the start of the bottom row.
  const std::uint64_t scrolls = wraps_->full_scrolls;
  parse(last);
  if (wraps_->full_scrolls == scrolls) return;
  VTermPos pos;
  vterm_state_get_cursorpos(vterm_obtain_state(vt_), &pos);
  is_at_scrolled_line_start_ = pos.row == rows_ - 1 && pos.col == 0;
}

std::size_t Screen::skippable_bytes(std::size_t limit) const {
  // From the start of the bottom row, after a line that scrolled the whole screen: each plain
  // line scrolls the whole screen again. The lines skipped are followed by at least a
  // screenful (rows_) of plain lines, each starting on a fresh blank bottom row with the same
  // pen, tab stops and modes as without the skip, which scroll every row the skipped lines
  // wrote off the screen.
  const char* const base = backlog_.data() + backlog_off_;
  const char* const end = base + std::min(backlog_bytes(), limit + kSkipLookaheadBytes);
  const char* q = base;
  std::size_t lines = 0;
  while (q < end) {
    const std::size_t len = plain_line_length(q, end);
    if (len == 0) break;
    q += len;
    ++lines;
  }
  if (lines <= static_cast<std::size_t>(rows_)) return 0;
  // Back rows_ lines from the end of the plain lines: where the kept lines start.
  const char* keep = q;
  for (int i = 0; i < rows_; ++i) {
    keep = static_cast<const char*>(memrchr(base, '\n', static_cast<std::size_t>(keep - 1 - base)));
    if (keep == nullptr) return 0;
    ++keep;
  }
  std::size_t skip = static_cast<std::size_t>(keep - base);
  if (skip > limit) {
    // Within the budget: the last line boundary before it.
    const void* nl = memrchr(base, '\n', limit);
    skip = nl == nullptr ? 0 : static_cast<std::size_t>(static_cast<const char*>(nl) + 1 - base);
  }
  return skip;
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
  track_esc_state(esc_state_, bytes);
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
  esc_state_ = kGround;
  is_at_scrolled_line_start_ = false;
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
  is_at_scrolled_line_start_ = false;
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
