#include "git/worker_branch.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/branch.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

class WorkerBranchTest : public ProjectTest {
 protected:
  std::string rev(const std::string& spec) {
    auto out = git_ok(repo_dir(), "rev-parse " + spec);
    return out.substr(0, out.find('\n'));
  }
};

TEST_F(WorkerBranchTest, IsMadeAtTheBaseAndRefusedWhenItExistsUnlessReused) {
  commit_file(repo_dir(), "a.txt", "a\n", "second");
  auto made = create_worker_branch(repo(), "baton/t-fix", "main~1", false);
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_TRUE(made->was_created);
  EXPECT_EQ(made->tip, rev("main~1"));
  EXPECT_EQ(rev("baton/t-fix"), rev("main~1"));

  auto again = create_worker_branch(repo(), "baton/t-fix", "main", false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, kAlreadyExists);
  EXPECT_NE(again.error().message.find("--reuse-branch"), std::string::npos);
  // Reused: taken as it is, never moved to the new base.
  auto reused = create_worker_branch(repo(), "baton/t-fix", "main", true);
  ASSERT_TRUE(reused) << reused.error().message;
  EXPECT_FALSE(reused->was_created);
  EXPECT_EQ(rev("baton/t-fix"), rev("main~1"));
}

TEST_F(WorkerBranchTest, ABaseThatNamesNoCommitIsOneLineNamingIt) {
  for (const char* base : {"no-such-branch", "main~40", "::"}) {
    auto made = create_worker_branch(repo(), "baton/t-x", base, false);
    ASSERT_FALSE(made) << base;
    EXPECT_EQ(made.error().message,
              "base " + std::string(base) + " names no commit of this repository");
  }
  EXPECT_NE(git_cli(repo_dir(), "rev-parse --verify -q baton/t-x").status, 0);
}

TEST_F(WorkerBranchTest, IsDeletedOnlyWhenMergedAndNotCheckedOut) {
  ASSERT_TRUE(create_worker_branch(repo(), "baton/t-w", kCanonical, false));
  // A commit the canonical branch lacks: kept, saying how many.
  const fs::path tree = tmp_.path() / "w";
  git_ok(repo_dir(), "worktree add -q '" + tree.native() + "' baton/t-w");
  commit_file(tree, "w.txt", "w\n", "work");
  auto kept = delete_branch_if_merged(repo(), "baton/t-w", kCanonical);
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_FALSE(kept->was_deleted);
  EXPECT_EQ(kept->why_kept,
            "branch baton/t-w kept: 1 commit of it is not merged into baton/t-orchestrator");
  auto counts = ahead_behind(repo(), "baton/t-w", kCanonical);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->ahead, 1u);
  EXPECT_EQ(counts->behind, 0u);
  // Merged, but still checked out: kept.
  git_ok(repo_dir(), "branch -f baton/t-orchestrator baton/t-w");
  kept = delete_branch_if_merged(repo(), "baton/t-w", kCanonical);
  ASSERT_TRUE(kept);
  EXPECT_FALSE(kept->was_deleted);
  EXPECT_NE(kept->why_kept.find("checked out at"), std::string::npos) << kept->why_kept;
  // Merged and free: deleted; a branch already gone is no error.
  git_ok(repo_dir(), "worktree remove --force '" + tree.native() + "'");
  auto deleted = delete_branch_if_merged(repo(), "baton/t-w", kCanonical);
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_TRUE(deleted->was_deleted);
  EXPECT_NE(git_cli(repo_dir(), "rev-parse --verify -q baton/t-w").status, 0);
  EXPECT_TRUE(delete_branch_if_merged(repo(), "baton/t-w", kCanonical)->was_deleted);
}

TEST_F(WorkerBranchTest, AWorktreeOnTheBranchIsLockedWithTheReasonAndRefusesABusyBranch) {
  ASSERT_TRUE(create_worker_branch(repo(), "baton/t-w", kCanonical, false));
  const fs::path path = project_dir() / "workers" / ".prepare-t-w1";
  auto tree = prepare_worktree_on_branch(repo(), path, "t-w1", "baton/t-w", "baton worker w t-w1");
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->name, "baton-t-w1");
  EXPECT_TRUE(tree->temp_branch.empty());
  EXPECT_EQ(read_file(repo_dir() / ".git/worktrees/baton-t-w1/locked"), "baton worker w t-w1");
  EXPECT_EQ(git_ok(path, "rev-parse --abbrev-ref HEAD"), "baton/t-w\n");
  EXPECT_EQ(git_ok(path, "status --porcelain"), "");
  // The same branch again elsewhere: refused, naming who has it; nothing made.
  const fs::path other = project_dir() / "workers" / ".prepare-t-w2";
  auto busy = prepare_worktree_on_branch(repo(), other, "t-w2", "baton/t-w", "x");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, kBranchCheckedOut);
  EXPECT_NE(busy.error().message.find(path.native()), std::string::npos);
  EXPECT_FALSE(fs::exists(other));
  EXPECT_FALSE(fs::exists(repo_dir() / ".git/worktrees/baton-t-w2"));
  // A missing branch: nothing made either.
  auto missing = prepare_worktree_on_branch(repo(), other, "t-w2", "baton/t-none", "x");
  ASSERT_FALSE(missing);
  EXPECT_FALSE(fs::exists(other));
  EXPECT_TRUE(git_cli(repo_dir(), "rev-parse --verify -q baton/t-none").status != 0);
}

}  // namespace
}  // namespace baton::git::testing
