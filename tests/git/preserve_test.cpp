#include "git/preserve.hpp"

#include <set>
#include <utility>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

// An orchestrator worktree at the stable path, on the canonical branch, as after a handoff.
class PreserveTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    commit_file(repo_dir(), "tracked.txt", "one\n", "Add tracked");
    commit_file(repo_dir(), "staged.txt", "base\n", "Add staged");
    commit_file(repo_dir(), "gone.txt", "bye\n", "Add gone");
    commit_file(repo_dir(), "old name.txt", "moving\n", "Add old name");
    commit_file(repo_dir(), ".gitignore", "*.log\nbuild/\n", "Ignore logs");
    git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
    fs::create_directories(project_dir());
    git_ok(repo_dir(), "worktree add -q '" + wt().native() + "' " + kCanonical);
  }
  fs::path wt() const { return stable_dir(); }
  std::string show(const std::string& oid, const std::string& path) {
    auto result = git_cli(wt(), "show '" + oid + ":" + path + "'");
    return result.status == 0 ? result.output : "<missing>";
  }
  std::string ls_tree(const std::string& oid) {
    return git_ok(wt(), "ls-tree -r --name-only " + oid);
  }
};

TEST_F(PreserveTest, ReportsNothingToPreserveForACleanWorktree) {
  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  EXPECT_FALSE(*preserved);
  EXPECT_NE(git_cli(repo_dir(), "rev-parse --verify -q refs/baton/preserved/t-1").status, 0);
}

TEST_F(PreserveTest, ReportsNothingToPreserveWhenOnlyIgnoredFilesAndEmptyDirsChanged) {
  write_file(wt() / "debug.log", "noise\n");
  write_file(wt() / "build" / "out.o", "obj\n");
  fs::create_directories(wt() / "empty" / "dir");
  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  EXPECT_FALSE(*preserved);
}

TEST_F(PreserveTest, PinsACommitOnTopOfHeadAtThePreservedRef) {
  write_file(wt() / "tracked.txt", "two\n");
  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  EXPECT_EQ((*preserved)->ref, "refs/baton/preserved/t-1");
  EXPECT_EQ(git_ok(repo_dir(), "rev-parse refs/baton/preserved/t-1"), (*preserved)->oid + "\n");
  EXPECT_EQ(git_ok(wt(), "rev-parse " + (*preserved)->oid + "^"), git_ok(wt(), "rev-parse HEAD"));
  EXPECT_NE(git_ok(wt(), "log -1 --format=%B " + (*preserved)->oid).find("session t-1"),
            std::string::npos);
  EXPECT_EQ(show((*preserved)->oid, "tracked.txt"), "two\n");
}

TEST_F(PreserveTest, CapturesEveryKindOfChangeAsTheWorktreeHasIt) {
  write_file(wt() / "tracked.txt", "two\n");    // modified, unstaged
  write_file(wt() / "staged.txt", "staged\n");  // staged, then modified
  git_ok(wt(), "add staged.txt");
  write_file(wt() / "staged.txt", "staged then modified\n");
  fs::remove(wt() / "gone.txt");                            // deleted
  git_ok(wt(), "mv 'old name.txt' 'new name.txt'");         // renamed
  write_file(wt() / "new dir" / "untracked é.txt", "ü\n");  // untracked, spaces, non-ASCII
  std::string binary("\0\x01\x02\xff\xfe binary\0\0", 14);
  write_file(wt() / "image.bin", binary);            // binary
  fs::create_symlink("tracked.txt", wt() / "link");  // symlink
  write_file(wt() / "added.txt", "added\n");         // staged new file
  git_ok(wt(), "add added.txt");

  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  const std::string& oid = (*preserved)->oid;
  EXPECT_EQ(show(oid, "tracked.txt"), "two\n");
  EXPECT_EQ(show(oid, "staged.txt"), "staged then modified\n");
  EXPECT_EQ(show(oid, "gone.txt"), "<missing>");
  EXPECT_EQ(show(oid, "old name.txt"), "<missing>");
  EXPECT_EQ(show(oid, "new name.txt"), "moving\n");
  EXPECT_EQ(show(oid, "new dir/untracked é.txt"), "ü\n");
  EXPECT_EQ(show(oid, "image.bin"), binary);
  EXPECT_EQ(show(oid, "added.txt"), "added\n");
  EXPECT_NE(git_ok(wt(), "ls-tree " + oid + " link").find("120000"), std::string::npos);
  EXPECT_EQ(show(oid, "link"), "tracked.txt");
  EXPECT_TRUE((*preserved)->notes.empty());
}

