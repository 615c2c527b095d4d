// `baton down`: the project's orchestrators retired for good, nothing started (DESIGN.md §5).
// Preflight with the config in force, every orchestrator retired as a handoff retires it
// (plugin/retirement.hpp); what a retired tree holds that no commit can is kept whole in
// .kept-<id> before the tree is deleted; clients following the project get the exit.
#pragma once

#include <string>

#include "plugin/retirement.hpp"

namespace baton::plugin {

class Down : public Retirement {
 public:
  Down(Orchestrator& orch, HandoffRequest req);

  void start() override;

 private:
  void on_config(tl::expected<ProjectConfig, std::string> cfg);
  void on_checked(Expected<Preflight> checked) override;
  void drain();
  void retire();
  void after_retire() override;
  void after_put_away() override;
  std::shared_ptr<Down> self();
};

}  // namespace baton::plugin
