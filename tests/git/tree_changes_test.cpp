#include "git/tree_changes.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/handles.hpp"

namespace baton::git::testing {
namespace {

class TreeChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    make_repo(dir());
    auto p = open_project(dir());
    ASSERT_TRUE(p) << p.error().message;
    project_ = std::move(*p);
  }
  std::filesystem::path dir() const { return tmp_.path() / "repo"; }

  TreePtr tree(const std::string& rev) {
    std::string hex = git_ok(dir(), "rev-parse '" + rev + "^{tree}'");
    hex.erase(hex.find_last_not_of('\n') + 1);
    git_oid oid;
    EXPECT_EQ(git_oid_fromstr(&oid, hex.c_str()), 0);
    git_tree* raw = nullptr;
    EXPECT_EQ(git_tree_lookup(&raw, project_.repo.get(), &oid), 0) << rev;
    return TreePtr(raw);
  }

  // `git diff --name-only --no-renames A B`, sorted.
  std::vector<std::string> cli_changes(const std::string& a, const std::string& b) {
    std::istringstream in(git_ok(dir(), "diff --name-only --no-renames " + a + " " + b));
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(line);
    std::sort(out.begin(), out.end());
    return out;
  }

  static std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  }

  TempDir tmp_;
  Project project_;
};

TEST_F(TreeChangesTest, ListsWhatGitDiffListsWithoutRenames) {
  // Names that sort differently as files and as directories ("a", "a.txt", "a-b", "a/").
  write_file(dir() / "a.txt", "a\n");
  write_file(dir() / "a-b", "ab\n");
  write_file(dir() / "a", "file a\n");
  write_file(dir() / "keep/deep/x.c", "x\n");
  write_file(dir() / "keep/deep/y.c", "y\n");
  write_file(dir() / "gone/one", "1\n");
  write_file(dir() / "gone/sub/two", "2\n");
  write_file(dir() / "tool.sh", "#!/bin/sh\n");
  git_ok(dir(), "add -A && git -C '" + dir().string() + "' commit -qm before");

  git_ok(dir(), "rm -q a");
  write_file(dir() / "a/inside", "now a directory\n");
  write_file(dir() / "keep/deep/x.c", "x changed\n");
  git_ok(dir(), "rm -rq gone");
  write_file(dir() / "new/dir/file", "n\n");
  git_ok(dir(), "update-index --chmod=+x tool.sh");
  std::filesystem::create_symlink("a.txt", dir() / "link");
  git_ok(dir(), "add -A && git -C '" + dir().string() + "' commit -qm after");

  auto changes = tree_changes(project_.repo.get(), tree("HEAD~1").get(), tree("HEAD").get());
  ASSERT_TRUE(changes) << changes.error().message;
  EXPECT_EQ(sorted(*changes), cli_changes("HEAD~1", "HEAD"));
  EXPECT_NE(std::find(changes->begin(), changes->end(), "a/inside"), changes->end());
  EXPECT_NE(std::find(changes->begin(), changes->end(), "gone/sub/two"), changes->end());

  auto back = tree_changes(project_.repo.get(), tree("HEAD").get(), tree("HEAD~1").get());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(sorted(*back), cli_changes("HEAD", "HEAD~1"));
}

TEST_F(TreeChangesTest, ANullTreeIsTheEmptyTree) {
  auto all = tree_changes(project_.repo.get(), nullptr, tree("HEAD").get());
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(*all, std::vector<std::string>{"README.md"});
  auto none = tree_changes(project_.repo.get(), tree("HEAD").get(), tree("HEAD").get());
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
}

// What makes it fast: a subtree both sides share is never read. With that subtree's object
// gone from the object database, libgit2's own tree diff fails and this one does not.
TEST_F(TreeChangesTest, NeverReadsASubtreeBothSidesShare) {
  write_file(dir() / "shared/big/file", "same on both sides\n");
  write_file(dir() / "changed.txt", "1\n");
  git_ok(dir(), "add -A && git -C '" + dir().string() + "' commit -qm one");
  write_file(dir() / "changed.txt", "2\n");
  git_ok(dir(), "commit -qam two");
  std::string shared = git_ok(dir(), "rev-parse HEAD:shared/big");
  shared.erase(shared.find_last_not_of('\n') + 1);
  // A fresh repository object, so no cache holds the subtree either.
  project_ = Project{};
  ASSERT_TRUE(
      std::filesystem::remove(dir() / ".git" / "objects" / shared.substr(0, 2) / shared.substr(2)));
  auto p = open_project(dir());
  ASSERT_TRUE(p) << p.error().message;
  project_ = std::move(*p);
  auto old_tree = tree("HEAD~1");
  auto new_tree = tree("HEAD");

  git_diff* raw = nullptr;
  EXPECT_LT(
      git_diff_tree_to_tree(&raw, project_.repo.get(), old_tree.get(), new_tree.get(), nullptr), 0)
      << "libgit2's diff read the shared subtree after all; the test shows nothing";
  git_diff_free(raw);
  auto changes = tree_changes(project_.repo.get(), old_tree.get(), new_tree.get());
  ASSERT_TRUE(changes) << changes.error().message;
  EXPECT_EQ(*changes, std::vector<std::string>{"changed.txt"});
}

}  // namespace
}  // namespace baton::git::testing
