#include <mutex>

#include "git/handles.hpp"

namespace baton::git {

void init_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

}  // namespace baton::git
