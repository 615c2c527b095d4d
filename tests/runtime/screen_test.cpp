// The screen model: libvterm screen, backlog batching, repaint, capture, and the byte-stream
// trackers (terminal modes, query scanner) beside it.
#include "runtime/screen.hpp"

#include <gtest/gtest.h>
#include <vterm.h>

#include <string>
#include <string_view>
#include <vector>

#include "runtime/terminal_modes.hpp"

namespace baton::runtime {
namespace {

using Lines = std::vector<std::string>;

// A bare libvterm terminal, to look at the cells a repaint produces independently of Screen.
class RawTerminal {
 public:
  RawTerminal(int rows, int cols) : vt_(vterm_new(rows, cols)) {
    vterm_set_utf8(vt_, 1);
    screen_ = vterm_obtain_screen(vt_);
    vterm_screen_enable_altscreen(screen_, 1);
    vterm_screen_reset(screen_, 1);
  }
  ~RawTerminal() { vterm_free(vt_); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  void write(std::string_view bytes) { vterm_input_write(vt_, bytes.data(), bytes.size()); }

  VTermScreenCell cell(int row, int col) const {
    VTermScreenCell c{};
    vterm_screen_get_cell(screen_, VTermPos{row, col}, &c);
    return c;
  }

 private:
  VTerm* vt_;
  VTermScreen* screen_;
};

std::string numbered_lines(int first, int count) {
  std::string out;
  for (int i = first; i < first + count; ++i) out += "line " + std::to_string(i) + "\r\n";
  return out;
}

void expect_same_modes(const TerminalModes& a, const TerminalModes& b) {
  EXPECT_EQ(a.alt_screen(), b.alt_screen());
  EXPECT_EQ(a.bracketed_paste(), b.bracketed_paste());
  EXPECT_EQ(a.app_cursor_keys(), b.app_cursor_keys());
  EXPECT_EQ(a.app_keypad(), b.app_keypad());
  EXPECT_EQ(a.focus_events(), b.focus_events());
  EXPECT_EQ(a.cursor_visible(), b.cursor_visible());
  EXPECT_EQ(a.mouse_mode(), b.mouse_mode());
  EXPECT_EQ(a.mouse_encoding(), b.mouse_encoding());
}

// --- Screen: capture ---------------------------------------------------------------------

TEST(ScreenTest, TextAppearsInCapture) {
  Screen screen(5, 20);
  screen.push("hello\r\nworld");
  EXPECT_EQ(screen.capture(false), (Lines{"hello", "world"}));
}

TEST(ScreenTest, CaptureTrimsTrailingBlanksAndDropsTrailingEmptyLines) {
  Screen screen(6, 20);
  screen.push("a   \r\n\r\n  b  \x1b[K\r\n\r\n");
  EXPECT_EQ(screen.capture(false), (Lines{"a", "", "  b"}));
}

TEST(ScreenTest, EmptyScreenCapturesNoLines) {
  Screen screen(4, 10);
  EXPECT_TRUE(screen.capture(true).empty());
}

TEST(ScreenTest, SoftWrappedLineIsJoinedWithJoinWrappedAndSplitWithout) {
  Screen screen(5, 10);
  screen.push("0123456789abcdef\r\nnext");
  EXPECT_EQ(screen.capture(true), (Lines{"0123456789abcdef", "next"}));
  EXPECT_EQ(screen.capture(false), (Lines{"0123456789", "abcdef", "next"}));
}

TEST(ScreenTest, LineExactlyAsWideAsTheScreenIsNotJoinedWithTheNext) {
  Screen screen(5, 10);
  screen.push("0123456789\r\nnext");
  EXPECT_EQ(screen.capture(true), (Lines{"0123456789", "next"}));
}

TEST(ScreenTest, FullRowFollowedByCursorPositioningIsNotJoined) {
  Screen screen(5, 10);
  // A TUI drawing full-width rows with explicit positioning, as over a soft-wrapped line.
  screen.push("0123456789abc");
  screen.push("\x1b[1;1HAAAAAAAAAA\x1b[2;1HBBBBBBBBBB");
  EXPECT_EQ(screen.capture(true), (Lines{"AAAAAAAAAA", "BBBBBBBBBB"}));
}

TEST(ScreenTest, JoinedLineKeepsTheSpacePrintedInTheLastColumn) {
  Screen screen(5, 10);
  screen.push("012345678 abc");
  EXPECT_EQ(screen.capture(true), (Lines{"012345678 abc"}));
}

TEST(ScreenTest, SoftWrapMarksMoveWithTheRowsWhenTheScreenScrolls) {
  Screen screen(4, 10);
  screen.push("first\r\n0123456789wrapped\r\nx\r\ny");
  // "first" scrolled off; the wrapped pair is now at the top.
  EXPECT_EQ(screen.capture(false), (Lines{"0123456789", "wrapped", "x", "y"}));
  EXPECT_EQ(screen.capture(true), (Lines{"0123456789wrapped", "x", "y"}));
}

TEST(ScreenTest, LineThatWrapsWhileScrollingIsJoined) {
  Screen screen(3, 10);
  screen.push("a\r\nb\r\n0123456789tail");
  EXPECT_EQ(screen.capture(false), (Lines{"b", "0123456789", "tail"}));
  EXPECT_EQ(screen.capture(true), (Lines{"b", "0123456789tail"}));
}

TEST(ScreenTest, ErasedScreenForgetsSoftWraps) {
  Screen screen(4, 10);
  screen.push("0123456789abc");
  screen.push("\x1b[2J\x1b[H0123456789\x1b[2;1Habc");
  EXPECT_EQ(screen.capture(true), (Lines{"0123456789", "abc"}));
}

TEST(ScreenTest, WideCharacterThatDoesNotFitWrapsAndIsJoinedWithoutAGap) {
  Screen screen(4, 10);
  // Nine columns, then a two-column character that only fits on the next row.
  screen.push("123456789\xe6\xbc\xa2z");
  EXPECT_EQ(screen.capture(false), (Lines{"123456789", "\xe6\xbc\xa2z"}));
  EXPECT_EQ(screen.capture(true), (Lines{"123456789\xe6\xbc\xa2z"}));
}

TEST(ScreenTest, CombiningCharactersAreCapturedWithTheirBase) {
  Screen screen(3, 10);
  screen.push("e\xcc\x81x");  // e + COMBINING ACUTE ACCENT, then x
  EXPECT_EQ(screen.capture(false), (Lines{"e\xcc\x81x"}));
}

// --- Screen: render ----------------------------------------------------------------------

TEST(ScreenTest, RenderFedToAFreshScreenReproducesTextAndAttributes) {
  Screen original(6, 24);
  original.push("\x1b[1;31mred bold\x1b[0m \x1b[38;5;200;48;2;10;20;30mrgb\x1b[0m\r\n");
  original.push("\x1b[3;4;7mital\x1b[0m \xe6\xbc\xa2\xe5\xad\x97x \x1b[9;92mstrike\x1b[0m\r\n");
  original.push("\x1b[44m   \x1b[0m<-blue bg\r\n");
  original.push("plain \x1b[1m");  // the application's pen is bold when the repaint happens

  const std::string repaint = original.render();
  Screen copy(6, 24);
  copy.push(repaint);
  EXPECT_EQ(copy.capture(false), original.capture(false));
  EXPECT_EQ(copy.render(), repaint);

  RawTerminal term(6, 24);
  term.write(repaint);
  const VTermScreenCell red = term.cell(0, 0);
  EXPECT_EQ(red.chars[0], U'r');
  EXPECT_TRUE(red.attrs.bold);
  ASSERT_TRUE(VTERM_COLOR_IS_INDEXED(&red.fg));
  EXPECT_EQ(red.fg.indexed.idx, 1);

  const VTermScreenCell rgb = term.cell(0, 9);
  EXPECT_EQ(rgb.chars[0], U'r');
  EXPECT_FALSE(rgb.attrs.bold);
  ASSERT_TRUE(VTERM_COLOR_IS_INDEXED(&rgb.fg));
  EXPECT_EQ(rgb.fg.indexed.idx, 200);
  ASSERT_TRUE(VTERM_COLOR_IS_RGB(&rgb.bg));
  EXPECT_EQ(rgb.bg.rgb.red, 10);
  EXPECT_EQ(rgb.bg.rgb.green, 20);
  EXPECT_EQ(rgb.bg.rgb.blue, 30);

  const VTermScreenCell ital = term.cell(1, 0);
  EXPECT_TRUE(ital.attrs.italic);
  EXPECT_EQ(ital.attrs.underline, static_cast<unsigned>(VTERM_UNDERLINE_SINGLE));
  EXPECT_TRUE(ital.attrs.reverse);

  const VTermScreenCell wide = term.cell(1, 5);
  EXPECT_EQ(wide.chars[0], U'\u6f22');
  EXPECT_EQ(wide.width, 2);
  EXPECT_EQ(term.cell(1, 7).chars[0], U'\u5b57');
  EXPECT_EQ(term.cell(1, 9).chars[0], U'x');

  const VTermScreenCell strike = term.cell(1, 11);
  EXPECT_TRUE(strike.attrs.strike);
  ASSERT_TRUE(VTERM_COLOR_IS_INDEXED(&strike.fg));
  EXPECT_EQ(strike.fg.indexed.idx, 10);

  const VTermScreenCell blue = term.cell(2, 0);
  EXPECT_EQ(blue.chars[0], U' ');
  ASSERT_TRUE(VTERM_COLOR_IS_INDEXED(&blue.bg));
  EXPECT_EQ(blue.bg.indexed.idx, 4);

  // The repaint ends with the application's pen, so its next characters come out bold.
  RawTerminal after(6, 24);
  after.write(repaint);
  after.write("B");
  EXPECT_TRUE(after.cell(3, 6).attrs.bold);
  EXPECT_EQ(after.cell(3, 6).chars[0], U'B');
}

TEST(ScreenTest, RenderOfAFullScreenDoesNotScrollOrWrap) {
  Screen original(3, 5);
  original.push("abcde12345vwxyz");  // every cell, the last one included
  const std::string repaint = original.render();
  Screen copy(3, 5);
  copy.push(repaint);
  EXPECT_EQ(copy.capture(false), (Lines{"abcde", "12345", "vwxyz"}));
}

TEST(ScreenTest, RenderRestoresTheModesTheApplicationSet) {
  Screen original(5, 20);
  original.push("\x1b[?1049h\x1b[?2004h\x1b[?1h\x1b=\x1b[?1002;1006h\x1b[?1004h");
  original.push("\x1b[2;3Hon the alt screen");
  const std::string repaint = original.render();
  EXPECT_NE(repaint.find("\x1b[?1049h"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b[?2004h"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b[?1h"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b[?1002h"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b[?1006h"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b[?1004h"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b="), std::string::npos);
  // The alternate screen comes first, so the drawing lands on it.
  EXPECT_LT(repaint.find("\x1b[?1049h"), repaint.find("on the alt screen"));

  Screen copy(5, 20);
  copy.push(repaint);
  expect_same_modes(copy.modes(), original.modes());
  EXPECT_TRUE(copy.modes().alt_screen());
  EXPECT_EQ(copy.modes().mouse_mode(), 1002);
  EXPECT_EQ(copy.modes().mouse_encoding(), 1006);
  EXPECT_EQ(copy.capture(false), (Lines{"", "  on the alt screen"}));
}

TEST(ScreenTest, RenderTurnsOffModesTheApplicationTurnedOff) {
  Screen screen(5, 20);
  screen.push("\x1b[?1049h\x1b[?2004h\x1b[?1000hx\x1b[?1000l\x1b[?2004l\x1b[?1049lprimary");
  const std::string repaint = screen.render();
  // A slow client's terminal may still be in the old modes; the repaint takes it out of them.
  EXPECT_NE(repaint.find("\x1b[?1049l"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b[?2004l"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b[?1000l"), std::string::npos);
  EXPECT_EQ(repaint.find("\x1b[?2004h"), std::string::npos);
  EXPECT_EQ(screen.capture(false), (Lines{"primary"}));
}

TEST(ScreenTest, RenderPlacesAndHidesTheCursorLikeTheApplication) {
  Screen original(5, 20);
  original.push("abc\x1b[3;5H\x1b[?25l");
  const std::string repaint = original.render();
  const std::string tail = "\x1b[3;5H\x1b[?25l";
  ASSERT_GE(repaint.size(), tail.size());
  EXPECT_EQ(repaint.substr(repaint.size() - tail.size()), tail);

  Screen copy(5, 20);
  copy.push(repaint);
  const Screen::Cursor cursor = copy.cursor();
  EXPECT_EQ(cursor.row, 2);
  EXPECT_EQ(cursor.col, 4);
  EXPECT_FALSE(cursor.visible);
}

// --- Screen: terminal queries ------------------------------------------------------------

TEST(ScreenTest, CursorPositionQueryIsAnsweredOnceWithThePosition) {
  Screen screen(10, 40);
  std::vector<std::string> answers;
  screen.set_output([&](std::string_view a) { answers.emplace_back(a); });
  screen.push("ab\r\ncd\x1b[6n");
  EXPECT_TRUE(answers.empty());  // push never parses
  screen.catch_up();
  screen.catch_up();
  screen.render();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0], "\x1b[2;3R");
}

TEST(ScreenTest, DeviceAttributesQueryIsAnswered) {
  Screen screen(10, 40);
  std::string answer;
  screen.set_output([&](std::string_view a) { answer += a; });
  screen.push("\x1b[c");
  screen.catch_up();
  EXPECT_EQ(answer, "\x1b[?1;2c");
}

TEST(ScreenTest, QuerySplitAcrossTwoPushesIsFoundAndAnswered) {
  Screen screen(10, 40);
  QueryScanner scanner;
  std::string answer;
  screen.set_output([&](std::string_view a) { answer += a; });

  const std::string_view first = "hello\x1b[";
  const std::string_view second = "6nrest";
  EXPECT_FALSE(scanner.scan(first));
  screen.push(first);
  EXPECT_TRUE(scanner.scan(second));
  screen.push(second);
  screen.catch_up();
  EXPECT_EQ(answer, "\x1b[1;6R");
}

// --- Screen: batching --------------------------------------------------------------------

TEST(ScreenTest, PushNeverParses) {
  Screen screen(5, 20);
  screen.push("abc");
  EXPECT_TRUE(screen.has_backlog());
  EXPECT_EQ(screen.backlog_bytes(), 3u);
}

TEST(ScreenTest, PumpParsesNoMoreThanItsBudget) {
  Screen screen(24, 80);
  const std::string text = numbered_lines(0, 10000);
  screen.push(text);
  std::size_t parsed = 0;
  int pumps = 0;
  while (screen.has_backlog()) {
    const std::size_t before = screen.backlog_bytes();
    const std::size_t n = screen.pump(4096);
    ASSERT_LE(n, 4096u);
    ASSERT_EQ(before - screen.backlog_bytes(), n);
    parsed += n;
    ++pumps;
  }
  EXPECT_EQ(parsed, text.size());
  EXPECT_EQ(pumps, static_cast<int>((text.size() + 4095) / 4096));
  EXPECT_EQ(screen.pump(4096), 0u);
  EXPECT_EQ(screen.capture(false).back(), "line 9999");
}

TEST(ScreenTest, BacklogOverTheLimitResyncsAndShowsTheNewestLines) {
  Screen screen(24, 80);
  screen.push("\x1b[?2004h\x1b[?1h\x1b[?1000h");
  int next = 0;
  while (next < 1'000'000) {
    const std::string chunk = numbered_lines(next, 1000);
    next += 1000;
    screen.push(chunk);
    ASSERT_LE(screen.backlog_bytes(), Screen::kMaxBacklogBytes + chunk.size());
  }
  // 13+ MB went in and nothing was pumped: the backlog was cut to the newest bytes.
  EXPECT_LT(screen.backlog_bytes(), Screen::kMaxBacklogBytes);

  const Lines lines = screen.capture(false);
  ASSERT_EQ(lines.size(), 23u);  // the cursor sits on the empty 24th row
  for (int i = 0; i < 23; ++i) {
    EXPECT_EQ(lines[static_cast<std::size_t>(i)], "line " + std::to_string(next - 23 + i));
  }
  // Modes set in the dropped part are still reported and repainted.
  EXPECT_TRUE(screen.modes().bracketed_paste());
  EXPECT_TRUE(screen.modes().app_cursor_keys());
  EXPECT_EQ(screen.modes().mouse_mode(), 1000);
  const std::string repaint = screen.render();
  EXPECT_NE(repaint.find("\x1b[?2004h"), std::string::npos);
  EXPECT_NE(repaint.find("\x1b[?1000h"), std::string::npos);
}

TEST(ScreenTest, ResyncKeepsAnApplicationOnTheAlternateScreen) {
  Screen screen(10, 40);
  screen.push("primary text\r\n\x1b[?1049h\x1b[H");
  // A full-screen program redrawing its status line, far more than the backlog holds.
  const std::string frame = "\x1b[H\x1b[2Kframe ";
  std::string chunk;
  int frames = 0;
  while (chunk.size() < (1u << 20)) chunk += frame + std::to_string(frames++) + "\r\n";
  for (int i = 0; i < 10; ++i) screen.push(chunk);

  EXPECT_TRUE(screen.modes().alt_screen());
  EXPECT_EQ(screen.capture(false), (Lines{"frame " + std::to_string(frames - 1)}));
  const std::string repaint = screen.render();
  EXPECT_EQ(repaint.find("\x1b[?1049l"), std::string::npos);
  // Leaving the alternate screen after the resync shows the primary screen (reset by the
  // resync, so empty), not the alternate screen's content.
  screen.push("\x1b[?1049l");
  EXPECT_FALSE(screen.modes().alt_screen());
  EXPECT_TRUE(screen.capture(false).empty());
}

TEST(ScreenTest, ResyncAfterTheApplicationLeftTheAlternateScreenDrawsOnThePrimary) {
  Screen screen(5, 40);
  screen.push("old primary\r\n\x1b[?1049hold alt");
  screen.catch_up();  // the screen model is on the alternate screen now
  screen.push("\x1b[?1049l");
  int next = 0;
  while (screen.backlog_bytes() < Screen::kMaxBacklogBytes / 2 || next < 700'000) {
    screen.push(numbered_lines(next, 1000));
    next += 1000;
  }
  const Lines newest = {"line " + std::to_string(next - 4), "line " + std::to_string(next - 3),
                        "line " + std::to_string(next - 2), "line " + std::to_string(next - 1)};
  EXPECT_FALSE(screen.modes().alt_screen());
  EXPECT_EQ(screen.capture(false), newest);
  // A later visit to the alternate screen comes back to these lines, not to "old primary".
  screen.push("\x1b[?1049hvisit\x1b[?1049l");
  EXPECT_EQ(screen.capture(false), newest);
}

TEST(ScreenTest, FiveMegabyteStreamParsedByCatchUpEndsOnTheRightLines) {
  Screen screen(40, 120);
  std::size_t total = 0;
  int next = 0;
  while (total < (5u << 20)) {
    std::string chunk;
    for (int i = 0; i < 50; ++i, ++next) {
      chunk += "\x1b[3" + std::to_string(next % 8) + "mrow " + std::to_string(next) + "\x1b[0m " +
               std::string(60, static_cast<char>('a' + next % 26)) + "\r\n";
    }
    total += chunk.size();
    screen.push(chunk);
  }
  screen.catch_up();
  EXPECT_FALSE(screen.has_backlog());
  const Lines lines = screen.capture(false);
  ASSERT_EQ(lines.size(), 39u);
  const int last = next - 1;
  EXPECT_EQ(lines.back(), "row " + std::to_string(last) + " " +
                              std::string(60, static_cast<char>('a' + last % 26)));
  EXPECT_EQ(lines.front().substr(0, lines.front().find(' ', 4)),
            "row " + std::to_string(last - 38));
}

// --- Screen: size ------------------------------------------------------------------------

TEST(ScreenTest, ResizeChangesRowsColumnsAndCaptureWidth) {
  Screen screen(5, 10);
  screen.resize(8, 20);
  EXPECT_EQ(screen.rows(), 8);
  EXPECT_EQ(screen.cols(), 20);
  screen.push(std::string(30, 'x'));
  EXPECT_EQ(screen.capture(false), (Lines{std::string(20, 'x'), std::string(10, 'x')}));
  EXPECT_EQ(screen.capture(true), (Lines{std::string(30, 'x')}));
}

TEST(ScreenTest, ResizeParsesTheBacklogAtTheOldSizeFirst) {
  Screen screen(5, 10);
  screen.push("0123456789abc");
  screen.resize(5, 20);
  // Written for ten columns, so it wrapped there; libvterm does not reflow.
  EXPECT_EQ(screen.capture(false), (Lines{"0123456789", "abc"}));
}

TEST(ScreenTest, ShrinkingRowsKeepsTheCursorRowsAndTheirWraps) {
  Screen screen(6, 10);
  screen.push("a\r\nb\r\nc\r\n0123456789wrap");
  screen.resize(2, 10);
  EXPECT_EQ(screen.capture(false), (Lines{"0123456789", "wrap"}));
  EXPECT_EQ(screen.capture(true), (Lines{"0123456789wrap"}));
}

// --- TerminalModes -----------------------------------------------------------------------

TEST(TerminalModesTest, FreshModesAreTerminalDefaults) {
  TerminalModes modes;
  EXPECT_FALSE(modes.alt_screen());
  EXPECT_FALSE(modes.bracketed_paste());
  EXPECT_TRUE(modes.cursor_visible());
  EXPECT_EQ(modes.mouse_mode(), 0);
  EXPECT_EQ(modes.restore_sequence(), "");
}

TEST(TerminalModesTest, SequenceSplitAcrossChunksIsRecognised) {
  TerminalModes modes;
  modes.feed("text\x1b");
  modes.feed("[?20");
  modes.feed("04");
  EXPECT_FALSE(modes.bracketed_paste());
  modes.feed("hmore");
  EXPECT_TRUE(modes.bracketed_paste());
}

TEST(TerminalModesTest, OneSequenceCanSetSeveralModes) {
  TerminalModes modes;
  modes.feed("\x1b[?1;1049;2004;1003;1015;1004;25l");
  EXPECT_FALSE(modes.app_cursor_keys());
  modes.feed("\x1b[?1;1049;2004;1003;1015;1004h");
  EXPECT_TRUE(modes.app_cursor_keys());
  EXPECT_TRUE(modes.alt_screen());
  EXPECT_TRUE(modes.bracketed_paste());
  EXPECT_EQ(modes.mouse_mode(), 1003);
  EXPECT_EQ(modes.mouse_encoding(), 1015);
  EXPECT_TRUE(modes.focus_events());
  EXPECT_FALSE(modes.cursor_visible());
}

TEST(TerminalModesTest, ResettingAnotherMouseModeKeepsTheActiveOne) {
  TerminalModes modes;
  modes.feed("\x1b[?1002h\x1b[?1000l");
  EXPECT_EQ(modes.mouse_mode(), 1002);
  modes.feed("\x1b[?1002l");
  EXPECT_EQ(modes.mouse_mode(), 0);
  modes.feed("\x1b[?1006h\x1b[?1005l");
  EXPECT_EQ(modes.mouse_encoding(), 1006);
  modes.feed("\x1b[?1006l");
  EXPECT_EQ(modes.mouse_encoding(), 0);
}

TEST(TerminalModesTest, AnyAlternateScreenModeSwitchesTheScreen) {
  for (const char* mode : {"47", "1047", "1049"}) {
    TerminalModes modes;
    modes.feed(std::string("\x1b[?") + mode + "h");
    EXPECT_TRUE(modes.alt_screen()) << mode;
    modes.feed(std::string("\x1b[?") + mode + "l");
    EXPECT_FALSE(modes.alt_screen()) << mode;
  }
}

TEST(TerminalModesTest, KeypadFollowsEscEqualsAndEscGreater) {
  TerminalModes modes;
  modes.feed("\x1b=");
  EXPECT_TRUE(modes.app_keypad());
  modes.feed("\x1b>");
  EXPECT_FALSE(modes.app_keypad());
}

TEST(TerminalModesTest, FullResetRestoresEveryDefault) {
  TerminalModes modes;
  modes.feed("\x1b[?1049;2004;1;1000;1006;1004h\x1b[?25l\x1b=");
  modes.feed("\x1b");
  modes.feed("c");
  EXPECT_FALSE(modes.alt_screen());
  EXPECT_FALSE(modes.bracketed_paste());
  EXPECT_FALSE(modes.app_cursor_keys());
  EXPECT_FALSE(modes.app_keypad());
  EXPECT_FALSE(modes.focus_events());
  EXPECT_TRUE(modes.cursor_visible());
  EXPECT_EQ(modes.mouse_mode(), 0);
  EXPECT_EQ(modes.mouse_encoding(), 0);
  modes.feed("\x1b[?2004h");  // the parser goes on after the reset
  EXPECT_TRUE(modes.bracketed_paste());
}

TEST(TerminalModesTest, SoftResetResetsKeysAndCursorButNotPasteOrScreen) {
  TerminalModes modes;
  modes.feed("\x1b[?1049;2004;1h\x1b=\x1b[?25l");
  modes.feed("\x1b[!p");
  EXPECT_FALSE(modes.app_cursor_keys());
  EXPECT_FALSE(modes.app_keypad());
  EXPECT_TRUE(modes.cursor_visible());
  EXPECT_TRUE(modes.alt_screen());
  EXPECT_TRUE(modes.bracketed_paste());
}

TEST(TerminalModesTest, AbsurdlyLongSequenceIsIgnoredAndParsingGoesOn) {
  TerminalModes modes;
  modes.feed("\x1b[?" + std::string(100000, '1') + ";2004h");
  EXPECT_FALSE(modes.bracketed_paste());
  modes.feed("\x1b[?2004h");
  EXPECT_TRUE(modes.bracketed_paste());
}

TEST(TerminalModesTest, NonPrivateAndOtherSequencesChangeNothing) {
  TerminalModes modes;
  // ANSI mode 4 (insert), DECRQM for 2004, SGR, a CSI with an intermediate, text alone.
  modes.feed("\x1b[4h\x1b[?2004$p\x1b[1;2004m\x1b[?2004 h [?2004h");
  EXPECT_FALSE(modes.bracketed_paste());
  EXPECT_EQ(modes.restore_sequence(), "");
}

TEST(TerminalModesTest, CancelledSequenceSetsNothing) {
  TerminalModes modes;
  modes.feed("\x1b[?20\x18");
  modes.feed("04h");
  EXPECT_FALSE(modes.bracketed_paste());
}

TEST(TerminalModesTest, RestoreSequenceSetsEveryNonDefaultModeButTheAlternateScreen) {
  TerminalModes modes;
  modes.feed("\x1b[?1049;2004;1;1002;1006;1004h\x1b[?25l\x1b=");
  const std::string seq = modes.restore_sequence();
  EXPECT_EQ(seq.find("1049"), std::string::npos);
  TerminalModes replayed;
  replayed.feed(seq);
  EXPECT_FALSE(replayed.alt_screen());
  EXPECT_TRUE(replayed.bracketed_paste());
  EXPECT_TRUE(replayed.app_cursor_keys());
  EXPECT_TRUE(replayed.app_keypad());
  EXPECT_TRUE(replayed.focus_events());
  EXPECT_FALSE(replayed.cursor_visible());
  EXPECT_EQ(replayed.mouse_mode(), 1002);
  EXPECT_EQ(replayed.mouse_encoding(), 1006);
}

// --- QueryScanner ------------------------------------------------------------------------

TEST(QueryScannerTest, FindsEveryKindOfQuery) {
  for (const char* query :
       {"\x1b[c", "\x1b[0c", "\x1b[>c", "\x1b[>0c", "\x1b[5n", "\x1b[6n", "\x1b[?6n"}) {
    QueryScanner scanner;
    EXPECT_TRUE(scanner.scan(std::string("before ") + query + " after")) << query + 1;
  }
}

TEST(QueryScannerTest, PlainTextAndOtherSequencesAreNotQueries) {
  QueryScanner scanner;
  EXPECT_FALSE(scanner.scan("plain text [6n [c with brackets\r\n"));
  EXPECT_FALSE(scanner.scan("\x1b[16n\x1b[1;6n\x1b[61n\x1b[6;1H\x1b[?25h\x1b[1c\x1b[=c"));
  EXPECT_FALSE(scanner.scan("\x1b[38;2;1;2;3m\x1b[6 q\x1b[6$n\x1b]0;title [6n\x07"));
  EXPECT_FALSE(scanner.scan("\x1b[6\x18n"));  // cancelled
}

TEST(QueryScannerTest, FindsAQuerySplitAtEveryByte) {
  const std::string query = "\x1b[?6n";
  for (std::size_t cut = 1; cut < query.size(); ++cut) {
    QueryScanner scanner;
    EXPECT_FALSE(scanner.scan("xx" + query.substr(0, cut))) << cut;
    EXPECT_TRUE(scanner.scan(query.substr(cut) + "yy")) << cut;
  }
}

TEST(QueryScannerTest, LongSequenceBeforeAQueryDoesNotHideIt) {
  QueryScanner scanner;
  EXPECT_TRUE(scanner.scan("\x1b[" + std::string(1000, '1') + "m\x1b[6n"));
  EXPECT_FALSE(scanner.scan("\x1b[" + std::string(1000, '6') + "n"));
}

}  // namespace
}  // namespace baton::runtime
