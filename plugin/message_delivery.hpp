// Delivery of the outbox's messages (DESIGN.md §9 "Messages", docs/orchestrator.md "Messages"):
// a recipient's oldest message is typed once its agent can take input — the project's newest
// active orchestrator runs, no handoff, recovery, relaunch or launch grace is under way, its
// turn ended (activity `idle`) since the last message it got, and no attached client typed in
// the last kClientQuietMs. Each step is recorded before it is taken: `delivering` for the
// session, the paste, `entering`, the Enter (a separate write), the removal. Woken by activity
// changes, by a tell, and by a timer while a message is held for a reason no event ends; the
// listener and the timer exist only while the outbox holds a message.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "plugin/orchestrator.hpp"
#include "plugin/outbox.hpp"
#include "runtime/uv_handles.hpp"

namespace baton::plugin {

class MessageDelivery {
 public:
  // A client that typed this recently may be in the middle of a line: a message would land
  // inside it.
  static constexpr std::uint64_t kClientQuietMs = 3000;
  // While held by a handoff, a relaunch, a launch grace or a typing client.
  static constexpr std::uint64_t kRecheckMs = 250;

  MessageDelivery(Orchestrator& orch, Outbox& outbox);
  ~MessageDelivery();
  MessageDelivery(const MessageDelivery&) = delete;
  MessageDelivery& operator=(const MessageDelivery&) = delete;

  // Delivers what the recipients hold, when they can take it (a tell, an activity change, a
  // drop, after start-up); idempotent. Every recipient is looked at: one passed over would
  // wait for an event of its own that may have come already.
  void kick();
  // `tell --now`: types message `id` at once when the recipient's agent waits for input (idle
  // or waiting_input, nothing else being typed, no handoff); false when it does not.
  bool deliver_now(const std::string& recipient, const std::string& id);
  // Shutdown: closes the timer and removes the listener; nothing is typed after it.
  void close();

  // What is registered now (tests, and the invariant that nothing outlives the messages).
  bool is_listening() const { return listener_ != 0; }
  bool has_timer() const { return static_cast<bool>(recheck_timer_); }

 private:
  struct Typing;
  enum class Readiness { kReady, kWaitEvent, kWaitTime };
  // Whether recipient's next message can be typed now (into `session`), and if not, whether
  // an activity change or only time (the re-check timer) can change that.
  Readiness readiness(const std::string& recipient, bool is_now, std::string& session);
  // Whether `recipient`'s agent takes a message now (its turn ended, nobody typing).
  Readiness readiness_of(const SessionRecord& recipient, bool is_now, std::string& session);
  void start_delivery(const std::string& recipient, const OutboxMessage& m,
                      const std::string& session);
  void on_recorded(const std::string& recipient);
  void on_entering(const std::string& recipient);
  void press(const std::string& recipient);
  void on_removed(const std::string& recipient);
  // Puts a message whose delivery could not go on back in the queue (nothing was entered).
  void requeue(const std::string& recipient, const std::string& why);
  void on_activity(const std::string& session_id, const Activity& now);
  // Listener and timer follow the outbox: registered while it holds messages.
  void settle_registrations(bool needs_timer);
  runtime::Session* running(const std::string& session_id);

  Orchestrator& orch_;
  Outbox& outbox_;
  bool is_closed_ = false;
  // Sessions that got a message and whose turn has not ended since.
  std::set<std::string> awaiting_turn_end_;
  // One delivery per recipient at a time.
  std::map<std::string, std::unique_ptr<Typing>> typing_;
  Orchestrator::ActivityListener listener_ = 0;
  runtime::Owned<runtime::Timer> recheck_timer_;
};

}  // namespace baton::plugin
