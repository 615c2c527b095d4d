#include "git/worktree.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/branch.hpp"
#include "git/handles.hpp"
#include "git/release.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

class WorktreeTest : public ProjectTest {
 protected:
  // The old orchestrator: a worktree at the stable path holding the canonical branch.
  fs::path add_old_orchestrator() {
    fs::create_directories(project_dir());
    git_ok(repo_dir(), "worktree add -q '" + stable_dir().native() + "' " + kCanonical);
    return stable_dir();
  }
  std::string rev(const fs::path& dir, const std::string& spec) {
    auto out = git_ok(dir, "rev-parse " + spec);
    return out.substr(0, out.find('\n'));
  }
  static ino_t inode(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_ino;
  }
  static long long mtime_ns(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  }
};

TEST_F(WorktreeTest, PrepareAddsTheWorktreeOnATemporaryBranchWhileTheOldOneHoldsTheBranch) {
  add_old_orchestrator();
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  EXPECT_EQ(prepared->name, "baton-t-2");
  EXPECT_EQ(prepared->path, project_dir() / ".prepare-t-2");
  EXPECT_EQ(prepared->temp_branch, "baton/tmp/t-2");
  EXPECT_EQ(read_file(prepared->path / "README.md"), "hello\n");
  EXPECT_EQ(git_ok(prepared->path, "symbolic-ref HEAD"), "refs/heads/baton/tmp/t-2\n");
  EXPECT_EQ(rev(prepared->path, "HEAD"), rev(repo_dir(), kCanonical));
  EXPECT_EQ(prepared->tip, rev(repo_dir(), kCanonical));
  EXPECT_EQ(git_ok(prepared->path, "status --porcelain"), "");
}

TEST_F(WorktreeTest, PrepareLeavesAnIndexWithACacheTreeSoTheLaterPreserveScanStaysFast) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  std::string index = read_file(repo_dir() / ".git" / "worktrees" / "baton-t-2" / "index");
  EXPECT_NE(index.find("TREE"), std::string::npos);  // the cache-tree extension's signature
}

TEST_F(WorktreeTest, PrepareRemovesWhatItMadeWhenTheCheckoutFails) {
  // A tree entry whose name exceeds NAME_MAX: git stores it, no file system can hold it, so
  // git_worktree_add fails in its checkout, after it made the admin entry and the directory.
  git_oid blob;
  ASSERT_EQ(git_blob_create_from_buffer(&blob, repo(), "x", 1), 0);
  git_treebuilder* raw_builder = nullptr;
  ASSERT_EQ(git_treebuilder_new(&raw_builder, repo(), nullptr), 0);
  std::string long_name(300, 'n');
  ASSERT_EQ(
      git_treebuilder_insert(nullptr, raw_builder, long_name.c_str(), &blob, GIT_FILEMODE_BLOB), 0);
  git_oid tree_oid;
  ASSERT_EQ(git_treebuilder_write(&tree_oid, raw_builder), 0);
  git_treebuilder_free(raw_builder);
  git_tree* raw_tree = nullptr;
  ASSERT_EQ(git_tree_lookup(&raw_tree, repo(), &tree_oid), 0);
  TreePtr tree(raw_tree);
  git_signature* raw_sig = nullptr;
  ASSERT_EQ(git_signature_now(&raw_sig, "T", "t@example.com"), 0);
  SignaturePtr sig(raw_sig);
  git_oid commit;
  std::string ref = std::string("refs/heads/") + kCanonical;
  ASSERT_EQ(git_commit_create(&commit, repo(), nullptr, sig.get(), sig.get(), nullptr, "long",
                              tree.get(), 0, nullptr),
            0);
  git_reference* raw_ref = nullptr;
  ASSERT_EQ(git_reference_create(&raw_ref, repo(), ref.c_str(), &commit, 1, nullptr), 0);
  git_reference_free(raw_ref);

  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_FALSE(prepared);
  EXPECT_NE(prepared.error().message.find(".prepare-t-2"), std::string::npos)
      << prepared.error().message;
  EXPECT_FALSE(fs::exists(project_dir() / ".prepare-t-2"));
  EXPECT_FALSE(fs::exists(repo_dir() / ".git" / "worktrees" / "baton-t-2"));
  EXPECT_NE(git_cli(repo_dir(), "rev-parse --verify -q baton/tmp/t-2").status, 0);
}

