#include "git/checked_out.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

using CheckedOutTest = ProjectTest;

TEST_F(CheckedOutTest, ReportsTheMainWorktreeForItsBranch) {
  auto holder = who_has_branch_checked_out(repo(), "main");
  ASSERT_TRUE(holder) << holder.error().message;
  ASSERT_TRUE(*holder);
  EXPECT_EQ(**holder, repo_dir());
}

TEST_F(CheckedOutTest, ReportsNobodyForABranchNoWorktreeHolds) {
  auto holder = who_has_branch_checked_out(repo(), kCanonical);
  ASSERT_TRUE(holder) << holder.error().message;
  EXPECT_FALSE(*holder);
}

TEST_F(CheckedOutTest, ReportsTheLinkedWorktreeThatHoldsTheBranch) {
  fs::path wt = tmp_.path() / "old";
  git_ok(repo_dir(), "worktree add -q '" + wt.native() + "' " + kCanonical);
  auto holder = who_has_branch_checked_out(repo(), std::string("refs/heads/") + kCanonical);
  ASSERT_TRUE(holder) << holder.error().message;
  ASSERT_TRUE(*holder);
  EXPECT_EQ(**holder, wt);
}

TEST_F(CheckedOutTest, StillReportsAWorktreeWhoseDirectoryWasDeletedByHand) {
  // git itself counts the admin entry as holding the branch until it is pruned.
  fs::path wt = tmp_.path() / "old";
  git_ok(repo_dir(), "worktree add -q '" + wt.native() + "' " + kCanonical);
  fs::remove_all(wt);
  auto holder = who_has_branch_checked_out(repo(), kCanonical);
  ASSERT_TRUE(holder) << holder.error().message;
  ASSERT_TRUE(*holder);
  EXPECT_EQ(**holder, wt);
}

TEST_F(CheckedOutTest, ReportsAWorktreeRebasingTheBranchWhileHeadIsDetached) {
  fs::path wt = tmp_.path() / "old";
  git_ok(repo_dir(), "worktree add -q '" + wt.native() + "' " + kCanonical);
  commit_file(wt, "a.txt", "ours\n", "Ours");
  git_ok(repo_dir(), "checkout -q -b other main~0");
  commit_file(repo_dir(), "a.txt", "theirs\n", "Theirs");
  git_ok(repo_dir(), "checkout -q main");
  EXPECT_NE(git_cli(wt, "rebase -q other").status, 0);  // stops on the conflict
  ASSERT_EQ(git_ok(wt, "rev-parse --abbrev-ref HEAD"), "HEAD\n");
  auto holder = who_has_branch_checked_out(repo(), kCanonical);
  ASSERT_TRUE(holder) << holder.error().message;
  ASSERT_TRUE(*holder);
  EXPECT_EQ(**holder, wt);
}

TEST_F(CheckedOutTest, AnswersTheSameWhenAskedThroughALinkedWorktreesRepository) {
  fs::path wt = tmp_.path() / "old";
  git_ok(repo_dir(), "worktree add -q '" + wt.native() + "' " + kCanonical);
  auto wt_repo = open_worktree(wt);
  ASSERT_TRUE(wt_repo);
  auto main_holder = who_has_branch_checked_out(wt_repo->get(), "main");
  ASSERT_TRUE(main_holder) << main_holder.error().message;
  ASSERT_TRUE(*main_holder);
  EXPECT_EQ(**main_holder, repo_dir());
}

TEST_F(CheckedOutTest, ListsTheMainAndEveryLinkedWorktree) {
  git_ok(repo_dir(), "worktree add -q '" + (tmp_.path() / "a").native() + "' " + kCanonical);
  git_ok(repo_dir(), "worktree add -q --detach '" + (tmp_.path() / "b").native() + "'");
  auto heads = list_worktree_heads(repo());
  ASSERT_TRUE(heads) << heads.error().message;
  ASSERT_EQ(heads->size(), 3u);
  EXPECT_TRUE((*heads)[0].is_main);
  EXPECT_EQ((*heads)[0].head_ref, "refs/heads/main");
  int detached = 0;
  for (const auto& head : *heads) {
    if (head.head_ref.empty()) ++detached;
  }
  EXPECT_EQ(detached, 1);
}

}  // namespace
}  // namespace baton::git::testing
