// Every persisted step is atomic: write a temp file beside the target, fsync it, rename it
// over the target, fsync the directory. Blocking: call it off the loop thread.
#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace baton::plugin {

// Errors name the path and the OS error: `cannot write /s/state/x.json: No space left on device`.
tl::expected<void, std::string> write_file_atomic(const std::string& path,
                                                  std::string_view content);

// Reads a whole file; nullopt-like error "" when it does not exist.
tl::expected<std::string, std::string> read_file(const std::string& path);

// A file that cannot be read as what it should be is kept for a human: renamed to
// `<path>.corrupt-<UTC time>` (with `-2`, `-3` … when one from the same second is there).
// Returns the new name, or the OS error.
tl::expected<std::string, std::string> move_aside_corrupt(const std::string& path);

}  // namespace baton::plugin
