// Selection and health (DESIGN.md §6). Every place that picks "the orchestrator" calls
// newest_active(); health is the first state that holds, in the documented order.
#pragma once

#include <string>
#include <vector>

#include "plugin/session_store.hpp"

namespace baton::plugin {

// Newest by created_at, then updated_at, then the numeric id suffix. Null when none.
const SessionRecord* newest_active(const std::vector<const SessionRecord*>& sessions);

struct HealthInputs {
  bool is_replacing = false;
  std::vector<const SessionRecord*> sessions;  // the project's orchestrator sessions
  std::string configured_agent;
  std::string launch_error;  // a failed launch that fell back to the previous agent
};

// replacing · stuck · duplicate · missing · exited · restart_needed · ok
std::string compute_health(const HealthInputs& in);

// The newest orchestrator worth showing: the newest active one, else the newest exited one.
const SessionRecord* current_orchestrator(const std::vector<const SessionRecord*>& sessions);

}  // namespace baton::plugin
