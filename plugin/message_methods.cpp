// Methods about messages (docs/orchestrator.md "Messages"): tell (queue a message for the
// project's orchestrator, typed at its turn end) and outbox (list or drop what waits).
#include "plugin/control_methods.hpp"
#include "plugin/down.hpp"
#include "plugin/fault.hpp"
#include "plugin/health.hpp"
#include "plugin/message_delivery.hpp"
#include "plugin/orchestrator.hpp"

namespace baton::plugin {

namespace proto = runtime::protocol;
using proto::Json;
using runtime::RequestPtr;

namespace {

// Empty when an agent runs or will come back to read a message (a handoff, start-up recovery
// or a crash relaunch under way); else the one line that says why none will.
std::string why_no_agent_comes(Orchestrator& orch, ProjectState& p) {
  if (p.handoff) {
    if (dynamic_cast<const Down*>(p.handoff.get()))
      return "project " + p.id + " is going down: no agent will read the message";
    return "";
  }
  if (p.is_recovering || p.relaunch_timer) return "";
  const auto sessions = orch.project_sessions(p.id);
  if (newest_active(sessions)) return "";
  const SessionRecord* last = current_orchestrator(sessions);
  if (last && last->state == SessionState::kExited)
    return "the orchestrator of " + p.id + " exited and is not relaunched: no agent will read " +
           "the message (run 'baton replace " + p.path + "')";
  return "project " + p.id + " is down: no agent will read the message (run 'baton up " + p.path +
         "')";
}

Json message_json(const OutboxMessage& m) {
  Json j{{"id", m.id}, {"text", m.text}, {"told_at", m.told_at}, {"state", wire_name(m.state)}};
  j["session"] = m.session.empty() ? Json(nullptr) : Json(m.session);
  return j;
}

// The recipient TARGET names: a worker ("<project>/<name>": PROJECT/NAME, its session id or
// a path in its tree), else the project (its orchestrator).
void with_recipient(Orchestrator& orch, const RequestPtr& req,
                    const std::function<void(const std::string& recipient)>& then) {
  if (const SessionRecord* w = orch.registry().resolve_worker(string_param(req, "target"))) {
    if (w->state != SessionState::kActive)
      return req->fail(wire_name(ErrorCode::kMissing), "worker " + w->name + " of " + w->project +
                                                           " is " + std::string(worker_health(*w)) +
                                                           ": no agent will read the message");
    return then(w->project + "/" + w->name);
  }
  with_project(orch, req, false, [&orch, req, then](ProjectState& p) {
    if (auto why = why_no_agent_comes(orch, p); !why.empty())
      return req->fail(wire_name(ErrorCode::kMissing), why);
    then(p.id);
  });
}

void tell(Orchestrator& orch, const RequestPtr& req) {
  const std::string text = string_param(req, "text");
  if (text.empty()) return req->fail(wire_name(ErrorCode::kBadParams), "tell: no text given");
  const bool is_now = bool_param(req, "now");
  with_recipient(orch, req, [&orch, req, text, is_now](const std::string& recipient) {
    auto id = std::make_shared<std::string>();
    *id = orch.outbox().add(
        recipient, text,
        [&orch, req, recipient, id, is_now](const tl::expected<void, std::string>& saved) {
          if (!saved) {
            // Not on disk: it must not be typed either (delivery is recorded first).
            orch.outbox().remove(recipient, *id, nullptr);
            return req->fail(wire_name(ErrorCode::kPersistFailed),
                             "tell: the message was not queued: " + saved.error());
          }
          const bool is_typed = is_now && orch.messages().deliver_now(recipient, *id);
          if (!is_typed) orch.messages().kick();
          req->reply(Json{{"id", *id},
                          {"recipient", recipient},
                          {"typed_now", is_typed},
                          {"outbox", orch.outbox().count(recipient)}});
        });
  });
}

void outbox(Orchestrator& orch, const RequestPtr& req) {
  const std::string action = string_param(req, "action");
  const std::string id = string_param(req, "id");
  if (action != "ls" && action != "drop")
    return req->fail(wire_name(ErrorCode::kBadParams),
                     "outbox: action '" + action + "' must be ls or drop");
  auto in_outbox = [&orch, req, action, id](const std::string& recipient, const std::string& path) {
    if (action == "ls") {
      Json list = Json::array();
      for (const auto& m : orch.outbox().messages(recipient)) list.push_back(message_json(m));
      return req->reply(Json{{"recipient", recipient}, {"messages", list}});
    }
    const OutboxMessage* m = orch.outbox().find(recipient, id);
    if (!m)
      return req->fail(wire_name(ErrorCode::kNotFound), "outbox: no message '" + id + "' for " +
                                                            recipient + " (see 'baton outbox " +
                                                            path + " ls')");
    if (m->state != DeliveryState::kQueued)
      return req->fail(wire_name(ErrorCode::kFailed), "outbox: message " + id +
                                                          " is being typed into " + m->session +
                                                          " and can no longer be dropped");
    orch.outbox().remove(
        recipient, id, [&orch, req, recipient, id](const tl::expected<void, std::string>& saved) {
          if (!saved)
            return req->fail(wire_name(ErrorCode::kPersistFailed),
                             "outbox: drop of " + id + " not saved: " + saved.error());
          // The listener and the timer go with the last message.
          orch.messages().kick();
          req->reply(Json{{"dropped", id}, {"outbox", orch.outbox().count(recipient)}});
        });
  };
  // A worker's messages are its own ("<project>/<name>"); else the project's orchestrator's.
  if (const SessionRecord* w = orch.registry().resolve_worker(string_param(req, "target"))) {
    const std::string recipient = w->project + "/" + w->name;
    return in_outbox(recipient, recipient);
  }
  with_project(orch, req, false, [in_outbox](ProjectState& p) { in_outbox(p.id, p.path); });
}

// Test builds only, like `fault_points`: what the delivery holds registered, so a test can
// show nothing outlives the messages.
void delivery_state(Orchestrator& orch, const RequestPtr& req) {
  const MessageDelivery& d = orch.messages();
  req->reply(Json{{"listening", d.is_listening()}, {"timer", d.has_timer()}});
}

}  // namespace

void register_message_methods(Orchestrator& orch) {
  runtime::Daemon& d = orch.daemon();
  d.add_method("tell", [&orch](const RequestPtr& req) { tell(orch, req); });
  d.add_method("outbox", [&orch](const RequestPtr& req) { outbox(orch, req); });
  if constexpr (kHasFaultPoints)
    d.add_method("delivery_state", [&orch](const RequestPtr& req) { delivery_state(orch, req); });
}

}  // namespace baton::plugin
