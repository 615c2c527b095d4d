// Test-only fault points (issue 6): a handoff armed with BATON_FAULT="<point>:fail" fails at
// that point as if the step had failed; "<point>:kill" SIGKILLs the daemon there. Armed only
// by the environment of the `baton` command that started the handoff, and never stored, so
// the recovery after a kill runs unarmed. The list comes from here, so a test enumerating
// kFaultPoints cannot miss a step.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>

namespace baton::plugin {

inline constexpr std::array<std::string_view, 12> kFaultPoints = {
    "preflight.done",     // checks passed, nothing touched yet
    "prepare.persisted",  // journal written, no worktree yet
    "prepare.done",       // .prepare-<id> checked out
    "retire.persisted",   // old session marked retiring
    "retire.stopped",     // old agent stopped, work not yet preserved
    "retire.released",    // preserved, renamed aside, pruned
    "handoff.persisted",  // about to move the prepared tree
    "handoff.moved",      // prepared tree at the stable path, branch not yet adopted
    "handoff.done",       // branch adopted, work re-applied
    "launch.started",     // agent running, not yet persisted active
    "launch.persisted",   // active on disk, trash not yet deleted
    "trash.deleted",      // trees deleted, retired not yet persisted
};

inline constexpr std::string_view kFaultEnv = "BATON_FAULT";

// Returns true when `point` is armed to fail; does not return when it is armed to kill.
bool fault_hit(const std::map<std::string, std::string>& env, std::string_view point);

}  // namespace baton::plugin
