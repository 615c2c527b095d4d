#include "git/release.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/checked_out.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

// The old orchestrator's worktree at the stable path, admin name "orchestrator" (git CLI).
class ReleaseTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    fs::create_directories(project_dir());
    git_ok(repo_dir(), "worktree add -q '" + stable_dir().native() + "' " + kCanonical);
  }
  fs::path trash() const { return project_dir() / ".trash-t-1"; }
  bool is_branch_free() {
    auto holder = who_has_branch_checked_out(repo(), kCanonical);
    return holder && !*holder;
  }
};

TEST_F(ReleaseTest, RenameAsideMovesTheDirectoryToTheTrashPath) {
  auto renamed = release_rename_aside(stable_dir(), trash());
  ASSERT_TRUE(renamed) << renamed.error().message;
  EXPECT_FALSE(fs::exists(stable_dir()));
  EXPECT_EQ(read_file(trash() / "README.md"), "hello\n");
}

TEST_F(ReleaseTest, RenameAsideCalledAgainSucceeds) {
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  auto again = release_rename_aside(stable_dir(), trash());
  EXPECT_TRUE(again) << again.error().message;
}

TEST_F(ReleaseTest, RenameAsideRefusesWhenBothPathsExist) {
  fs::create_directories(trash());
  auto renamed = release_rename_aside(stable_dir(), trash());
  ASSERT_FALSE(renamed);
  EXPECT_EQ(renamed.error().code, EEXIST);
  EXPECT_NE(renamed.error().message.find(trash().native()), std::string::npos);
}

TEST_F(ReleaseTest, PruneRemovesTheAdminEntryAndFreesTheBranch) {
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  auto pruned = release_prune(repo(), "orchestrator", kCanonical);
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_TRUE(pruned->was_pruned);
  EXPECT_FALSE(fs::exists(repo_dir() / ".git" / "worktrees" / "orchestrator"));
  EXPECT_TRUE(fs::exists(trash() / "README.md"));  // the tree is delete_trash's job
  EXPECT_TRUE(is_branch_free());
}

TEST_F(ReleaseTest, PruneCalledAgainSucceeds) {
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  ASSERT_TRUE(release_prune(repo(), "orchestrator", kCanonical));
  auto again = release_prune(repo(), "orchestrator", kCanonical);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->was_pruned);
}

TEST_F(ReleaseTest, PruneFailsNamingTheHolderWhenAnotherWorktreeHoldsTheBranch) {
  fs::path other = tmp_.path() / "other";
  git_ok(repo_dir(), "worktree add -q -f '" + other.native() + "' " + kCanonical);
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  auto pruned = release_prune(repo(), "orchestrator", kCanonical);
  ASSERT_FALSE(pruned);
  EXPECT_EQ(pruned.error().code, kBranchCheckedOut);
  EXPECT_NE(pruned.error().message.find(other.native()), std::string::npos);
}

TEST_F(ReleaseTest, ReleasesAWorktreeDeletedByHandCleanly) {
  fs::remove_all(stable_dir());
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  auto pruned = release_prune(repo(), "orchestrator", kCanonical);
  ASSERT_TRUE(pruned) << pruned.error().message;
  ASSERT_TRUE(delete_trash(trash()));
  EXPECT_TRUE(is_branch_free());
  EXPECT_EQ(git_ok(repo_dir(), "worktree list --porcelain").find("orchestrator"),
            std::string::npos);
}

TEST_F(ReleaseTest, ReleasesAWorktreeWhoseGitFileIsMissing) {
  fs::remove(stable_dir() / ".git");
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  auto pruned = release_prune(repo(), "orchestrator", kCanonical);
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_TRUE(is_branch_free());
  EXPECT_TRUE(delete_trash(trash()));
}

TEST_F(ReleaseTest, ReleasesALockedWorktreeAndSaysItWasLocked) {
  git_ok(repo_dir(), "worktree lock --reason 'on a usb stick' '" + stable_dir().native() + "'");
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  auto pruned = release_prune(repo(), "orchestrator", kCanonical);
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_TRUE(pruned->was_locked);
  EXPECT_TRUE(is_branch_free());
}

TEST_F(ReleaseTest, DeleteTrashRemovesTheTreeAndIsIdempotent) {
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  fs::create_symlink("/etc", trash() / "etc-link");  // never followed
  ASSERT_TRUE(delete_trash(trash()));
  EXPECT_FALSE(fs::exists(trash()));
  EXPECT_TRUE(fs::exists("/etc/hostname") || fs::exists("/etc/passwd"));
  EXPECT_TRUE(delete_trash(trash()));
}

TEST_F(ReleaseTest, DeleteTrashRefusesAPathThatIsNotATrashDirectory) {
  auto deleted = delete_trash(stable_dir());
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, kNotBatonPath);
  EXPECT_TRUE(fs::exists(stable_dir() / "README.md"));
}

// chattr +i: even root cannot unlink an immutable file, but renaming the directory that
// holds it is allowed (verified on this machine, ext4): rename-aside works regardless,
// delete_trash fails naming the file until chattr -i.
TEST_F(ReleaseTest, DeleteTrashFailsNamingAnImmutableFileAndSucceedsAfterChattrMinusI) {
  fs::path stuck = stable_dir() / "sub" / "stuck.txt";
  write_file(stuck, "x");
  auto made = shell("chattr +i '" + stuck.native() + "'");
  if (made.status != 0) {
    GTEST_SKIP() << "chattr +i is not supported here (" << made.output
                 << "); the immutable-file case is not tested";
  }
  auto renamed = release_rename_aside(stable_dir(), trash());
  ASSERT_TRUE(renamed) << renamed.error().message;
  fs::path trashed = trash() / "sub" / "stuck.txt";

  auto deleted = delete_trash(trash());
  auto unlocked = shell("chattr -i '" + trashed.native() + "'");  // before any assertion
  ASSERT_EQ(unlocked.status, 0) << unlocked.output;
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, EPERM);
  EXPECT_NE(deleted.error().message.find(trashed.native()), std::string::npos)
      << deleted.error().message;
  EXPECT_NE(deleted.error().message.find("Operation not permitted"), std::string::npos);

  auto again = delete_trash(trash());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(fs::exists(trash()));
}

}  // namespace
}  // namespace baton::git::testing
