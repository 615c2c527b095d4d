#include "git/locks.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

// A daemon killed mid-operation left lock files in baton's worktree, in baton's refs, and
// (from the user's own git, say) in the main worktree.
class LocksTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    auto prepared = prepare_worktree(repo(), project_dir(), "t-1", kCanonical);
    ASSERT_TRUE(prepared) << prepared.error().message;
    ASSERT_TRUE(move_worktree(repo(), prepared->name, stable_dir()));
    ASSERT_TRUE(adopt_branch(repo(), stable_dir(), kCanonical, prepared->temp_branch));
    fs::path git = repo_dir() / ".git";
    for (const fs::path& lock :
         {git / "worktrees/baton-t-1/index.lock", git / "worktrees/baton-t-1/HEAD.lock",
          git / "refs/heads/baton/t-orchestrator.lock", git / "refs/baton/preserved/t-0.lock",
          git / "index.lock", git / "HEAD.lock", git / "refs/heads/main.lock"}) {
      write_file(lock, "");
    }
  }
  fs::path git() const { return repo_dir() / ".git"; }
};

TEST_F(LocksTest, ClearsLocksInBatonsWorktreeAndRefsOnly) {
  auto removed = clear_stale_locks(repo(), {stable_dir()});
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->size(), 4u);
  EXPECT_FALSE(fs::exists(git() / "worktrees/baton-t-1/index.lock"));
  EXPECT_FALSE(fs::exists(git() / "worktrees/baton-t-1/HEAD.lock"));
  EXPECT_FALSE(fs::exists(git() / "refs/heads/baton/t-orchestrator.lock"));
  EXPECT_FALSE(fs::exists(git() / "refs/baton/preserved/t-0.lock"));
  EXPECT_TRUE(fs::exists(git() / "index.lock"));
  EXPECT_TRUE(fs::exists(git() / "HEAD.lock"));
  EXPECT_TRUE(fs::exists(git() / "refs/heads/main.lock"));
}

TEST_F(LocksTest, TheWorktreeCanCommitAgainAfterTheLocksAreCleared) {
  EXPECT_NE(git_cli(stable_dir(), "commit -q --allow-empty -m blocked").status, 0);
  ASSERT_TRUE(clear_stale_locks(repo(), {stable_dir()}));
  write_file(stable_dir() / "f.txt", "f\n");
  git_ok(stable_dir(), "add f.txt");
  git_ok(stable_dir(), "commit -q -m 'After recovery'");
}

TEST_F(LocksTest, RefusesTheMainWorktreeAndRemovesNothingThere) {
  auto removed = clear_stale_locks(repo(), {repo_dir()});
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, kNotBatonPath);
  EXPECT_TRUE(fs::exists(git() / "index.lock"));
  EXPECT_TRUE(fs::exists(git() / "HEAD.lock"));
}

TEST_F(LocksTest, ClearsTheAdminLocksOfAWorktreeWhoseDirectoryIsGone) {
  fs::remove_all(stable_dir());
  auto removed = clear_stale_locks(repo(), {stable_dir()});
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_FALSE(fs::exists(git() / "worktrees/baton-t-1/index.lock"));
}

}  // namespace
}  // namespace baton::git::testing
