// The outbox (DESIGN.md §9 "Messages"): the messages `baton tell` queued, per recipient, in
// <state_dir>/outbox/<recipient>.json, each with its delivery state. Every change is written
// atomically off the loop before the step it records is taken (a delivery is recorded before
// it is typed), and saves are serialised, so an older snapshot never lands after a newer one.
// A recipient is a project id today; a worker `project/name` fits the file-name encoding.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace baton::plugin {

// Where a message is in its delivery. A message leaves the outbox once its Enter was written.
enum class DeliveryState {
  kQueued,      // waits for the recipient's turn to end
  kDelivering,  // recorded for a session before its text is pasted
  kEntering,    // pasted; recorded before the Enter is written
};

std::string_view wire_name(DeliveryState state);
std::optional<DeliveryState> delivery_state_from_wire(std::string_view name);

struct OutboxMessage {
  std::string id;  // m1, m2 ... per recipient, never reused
  std::string text;
  std::string told_at;  // ISO 8601
  DeliveryState state = DeliveryState::kQueued;
  std::string session;  // the session it is being typed into (delivering, entering)
};

// One recipient's file: the messages oldest first, and the next id's number.
struct RecipientOutbox {
  std::uint64_t next_id = 1;
  std::vector<OutboxMessage> messages;
};

// The file name of a recipient: bytes outside [A-Za-z0-9._-] as %XX, so `shop/fix-login`
// (a worker) is `shop%2Ffix-login.json` and no recipient names a path outside the directory.
std::string outbox_file_name(std::string_view recipient);
std::optional<std::string> recipient_from_file_name(std::string_view file_name);

std::string outbox_to_json(const std::string& recipient, const RecipientOutbox& box);
tl::expected<RecipientOutbox, std::string> outbox_from_json(std::string_view content);

// A message whose Enter was due when the daemon stopped: its text is in the agent's input.
struct DueEnter {
  std::string recipient;
  std::string id;
  std::string session;
};

// What a daemon start reads: every recipient's outbox, after the start-up rule — a message
// `delivering` was not entered, so it is queued again; an `entering` one counts as delivered
// and goes, and is listed in `due_enters`: when its agent outlived the daemon (adopted from
// its holder) the Enter is written now. `warnings`: one line per corrupt file moved aside
// (`<file>.corrupt-<time>`) or per change the rule made.
struct LoadedOutboxes {
  std::map<std::string, RecipientOutbox> boxes;
  std::vector<std::string> warnings;
  std::set<std::string> changed;  // recipients the rule changed: saved again
  std::vector<DueEnter> due_enters;
};
// Blocking (it reads and may rename files): at start-up, before the daemon serves.
tl::expected<LoadedOutboxes, std::string> load_outboxes(const std::string& state_dir);
// Blocking: the atomic write of one recipient's file.
tl::expected<void, std::string> save_outbox(const std::string& state_dir,
                                            const std::string& recipient,
                                            const RecipientOutbox& box);

class Outbox {
 public:
  using SavedFn = std::function<void(const tl::expected<void, std::string>&)>;

  Outbox(uv_loop_t* loop, std::string state_dir);
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Loads every recipient's file (start-up, on the loop, before the daemon serves: like the
  // store). Warnings go to the log.
  // Returns the messages whose Enter was due (LoadedOutboxes::due_enters).
  std::vector<DueEnter> load();

  // Queues `text` for `recipient`; `then` runs once it is on disk. Returns the message's id.
  std::string add(const std::string& recipient, const std::string& text, SavedFn then);
  // Sets a message's state (and the session it is typed into); persisted, then `then`.
  void set_state(const std::string& recipient, const std::string& id, DeliveryState state,
                 const std::string& session, SavedFn then);
  // Removes a message (delivered, or dropped); false when the recipient has no such id.
  bool remove(const std::string& recipient, const std::string& id, SavedFn then);

  // Oldest first.
  const std::vector<OutboxMessage>& messages(const std::string& recipient) const;
  // The texts still to deliver, oldest first: what the handoff note lists.
  std::vector<std::string> queued_texts(const std::string& recipient) const;
  std::size_t count(const std::string& recipient) const;
  // Recipients with at least one message.
  std::vector<std::string> recipients() const;
  const OutboxMessage* find(const std::string& recipient, const std::string& id) const;

 private:
  void persist(const std::string& recipient, SavedFn then);
  void start_persist();

  uv_loop_t* loop_;
  std::string state_dir_;
  std::map<std::string, RecipientOutbox> boxes_;
  bool is_saving_ = false;
  std::set<std::string> dirty_;  // recipients changed since the last save started
  std::vector<SavedFn> waiting_;
  std::vector<SavedFn> in_flight_;
};

}  // namespace baton::plugin
