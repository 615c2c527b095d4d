#include "plugin/message_typing.hpp"

#include "runtime/daemon.hpp"

namespace baton::plugin {

namespace {
constexpr std::string_view kPasteStart = "\x1b[200~";
constexpr std::string_view kPasteEnd = "\x1b[201~";
}  // namespace

std::string paste_bytes(std::string_view text, bool is_bracketed) {
  std::string body(text);
  if (!is_bracketed) return body;
  for (auto at = body.find(kPasteEnd); at != std::string::npos; at = body.find(kPasteEnd, at))
    body.erase(at, kPasteEnd.size());
  return std::string(kPasteStart) + body + std::string(kPasteEnd);
}

void paste_text(runtime::Session& session, std::string_view text) {
  session.write_input(paste_bytes(text, session.is_bracketed_paste()));
}

void press_enter(runtime::Session& session) {
  session.write_input("\r");
}

MessageTyping::MessageTyping(runtime::Daemon& daemon, std::string session_id)
    : daemon_(daemon), session_id_(std::move(session_id)) {}

runtime::Session* MessageTyping::running_session() {
  runtime::Session* s = daemon_.find_session_exact(session_id_);
  return s && s->is_running() ? s : nullptr;
}

void MessageTyping::type(std::string_view text, DoneFn done) {
  runtime::Session* s = running_session();
  if (!s) return done(false);
  paste_text(*s, text);
  timer_ = runtime::make_owned<runtime::Timer>(daemon_.loop());
  // The timer belongs to this object: when its owner destroys it, the timer closes and this
  // callback never runs, so `this` is alive whenever it does.
  timer_->start(kEnterDelayMs, [this, done = std::move(done)] {
    runtime::Session* live = running_session();
    if (live) press_enter(*live);
    done(live != nullptr);
  });
}

}  // namespace baton::plugin
