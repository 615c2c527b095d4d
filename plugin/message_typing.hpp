// Typing a message into an agent as a person would (DESIGN.md §9 "Messages"): the text, inside
// bracketed paste when the agent turned it on, so a multi-line message is one input and not
// one submit per line; then Enter as a separate write, so an agent that tells pastes from
// typing by their timing (codex does) sees a key press. `baton send` is raw and uses none of
// this.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "runtime/session.hpp"
#include "runtime/uv_handles.hpp"

namespace baton::runtime {
class Daemon;
}

namespace baton::plugin {

// The bytes that paste `text`: bracketed when `is_bracketed`. A message's own paste-end
// marker is removed, so the message cannot end the paste early and type the rest as keys.
std::string paste_bytes(std::string_view text, bool is_bracketed);
// Writes the paste of `text` (the first write of a message).
void paste_text(runtime::Session& session, std::string_view text);
// Writes Enter (the second write).
void press_enter(runtime::Session& session);

// Pastes, waits kEnterDelayMs, presses Enter. Owned by whoever types (one at a time); its
// timer is closed when it is destroyed, so a typing whose owner ended presses nothing.
// `done` gets false when the session was gone or had exited before the Enter.
class MessageTyping {
 public:
  static constexpr std::uint64_t kEnterDelayMs = 150;
  using DoneFn = std::function<void(bool entered)>;

  MessageTyping(runtime::Daemon& daemon, std::string session_id);
  MessageTyping(const MessageTyping&) = delete;
  MessageTyping& operator=(const MessageTyping&) = delete;

  void type(std::string_view text, DoneFn done);

 private:
  runtime::Session* running_session();

  runtime::Daemon& daemon_;
  std::string session_id_;
  runtime::Owned<runtime::Timer> timer_;
};

}  // namespace baton::plugin
