// Carrying what a preserved commit cannot hold from a retired tree into the next one, through
// the git side of a handoff (DESIGN.md §5), cross-checked with the git CLI.

#include "git/carry.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/preserve.hpp"
#include "git/reapply.hpp"
#include "git/release.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

ino_t inode_of(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The old orchestrator at the stable path (session t-1); handoff() runs the git side of a
// replace to session t-2 with the carry steps, as plugin/handoff.cpp orders them.
class CarryTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    commit_file(repo_dir(), ".gitignore", ".env\nnode_modules/\n*.log\n", "Ignore");
    git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
    fs::create_directories(project_dir());
    // Made the way baton makes them: prepared, moved to the stable path, branch adopted.
    auto prepared = prepare_worktree(repo(), project_dir(), "t-1", kCanonical);
    ASSERT_TRUE(prepared) << prepared.error().message;
    ASSERT_TRUE(move_worktree(repo(), prepared->name, stable_dir()));
    ASSERT_TRUE(adopt_branch(repo(), stable_dir(), kCanonical, prepared->temp_branch));
  }

  fs::path trash() const { return project_dir() / ".trash-t-1"; }

  // Returns the failure, if any; `carried` gets the carry result.
  std::string handoff(CarryResult* carried = nullptr) {
    auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
    if (!prepared) return prepared.error().message;
    std::vector<CarryEntry> carry;
    auto preserved = preserve_uncommitted(repo(), stable_dir(), "t-1", &carry);
    if (!preserved) return preserved.error().message;
    if (auto m = write_carry_manifest(stable_dir(), carry); !m) return m.error().message;
    if (auto r = release_rename_aside(stable_dir(), trash()); !r) return r.error().message;
    if (auto r = save_submodule_git_dirs(repo(), worktree_name("t-1"), "t-1"); !r)
      return r.error().message;
    if (auto r = release_prune(repo(), worktree_name("t-1"), kCanonical); !r)
      return r.error().message;
    if (auto r = move_worktree(repo(), prepared->name, stable_dir()); !r) return r.error().message;
    if (auto a = adopt_branch(repo(), stable_dir(), kCanonical, prepared->temp_branch); !a)
      return a.error().message;
    if (*preserved) {
      auto reapplied = reapply_preserved(repo(), stable_dir(), (*preserved)->oid);
      if (!reapplied) return reapplied.error().message;
      if (!reapplied->is_applied) return "re-apply conflicted";
    }
    auto result = carry_entries(repo(), trash(), "t-1", stable_dir());
    if (!result) return result.error().message;
    if (carried != nullptr) *carried = *result;
    return "";
  }
};

TEST_F(CarryTest, CarriesAnIgnoredFileAndAnIgnoredDirectoryByRenameNotCopy) {
  write_file(stable_dir() / ".env", "TOKEN=1\n");
  write_file(stable_dir() / "node_modules" / "left-pad" / "index.js", "pad\n");
  write_file(stable_dir() / "src" / "debug.log", "log\n");
  const ino_t env_inode = inode_of(stable_dir() / ".env");
  const ino_t module_inode = inode_of(stable_dir() / "node_modules" / "left-pad" / "index.js");

  CarryResult carried;
  ASSERT_EQ(handoff(&carried), "");
  EXPECT_TRUE(carried.kept.empty());
  EXPECT_EQ(carried.carried.size(), 3u);
  EXPECT_EQ(read_file(stable_dir() / ".env"), "TOKEN=1\n");
  EXPECT_EQ(read_file(stable_dir() / "node_modules" / "left-pad" / "index.js"), "pad\n");
  EXPECT_EQ(read_file(stable_dir() / "src" / "debug.log"), "log\n");
  // The same files, moved: no copy (the gap must not grow with node_modules).
  EXPECT_EQ(inode_of(stable_dir() / ".env"), env_inode);
  EXPECT_EQ(inode_of(stable_dir() / "node_modules" / "left-pad" / "index.js"), module_inode);
  EXPECT_EQ(git_ok(stable_dir(), "status --porcelain"), "");
  ASSERT_TRUE(delete_trash(trash())) << "everything was carried";
  EXPECT_FALSE(fs::exists(trash()));
}

