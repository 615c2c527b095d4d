#include "git/commit_log.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/branch.hpp"

namespace baton::git::testing {
namespace {

class CommitLogTest : public ProjectTest {
 protected:
  std::string tip() {
    auto t = branch_tip(repo(), kCanonical);
    EXPECT_TRUE(t);
    return t ? oid_hex(*t) : std::string();
  }
  void on_canonical() { git_ok(repo_dir(), std::string("checkout -q ") + kCanonical); }
};

TEST_F(CommitLogTest, ListsTheFirstParentCommitsSinceTheStartNewestFirst) {
  const std::string start = tip();
  on_canonical();
  commit_file(repo_dir(), "a.txt", "a", "add a");
  git_ok(repo_dir(), "checkout -q -b side");
  commit_file(repo_dir(), "s.txt", "s", "side work");
  git_ok(repo_dir(), std::string("checkout -q ") + kCanonical);
  commit_file(repo_dir(), "b.txt", "b", "add b\n\nwith a body");
  git_ok(repo_dir(), "merge -q --no-ff -m 'merge side' side");

  auto log = commits_since(repo(), kCanonical, start, 100);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->shown.size(), 3u);
  EXPECT_EQ(log->shown[0].subject, "merge side");
  EXPECT_EQ(log->shown[1].subject, "add b");
  EXPECT_EQ(log->shown[2].subject, "add a");
  EXPECT_EQ(log->more, 0u);
  EXPECT_EQ(log->tip, tip());
  EXPECT_EQ(log->shown[0].short_id, log->tip.substr(0, 12));
}

TEST_F(CommitLogTest, KeepsAtMostTheCapAndCountsTheRest) {
  const std::string start = tip();
  on_canonical();
  for (int i = 0; i < 5; ++i)
    commit_file(repo_dir(), "f" + std::to_string(i), "x", "commit " + std::to_string(i));

  auto log = commits_since(repo(), kCanonical, start, 3);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->shown.size(), 3u);
  EXPECT_EQ(log->shown[0].subject, "commit 4");
  EXPECT_EQ(log->shown[2].subject, "commit 2");
  EXPECT_EQ(log->more, 2u);
}

TEST_F(CommitLogTest, ListsNothingWhenTheBranchHasNotMoved) {
  auto log = commits_since(repo(), kCanonical, tip(), 100);
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_TRUE(log->shown.empty());
  EXPECT_EQ(log->more, 0u);
}

TEST_F(CommitLogTest, ListsTheNewCommitsOfARewrittenBranch) {
  on_canonical();
  commit_file(repo_dir(), "old.txt", "o", "dropped later");
  const std::string start = tip();
  git_ok(repo_dir(), "reset -q --hard HEAD~1");
  commit_file(repo_dir(), "new.txt", "n", "rewritten");

  auto log = commits_since(repo(), kCanonical, start, 100);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->shown.size(), 1u);
  EXPECT_EQ(log->shown[0].subject, "rewritten");
}

TEST_F(CommitLogTest, RefusesAStartThatIsNoCommitId) {
  auto log = commits_since(repo(), kCanonical, "not-a-commit", 100);
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find("not-a-commit"), std::string::npos);
}

TEST_F(CommitLogTest, ChangedPathsAreThoseTheCommitChangesAgainstItsFirstParent) {
  on_canonical();
  commit_file(repo_dir(), "keep.txt", "k", "base");
  write_file(repo_dir() / "keep.txt", "changed");
  write_file(repo_dir() / "new" / "file.txt", "n");
  git_ok(repo_dir(), "rm -q README.md");
  git_ok(repo_dir(), "add -A");
  git_ok(repo_dir(), "commit -q -m work");

  auto paths = changed_paths(repo(), tip(), 100);
  ASSERT_TRUE(paths) << paths.error().message;
  EXPECT_EQ(paths->shown, (std::vector<std::string>{"README.md", "keep.txt", "new/file.txt"}));
  EXPECT_EQ(paths->more, 0u);

  auto capped = changed_paths(repo(), tip(), 1);
  ASSERT_TRUE(capped) << capped.error().message;
  EXPECT_EQ(capped->shown.size(), 1u);
  EXPECT_EQ(capped->more, 2u);
}

}  // namespace
}  // namespace baton::git::testing