TEST_F(WorktreeTest, PrepareRefusesAnExistingDirectoryAndLeavesItAlone) {
  write_file(project_dir() / ".prepare-t-2" / "keep.txt", "mine");
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().code, kAlreadyExists);
  EXPECT_EQ(read_file(project_dir() / ".prepare-t-2" / "keep.txt"), "mine");
  EXPECT_NE(git_cli(repo_dir(), "rev-parse --verify -q baton/tmp/t-2").status, 0);
}

TEST_F(WorktreeTest, MoveRenamesTheDirectoryInPlaceAndRewritesBothLinks) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  ino_t before = inode(prepared->path);
  auto moved = move_worktree(repo(), prepared->name, stable_dir());
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_FALSE(fs::exists(prepared->path));
  EXPECT_EQ(inode(stable_dir()), before);  // rename(2), not a copy
  EXPECT_EQ(read_file(repo_dir() / ".git/worktrees/baton-t-2/gitdir"),
            (stable_dir() / ".git").native() + "\n");
  auto listed = git_ok(repo_dir(), "worktree list --porcelain");
  EXPECT_NE(listed.find("worktree " + stable_dir().native() + "\n"), std::string::npos) << listed;
  EXPECT_EQ(git_ok(stable_dir(), "status --porcelain"), "");
  EXPECT_EQ(git_ok(stable_dir(), "rev-parse --show-toplevel"), stable_dir().native() + "\n");
}

TEST_F(WorktreeTest, MoveFinishesAMoveInterruptedAfterTheRename) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  fs::rename(prepared->path, stable_dir());  // the daemon died right after rename(2)
  auto moved = move_worktree(repo(), prepared->name, stable_dir());
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(git_ok(stable_dir(), "rev-parse --show-toplevel"), stable_dir().native() + "\n");
  auto listed = git_ok(repo_dir(), "worktree list --porcelain");
  EXPECT_EQ(listed.find("prunable"), std::string::npos) << listed;
}

TEST_F(WorktreeTest, MoveRefusesATargetThatExistsAndTouchesNothing) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  write_file(stable_dir() / "other.txt", "x");
  auto moved = move_worktree(repo(), prepared->name, stable_dir());
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, EEXIST);
  EXPECT_NE(moved.error().message.find(stable_dir().native()), std::string::npos);
  EXPECT_TRUE(fs::exists(prepared->path / "README.md"));
}

TEST_F(WorktreeTest, AdoptWritesNoFileWhenTheTipDidNotMove) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  long long readme_before = mtime_ns(prepared->path / "README.md");
  auto adopted = adopt_branch(repo(), prepared->path, kCanonical, prepared->temp_branch);
  ASSERT_TRUE(adopted) << adopted.error().message;
  EXPECT_EQ(mtime_ns(prepared->path / "README.md"), readme_before);  // not rewritten
  EXPECT_EQ(adopted->files_written, 0u);
  EXPECT_EQ(adopted->files_removed, 0u);
  EXPECT_FALSE(adopted->tip_moved);
  EXPECT_EQ(git_ok(prepared->path, "symbolic-ref HEAD"),
            std::string("refs/heads/") + kCanonical + "\n");
  EXPECT_NE(git_cli(repo_dir(), "rev-parse --verify -q baton/tmp/t-2").status, 0);
  EXPECT_EQ(git_ok(prepared->path, "status --porcelain"), "");
}

TEST_F(WorktreeTest, AdoptBringsTheWorktreeToALateCommitWritingOnlyTheChangedFiles) {
  fs::path old = add_old_orchestrator();
  for (int i = 0; i < 200; ++i) write_file(old / "src" / (std::to_string(i) + ".txt"), "v1\n");
  git_ok(old, "add -A");
  git_ok(old, "commit -q -m 'Many files'");
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  // The old orchestrator commits late: one file changed, one added, one removed.
  write_file(old / "src" / "7.txt", "v2\n");
  write_file(old / "late.txt", "late\n");
  fs::remove(old / "src" / "9.txt");
  git_ok(old, "add -A");
  git_ok(old, "commit -q -m 'Late commit'");
  std::string late_tip = rev(old, "HEAD");
  ASSERT_TRUE(release_rename_aside(old, project_dir() / ".trash-t-1"));
  ASSERT_TRUE(release_prune(repo(), "orchestrator", kCanonical));

  auto adopted = adopt_branch(repo(), prepared->path, kCanonical, prepared->temp_branch);
  ASSERT_TRUE(adopted) << adopted.error().message;
  EXPECT_TRUE(adopted->tip_moved);
  EXPECT_EQ(adopted->files_written, 2u);
  EXPECT_EQ(adopted->files_removed, 1u);
  EXPECT_EQ(adopted->tip, late_tip);
  EXPECT_EQ(rev(prepared->path, "HEAD"), late_tip);
  EXPECT_EQ(read_file(prepared->path / "late.txt"), "late\n");
  EXPECT_EQ(read_file(prepared->path / "src" / "7.txt"), "v2\n");
  EXPECT_FALSE(fs::exists(prepared->path / "src" / "9.txt"));
  EXPECT_EQ(git_ok(prepared->path, "status --porcelain"), "");
}

