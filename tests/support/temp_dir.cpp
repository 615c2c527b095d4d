#include "tests/support/temp_dir.hpp"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace baton::test {

namespace fs = std::filesystem;

TempDir::TempDir(std::string_view prefix, const fs::path& parent) {
  std::string tmpl = (parent / (std::string(prefix) + "-XXXXXX")).native();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("cannot make a temp dir " + tmpl + ": " + std::strerror(errno));
  path_ = fs::canonical(tmpl);
}

TempDir::~TempDir() {
  // Give every directory back its owner's permissions first: remove_all cannot enter or
  // empty a directory a test made read-only.
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  for (auto it = fs::recursive_directory_iterator(path_, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(path_, ec);
}

}  // namespace baton::test
