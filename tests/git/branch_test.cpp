#include "git/branch.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace baton::git::testing {
namespace {

TEST(ValidateBranchName, AcceptsTheDefaultOrchestratorBranch) {
  EXPECT_TRUE(validate_branch_name("baton/shop-orchestrator"));
}

TEST(ValidateBranchName, RejectsNamesGitRejects) {
  for (const char* name : {"", "-x", "HEAD", "a..b", "a b", "a~b", "a^b", "a:b", "a?b", "a*b",
                           "a[b", "ends/", "x.lock", "a//b", "@{x", "refs/heads/x", "a\\b"}) {
    auto valid = validate_branch_name(name);
    ASSERT_FALSE(valid) << "accepted \"" << name << "\"";
    EXPECT_EQ(valid.error().code, kInvalidName);
    EXPECT_NE(valid.error().message.find(name), std::string::npos);
  }
}

TEST(ValidateBranchName, SaysWhichRuleTheNameBreaks) {
  auto valid = validate_branch_name("baton/shop..x");
  ASSERT_FALSE(valid);
  EXPECT_EQ(valid.error().message, "validate branch name \"baton/shop..x\": it contains '..'");
}

TEST(BranchNameProblem, NamesTheRuleForEachNameGitRefuses) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "it is empty"},
      {"@", "it is '@'"},
      {"HEAD", "it is HEAD"},
      {"-x", "it starts with '-'"},
      {"/x", "it starts with '/'"},
      {"x/", "it ends with '/'"},
      {"x.", "it ends with '.'"},
      {"a..b", "it contains '..'"},
      {"a//b", "it contains '//'"},
      {"a@{b", "it contains '@{'"},
      {"a\tb", "it contains a control character"},
      {"a~b", "it contains '~'"},
      {"a/.b", "its component '.b' starts with '.'"},
      {"a.lock/b", "its component 'a.lock' ends with '.lock'"}};
  for (const auto& [name, problem] : cases) {
    auto found = branch_name_problem(name);
    ASSERT_TRUE(found) << "accepted \"" << name << "\"";
    EXPECT_EQ(*found, problem) << name;
  }
  EXPECT_FALSE(branch_name_problem("baton/shop-orchestrator"));
}

// A base revision may be given as a full ref; the canonical branch must be a short name.
TEST(BranchNameProblem, TakesAFullRefNameThatValidateBranchNameRefuses) {
  EXPECT_FALSE(branch_name_problem("refs/heads/main"));
  auto valid = validate_branch_name("refs/heads/main");
  ASSERT_FALSE(valid);
  EXPECT_EQ(valid.error().code, kInvalidName);
}

TEST(ValidateSessionId, AcceptsProjectDashNumberAndRejectsSlashesAndDots) {
  EXPECT_TRUE(validate_session_id("shop-12"));
  for (const char* id : {"", "a/b", ".x", "-x", "a..b", "x.lock", "a b"}) {
    EXPECT_FALSE(validate_session_id(id)) << id;
  }
}

class CanonicalBranchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    make_repo(tmp_.path() / "repo");
    auto project = open_project(tmp_.path() / "repo");
    ASSERT_TRUE(project);
    project_ = std::move(*project);
  }
  std::string rev(const std::string& spec) {
    auto out = git_ok(tmp_.path() / "repo", "rev-parse " + spec);
    return out.substr(0, out.find('\n'));
  }
  TempDir tmp_;
  Project project_;
};

TEST_F(CanonicalBranchTest, CreatesTheBranchAtHeadWhenMissing) {
  auto branch = ensure_canonical_branch(project_.repo.get(), "baton/t-orchestrator", "");
  ASSERT_TRUE(branch) << branch.error().message;
  EXPECT_TRUE(branch->was_created);
  EXPECT_EQ(branch->ref, "refs/heads/baton/t-orchestrator");
  EXPECT_EQ(branch->tip, rev("HEAD"));
  EXPECT_EQ(rev("baton/t-orchestrator"), rev("HEAD"));
}

TEST_F(CanonicalBranchTest, CreatesTheBranchAtTheConfiguredBase) {
  git_ok(tmp_.path() / "repo", "branch develop");
  commit_file(tmp_.path() / "repo", "later.txt", "later\n", "Later on main");
  auto branch = ensure_canonical_branch(project_.repo.get(), "baton/t-orchestrator", "develop");
  ASSERT_TRUE(branch) << branch.error().message;
  EXPECT_EQ(branch->tip, rev("develop"));
  EXPECT_NE(branch->tip, rev("main"));
}

TEST_F(CanonicalBranchTest, NeverMovesAnExistingBranch) {
  auto first = ensure_canonical_branch(project_.repo.get(), "baton/t-orchestrator", "");
  ASSERT_TRUE(first);
  commit_file(tmp_.path() / "repo", "later.txt", "later\n", "Later on main");
  auto second = ensure_canonical_branch(project_.repo.get(), "baton/t-orchestrator", "main");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->was_created);
  EXPECT_EQ(second->tip, first->tip);
  EXPECT_EQ(rev("baton/t-orchestrator"), first->tip);
}

TEST_F(CanonicalBranchTest, FailsNamingTheBaseWhenTheBaseDoesNotExist) {
  auto branch = ensure_canonical_branch(project_.repo.get(), "baton/t-orchestrator", "nope");
  ASSERT_FALSE(branch);
  EXPECT_NE(branch.error().message.find("nope"), std::string::npos);
  EXPECT_NE(git_cli(tmp_.path() / "repo", "rev-parse --verify -q baton/t-orchestrator").status, 0);
}

TEST_F(CanonicalBranchTest, RefusesAnInvalidName) {
  auto branch = ensure_canonical_branch(project_.repo.get(), "bad..name", "");
  ASSERT_FALSE(branch);
  EXPECT_EQ(branch.error().code, kInvalidName);
}

}  // namespace
}  // namespace baton::git::testing
