// Why a plugin command or a handoff failed: one code for the protocol and the CLI (a client
// tells "not allowed" from "the branch is busy" without reading the message), and one line
// for the user. The codes are an enum so a misspelt one does not compile; wire_name() is the
// one place that turns them into the protocol's strings (docs/errors.md lists them).
#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace baton::plugin {

enum class ErrorCode {
  kFailed,          // anything without a code of its own
  kNotFound,        // no such project or session
  kBadParams,       // a request's parameters contradict each other
  kNotARepository,  // `up PATH` where PATH is no git repository
  kConfigError,     // baton.toml does not parse or does not check
  kProjectExists,   // another path already registered the project's name
  kNotAllowed,      // the repository's config waits for `baton allow`
  kHandoffRunning,  // another replace of the project runs
  kIsOrchestrator,  // `kill` of an orchestrator session: use down
  kMissing,         // the project has no orchestrator to act on
  kAgentNotFound,   // the agent is not defined or its command is not on PATH
  kBranchBusy,      // the canonical branch is checked out elsewhere
  kInTheWay,        // something that is no worktree holds the stable path
  kPersistFailed,   // the store could not be written
  kPrepareFailed,   // the new worktree could not be prepared
  kHookFailed,      // a hook failed or timed out
  kAdoptFailed,     // the prepared tree could not take the stable path and the branch
  kVerifyFailed,    // the branch is not where the new agent runs
  kLaunchFailed,    // the new agent did not start or died within launch_grace
  kStuck,           // a retired tree could not be deleted (or kept)
  kFault,           // a test-only fault point fired (plugin/fault.hpp)
  kInvalidName,     // a worker's name cannot name a branch or a directory, or is reserved
  kWorkerExists,    // a worker of that name runs, or its branch exists (--reuse-branch)
  kTooManyWorkers,  // [workers] max workers run already
};

constexpr std::string_view wire_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kFailed:
      return "failed";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kBadParams:
      return "bad_params";
    case ErrorCode::kNotARepository:
      return "not_a_repository";
    case ErrorCode::kConfigError:
      return "config_error";
    case ErrorCode::kProjectExists:
      return "project_exists";
    case ErrorCode::kNotAllowed:
      return "not_allowed";
    case ErrorCode::kHandoffRunning:
      return "handoff_running";
    case ErrorCode::kIsOrchestrator:
      return "is_orchestrator";
    case ErrorCode::kMissing:
      return "missing";
    case ErrorCode::kAgentNotFound:
      return "agent_not_found";
    case ErrorCode::kBranchBusy:
      return "branch_busy";
    case ErrorCode::kInTheWay:
      return "in_the_way";
    case ErrorCode::kPersistFailed:
      return "persist_failed";
    case ErrorCode::kPrepareFailed:
      return "prepare_failed";
    case ErrorCode::kHookFailed:
      return "hook_failed";
    case ErrorCode::kAdoptFailed:
      return "adopt_failed";
    case ErrorCode::kVerifyFailed:
      return "verify_failed";
    case ErrorCode::kLaunchFailed:
      return "launch_failed";
    case ErrorCode::kStuck:
      return "stuck";
    case ErrorCode::kInvalidName:
      return "invalid_name";
    case ErrorCode::kWorkerExists:
      return "worker_exists";
    case ErrorCode::kTooManyWorkers:
      return "too_many_workers";
    case ErrorCode::kFault:
      return "fault";
  }
  return "failed";
}

// A failure with its code; what domain functions of the plugin return in tl::expected.
struct Error {
  ErrorCode code = ErrorCode::kFailed;
  std::string message;
};

template <typename T = void>
using Expected = tl::expected<T, Error>;

inline tl::unexpected<Error> error(ErrorCode code, std::string message) {
  return tl::make_unexpected(Error{code, std::move(message)});
}

}  // namespace baton::plugin
