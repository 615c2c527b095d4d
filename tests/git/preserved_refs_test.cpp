#include "git/preserved_refs.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/preserve.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

class PreservedRefsTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    commit_file(repo_dir(), "a.txt", "one\n", "Add a");
    git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
    fs::create_directories(project_dir());
    git_ok(repo_dir(), "worktree add -q '" + stable_dir().native() + "' " + kCanonical);
  }
};

TEST_F(PreservedRefsTest, ListShowsEachPreservedCommitWithItsChangedPaths) {
  write_file(stable_dir() / "a.txt", "two\n");
  write_file(stable_dir() / "new file.txt", "untracked\n");
  auto p = preserve_uncommitted(repo(), stable_dir(), "t-1");
  ASSERT_TRUE(p && *p) << (p ? "" : p.error().message);
  auto list = list_preserved(repo());
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].session, "t-1");
  EXPECT_EQ((*list)[0].ref, "refs/baton/preserved/t-1");
  EXPECT_EQ((*list)[0].oid, (*p)->oid);
  EXPECT_EQ((*list)[0].paths, (std::vector<std::string>{"a.txt", "new file.txt"}));
  EXPECT_FALSE((*list)[0].message.empty());
}

TEST_F(PreservedRefsTest, DropRemovesTheRefAndAMissingOneIsAnError) {
  write_file(stable_dir() / "a.txt", "two\n");
  ASSERT_TRUE(preserve_uncommitted(repo(), stable_dir(), "t-1"));
  ASSERT_TRUE(drop_preserved(repo(), "t-1"));
  EXPECT_TRUE(list_preserved(repo())->empty());
  auto again = drop_preserved(repo(), "t-1");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("refs/baton/preserved/t-1"), std::string::npos);
}

TEST_F(PreservedRefsTest, TempBranchIsDeletedOnlyWhenNobodyHasItCheckedOut) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  ASSERT_TRUE(delete_temp_branch(repo(), "t-2"));
  EXPECT_EQ(git_cli(repo_dir(), "rev-parse --verify -q refs/heads/baton/tmp/t-2").status, 0)
      << "a checked-out temporary branch was deleted";
  git_ok(prepared->path, "checkout -q --detach");
  ASSERT_TRUE(delete_temp_branch(repo(), "t-2"));
  EXPECT_NE(git_cli(repo_dir(), "rev-parse --verify -q refs/heads/baton/tmp/t-2").status, 0);
  EXPECT_TRUE(delete_temp_branch(repo(), "t-2")) << "a missing branch is success";
}

}  // namespace
}  // namespace baton::git::testing
