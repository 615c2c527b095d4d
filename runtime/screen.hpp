// The per-session screen model: a libvterm screen fed from the session's output.
//
// It is kept off the hot path (DESIGN.md §8: libvterm's screen layer parses ~10-15 MB/s
// while a PTY moves ~90 MB/s): the session appends output with push(), which only copies,
// and the loop parses it later in budgeted batches with pump(). A backlog larger than
// kMaxBacklogBytes is resynchronised lossily: the screen is reset, the modes tracked from
// the byte stream are restored and only the newest tail is parsed, so the screen never
// paces the bytes going to clients. capture() and render() call catch_up() first, so they
// show every byte pushed before them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/terminal_modes.hpp"

struct VTerm;
struct VTermScreen;

namespace baton::runtime {

class Screen {
 public:
  // Small enough that a flood costs the model little CPU (it parses ~14 MB/s), large
  // enough that ordinary bursts are parsed exactly.
  static constexpr std::size_t kMaxBacklogBytes = 2u << 20;
  static constexpr std::size_t kResyncTailBytes = 256u << 10;

  // Receives libvterm's answers to terminal queries (DA, DSR). The session forwards them to
  // the PTY only while no writable client is attached (that client's terminal answers).
  using OutputFn = std::function<void(std::string_view)>;

  Screen(int rows, int cols);
  ~Screen();
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  void set_output(OutputFn fn);

  // Appends to the backlog; never parses.
  void push(std::string_view bytes);
  // Parses at most budget_bytes of the backlog; returns how many were parsed.
  std::size_t pump(std::size_t budget_bytes);
  // Parses the whole backlog (lossy resync when it is over kMaxBacklogBytes).
  void catch_up();
  bool has_backlog() const;
  std::size_t backlog_bytes() const;

  void resize(int rows, int cols);
  int rows() const { return rows_; }
  int cols() const { return cols_; }

  struct Cursor {
    int row = 0;
    int col = 0;
    bool visible = true;
  };
  Cursor cursor();

  // Bytes that, written to a terminal of the same size, redraw the current screen: switch to
  // the alternate screen if the application is on it, clear, every cell with its colours and
  // attributes, the modes the application set (bracketed paste, cursor keys, mouse, focus),
  // then the cursor position and visibility.
  std::string render();

  // The screen as text lines, trailing blanks trimmed, trailing empty lines dropped.
  // join_wrapped joins soft-wrapped rows (VTermLineInfo.continuation), like
  // `tmux capture-pane -pJ`; otherwise one string per screen row.
  std::vector<std::string> capture(bool join_wrapped);

  const TerminalModes& modes() const { return modes_; }

 private:
  struct Wraps;

  void parse(std::string_view bytes);
  // Parses bytes and notes whether they end on a plain line that scrolled the whole screen.
  void parse_chunk(std::string_view bytes);
  // How many bytes at the front of the backlog can be dropped unparsed without changing the
  // screen (see screen.cpp), at most limit.
  std::size_t skippable_bytes(std::size_t limit) const;
  void resync();
  void reset_vterm();

  int rows_;
  int cols_;
  VTerm* vt_ = nullptr;
  VTermScreen* vts_ = nullptr;
  std::string backlog_;
  std::size_t backlog_off_ = 0;
  TerminalModes modes_;
  // The modes as of the last byte parsed or dropped (modes_ runs ahead by the backlog): what a
  // resync restores before it parses the tail.
  TerminalModes parsed_modes_;
  // Soft-wrapped rows, tracked from libvterm's callbacks: 0.1.4 has no
  // VTermLineInfo.continuation.
  std::unique_ptr<Wraps> wraps_;
  OutputFn output_;
  // Where libvterm's parser is, as far as skipping needs to know: 0 between sequences.
  std::uint8_t esc_state_ = 0;
  // The bytes parsed so far end with a plain CR LF line that scrolled the whole screen: the
  // cursor is at the start of the bottom row and every further plain line scrolls.
  bool is_at_scrolled_line_start_ = false;
};

}  // namespace baton::runtime