TEST_F(WorktreeTest, AdoptRefusesWhileAnotherWorktreeHoldsTheBranch) {
  fs::path old = add_old_orchestrator();
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  auto adopted = adopt_branch(repo(), prepared->path, kCanonical, prepared->temp_branch);
  ASSERT_FALSE(adopted);
  EXPECT_EQ(adopted.error().code, kBranchCheckedOut);
  EXPECT_NE(adopted.error().message.find(old.native()), std::string::npos)
      << adopted.error().message;
  EXPECT_EQ(git_ok(prepared->path, "symbolic-ref HEAD"), "refs/heads/baton/tmp/t-2\n");
}

TEST_F(WorktreeTest, AdoptCalledAgainLeavesTheAdoptedWorktreeAsItIs) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  ASSERT_TRUE(adopt_branch(repo(), prepared->path, kCanonical, prepared->temp_branch));
  auto again = adopt_branch(repo(), prepared->path, kCanonical, prepared->temp_branch);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->files_written, 0u);
  EXPECT_EQ(git_ok(prepared->path, "symbolic-ref HEAD"),
            std::string("refs/heads/") + kCanonical + "\n");
}

// "Which session owns the stable path": read from the tree's .git file, one way for recovery
// and the handoff's preflight.
TEST_F(WorktreeTest, TheOwnerOfAMovedBatonWorktreeIsItsSession) {
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  EXPECT_EQ(worktree_owner(prepared->path).session_id, "t-2");
  ASSERT_TRUE(move_worktree(repo(), prepared->name, stable_dir()));
  const WorktreeOwner owner = worktree_owner(stable_dir());
  EXPECT_EQ(owner.admin_name, "baton-t-2");
  EXPECT_EQ(owner.session_id, "t-2");
}

TEST_F(WorktreeTest, AWorktreeTheUserAddedAtTheStablePathHasAnAdminNameButNoSession) {
  add_old_orchestrator();
  const WorktreeOwner owner = worktree_owner(stable_dir());
  EXPECT_EQ(owner.admin_name, "orchestrator");
  EXPECT_EQ(owner.session_id, "");
}

TEST_F(WorktreeTest, ADirectoryThatIsNoLinkedWorktreeHasNoOwner) {
  fs::create_directories(stable_dir());
  EXPECT_EQ(worktree_owner(stable_dir()).admin_name, "");
  EXPECT_EQ(worktree_owner(project_dir() / "missing").admin_name, "");
  // The main worktree: .git is a directory.
  EXPECT_EQ(worktree_owner(repo_dir()).admin_name, "");
  EXPECT_EQ(worktree_owner(repo_dir()).session_id, "");
}

// A repository whose own path holds "/worktrees/baton-" (a workspace nested in another
// baton's): only the last admin directory of the link names the owner.
TEST_F(WorktreeTest, TheOwnerIsReadFromTheLastAdminDirectoryOfTheLink) {
  fs::create_directories(stable_dir());
  write_file(stable_dir() / ".git",
             "gitdir: /srv/worktrees/baton-old/repo/.git/worktrees/orchestrator\r\n");
  WorktreeOwner owner = worktree_owner(stable_dir());
  EXPECT_EQ(owner.admin_name, "orchestrator");
  EXPECT_EQ(owner.session_id, "");
  write_file(stable_dir() / ".git",
             "gitdir: /srv/worktrees/baton-old/repo/.git/worktrees/baton-t-7/\n");
  owner = worktree_owner(stable_dir());
  EXPECT_EQ(owner.admin_name, "baton-t-7");
  EXPECT_EQ(owner.session_id, "t-7");
}

}  // namespace
}  // namespace baton::git::testing
