// Prepare turns libgit2's checkout filters off only when no attribute source exists and
// core.autocrlf is not true: then every filter is a no-op and the files are the same.
#include "git/attributes.hpp"

#include <gtest/gtest.h>

#include <string>

#include "fixture.hpp"
#include "git/handles.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

// Points libgit2's XDG and system search paths at empty temp dirs for one test, so the
// machine's own ~/.config/git/attributes or /etc/gitattributes cannot decide the result.
class AttributesTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    for (auto [level, dir] : {std::pair{GIT_CONFIG_LEVEL_XDG, xdg_dir()},
                              std::pair{GIT_CONFIG_LEVEL_SYSTEM, system_dir()}}) {
      Buf old;
      ASSERT_EQ(git_libgit2_opts(GIT_OPT_GET_SEARCH_PATH, level, &old.value), 0);
      saved_.emplace_back(level, std::string(old.value.ptr ? old.value.ptr : ""));
      fs::create_directories(dir);
      ASSERT_EQ(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, dir.c_str()), 0);
    }
  }
  void TearDown() override {
    for (const auto& [level, old] : saved_)
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, old.c_str());
  }
  fs::path xdg_dir() const { return tmp_.path() / "xdg-git"; }
  fs::path system_dir() const { return tmp_.path() / "etc"; }

  // The canonical branch's tree after committing `file` on main and moving the branch there.
  TreePtr canonical_tree() {
    git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
    git_object* raw = nullptr;
    EXPECT_EQ(git_revparse_single(&raw, repo(), (std::string(kCanonical) + "^{tree}").c_str()), 0);
    return TreePtr(reinterpret_cast<git_tree*>(raw));
  }
  bool needs_filters() {
    auto tree = canonical_tree();
    auto r = checkout_needs_filters(repo(), tree.get());
    EXPECT_TRUE(r) << r.error().message;
    return r && *r;
  }

  std::vector<std::pair<git_config_level_t, std::string>> saved_;
};

TEST_F(AttributesTest, NoSourceAndNoAutocrlfNeedNoFilters) {
  EXPECT_FALSE(needs_filters());
}

TEST_F(AttributesTest, AGitattributesDeepInTheTreeNeedsThem) {
  commit_file(repo_dir(), "docs/deep/.gitattributes", "*.txt text eol=crlf\n", "attributes");
  EXPECT_TRUE(needs_filters());
}

TEST_F(AttributesTest, InfoAttributesNeedThem) {
  write_file(repo_dir() / ".git" / "info" / "attributes", "*.txt ident\n");
  EXPECT_TRUE(needs_filters());
}

TEST_F(AttributesTest, AutocrlfTrueNeedsThemButInputDoesNot) {
  git_ok(repo_dir(), "config core.autocrlf input");
  EXPECT_FALSE(needs_filters());
  git_ok(repo_dir(), "config core.autocrlf true");
  EXPECT_TRUE(needs_filters());
}

TEST_F(AttributesTest, TheXdgTheConfiguredAndTheSystemFilesNeedThem) {
  write_file(xdg_dir() / "attributes", "*.c ident\n");
  EXPECT_TRUE(needs_filters());
  fs::remove(xdg_dir() / "attributes");
  write_file(system_dir() / "gitattributes", "*.c ident\n");
  EXPECT_TRUE(needs_filters());
  fs::remove(system_dir() / "gitattributes");
  EXPECT_FALSE(needs_filters());
  const fs::path configured = tmp_.path() / "my-attributes";
  git_ok(repo_dir(), "config core.attributesFile '" + configured.native() + "'");
  EXPECT_FALSE(needs_filters()) << "configured but missing";
  write_file(configured, "*.c ident\n");
  EXPECT_TRUE(needs_filters());
}

// The end-to-end check: the prepared worktree has exactly the bytes git's own checkout
// writes, with filters where attributes ask for them, and git sees it clean.
TEST_F(AttributesTest, PrepareStillConvertsWhereAttributesAskAndGitAgrees) {
  commit_file(repo_dir(), "docs/.gitattributes", "*.txt text eol=crlf\n*.c ident\n", "attributes");
  commit_file(repo_dir(), "docs/a.txt", "one\ntwo\n", "text");
  commit_file(repo_dir(), "docs/b.c", "/* $Id$ */\n", "ident");
  commit_file(repo_dir(), "plain.txt", "one\ntwo\n", "plain");
  canonical_tree();
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  EXPECT_EQ(read_file(prepared->path / "docs" / "a.txt"), "one\r\ntwo\r\n");
  EXPECT_NE(read_file(prepared->path / "docs" / "b.c").find("$Id: "), std::string::npos);
  EXPECT_EQ(read_file(prepared->path / "plain.txt"), "one\ntwo\n");
  EXPECT_EQ(git_ok(prepared->path, "status --porcelain"), "");
  const fs::path by_git = tmp_.path() / "by-git";
  git_ok(repo_dir(), "worktree add -q --detach '" + by_git.native() + "' " + kCanonical);
  for (const char* f : {"docs/a.txt", "docs/b.c", "plain.txt"})
    EXPECT_EQ(read_file(prepared->path / f), read_file(by_git / f)) << f;
}

TEST_F(AttributesTest, PrepareWithoutAttributesWritesTheSameBytesAsGit) {
  commit_file(repo_dir(), "crlf.txt", "dos\r\nline\r\n", "crlf in the blob");
  commit_file(repo_dir(), "id.c", "/* $Id$ */\n", "no ident attribute");
  canonical_tree();
  auto prepared = prepare_worktree(repo(), project_dir(), "t-2", kCanonical);
  ASSERT_TRUE(prepared) << prepared.error().message;
  EXPECT_EQ(read_file(prepared->path / "crlf.txt"), "dos\r\nline\r\n");
  EXPECT_EQ(read_file(prepared->path / "id.c"), "/* $Id$ */\n");
  EXPECT_EQ(git_ok(prepared->path, "status --porcelain"), "");
}

}  // namespace
}  // namespace baton::git::testing