// The preserved tree is the index's tree with the changed paths put in (not a tree written
// from the whole index): it must be exactly what git writes after `git add -A`, also where a
// directory loses its last file and where a file becomes a directory.
class PreservedTreeTest : public PreserveTest {
 protected:
  std::string tree_git_writes() {
    const fs::path index_copy = tmp_.path() / "index-copy";
    std::string index_path = git_ok(wt(), "rev-parse --path-format=absolute --git-path index");
    index_path.erase(index_path.find_last_not_of('\n') + 1);
    fs::copy_file(index_path, index_copy, fs::copy_options::overwrite_existing);
    const std::string with_copy =
        "GIT_INDEX_FILE='" + index_copy.native() + "' git -C '" + wt().native() + "' ";
    EXPECT_EQ(shell(with_copy + "add -A").status, 0);
    auto written = shell(with_copy + "write-tree");
    EXPECT_EQ(written.status, 0) << written.output;
    return written.output;
  }
};

TEST_F(PreservedTreeTest, IsTheTreeGitWritesAfterAddingEverything) {
  commit_file(wt(), "lonely/only.txt", "the only file\n", "Add lonely");
  fs::remove(wt() / "lonely" / "only.txt");
  fs::remove(wt() / "gone.txt");
  write_file(wt() / "deep" / "new" / "file.txt", "new\n");
  write_file(wt() / "staged.txt", "changed\n");
  fs::create_symlink("staged.txt", wt() / "link");
  write_file(wt() / "noise.log", "ignored\n");
  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  EXPECT_EQ(tree_git_writes(), git_ok(wt(), "rev-parse refs/baton/preserved/t-1^{tree}"));
}

TEST_F(PreservedTreeTest, IsTheTreeGitWritesWhenAFileBecameADirectory) {
  fs::remove(wt() / "tracked.txt");
  write_file(wt() / "tracked.txt" / "now-a-dir.txt", "a directory now\n");
  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  EXPECT_EQ(tree_git_writes(), git_ok(wt(), "rev-parse refs/baton/preserved/t-1^{tree}"));
}

TEST_F(PreserveTest, KeepsTheStageApartInAnIndexCommitAsGitStashDoes) {
  write_file(wt() / "staged.txt", "staged\n");  // MM: staged, then changed again
  git_ok(wt(), "add staged.txt");
  write_file(wt() / "staged.txt", "staged then modified\n");
  write_file(wt() / "added.txt", "added\n");  // A: a staged new file
  git_ok(wt(), "add added.txt");

  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  const std::string& oid = (*preserved)->oid;
  ASSERT_FALSE((*preserved)->index_oid.empty());
  EXPECT_EQ(git_ok(wt(), "rev-parse " + oid + "^2"), (*preserved)->index_oid + "\n");
  EXPECT_EQ(git_ok(wt(), "rev-parse " + oid + "^1"), git_ok(wt(), "rev-parse HEAD"));
  EXPECT_EQ(git_ok(wt(), "rev-parse " + oid + "^2^"), git_ok(wt(), "rev-parse HEAD"));
  EXPECT_EQ(show(oid, "staged.txt"), "staged then modified\n");
  EXPECT_EQ(show(oid + "^2", "staged.txt"), "staged\n");
  EXPECT_EQ(show(oid + "^2", "added.txt"), "added\n");
  EXPECT_EQ(show(oid + "^2", "tracked.txt"), "one\n");
  // The git CLI reads it as a stash: applied with --index, the stage comes back apart.
  fs::path other = tmp_.path() / "other";
  git_ok(repo_dir(), "worktree add -q --detach '" + other.native() + "' " + kCanonical);
  git_ok(other, "stash apply -q --index " + oid);
  EXPECT_EQ(git_ok(other, "status --porcelain"), "A  added.txt\nMM staged.txt\n");
}

TEST_F(PreserveTest, PreservesAStageWhoseFilesMatchHead) {
  write_file(wt() / "tracked.txt", "staged only\n");
  git_ok(wt(), "add tracked.txt");
  write_file(wt() / "tracked.txt", "one\n");  // the worktree back at HEAD, the stage not

  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  EXPECT_EQ(show((*preserved)->oid + "^2", "tracked.txt"), "staged only\n");
  EXPECT_EQ(show((*preserved)->oid, "tracked.txt"), "one\n");
}

TEST_F(PreserveTest, ListsWhatNoCommitCanHoldForTheCarry) {
  write_file(wt() / "build" / "out" / "a.o", "obj\n");  // an ignored directory: one entry
  write_file(wt() / "trace.log", "log\n");              // an ignored file
  fs::create_directories(wt() / "vendor" / "tool");
  make_repo(wt() / "vendor" / "tool");  // an untracked nested repository
  write_file(wt() / "wip.txt", "wip\n");

  std::vector<CarryEntry> carry;
  auto preserved = preserve_uncommitted(repo(), wt(), "t-1", &carry);
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  std::set<std::pair<int, std::string>> listed;
  for (const auto& e : carry) listed.emplace(static_cast<int>(e.kind), e.path);
  EXPECT_EQ(listed, (std::set<std::pair<int, std::string>>{
                        {static_cast<int>(CarryKind::kIgnored), "build"},
                        {static_cast<int>(CarryKind::kIgnored), "trace.log"},
                        {static_cast<int>(CarryKind::kNestedRepository), "vendor/tool"}}));
  // Said once, as what is carried, instead of "not preserved: vendor/tool/ (invalid path)".
  EXPECT_TRUE((*preserved)->notes.empty()) << (*preserved)->notes[0];
  EXPECT_EQ(ls_tree((*preserved)->oid).find("vendor"), std::string::npos);
  EXPECT_EQ(show((*preserved)->oid, "wip.txt"), "wip\n");
}

