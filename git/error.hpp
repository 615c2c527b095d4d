#pragma once

// Results of the git layer: every fallible function returns Result<T>, never throws.

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace baton::git {

// Error::code is libgit2's code (negative, GIT_E*), an errno value (positive), or one of
// baton's own codes below (negative, far from libgit2's range).
inline constexpr int kNotARepository = -1001;
inline constexpr int kBareRepository = -1002;
inline constexpr int kNoCommits = -1003;
inline constexpr int kInvalidName = -1004;
inline constexpr int kBranchCheckedOut = -1005;
inline constexpr int kNotBatonPath = -1006;
inline constexpr int kWorktreeNotFound = -1007;
inline constexpr int kAlreadyExists = -1008;
inline constexpr int kNotCarried = -1009;
inline constexpr int kCancelled = -1010;
inline constexpr int kIoError = -1011;  // a file of baton's own could not be written

struct Error {
  int code;
  // One line: the operation, the path or value, and libgit2's or the OS's message.
  std::string message;
};

template <typename T>
using Result = tl::expected<T, Error>;

// From git_error_last(): "<operation> <subject>: <libgit2 message>".
Error libgit2_error(int code, std::string_view operation, std::string_view subject);

// From an errno value: "<operation> <subject>: <strerror>".
Error os_error(int errno_value, std::string_view operation, std::string_view subject);

}  // namespace baton::git
