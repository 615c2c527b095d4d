#pragma once

// Whether a checkout of a tree needs libgit2's filters (CRLF/eol, ident). With filters on,
// libgit2 1.5 looks up attributes for every file it writes, and each lookup resolves the
// file's directory with realpath(3): ~20 readlink(2) calls per file, 400,000 for a
// 20,000-file checkout (docs/BENCHMARKS.md). When no attribute source exists and
// core.autocrlf is not true, every filter is a no-op, so turning them off is exact.

#include <git2.h>

#include "git/error.hpp"

namespace baton::git {

// True when any of these exists: a .gitattributes anywhere in `tree`, the repository's
// info/attributes, core.attributesFile (or the XDG default), the system gitattributes; or
// when core.autocrlf is true.
Result<bool> checkout_needs_filters(git_repository* repo, const git_tree* tree);

}  // namespace baton::git
