#include "plugin/message_delivery.hpp"

#include <spdlog/spdlog.h>

#include "plugin/fault.hpp"
#include "plugin/health.hpp"
#include "plugin/message_typing.hpp"

namespace baton::plugin {

// One message on its way into one session.
struct MessageDelivery::Typing {
  std::string id;
  std::string text;
  std::string session;
  std::uint64_t pasted_at_ms = 0;
  bool is_enter_due = false;                   // `entering` is on disk: only the Enter is left
  runtime::Owned<runtime::Timer> enter_timer;  // the rest of the paste-to-Enter delay
};

namespace {

// Delivery is tied to no command: its fault points are armed by the daemon's environment.
bool delivery_fault(std::string_view point) {
  return fault_hit(daemon_fault_env(), point);
}

}  // namespace

MessageDelivery::MessageDelivery(Orchestrator& orch, Outbox& outbox)
    : orch_(orch), outbox_(outbox) {}

MessageDelivery::~MessageDelivery() {
  close();
}

void MessageDelivery::close() {
  if (is_closed_) return;
  is_closed_ = true;
  // `baton shutdown` inside the paste-to-Enter delay: the agents are stopped and the Enter
  // was never written, but the record says `entering`, which the next start would count as
  // delivered. Queued again instead; the save still runs while the loop winds down.
  for (auto& [recipient, typing] : typing_)
    if (typing->is_enter_due)
      outbox_.set_state(recipient, typing->id, DeliveryState::kQueued, "", nullptr);
  recheck_timer_.reset();
  typing_.clear();
  if (listener_ != 0) orch_.remove_activity_listener(listener_);
  listener_ = 0;
}

runtime::Session* MessageDelivery::running(const std::string& session_id) {
  runtime::Session* s = orch_.daemon().find_session_exact(session_id);
  return s && s->is_running() ? s : nullptr;
}

MessageDelivery::Readiness MessageDelivery::readiness(const std::string& recipient, bool is_now,
                                                      std::string& session) {
  // A worker's messages ("<project>/<name>", docs/workers.md) wait for that worker alone: no
  // handoff of the orchestrator concerns it.
  if (const auto slash = recipient.find('/'); slash != std::string::npos) {
    const SessionRecord* w =
        orch_.registry().live_worker(recipient.substr(0, slash), recipient.substr(slash + 1));
    // Gone (finished): nothing comes to read it, and no timer waits for it.
    if (!w) return Readiness::kWaitEvent;
    if (w->state != SessionState::kActive) return Readiness::kWaitTime;
    return readiness_of(*w, is_now, session);
  }
  ProjectState* p = orch_.find_project(recipient);
  if (!p) return Readiness::kWaitEvent;
  // Draining, in the gap, launching, recovering or relaunching: the message is for the agent
  // that comes out of it. Not while a handoff that replied only deletes its old trees.
  if (p->is_handing_off() || p->is_recovering || p->relaunch_timer) return Readiness::kWaitTime;
  // An agent that dies within its launch grace is replaced by the previous one: a message
  // waits for the grace to end, unless the user said --now.
  if (p->launch_watch && !is_now) return Readiness::kWaitTime;
  const SessionRecord* rec = newest_active(orch_.project_sessions(recipient));
  if (!rec) return Readiness::kWaitTime;
  return readiness_of(*rec, is_now, session);
}

MessageDelivery::Readiness MessageDelivery::readiness_of(const SessionRecord& recipient,
                                                         bool is_now, std::string& session) {
  const SessionRecord* rec = &recipient;
  runtime::Session* s = running(rec->id);
  if (!s) return Readiness::kWaitTime;
  const Activity* a = orch_.activity().get(rec->id);
  const bool is_idle = a && a->state == ActivityState::kIdle;
  const bool is_waiting = a && a->state == ActivityState::kWaitingInput;
  if (is_now) {
    if (!is_idle && !is_waiting) return Readiness::kWaitEvent;
  } else {
    if (!is_idle || awaiting_turn_end_.count(rec->id)) return Readiness::kWaitEvent;
    if (s->ms_since_client_input() < kClientQuietMs) return Readiness::kWaitTime;
  }
  session = rec->id;
  return Readiness::kReady;
}

void MessageDelivery::kick() {
  if (is_closed_) return;
  bool needs_timer = false;
  for (const auto& r : outbox_.recipients()) {
    if (typing_.count(r)) continue;
    std::string session;
    const Readiness ready = readiness(r, false, session);
    if (ready == Readiness::kWaitTime) needs_timer = true;
    if (ready == Readiness::kReady) start_delivery(r, outbox_.messages(r).front(), session);
  }
  settle_registrations(needs_timer);
}

bool MessageDelivery::deliver_now(const std::string& recipient, const std::string& id) {
  if (is_closed_ || typing_.count(recipient)) return false;
  const OutboxMessage* m = outbox_.find(recipient, id);
  if (!m || m->state != DeliveryState::kQueued) return false;
  std::string session;
  if (readiness(recipient, true, session) != Readiness::kReady) return false;
  start_delivery(recipient, *m, session);
  return true;
}

void MessageDelivery::start_delivery(const std::string& recipient, const OutboxMessage& m,
                                     const std::string& session) {
  auto typing = std::make_unique<Typing>();
  typing->id = m.id;
  typing->text = m.text;
  typing->session = session;
  typing_[recipient] = std::move(typing);
  spdlog::info("delivering message {} to {} ({})", m.id, recipient, session);
  // Recorded before the first byte is typed: a daemon killed from here on never types it
  // twice (a `delivering` message is queued again at start-up, when its agent died with the
  // daemon and nothing of it was entered).
  outbox_.set_state(recipient, m.id, DeliveryState::kDelivering, session,
                    [this, recipient](const tl::expected<void, std::string>& saved) {
                      if (is_closed_ || !typing_.count(recipient)) return;
                      if (!saved) return requeue(recipient, saved.error());
                      on_recorded(recipient);
                    });
}

void MessageDelivery::on_recorded(const std::string& recipient) {
  delivery_fault("tell.recorded");
  Typing& t = *typing_[recipient];
  runtime::Session* s = running(t.session);
  // The agent ended, or a handoff began, while the record was written: nothing was typed.
  ProjectState* p = orch_.find_project(recipient.substr(0, recipient.find('/')));
  const bool is_worker = recipient.find('/') != std::string::npos;
  if (!s || !p || (!is_worker && p->is_handing_off()))
    return requeue(recipient, "its agent is no longer taking input");
  paste_text(*s, t.text);
  t.pasted_at_ms = uv_now(orch_.loop());
  delivery_fault("tell.pasted");
  outbox_.set_state(recipient, t.id, DeliveryState::kEntering, t.session,
                    [this, recipient](const tl::expected<void, std::string>& saved) {
                      if (is_closed_ || !typing_.count(recipient)) return;
                      // Not recorded: the Enter is not written, so the message is never
                      // counted as delivered without being entered.
                      if (!saved) return requeue(recipient, saved.error());
                      on_entering(recipient);
                    });
}

void MessageDelivery::on_entering(const std::string& recipient) {
  Typing& t = *typing_[recipient];
  t.is_enter_due = true;
  // An agent that tells a paste from typing by timing (codex) must see the Enter as a key
  // press: it comes at least MessageTyping::kEnterDelayMs after the paste.
  const std::uint64_t since = uv_now(orch_.loop()) - t.pasted_at_ms;
  if (since >= MessageTyping::kEnterDelayMs) return press(recipient);
  t.enter_timer = runtime::make_owned<runtime::Timer>(orch_.loop());
  // The timer belongs to the Typing, which close() destroys: then this never runs.
  t.enter_timer->start(MessageTyping::kEnterDelayMs - since,
                       [this, recipient] { press(recipient); });
}

void MessageDelivery::press(const std::string& recipient) {
  Typing& t = *typing_[recipient];
  runtime::Session* s = running(t.session);
  // Its agent ended between the paste and the Enter: the paste died with it, nothing was
  // entered, so the message goes to the agent that comes next.
  if (!s) return requeue(recipient, "its agent ended before the Enter");
  press_enter(*s);
  t.is_enter_due = false;
  awaiting_turn_end_.insert(t.session);
  delivery_fault("tell.entered");
  outbox_.remove(recipient, t.id, [this, recipient](const tl::expected<void, std::string>& saved) {
    if (!saved) spdlog::error("message delivered but its removal was not saved: {}", saved.error());
    if (is_closed_ || !typing_.count(recipient)) return;
    on_removed(recipient);
  });
}

void MessageDelivery::on_removed(const std::string& recipient) {
  delivery_fault("tell.delivered");
  spdlog::info("delivered message {} to {}", typing_[recipient]->id, typing_[recipient]->session);
  typing_.erase(recipient);
  kick();
}

void MessageDelivery::requeue(const std::string& recipient, const std::string& why) {
  auto it = typing_.find(recipient);
  if (it == typing_.end()) return;
  const std::string id = it->second->id;
  spdlog::warn("message {} to {} queued again: {}", id, recipient, why);
  typing_.erase(it);
  outbox_.set_state(recipient, id, DeliveryState::kQueued, "",
                    [this](const tl::expected<void, std::string>&) {
                      if (!is_closed_) kick();
                    });
}

void MessageDelivery::on_activity(const std::string& session_id, const Activity& now) {
  if (now.state == ActivityState::kIdle || now.state == ActivityState::kExited)
    awaiting_turn_end_.erase(session_id);
  kick();
}

void MessageDelivery::settle_registrations(bool needs_timer) {
  const bool has_messages = !outbox_.recipients().empty();
  // A session that got a message is listened to until its turn ended, so a message told
  // meanwhile waits for that turn end too.
  const bool needs_listener = has_messages || !awaiting_turn_end_.empty();
  if (needs_listener && listener_ == 0 && !is_closed_) {
    listener_ = orch_.on_activity([this](const std::string& session_id, const Activity& now) {
      on_activity(session_id, now);
    });
  } else if (!needs_listener && listener_ != 0) {
    orch_.remove_activity_listener(listener_);
    listener_ = 0;
  }
  if (needs_timer && has_messages && !is_closed_) {
    if (!recheck_timer_) {
      recheck_timer_ = runtime::make_owned<runtime::Timer>(orch_.loop());
      recheck_timer_->start(kRecheckMs, [this] {
        recheck_timer_.reset();
        kick();
      });
    }
  } else {
    recheck_timer_.reset();
  }
}

}  // namespace baton::plugin
