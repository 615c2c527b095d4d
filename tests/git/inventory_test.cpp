#include "git/inventory.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/preserve.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

class InventoryTest : public ProjectTest {};

TEST_F(InventoryTest, FindsEveryLeftoverOfAnInterruptedHandoff) {
  // Orchestrator t-1 at the stable path; t-2 prepared; t-3 prepared, then deleted by hand;
  // a trash dir of t-0; preserved work of t-1; a worktree of the user's own elsewhere.
  auto first = prepare_worktree(repo(), project_dir(), "t-1", kCanonical);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(move_worktree(repo(), first->name, stable_dir()));
  ASSERT_TRUE(adopt_branch(repo(), stable_dir(), kCanonical, first->temp_branch));
  ASSERT_TRUE(prepare_worktree(repo(), project_dir(), "t-2", kCanonical));
  auto third = prepare_worktree(repo(), project_dir(), "t-3", kCanonical);
  ASSERT_TRUE(third);
  fs::remove_all(third->path);
  fs::create_directories(project_dir() / ".trash-t-0" / "x");
  write_file(stable_dir() / "dirty.txt", "d\n");
  ASSERT_TRUE(preserve_uncommitted(repo(), stable_dir(), "t-1"));
  git_ok(repo_dir(), "worktree add -q -b mine '" + (tmp_.path() / "mine").native() + "'");

  auto found = inventory(repo(), project_dir());
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->worktrees.size(), 3u);
  const WorktreeEntry* stable = nullptr;
  const WorktreeEntry* gone = nullptr;
  for (const auto& entry : found->worktrees) {
    if (entry.name == "baton-t-1") stable = &entry;
    if (entry.name == "baton-t-3") gone = &entry;
  }
  ASSERT_NE(stable, nullptr);
  EXPECT_EQ(stable->path, stable_dir());
  EXPECT_EQ(stable->head_ref, std::string("refs/heads/") + kCanonical);
  EXPECT_TRUE(stable->exists_on_disk);
  EXPECT_FALSE(stable->is_prunable);
  ASSERT_NE(gone, nullptr);
  EXPECT_FALSE(gone->exists_on_disk);
  EXPECT_TRUE(gone->is_prunable);
  ASSERT_EQ(found->stale_entries.size(), 1u);
  EXPECT_EQ(found->stale_entries[0].name, "baton-t-3");

  ASSERT_EQ(found->prepare_dirs.size(), 1u);
  EXPECT_EQ(found->prepare_dirs[0].session_id, "t-2");
  ASSERT_EQ(found->trash_dirs.size(), 1u);
  EXPECT_EQ(found->trash_dirs[0].session_id, "t-0");
  EXPECT_EQ(found->temp_branches, (std::vector<std::string>{"baton/tmp/t-2", "baton/tmp/t-3"}));
  EXPECT_EQ(found->preserved_refs, std::vector<std::string>{"refs/baton/preserved/t-1"});
}

TEST_F(InventoryTest, IsEmptyForAProjectBatonNeverTouched) {
  auto found = inventory(repo(), project_dir());
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_TRUE(found->worktrees.empty());
  EXPECT_TRUE(found->stale_entries.empty());
  EXPECT_TRUE(found->prepare_dirs.empty());
  EXPECT_TRUE(found->trash_dirs.empty());
  EXPECT_TRUE(found->temp_branches.empty());
  EXPECT_TRUE(found->preserved_refs.empty());
}

}  // namespace
}  // namespace baton::git::testing