TEST_F(PreserveTest, LeavesTheWorktreeItsIndexAndRefsStashUntouched) {
  write_file(wt() / "tracked.txt", "two\n");
  write_file(wt() / "staged.txt", "staged\n");
  git_ok(wt(), "add staged.txt");
  write_file(wt() / "untracked.txt", "u\n");
  git_ok(wt(), "stash list");
  std::string status_before = git_ok(wt(), "status --porcelain");
  fs::path index = repo_dir() / ".git" / "worktrees" / "orchestrator" / "index";
  std::string index_before = read_file(index);

  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  EXPECT_EQ(git_ok(wt(), "status --porcelain"), status_before);
  EXPECT_EQ(read_file(index), index_before);
  EXPECT_NE(git_cli(repo_dir(), "rev-parse --verify -q refs/stash").status, 0);
}

TEST_F(PreserveTest, SignsWithTheRepositoryIdentityWhenOneIsSet) {
  write_file(wt() / "tracked.txt", "two\n");
  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved && *preserved);
  EXPECT_EQ(git_ok(wt(), "log -1 '--format=%an<%ae>' " + (*preserved)->oid),
            "Test User<test@example.com>\n");
}

TEST_F(PreserveTest, FallsBackToTheBatonSignatureWithoutAnIdentity) {
  // The fixture isolates global config (empty HOME, libgit2 search paths), so removing the
  // repository's identity leaves none at all.
  git_ok(repo_dir(), "config --unset user.name");
  git_ok(repo_dir(), "config --unset user.email");
  write_file(wt() / "tracked.txt", "two\n");
  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  EXPECT_EQ(git_ok(wt(), "log -1 '--format=%an<%ae>' " + (*preserved)->oid),
            "baton<baton@localhost>\n");
}

TEST_F(PreserveTest, PreservesAWorktreeInTheMiddleOfAMergeAndSaysSo) {
  git_ok(repo_dir(), "checkout -q -b other main");
  commit_file(repo_dir(), "tracked.txt", "theirs\n", "Theirs");
  git_ok(repo_dir(), "checkout -q main");
  commit_file(wt(), "tracked.txt", "ours\n", "Ours");
  EXPECT_NE(git_cli(wt(), "merge -q other").status, 0);  // conflict: mid-merge
  write_file(wt() / "extra.txt", "while merging\n");

  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  ASSERT_FALSE((*preserved)->notes.empty());
  EXPECT_NE((*preserved)->notes[0].find("merge"), std::string::npos);
  std::string conflicted = show((*preserved)->oid, "tracked.txt");
  EXPECT_NE(conflicted.find("<<<<<<<"), std::string::npos) << conflicted;
  EXPECT_EQ(show((*preserved)->oid, "extra.txt"), "while merging\n");
  EXPECT_TRUE(fs::exists(repo_dir() / ".git/worktrees/orchestrator/MERGE_HEAD"));
}

TEST_F(PreserveTest, PreservesAWorktreeInTheMiddleOfARebaseAndSaysSo) {
  git_ok(repo_dir(), "checkout -q -b other main");
  commit_file(repo_dir(), "tracked.txt", "theirs\n", "Theirs");
  git_ok(repo_dir(), "checkout -q main");
  commit_file(wt(), "tracked.txt", "ours\n", "Ours");
  EXPECT_NE(git_cli(wt(), "rebase -q other").status, 0);  // conflict: mid-rebase

  auto preserved = preserve_uncommitted(repo(), wt(), "t-1");
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  ASSERT_FALSE((*preserved)->notes.empty());
  EXPECT_NE((*preserved)->notes[0].find("rebase"), std::string::npos);
  EXPECT_NE(show((*preserved)->oid, "tracked.txt").find("<<<<<<<"), std::string::npos);
}

TEST_F(PreserveTest, RefusesASessionIdThatCannotBeARefName) {
  auto preserved = preserve_uncommitted(repo(), wt(), "a/b");
  ASSERT_FALSE(preserved);
  EXPECT_EQ(preserved.error().code, kInvalidName);
}

}  // namespace
}  // namespace baton::git::testing
