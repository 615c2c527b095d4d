// `baton down`, top to bottom: preflight, drain, retire, keep and delete.
#include "plugin/down.hpp"

#include "plugin/off_loop.hpp"

namespace baton::plugin {

Down::Down(Orchestrator& orch, HandoffRequest req) : Retirement(orch, std::move(req)) {}

std::shared_ptr<Down> Down::self() {
  return std::static_pointer_cast<Down>(shared_from_this());
}

// Preflight: the config in force and check_preflight off the loop, as a handoff's (the same
// refusals before anything is stopped), but no agent to check: nothing is started.
void Down::start() {
  progress("preflight", req_.project);
  auto self = this->self();
  orch_.reload_config(*project(), req_.env, [self](tl::expected<ProjectConfig, std::string> cfg) {
    self->on_config(std::move(cfg));
  });
}

void Down::on_config(tl::expected<ProjectConfig, std::string> cfg) {
  if (!cfg) return fail(ErrorCode::kConfigError, cfg.error());
  cfg_ = *cfg;
  // It stops the orchestrator with the config it runs under: the allowed one in force, when
  // newer content waits for `baton allow`.
  if (ProjectState* p = project(); !cfg->is_allowed && p->config && p->config->is_allowed)
    cfg_ = *p->config;
  agent_ = req_.agent.empty() ? cfg_.agent : req_.agent;
  check_project();
}

void Down::on_checked(Expected<Preflight> checked) {
  if (!checked) return fail(checked.error());
  take_over_sessions(*checked);
  auto self = this->self();
  run_before_retire([self] { self->drain(); });
}

// Drain: the orchestrator's turn ends before it is stopped, as in a handoff (--now skips
// it); `down` hands over to no one, so no notes are asked for.
void Down::drain() {
  if (faulted("preflight.done")) return;
  auto self = this->self();
  drain_turn([self](const Drained&) { self->retire(); });
}

// Retire: every orchestrator, as a handoff retires it, with no branch to free afterwards.
void Down::retire() {
  if (to_retire_.empty())
    return fail(ErrorCode::kMissing, req_.project + " has no orchestrator to stop");
  retire_next();
}

// Keep and delete: no new tree carries what no commit holds (ignored files, nested
// repositories, submodule work), so it goes whole to .kept-<id> before the tree is deleted.
// The standby goes first: no orchestrator is left to take it.
void Down::after_retire() {
  auto self = this->self();
  orch_.standby().remove(req_.project, [self] { self->put_away_trash(TrashMode::kKeepUntracked); });
}

// Clients that follow the project have no orchestrator to continue on.
void Down::after_put_away() {
  orch_.settle_followers(req_.project, "");
  answer_waiting("");
}

}  // namespace baton::plugin
