#include "git/submodules.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

// A repository with a submodule built from a local repository, on the canonical branch.
class SubmodulesTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    fs::create_directories(lib());
    make_repo(lib());
    commit_file(lib(), "lib.txt", "lib v1\n", "lib");
    git_ok(repo_dir(),
           "-c protocol.file.allow=always submodule add -q '" + lib().native() + "' sub");
    git_ok(repo_dir(), "commit -q -m 'Add sub'");
    // The library moves on: the worktree must get the recorded commit, not its tip.
    commit_file(lib(), "lib.txt", "lib v2\n", "lib v2");
    git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
    fs::create_directories(project_dir());
  }
  fs::path lib() const { return tmp_.path() / "lib"; }
};

TEST_F(SubmodulesTest, InitializesASubmoduleOfThePreparedWorktreeOfflineAtItsRecordedCommit) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-1", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  // Offline: the library's own repository is gone; the main checkout's module git dir serves.
  fs::rename(lib(), tmp_.path() / "lib-gone");

  auto init = init_submodules(repo(), prepared->path);
  ASSERT_TRUE(init) << init.error().message;
  EXPECT_EQ(init->initialized, std::vector<std::string>{"sub"});
  EXPECT_TRUE(init->notes.empty());
  const fs::path sub = prepared->path / "sub";
  EXPECT_EQ(read_file(sub / "lib.txt"), "lib v1\n");
  EXPECT_EQ(git_ok(sub, "rev-parse HEAD"), git_ok(prepared->path, "rev-parse HEAD:sub"));
  EXPECT_EQ(git_ok(sub, "status --porcelain"), "");
  EXPECT_EQ(git_ok(prepared->path, "status --porcelain"), "");
  // Its git dir is the worktree's own, where the git CLI puts it in a linked worktree.
  std::string gitdir = git_ok(sub, "rev-parse --absolute-git-dir");
  gitdir.pop_back();
  EXPECT_EQ(fs::canonical(gitdir),
            fs::canonical(repo_dir() / ".git" / "worktrees" / prepared->name / "modules" / "sub"));
  EXPECT_EQ(git_ok(sub, "remote get-url origin"), lib().native() + "\n");
}

TEST_F(SubmodulesTest, LeavesOutASubmoduleTheMainCheckoutHasNotInitialized) {
  git_ok(repo_dir(), "submodule deinit -q -f sub");
  fs::remove_all(repo_dir() / ".git" / "modules" / "sub");
  auto prepared = prepare_worktree(repo(), project_dir(), "t-1", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;

  auto init = init_submodules(repo(), prepared->path);
  ASSERT_TRUE(init) << init.error().message;
  EXPECT_TRUE(init->initialized.empty());
  ASSERT_EQ(init->notes.size(), 1u);
  EXPECT_NE(init->notes[0].find("submodule sub is not initialized"), std::string::npos);
  EXPECT_FALSE(fs::exists(prepared->path / "sub" / ".git"));
}

TEST_F(SubmodulesTest, DoesNothingWithoutGitmodules) {
  git_ok(repo_dir(), "rm -q -f sub");
  git_ok(repo_dir(), "commit -q -m 'No sub'");
  git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
  auto prepared = prepare_worktree(repo(), project_dir(), "t-1", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  auto init = init_submodules(repo(), prepared->path);
  ASSERT_TRUE(init) << init.error().message;
  EXPECT_TRUE(init->initialized.empty());
  EXPECT_TRUE(init->notes.empty());
}

}  // namespace
}  // namespace baton::git::testing
