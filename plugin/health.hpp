// Selection and health (DESIGN.md §6). Every place that picks "the orchestrator" calls
// newest_active(); health is the first state that holds, in the documented order.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "plugin/session_store.hpp"

namespace baton::plugin {

// The one order of "newest" (DESIGN.md §6): created_at, then updated_at, then the numeric id
// suffix, so `shop-10` is newer than `shop-9` even when their times tie. Every place that
// picks a session uses it.
bool is_newer(const SessionRecord& a, const SessionRecord& b);

// The newest session for which `is_wanted` holds; null when none.
const SessionRecord* newest_where(const std::vector<const SessionRecord*>& sessions,
                                  const std::function<bool(const SessionRecord&)>& is_wanted);

// Newest by created_at, then updated_at, then the numeric id suffix. Null when none.
const SessionRecord* newest_active(const std::vector<const SessionRecord*>& sessions);

struct HealthInputs {
  bool is_replacing = false;
  std::vector<const SessionRecord*> sessions;  // the project's orchestrator sessions
  std::string configured_agent;
  std::string launch_error;  // a failed launch that fell back to the previous agent
  bool is_stuck = false;     // a failed handoff left no agent that could be started
};

// replacing · stuck · duplicate · missing · exited · restart_needed · ok
std::string compute_health(const HealthInputs& in);

// The newest orchestrator worth showing: the newest active one, else the newest exited one.
const SessionRecord* current_orchestrator(const std::vector<const SessionRecord*>& sessions);

// A worker's health (docs/workers.md), the first that holds: finished (retired) · stuck (its
// finish failed: `baton finish` again) · finishing · exited · spawning (recorded, its agent
// not started yet) · ok.
std::string_view worker_health(const SessionRecord& worker);

}  // namespace baton::plugin