TEST_F(CarryTest, CarriesAnUntrackedNestedRepositoryWithItsHistory) {
  fs::create_directories(stable_dir() / "vendor" / "tool");
  make_repo(stable_dir() / "vendor" / "tool");
  write_file(stable_dir() / "vendor" / "tool" / "dirty.txt", "not committed\n");
  const std::string head = git_ok(stable_dir() / "vendor" / "tool", "rev-parse HEAD");

  CarryResult carried;
  ASSERT_EQ(handoff(&carried), "");
  EXPECT_TRUE(carried.kept.empty());
  EXPECT_EQ(git_ok(stable_dir() / "vendor" / "tool", "rev-parse HEAD"), head);
  EXPECT_EQ(read_file(stable_dir() / "vendor" / "tool" / "dirty.txt"), "not committed\n");
  EXPECT_EQ(git_ok(stable_dir(), "status --porcelain"), "?? vendor/\n");
  EXPECT_TRUE(delete_trash(trash()));
}

// Retires t-1 by hand and adds a plain worktree at the stable path, for cases where the new
// tree holds a path already.
class TakenPathTest : public CarryTest {
 protected:
  void retire_into_plain_worktree() {
    std::vector<CarryEntry> carry;
    ASSERT_TRUE(preserve_uncommitted(repo(), stable_dir(), "t-1", &carry));
    ASSERT_TRUE(write_carry_manifest(stable_dir(), carry));
    ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
    ASSERT_TRUE(release_prune(repo(), worktree_name("t-1"), kCanonical));
    git_ok(repo_dir(), "worktree add -q '" + stable_dir().native() + "' " + kCanonical);
  }
  fs::path kept() const { return project_dir() / ".kept-t-1"; }
};

TEST_F(TakenPathTest, KeepsAnEntryTheNewTreeHasItsOwnOfWholeBesideIt) {
  write_file(stable_dir() / ".env", "old\n");
  retire_into_plain_worktree();
  write_file(stable_dir() / ".env", "new\n");

  auto carried = carry_entries(repo(), trash(), "t-1", stable_dir());
  ASSERT_TRUE(carried) << carried.error().message;
  EXPECT_EQ(carried->kept, std::vector<std::string>{".env"});
  EXPECT_TRUE(carried->failed.empty());
  EXPECT_EQ(read_file(stable_dir() / ".env"), "new\n");
  EXPECT_EQ(read_file(kept() / ".env"), "old\n");
  auto listed = list_kept(project_dir());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].session, "t-1");
  EXPECT_EQ(listed[0].entries, std::vector<std::string>{".env"});
  EXPECT_TRUE(delete_trash(trash()));
}

TEST_F(TakenPathTest, DropsTheSameSmallFileOnBothSides) {
  write_file(stable_dir() / ".env", "same\n");
  retire_into_plain_worktree();
  write_file(stable_dir() / ".env", "same\n");

  auto carried = carry_entries(repo(), trash(), "t-1", stable_dir());
  ASSERT_TRUE(carried) << carried.error().message;
  EXPECT_TRUE(carried->kept.empty());
  EXPECT_FALSE(fs::exists(kept()));
  EXPECT_TRUE(delete_trash(trash()));
}

TEST_F(TakenPathTest, NeverDeletesATreeHoldingWhatCouldNotBeCarried) {
  write_file(stable_dir() / ".env", "old\n");
  retire_into_plain_worktree();
  write_file(stable_dir() / ".env", "new\n");
  write_file(kept(), "a file where the kept directory would go\n");

  auto carried = carry_entries(repo(), trash(), "t-1", stable_dir());
  ASSERT_TRUE(carried) << carried.error().message;
  ASSERT_EQ(carried->failed.size(), 1u);
  EXPECT_TRUE(carried->failed[0].starts_with(".env (")) << carried->failed[0];
  auto deleted = delete_trash(trash());
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, kNotCarried);
  EXPECT_NE(deleted.error().message.find(".env"), std::string::npos) << deleted.error().message;
  EXPECT_EQ(read_file(trash() / ".env"), "old\n");
  // Once the way is clear, carrying again keeps it and the tree goes.
  fs::remove(kept());
  carried = carry_entries(repo(), trash(), "t-1", stable_dir());
  ASSERT_TRUE(carried) << carried.error().message;
  EXPECT_EQ(carried->kept, std::vector<std::string>{".env"});
  EXPECT_TRUE(delete_trash(trash()));
  EXPECT_EQ(read_file(kept() / ".env"), "old\n");
}

