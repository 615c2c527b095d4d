#include "plugin/outbox.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "plugin/atomic_file.hpp"
#include "plugin/off_loop.hpp"
#include "runtime/iso_time.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kOutboxSchema = 1;
constexpr std::string_view kSuffix = ".json";

std::string outbox_dir(const std::string& state_dir) {
  return state_dir + "/outbox";
}

bool is_plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

const std::vector<OutboxMessage> kNoMessages;

}  // namespace

std::string_view wire_name(DeliveryState state) {
  switch (state) {
    case DeliveryState::kQueued:
      return "queued";
    case DeliveryState::kDelivering:
      return "delivering";
    case DeliveryState::kEntering:
      return "entering";
  }
  return "queued";
}

std::optional<DeliveryState> delivery_state_from_wire(std::string_view name) {
  for (auto s : {DeliveryState::kQueued, DeliveryState::kDelivering, DeliveryState::kEntering})
    if (wire_name(s) == name) return s;
  return std::nullopt;
}

std::string outbox_file_name(std::string_view recipient) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : recipient) {
    // A leading dot would hide the file and "." or ".." name a directory.
    if (is_plain(c) && !(out.empty() && c == '.')) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    }
  }
  return out + std::string(kSuffix);
}

std::optional<std::string> recipient_from_file_name(std::string_view file_name) {
  if (file_name.size() <= kSuffix.size() || !file_name.ends_with(kSuffix)) return std::nullopt;
  file_name.remove_suffix(kSuffix.size());
  std::string out;
  for (std::size_t i = 0; i < file_name.size(); ++i) {
    const char c = file_name[i];
    if (c != '%') {
      if (!is_plain(c)) return std::nullopt;
      out += c;
      continue;
    }
    if (i + 2 >= file_name.size()) return std::nullopt;
    const int hi = hex_value(file_name[i + 1]);
    const int lo = hex_value(file_name[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string outbox_to_json(const std::string& recipient, const RecipientOutbox& box) {
  json list = json::array();
  for (const auto& m : box.messages) {
    json j{{"id", m.id}, {"text", m.text}, {"told_at", m.told_at}, {"state", wire_name(m.state)}};
    if (!m.session.empty()) j["session"] = m.session;
    list.push_back(std::move(j));
  }
  const json j{{"schema", kOutboxSchema},
               {"recipient", recipient},
               {"next_id", box.next_id},
               {"messages", list}};
  // A message is whatever the user typed: invalid UTF-8 is replaced, never a failed save.
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

tl::expected<RecipientOutbox, std::string> outbox_from_json(std::string_view content) {
  const json j = json::parse(content, nullptr, false);
  if (j.is_discarded()) return tl::unexpected(std::string("not JSON"));
  if (!j.is_object()) return tl::unexpected(std::string("expected a JSON object at the top"));
  if (!j.contains("schema") || !j["schema"].is_number_integer())
    return tl::unexpected(std::string("field schema is missing"));
  if (j["schema"].get<std::int64_t>() != kOutboxSchema)
    return tl::unexpected("schema " + j["schema"].dump() + " is not " +
                          std::to_string(kOutboxSchema));
  if (!j.contains("next_id") || !j["next_id"].is_number_unsigned())
    return tl::unexpected(std::string("field next_id: expected a number"));
  if (!j.contains("messages") || !j["messages"].is_array())
    return tl::unexpected(std::string("field messages: expected an array"));
  RecipientOutbox box;
  box.next_id = j["next_id"].get<std::uint64_t>();
  std::size_t n = 0;
  for (const auto& m : j["messages"]) {
    const std::string where = "messages[" + std::to_string(n++) + "]";
    auto text_of = [&m](const char* key) -> std::optional<std::string> {
      if (!m.is_object() || !m.contains(key) || !m[key].is_string()) return std::nullopt;
      return m[key].get<std::string>();
    };
    auto id = text_of("id");
    auto text = text_of("text");
    auto told_at = text_of("told_at");
    auto state_name = text_of("state");
    if (!id || !text || !told_at || !state_name)
      return tl::unexpected(where + ": expected id, text, told_at and state strings");
    auto state = delivery_state_from_wire(*state_name);
    if (!state) return tl::unexpected(where + ": state '" + *state_name + "' is not known");
    OutboxMessage msg{*id, *text, *told_at, *state, text_of("session").value_or("")};
    if (msg.state != DeliveryState::kQueued && msg.session.empty())
      return tl::unexpected(where + ": " + *state_name + " without a session");
    box.messages.push_back(std::move(msg));
  }
  return box;
}

tl::expected<LoadedOutboxes, std::string> load_outboxes(const std::string& state_dir) {
  LoadedOutboxes out;
  const std::string dir = outbox_dir(state_dir);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    auto recipient = recipient_from_file_name(name);
    if (!recipient) continue;  // a temp file, or one moved aside
    const std::string path = entry.path().string();
    auto content = read_file(path);
    if (!content) {
      if (content.error().empty()) continue;
      return tl::unexpected(content.error());
    }
    auto box = outbox_from_json(*content);
    if (!box) {
      // Never silently discarded: the bytes stay for a human to look at.
      auto moved = move_aside_corrupt(path);
      if (!moved)
        return tl::unexpected("outbox " + path + " is corrupt (" + box.error() +
                              ") and could not be moved aside: " + moved.error());
      out.warnings.push_back("outbox " + path + " was corrupt (" + box.error() +
                             "); moved aside to " + *moved);
      continue;
    }
    // The start-up rule (outbox.hpp): nothing of a `delivering` message was entered; an
    // `entering` one had its text pasted and its Enter about to be written.
    std::erase_if(box->messages, [&](const OutboxMessage& m) {
      if (m.state != DeliveryState::kEntering) return false;
      out.warnings.push_back("message " + m.id + " to " + *recipient + " counted as delivered to " +
                             m.session + " (its Enter was due when the daemon stopped)");
      out.changed.insert(*recipient);
      out.due_enters.push_back({*recipient, m.id, m.session});
      return true;
    });
    for (auto& m : box->messages) {
      if (m.state != DeliveryState::kDelivering) continue;
      out.warnings.push_back("message " + m.id + " to " + *recipient +
                             " queued again: its delivery to " + m.session + " was not entered");
      m.state = DeliveryState::kQueued;
      m.session.clear();
      out.changed.insert(*recipient);
    }
    out.boxes.emplace(*recipient, std::move(*box));
  }
  if (ec) return tl::unexpected("cannot read " + dir + ": " + ec.message());
  return out;
}

tl::expected<void, std::string> save_outbox(const std::string& state_dir,
                                            const std::string& recipient,
                                            const RecipientOutbox& box) {
  return write_file_atomic(outbox_dir(state_dir) + "/" + outbox_file_name(recipient),
                           outbox_to_json(recipient, box));
}

Outbox::Outbox(uv_loop_t* loop, std::string state_dir)
    : loop_(loop), state_dir_(std::move(state_dir)) {}

std::vector<DueEnter> Outbox::load() {
  auto loaded = load_outboxes(state_dir_);
  if (!loaded) {
    spdlog::error("{}", loaded.error());
    return {};
  }
  for (const auto& w : loaded->warnings) spdlog::warn("{}", w);
  boxes_ = std::move(loaded->boxes);
  for (const auto& recipient : loaded->changed) persist(recipient, nullptr);
  return std::move(loaded->due_enters);
}

std::string Outbox::add(const std::string& recipient, const std::string& text, SavedFn then) {
  RecipientOutbox& box = boxes_[recipient];
  OutboxMessage m;
  // Appended, not `"m" + string`: GCC 12's false -Wrestrict at -O3 (DESIGN.md §8).
  m.id.assign(1, 'm');
  m.id += std::to_string(box.next_id++);
  m.text = text;
  m.told_at = runtime::iso8601_now();
  box.messages.push_back(m);
  persist(recipient, std::move(then));
  return m.id;
}

void Outbox::set_state(const std::string& recipient, const std::string& id, DeliveryState state,
                       const std::string& session, SavedFn then) {
  auto it = boxes_.find(recipient);
  if (it != boxes_.end()) {
    for (auto& m : it->second.messages) {
      if (m.id != id) continue;
      m.state = state;
      m.session = state == DeliveryState::kQueued ? std::string() : session;
    }
  }
  persist(recipient, std::move(then));
}

bool Outbox::remove(const std::string& recipient, const std::string& id, SavedFn then) {
  auto it = boxes_.find(recipient);
  if (it == boxes_.end()) return false;
  const auto removed =
      std::erase_if(it->second.messages, [&id](const OutboxMessage& m) { return m.id == id; });
  if (removed == 0) return false;
  persist(recipient, std::move(then));
  return true;
}

const std::vector<OutboxMessage>& Outbox::messages(const std::string& recipient) const {
  auto it = boxes_.find(recipient);
  return it == boxes_.end() ? kNoMessages : it->second.messages;
}

std::vector<std::string> Outbox::queued_texts(const std::string& recipient) const {
  std::vector<std::string> out;
  for (const auto& m : messages(recipient)) out.push_back(m.text);
  return out;
}

std::size_t Outbox::count(const std::string& recipient) const {
  return messages(recipient).size();
}

std::vector<std::string> Outbox::recipients() const {
  std::vector<std::string> out;
  for (const auto& [recipient, box] : boxes_)
    if (!box.messages.empty()) out.push_back(recipient);
  return out;
}

const OutboxMessage* Outbox::find(const std::string& recipient, const std::string& id) const {
  for (const auto& m : messages(recipient))
    if (m.id == id) return &m;
  return nullptr;
}

void Outbox::persist(const std::string& recipient, SavedFn then) {
  if (then) waiting_.push_back(std::move(then));
  dirty_.insert(recipient);
  if (!is_saving_) start_persist();
}

// One save at a time, of every recipient changed since the last one started: a callback runs
// once a save that began after its change ended, so what it waits for is on disk.
void Outbox::start_persist() {
  is_saving_ = true;
  in_flight_ = std::move(waiting_);
  waiting_.clear();
  auto snapshot = std::make_shared<std::map<std::string, RecipientOutbox>>();
  for (const auto& recipient : dirty_) (*snapshot)[recipient] = boxes_[recipient];
  dirty_.clear();
  run_off_loop<tl::expected<void, std::string>>(
      loop_,
      [snapshot, dir = state_dir_]() -> tl::expected<void, std::string> {
        for (const auto& [recipient, box] : *snapshot)
          if (auto r = save_outbox(dir, recipient, box); !r) return r;
        return {};
      },
      [this](tl::expected<void, std::string> r) {
        if (!r) spdlog::error("{}", r.error());
        auto fns = std::move(in_flight_);
        in_flight_.clear();
        is_saving_ = false;
        if (!dirty_.empty()) start_persist();
        for (auto& fn : fns) fn(r);
      });
}

}  // namespace baton::plugin
