#pragma once

// Real repositories in temp dirs for the git layer's tests. The git CLI builds fixtures and
// cross-checks results; the layer under test never runs it.

#include <filesystem>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "git/repository.hpp"
#include "tests/support/temp_dir.hpp"

namespace baton::git::testing {

using baton::test::TempDir;

struct CommandResult {
  int status;
  std::string output;  // stdout and stderr
};

// Runs `git -C <dir> <args>` through /bin/sh (args are shell words: quote them yourself).
CommandResult git_cli(const std::filesystem::path& dir, std::string_view args);
// The same, failing the current test when git fails; returns stdout+stderr.
std::string git_ok(const std::filesystem::path& dir, std::string_view args);
CommandResult shell(const std::string& command);

void write_file(const std::filesystem::path& file, std::string_view content);
std::string read_file(const std::filesystem::path& file);

// git init -b main, a repo-local identity, and one commit holding README.md.
void make_repo(const std::filesystem::path& dir);
// Writes and commits one file on the current branch of the worktree `dir`.
void commit_file(const std::filesystem::path& dir, const std::string& file,
                 std::string_view content, const std::string& message);

// A project: a repository at <tmp>/repo with the canonical branch "baton/t-orchestrator" and
// a workspace dir <tmp>/ws/t (the "<workspace root>/<project>" of DESIGN.md §5).
class ProjectTest : public ::testing::Test {
 protected:
  void SetUp() override;
  std::filesystem::path repo_dir() const { return tmp_.path() / "repo"; }
  std::filesystem::path project_dir() const { return tmp_.path() / "ws" / "t"; }
  std::filesystem::path stable_dir() const { return project_dir() / "orchestrator"; }
  git_repository* repo() { return project_.repo.get(); }

  static constexpr const char* kCanonical = "baton/t-orchestrator";

  TempDir tmp_;
  Project project_;
};

}  // namespace baton::git::testing