TEST_F(CarryTest, LeavesTheSameSymlinkThePrepareMade) {
  write_file(repo_dir() / ".env", "main\n");
  fs::create_symlink(repo_dir() / ".env", stable_dir() / ".env");
  std::vector<CarryEntry> carry;
  ASSERT_TRUE(preserve_uncommitted(repo(), stable_dir(), "t-1", &carry));
  ASSERT_TRUE(write_carry_manifest(stable_dir(), carry));
  ASSERT_TRUE(release_rename_aside(stable_dir(), trash()));
  ASSERT_TRUE(release_prune(repo(), worktree_name("t-1"), kCanonical));
  git_ok(repo_dir(), "worktree add -q '" + stable_dir().native() + "' " + kCanonical);
  fs::create_symlink(repo_dir() / ".env", stable_dir() / ".env");

  auto carried = carry_entries(repo(), trash(), "t-1", stable_dir());
  ASSERT_TRUE(carried) << carried.error().message;
  EXPECT_TRUE(carried->kept.empty());
  EXPECT_TRUE(delete_trash(trash()));
}

// A submodule built from a local repository, initialized in the old tree by the git CLI
// (its git dir then lives in the old worktree's admin dir, which the prune deletes).
class SubmoduleCarryTest : public CarryTest {
 protected:
  void SetUp() override {
    CarryTest::SetUp();
    fs::create_directories(tmp_.path() / "lib");
    make_repo(tmp_.path() / "lib");
    commit_file(tmp_.path() / "lib", "lib.txt", "lib v1\n", "lib");
    git_ok(stable_dir(), "-c protocol.file.allow=always submodule add -q '" +
                             (tmp_.path() / "lib").native() + "' sub");
    git_ok(stable_dir(), "commit -q -m 'Add sub'");
    ASSERT_NE(read_file(stable_dir() / "sub" / ".git").find("/worktrees/baton-t-1/modules/sub"),
              std::string::npos);
  }
};

TEST_F(SubmoduleCarryTest, CarriesADirtySubmoduleWithItsGitDir) {
  write_file(stable_dir() / "sub" / "lib.txt", "lib edited\n");
  write_file(stable_dir() / "sub" / "staged.txt", "staged\n");
  git_ok(stable_dir() / "sub", "add staged.txt");

  CarryResult carried;
  ASSERT_EQ(handoff(&carried), "");
  EXPECT_TRUE(carried.kept.empty()) << carried.kept[0];
  EXPECT_EQ(read_file(stable_dir() / "sub" / "lib.txt"), "lib edited\n");
  EXPECT_EQ(git_ok(stable_dir() / "sub", "status --porcelain"), " M lib.txt\nA  staged.txt\n");
  EXPECT_EQ(git_ok(stable_dir(), "status --porcelain"), " M sub\n");
  ASSERT_TRUE(delete_trash(trash()));
  ASSERT_TRUE(delete_saved_modules(repo(), "t-1"));
  // The submodule still works after the old tree and the saved git dirs are gone.
  EXPECT_EQ(git_ok(stable_dir() / "sub", "status --porcelain"), " M lib.txt\nA  staged.txt\n");
}

TEST_F(SubmoduleCarryTest, CarriesANewFileInASubmodule) {
  write_file(stable_dir() / "sub" / "new.txt", "new in sub\n");

  ASSERT_EQ(handoff(), "");
  EXPECT_EQ(read_file(stable_dir() / "sub" / "new.txt"), "new in sub\n");
  EXPECT_EQ(git_ok(stable_dir() / "sub", "status --porcelain"), "?? new.txt\n");
  ASSERT_TRUE(delete_trash(trash()));
  ASSERT_TRUE(delete_saved_modules(repo(), "t-1"));
  EXPECT_EQ(git_ok(stable_dir() / "sub", "status --porcelain"), "?? new.txt\n");
}

}  // namespace
}  // namespace baton::git::testing
