#include "git/reapply.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/preserve.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

// Two worktrees of the same history: the old one whose work was preserved, and a new one
// (detached at the canonical tip) to re-apply it into.
class ReapplyTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    commit_file(repo_dir(), "a.txt", "a1\n", "Add a");
    commit_file(repo_dir(), "b.txt", "b1\n", "Add b");
    git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
    git_ok(repo_dir(), "worktree add -q '" + old_wt().native() + "' " + kCanonical);
    git_ok(repo_dir(), "worktree add -q --detach '" + new_wt().native() + "' " + kCanonical);
  }
  fs::path old_wt() const { return tmp_.path() / "old"; }
  fs::path new_wt() const { return tmp_.path() / "new"; }
  std::string preserve() {
    auto preserved = preserve_uncommitted(repo(), old_wt(), "t-1");
    EXPECT_TRUE(preserved && *preserved);
    return preserved && *preserved ? (*preserved)->oid : "";
  }
};

TEST_F(ReapplyTest, WritesOnlyThePreservedFilesAndLeavesThemUncommitted) {
  write_file(old_wt() / "a.txt", "a2\n");
  write_file(old_wt() / "new.txt", "new\n");
  fs::remove(old_wt() / "b.txt");
  std::string oid = preserve();
  auto readme_mtime = fs::last_write_time(new_wt() / "README.md");

  auto result = reapply_preserved(repo(), new_wt(), oid);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->is_applied);
  EXPECT_TRUE(result->conflicts.empty());
  EXPECT_EQ(result->files_written, 2u);  // a.txt and new.txt; b.txt removed
  EXPECT_EQ(read_file(new_wt() / "a.txt"), "a2\n");
  EXPECT_EQ(read_file(new_wt() / "new.txt"), "new\n");
  EXPECT_FALSE(fs::exists(new_wt() / "b.txt"));
  EXPECT_EQ(fs::last_write_time(new_wt() / "README.md"), readme_mtime);
  EXPECT_EQ(git_ok(new_wt(), "status --porcelain"), " M a.txt\n D b.txt\n?? new.txt\n");
}

TEST_F(ReapplyTest, RestoresAPartialStagingAndAStagedNewFile) {
  write_file(old_wt() / "a.txt", "a staged\n");
  git_ok(old_wt(), "add a.txt");
  write_file(old_wt() / "a.txt", "a staged then changed\n");
  write_file(old_wt() / "c.txt", "new and staged\n");
  git_ok(old_wt(), "add c.txt");
  const std::string status_before = git_ok(old_wt(), "status --porcelain");
  ASSERT_EQ(status_before, "MM a.txt\nA  c.txt\n");
  std::string oid = preserve();

  auto result = reapply_preserved(repo(), new_wt(), oid);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->is_applied);
  EXPECT_EQ(git_ok(new_wt(), "status --porcelain"), status_before);
  EXPECT_EQ(git_ok(new_wt(), "show :a.txt"), "a staged\n");
  EXPECT_EQ(read_file(new_wt() / "a.txt"), "a staged then changed\n");
  EXPECT_EQ(git_ok(new_wt(), "show :c.txt"), "new and staged\n");
}

// The standby's index is read when the standby is ready, long before a replace: one that
// changed on disk since (here a file staged in the new tree) is read again, not written back
// stale over the change.
TEST_F(ReapplyTest, AnIndexReadAheadThatChangedSinceIsReadAgain) {
  // Only the stage differs from HEAD: no checkout runs (which would read the index again
  // itself), only the stage is restored.
  write_file(old_wt() / "a.txt", "a staged\n");
  git_ok(old_wt(), "add a.txt");
  write_file(old_wt() / "a.txt", "a1\n");
  std::string oid = preserve();
  auto ahead = read_worktree_index(new_wt());
  ASSERT_TRUE(ahead) << ahead.error().message;
  write_file(new_wt() / "b.txt", "b staged after the read\n");
  git_ok(new_wt(), "add b.txt");

  auto result = reapply_preserved(repo(), new_wt(), oid, ahead->get());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->is_applied);
  EXPECT_EQ(git_ok(new_wt(), "status --porcelain"), "MM a.txt\nM  b.txt\n");
}

TEST_F(ReapplyTest, RestoresTheStageOntoAHeadThatMovedMeanwhile) {
  write_file(old_wt() / "c.txt", "new and staged\n");
  git_ok(old_wt(), "add c.txt");
  std::string oid = preserve();
  commit_file(new_wt(), "b.txt", "b2\n", "Change b");

  auto result = reapply_preserved(repo(), new_wt(), oid);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->is_applied);
  EXPECT_EQ(git_ok(new_wt(), "status --porcelain"), "A  c.txt\n");
}

TEST_F(ReapplyTest, MergesThreeWayOntoAHeadThatMovedMeanwhile) {
  commit_file(old_wt(), "a.txt", "top\nmiddle\nbottom\n", "Three lines");
  git_ok(new_wt(), "checkout -q --detach " + std::string(kCanonical));
  write_file(old_wt() / "a.txt", "top\nmiddle\nbottom changed\n");
  std::string oid = preserve();
  // The branch moved on after the preserve: someone changed the first line.
  commit_file(new_wt(), "a.txt", "top changed\nmiddle\nbottom\n", "Change top");

  auto result = reapply_preserved(repo(), new_wt(), oid);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->is_applied);
  EXPECT_EQ(read_file(new_wt() / "a.txt"), "top changed\nmiddle\nbottom changed\n");
}

TEST_F(ReapplyTest, OnConflictWritesNothingReportsTheFilesAndKeepsTheRef) {
  write_file(old_wt() / "a.txt", "preserved\n");
  write_file(old_wt() / "c.txt", "clean change\n");
  std::string oid = preserve();
  commit_file(new_wt(), "a.txt", "committed meanwhile\n", "Conflicting change");

  auto result = reapply_preserved(repo(), new_wt(), oid);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_FALSE(result->is_applied);
  ASSERT_EQ(result->conflicts, std::vector<std::string>{"a.txt"});
  EXPECT_EQ(git_ok(new_wt(), "status --porcelain"), "");
  EXPECT_FALSE(fs::exists(new_wt() / "c.txt"));
  EXPECT_EQ(git_ok(repo_dir(), "rev-parse refs/baton/preserved/t-1"), oid + "\n");
}

TEST_F(ReapplyTest, ReportsALocallyModifiedFileInTheWayAsAConflictAndKeepsIt) {
  write_file(old_wt() / "a.txt", "preserved\n");
  std::string oid = preserve();
  write_file(new_wt() / "a.txt", "local edit\n");

  auto result = reapply_preserved(repo(), new_wt(), oid);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_FALSE(result->is_applied);
  EXPECT_EQ(result->conflicts, std::vector<std::string>{"a.txt"});
  EXPECT_EQ(read_file(new_wt() / "a.txt"), "local edit\n");
}

TEST_F(ReapplyTest, RejectsSomethingThatIsNotACommitId) {
  auto result = reapply_preserved(repo(), new_wt(), "not-an-oid");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("not-an-oid"), std::string::npos);
}

}  // namespace
}  // namespace baton::git::testing
