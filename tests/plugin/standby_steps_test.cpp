// The standby's steps (plugin/standby_steps.hpp) in-process, against real repositories in
// temp dirs (tests/git/fixture.hpp): no daemon, no loop. One behaviour per test.
#include "plugin/standby_steps.hpp"

#include <atomic>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "git/branch.hpp"
#include "git/inventory.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"
#include "plugin/handoff_steps.hpp"
#include "tests/git/fixture.hpp"

namespace baton::plugin::testing {
namespace {

namespace fs = std::filesystem;
using git::testing::git_ok;
using git::testing::read_file;
using git::testing::write_file;

class StandbySteps : public git::testing::ProjectTest {
 protected:
  std::string repo_path() const { return repo_dir().string(); }
  std::string project() const { return project_dir().string(); }
  std::string standby() const { return standby_path(project()); }

  Expected<PreparedStandby> prepare(
      const std::string& id, const std::function<bool()>& is_cancelled = [] { return false; }) {
    return prepare_standby(repo_path(), project(), id, kCanonical, {}, is_cancelled);
  }

  bool has_ref(const std::string& ref) {
    return git::testing::git_cli(repo_dir(), "rev-parse -q --verify " + ref).status == 0;
  }
};

TEST_F(StandbySteps, PrepareMakesALockedWorktreeOnItsTemporaryBranchAndMeasuresIt) {
  auto prepared = prepare("proj-2");
  ASSERT_TRUE(prepared) << prepared.error().message;
  EXPECT_TRUE(is_standby_of(project(), "proj-2"));
  EXPECT_FALSE(is_standby_of(project(), "proj-3"));
  EXPECT_EQ(git_ok(standby(), "symbolic-ref -q HEAD"), "refs/heads/baton/tmp/proj-2\n");
  EXPECT_NE(
      git_ok(repo_dir(), "worktree list --porcelain").find("locked baton orchestrator proj-2"),
      std::string::npos);
  EXPECT_GT(prepared->bytes, 0u);
}

TEST_F(StandbySteps, ACancelledPrepareLeavesNothing) {
  auto prepared = prepare("proj-2", [] { return true; });
  ASSERT_FALSE(prepared);
  EXPECT_FALSE(fs::exists(standby()));
  EXPECT_FALSE(has_ref("refs/heads/baton/tmp/proj-2"));
  EXPECT_EQ(git_ok(repo_dir(), "worktree list --porcelain").find(".standby"), std::string::npos);
}

TEST_F(StandbySteps, FollowWritesWhatTheCanonicalBranchChangedAndNothingWhenItDidNot) {
  ASSERT_TRUE(prepare("proj-2"));
  auto still = follow_standby(project(), "proj-2", kCanonical);
  ASSERT_TRUE(still) << still.error().message;
  EXPECT_FALSE(*still);
  git::testing::commit_file(repo_dir(), "later.txt", "later\n", "later");
  git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
  auto moved = follow_standby(project(), "proj-2", kCanonical);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_TRUE(*moved);
  EXPECT_EQ(read_file(fs::path(standby()) / "later.txt"), "later\n");
  EXPECT_EQ(git_ok(standby(), "status --porcelain"), "");
  EXPECT_EQ(git_ok(standby(), "rev-parse HEAD"), git_ok(repo_dir(), "rev-parse main"));
}

// A daemon killed while a follow writes leaves a tree between two commits: the marker the
// follow writes first makes it no valid standby, so it is never taken, only discarded.
TEST_F(StandbySteps, AFollowLeftInTheMiddleMakesTheStandbyInvalidUntilDiscarded) {
  ASSERT_TRUE(prepare("proj-2"));
  git::testing::commit_file(repo_dir(), "later.txt", "later\n", "later");
  git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
  const std::string marker = following_marker_path(project());
  // Stopped right after the marker, before any file: what a kill there leaves.
  bool was_marked = false;
  auto stopped = git::follow_branch(standby(), kCanonical, git::temp_branch_name("proj-2"),
                                    [&]() -> git::Result<void> {
                                      write_file(marker, "proj-2\n");
                                      was_marked = true;
                                      return tl::unexpected(git::Error{git::kIoError, "killed"});
                                    });
  ASSERT_FALSE(stopped);
  EXPECT_TRUE(was_marked);
  EXPECT_FALSE(fs::exists(fs::path(standby()) / "later.txt"));
  EXPECT_FALSE(is_standby_of(project(), "proj-2"));
  EXPECT_FALSE(take_standby(repo_path(), project(), "proj-2"));
  ASSERT_TRUE(discard_standby(repo_path(), project(), {"proj-2"}));
  EXPECT_FALSE(fs::exists(marker));

  // A follow that ends removes its marker.
  ASSERT_TRUE(prepare("proj-2"));
  EXPECT_TRUE(is_standby_of(project(), "proj-2"));
  git::testing::commit_file(repo_dir(), "later2.txt", "later\n", "later 2");
  git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
  auto moved = follow_standby(project(), "proj-2", kCanonical);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_TRUE(*moved);
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_TRUE(is_standby_of(project(), "proj-2"));
}

TEST_F(StandbySteps, TakeMovesItToItsPreparedPathAndRefusesAnotherId) {
  ASSERT_TRUE(prepare("proj-2"));
  auto wrong = take_standby(repo_path(), project(), "proj-3");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kPrepareFailed);
  EXPECT_TRUE(fs::exists(standby()));
  ASSERT_TRUE(take_standby(repo_path(), project(), "proj-2"));
  EXPECT_FALSE(fs::exists(standby()));
  EXPECT_EQ(git::worktree_owner(prepared_path(project(), "proj-2")).session_id, "proj-2");
  // Again (a retry after a kill): already there, nothing to do.
  EXPECT_TRUE(take_standby(repo_path(), project(), "proj-2"));
}

TEST_F(StandbySteps, DiscardRemovesTheTreeItsEntryAndItsBranchAndIsIdempotent) {
  ASSERT_TRUE(prepare("proj-2"));
  ASSERT_TRUE(discard_standby(repo_path(), project(), {"proj-2"}));
  EXPECT_FALSE(fs::exists(standby()));
  EXPECT_FALSE(has_ref("refs/heads/baton/tmp/proj-2"));
  EXPECT_EQ(git_ok(repo_dir(), "worktree list --porcelain").find(".standby"), std::string::npos);
  EXPECT_TRUE(discard_standby(repo_path(), project(), {"proj-2"}));
}

TEST_F(StandbySteps, ItsPiecesAreNoLeftoversOfAHandoffButAnothersAre) {
  ASSERT_TRUE(prepare("proj-2"));
  git_ok(repo_dir(), "branch baton/tmp/proj-9 main");
  auto proj = git::open_project(repo_dir());
  ASSERT_TRUE(proj);
  auto inv = git::inventory(proj->repo.get(), project());
  ASSERT_TRUE(inv);
  // The tree at .standby names its owner even when the store lost its record.
  const auto ids = standby_ids(project(), "");
  ASSERT_EQ(ids, std::vector<std::string>{"proj-2"});
  remove_standby_pieces(*inv, ids);
  EXPECT_EQ(inv->temp_branches, std::vector<std::string>{"baton/tmp/proj-9"});
}

TEST_F(StandbySteps, AnAverageCheckoutFitsUnderAuto) {
  EXPECT_EQ(standby_unfit(repo_path(), project(), true), "");
}

}  // namespace
}  // namespace baton::plugin::testing
