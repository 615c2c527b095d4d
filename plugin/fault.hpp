// Test-only fault points (issue 6): a handoff armed with BATON_FAULT="<point>:fail" fails at
// that point as if the step had failed; "<point>:kill" SIGKILLs the daemon there;
// "<point>:pause", at a point that fires on a worker thread (trash.deleting), blocks there
// until the file BATON_FAULT_RELEASE names exists (at most a minute), so a test can act while
// the step is under way. A handoff is
// armed only by the environment of the `baton` command that started it, and that is never
// stored, so the recovery after a kill runs unarmed. Start-up recovery (the `recovery.*`
// points, and the handoff it resumes) is armed by the daemon's own environment, which is the
// one of the `baton` command that started it. The list comes from here, so a test enumerating
// kFaultPoints cannot miss a step.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>

namespace baton::plugin {

inline constexpr std::array<std::string_view, 25> kFaultPoints = {
    "preflight.done",     // checks passed, nothing touched yet
    "prepare.persisted",  // journal written, no worktree yet
    "prepare.done",       // .prepare-<id> checked out
    "drain.started",      // prepare's hooks ran, the old agent not yet waited for
    "drain.done",         // the old agent's turn ended (or was not waited for), nothing stopped
    "summarize.asked",    // a responsive old agent was asked for its notes, not yet waited for
    "retire.persisted",   // old session marked retiring
    "retire.stopped",     // old agent stopped, work not yet preserved
    "retire.released",    // preserved, renamed aside, pruned
    "adopt.persisted",    // about to move the prepared tree
    "adopt.moved",        // prepared tree at the stable path, branch not yet adopted
    "adopt.adopted",      // branch adopted at the stable path, work not yet re-applied
    "adopt.reapplied",    // work re-applied, ignored files and submodules not yet carried
    "adopt.done",         // branch adopted, work re-applied and carried
    "launch.started",     // agent running, not yet persisted active
    "launch.persisted",   // active on disk, not yet verified
    "verify.done",        // agent and branch verified, `replace` not yet answered
    "trash.deleting",     // answered; the old trees not yet deleted (a worker thread)
    "trash.deleted",      // trees deleted, retired not yet persisted
    // Start-up recovery, armed by the daemon's environment:
    "recovery.adopting",    // a living holder's output and terminal received, it not yet told
    "recovery.adopted",     // every living holder adopted, nothing else recovered
    "recovery.started",     // outlived agents stopped, git not yet looked at
    "recovery.scanned",     // stale locks cleared, leftovers counted, nothing decided
    "recovery.relaunched",  // an active orchestrator restarted, its new pid not yet on disk
    "recovery.restored",    // the restarted orchestrator persisted
};

inline constexpr std::string_view kRecoveryFaultPrefix = "recovery.";

// The standby's steps (plugin/standby.hpp), armed by the environment of the last `up` or
// `replace` of the project (which started it) and, for standby.taken, of the `replace`.
// Kept apart from kFaultPoints: the standby is made after a handoff, and its table
// (tests/e2e/standby_e2e_test.cpp) checks that the project converges without a handoff.
inline constexpr std::array<std::string_view, 3> kStandbyFaultPoints = {
    "standby.reserved",  // its id reserved on disk, no tree yet
    "standby.prepared",  // its tree checked out (a worker thread), not yet ready on disk
    "standby.taken",     // a replace moved it to .prepare-<id>, its hooks not yet run
};

// The points a handoff reaches after `replace` answered (the old trees are deleted after the
// reply): only `replace --wait` sees them fail or the daemon die.
inline constexpr std::array<std::string_view, 2> kFaultPointsAfterReply = {"trash.deleting",
                                                                           "trash.deleted"};

// The steps of a message's delivery (plugin/message_delivery.hpp), armed by the daemon's
// environment (delivery is tied to no command). Kept apart from kFaultPoints: they belong to
// no handoff, and their table (tests/e2e/message_e2e_test.cpp) checks exactly-once delivery.
inline constexpr std::array<std::string_view, 4> kDeliveryFaultPoints = {
    "tell.recorded",   // `delivering` on disk, nothing typed
    "tell.pasted",     // text pasted, `entering` not yet on disk
    "tell.entered",    // Enter written, the message not yet removed
    "tell.delivered",  // removed from the outbox
};

// A worker's spawn and finish (plugin/workers.hpp), armed by the environment of the `baton
// spawn` or `baton finish` that runs them. Kept apart from kFaultPoints: no handoff runs, and
// their table (tests/e2e/workers_e2e_test.cpp) checks that the worker converges.
inline constexpr std::array<std::string_view, 5> kWorkerFaultPoints = {
    "spawn.recorded",    // the worker on disk (spawning), no tree yet
    "spawn.made",        // its tree at workers/<name>, post_create not yet run
    "spawn.launched",    // its agent running, the restore marker not yet on disk
    "finish.persisted",  // retiring on disk, its agent still running
    "finish.stopped",    // its agent stopped, its work not yet preserved
};

inline constexpr std::string_view kFaultEnv = "BATON_FAULT";
inline constexpr std::string_view kFaultReleaseEnv = "BATON_FAULT_RELEASE";

#ifdef BATON_FAULTS
inline constexpr bool kHasFaultPoints = true;

// Returns true when `point` is armed to fail; does not return when it is armed to kill.
bool fault_hit(const std::map<std::string, std::string>& env, std::string_view point);

// BATON_FAULT from the daemon's own environment (empty map when unset), for recovery.
std::map<std::string, std::string> daemon_fault_env();
#else
inline constexpr bool kHasFaultPoints = false;

inline bool fault_hit(const std::map<std::string, std::string>&, std::string_view) {
  return false;
}

inline std::map<std::string, std::string> daemon_fault_env() {
  return {};
}
#endif

}  // namespace baton::plugin
