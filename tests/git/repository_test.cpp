#include "git/repository.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/error.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

TEST(OpenProject, OpensTheRepositoryFromItsRoot) {
  TempDir tmp;
  make_repo(tmp.path() / "repo");
  auto project = open_project(tmp.path() / "repo");
  ASSERT_TRUE(project) << project.error().message;
  EXPECT_EQ(project->main_workdir, tmp.path() / "repo");
  EXPECT_EQ(project->common_dir, tmp.path() / "repo" / ".git");
  EXPECT_EQ(project->opened_workdir, tmp.path() / "repo");
}

TEST(OpenProject, OpensTheRepositoryFromADirectoryInsideIt) {
  TempDir tmp;
  make_repo(tmp.path() / "repo");
  fs::create_directories(tmp.path() / "repo" / "src" / "deep");
  auto project = open_project(tmp.path() / "repo" / "src" / "deep");
  ASSERT_TRUE(project) << project.error().message;
  EXPECT_EQ(project->main_workdir, tmp.path() / "repo");
}

TEST(OpenProject, ResolvesALinkedWorktreeToTheMainRepository) {
  TempDir tmp;
  make_repo(tmp.path() / "repo");
  git_ok(tmp.path() / "repo", "worktree add -q -b side '" + (tmp.path() / "side").native() + "'");
  auto project = open_project(tmp.path() / "side");
  ASSERT_TRUE(project) << project.error().message;
  EXPECT_EQ(project->main_workdir, tmp.path() / "repo");
  EXPECT_EQ(project->opened_workdir, tmp.path() / "side");
  EXPECT_FALSE(git_repository_is_worktree(project->repo.get()));
  EXPECT_EQ(project->common_dir, tmp.path() / "repo" / ".git");
}

TEST(OpenProject, FailsWithNotARepositoryOutsideAnyRepository) {
  TempDir tmp;
  // Stop discovery at the temp dir so an enclosing repository cannot answer.
  ::setenv("GIT_CEILING_DIRECTORIES", tmp.path().parent_path().c_str(), 1);
  auto project = open_project(tmp.path());
  ::unsetenv("GIT_CEILING_DIRECTORIES");
  ASSERT_FALSE(project);
  EXPECT_EQ(project.error().code, kNotARepository);
  EXPECT_NE(project.error().message.find(tmp.path().native()), std::string::npos);
  EXPECT_NE(project.error().message.find("not a git repository"), std::string::npos);
}

TEST(OpenProject, FailsWithBareRepositoryForABareRepository) {
  TempDir tmp;
  git_ok(tmp.path(), "init -q --bare bare.git");
  auto project = open_project(tmp.path() / "bare.git");
  ASSERT_FALSE(project);
  EXPECT_EQ(project.error().code, kBareRepository);
  EXPECT_NE(project.error().message.find("bare"), std::string::npos);
}

TEST(OpenProject, FailsWithNoCommitsAndSaysWhatToRunForAFreshRepository) {
  TempDir tmp;
  git_ok(tmp.path(), "init -q -b main fresh");
  auto project = open_project(tmp.path() / "fresh");
  ASSERT_FALSE(project);
  EXPECT_EQ(project.error().code, kNoCommits);
  EXPECT_NE(project.error().message.find("commit --allow-empty"), std::string::npos);
  // baton created nothing: the repository still has no commit and no branch.
  EXPECT_NE(git_cli(tmp.path() / "fresh", "rev-parse --verify -q HEAD").status, 0);
  EXPECT_EQ(git_ok(tmp.path() / "fresh", "for-each-ref"), "");
}

}  // namespace
}  // namespace baton::git::testing
