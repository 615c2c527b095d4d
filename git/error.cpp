#include "git/error.hpp"

#include <cstring>

#include <fmt/format.h>
#include <git2/errors.h>

namespace baton::git {

Error libgit2_error(int code, std::string_view operation, std::string_view subject) {
  const git_error* last = git_error_last();
  const char* detail =
      last != nullptr && last->message != nullptr ? last->message : "unknown libgit2 error";
  return Error{code, fmt::format("{} {}: {}", operation, subject, detail)};
}

Error os_error(int errno_value, std::string_view operation, std::string_view subject) {
  return Error{errno_value,
               fmt::format("{} {}: {}", operation, subject, std::strerror(errno_value))};
}

}  // namespace baton::git
