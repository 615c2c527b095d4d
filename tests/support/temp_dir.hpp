// A directory of a test's own, made with mkdtemp and removed with everything in it when the
// object goes, read-only subdirectories included (a test may take permissions away).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace baton::test {

class TempDir {
 public:
  // <parent>/<prefix>-XXXXXX; parent defaults to $TMPDIR (else /tmp). Throws when mkdtemp
  // fails, so a test never runs in a directory it does not own.
  explicit TempDir(std::string_view prefix = "baton-test",
                   const std::filesystem::path& parent = std::filesystem::temp_directory_path());
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;

  // Canonical (no symlink in it), so it compares equal to what the code under test resolves.
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace baton::test
