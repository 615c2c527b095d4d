// The handoff's steps (plugin/handoff_steps.hpp) in-process, against real repositories in temp
// dirs (tests/git/fixture.hpp): no daemon, no loop. One behaviour per test.
#include "plugin/handoff_steps.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "git/branch.hpp"
#include "git/carry.hpp"
#include "git/worktree.hpp"
#include "tests/git/fixture.hpp"

namespace baton::plugin::testing {
namespace {

namespace fs = std::filesystem;
using git::testing::git_cli;
using git::testing::git_ok;
using git::testing::read_file;
using git::testing::write_file;

class HandoffSteps : public git::testing::ProjectTest {
 protected:
  std::string repo_path() const { return repo_dir().string(); }
  std::string project() const { return project_dir().string(); }
  std::string stable() const { return stable_dir().string(); }

  ProjectConfig config() const {
    ProjectConfig cfg;
    cfg.branch = kCanonical;
    return cfg;
  }

  Expected<Preflight> preflight() {
    return check_preflight(repo_path(), (tmp_.path() / "state").string(), project(), config());
  }

  // Commits `file` on main and moves the canonical branch there.
  void commit_on_canonical(const std::string& file, std::string_view content) {
    git::testing::commit_file(repo_dir(), file, content, "add " + file);
    git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
  }

  AdoptTree adopt_input(const std::string& id) const {
    return AdoptTree{repo_path(),
                     prepared_path(project(), id),
                     git::worktree_name(id),
                     stable(),
                     kCanonical,
                     git::temp_branch_name(id),
                     {},
                     {}};
  }

  // Session `id`'s tree at the stable path on the canonical branch, as after its handoff.
  void put_orchestrator(const std::string& id) {
    auto prepared = prepare_tree(repo_path(), project(), id, kCanonical, {});
    ASSERT_TRUE(prepared) << prepared.error().message;
    auto adopted = adopt_tree(adopt_input(id));
    ASSERT_TRUE(adopted) << adopted.error().message;
  }

  RetiredTree retire(const std::string& id, bool has_preserved = false) {
    return retire_tree(
        RetireTree{repo_path(), stable(), trash_path(project(), id), id, has_preserved});
  }

  std::string head_of(const fs::path& tree) { return git_ok(tree, "symbolic-ref -q HEAD"); }
};

// ---- preflight

TEST_F(HandoffSteps, CheckPreflightRefusesTheBranchCheckedOutInTheUsersWorktree) {
  git_ok(repo_dir(), std::string("switch -q ") + kCanonical);
  auto checked = preflight();
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kBranchBusy);
  EXPECT_NE(checked.error().message.find("is checked out at " + repo_path()), std::string::npos)
      << checked.error().message;
}

// Another BATON_HOME's orchestrator of the same repository: baton's name, a tree elsewhere.
TEST_F(HandoffSteps, CheckPreflightRefusesTheBranchHeldByAnotherBatonsWorktree) {
  const fs::path elsewhere = tmp_.path() / "other-home" / "orchestrator";
  fs::create_directories(elsewhere.parent_path());
  git_ok(repo_dir(), "worktree add -q " + elsewhere.string() + " " + kCanonical);
  // git names the admin entry after the directory; baton names it baton-<session id>.
  const fs::path admin = repo_dir() / ".git" / "worktrees";
  fs::rename(admin / "orchestrator", admin / "baton-t-5");
  write_file(elsewhere / ".git", "gitdir: " + (admin / "baton-t-5").string() + "\n");
  auto checked = preflight();
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kBranchBusy);
  EXPECT_NE(checked.error().message.find("is checked out at " + elsewhere.string() +
                                         ", the orchestrator of another baton"),
            std::string::npos)
      << checked.error().message;
  // The same tree as a session of this store's (an earlier workspace_root's) is ours: the
  // handoff retires it.
  auto known = check_preflight(repo_path(), (tmp_.path() / "state").string(), project(), config(),
                               {elsewhere.string()});
  EXPECT_TRUE(known) << known.error().message;
}

TEST_F(HandoffSteps, CheckPreflightCountsTheNumbersOfBatonWorktreesOutsideTheProject) {
  const fs::path elsewhere = tmp_.path() / "other-home" / "t-9";
  fs::create_directories(elsewhere.parent_path());
  git_ok(repo_dir(), "worktree add -q -b other " + elsewhere.string());
  const fs::path admin = repo_dir() / ".git" / "worktrees";
  fs::rename(admin / "t-9", admin / "baton-t-9");
  write_file(elsewhere / ".git", "gitdir: " + (admin / "baton-t-9").string() + "\n");
  auto checked = preflight();
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->max_number, 9u);
}

TEST_F(HandoffSteps, CheckPreflightRefusesAFileInTheWayAtTheStablePathAndKeepsIt) {
  fs::create_directories(project_dir());
  write_file(stable_dir(), "the user's notes\n");
  auto checked = preflight();
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kInTheWay);
  EXPECT_EQ(checked.error().message,
            stable() +
                " is in the way: a file, not the orchestrator's worktree; move it away, then "
                "run 'baton replace'");
  EXPECT_EQ(read_file(stable_dir()), "the user's notes\n");
}

TEST_F(HandoffSteps, CheckPreflightRefusesADirectoryThatIsNoWorktreeAtTheStablePath) {
  write_file(stable_dir() / "mine.txt", "mine\n");
  auto checked = preflight();
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kInTheWay);
  EXPECT_EQ(read_file(stable_dir() / "mine.txt"), "mine\n");
}

TEST_F(HandoffSteps, CheckPreflightCreatesAMissingCanonicalBranch) {
  git_ok(repo_dir(), std::string("branch -D ") + kCanonical);
  auto checked = preflight();
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(
      git_cli(repo_dir(), std::string("rev-parse -q --verify refs/heads/") + kCanonical).status, 0);
}

TEST_F(HandoffSteps, CheckPreflightDiscardsALeftoverPrepareAndCountsItsNumber) {
  ASSERT_TRUE(prepare_tree(repo_path(), project(), "t-7", kCanonical, {}));
  ASSERT_TRUE(fs::exists(prepared_path(project(), "t-7")));
  auto checked = preflight();
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->max_number, 7u);
  EXPECT_FALSE(fs::exists(prepared_path(project(), "t-7")));
  EXPECT_FALSE(fs::exists(trash_path(project(), "t-7")));
  EXPECT_EQ(git_ok(repo_dir(), "branch --list 'baton/tmp/*'"), "");
}

TEST_F(HandoffSteps, CheckPreflightNamesTheSessionWhoseTreeIsAtTheStablePath) {
  put_orchestrator("t-3");
  auto checked = preflight();
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->stable_owner, "t-3");
  EXPECT_EQ(checked->max_number, 3u);
}

// ---- prepare

TEST_F(HandoffSteps, PrepareTreeChecksOutTheCanonicalTipOnATemporaryBranchWithItsSymlinks) {
  commit_on_canonical("app.txt", "v1\n");
  write_file(repo_dir() / ".env.local", "LOCAL=1\n");  // the user's, untracked
  auto notes = prepare_tree(repo_path(), project(), "t-1", kCanonical, {".env.local", "not-there"});
  ASSERT_TRUE(notes) << notes.error().message;
  const fs::path prepared = prepared_path(project(), "t-1");
  EXPECT_EQ(head_of(prepared), "refs/heads/baton/tmp/t-1\n");
  EXPECT_EQ(git_ok(prepared, "rev-parse HEAD"), git_ok(repo_dir(), "rev-parse main"));
  EXPECT_EQ(read_file(prepared / "app.txt"), "v1\n");
  ASSERT_TRUE(fs::is_symlink(prepared / ".env.local"));
  EXPECT_EQ(fs::read_symlink(prepared / ".env.local"), repo_dir() / ".env.local");
  EXPECT_FALSE(fs::exists(fs::symlink_status(prepared / "not-there")));
}

TEST_F(HandoffSteps, PrepareTreeThatCannotLinkFailsAndLeavesNoTreeBehind) {
  // The branch has a file where the link's directory would go.
  commit_on_canonical("cfg", "a file\n");
  git_ok(repo_dir(), "rm -q cfg");
  write_file(repo_dir() / "cfg" / "x", "x\n");
  auto notes = prepare_tree(repo_path(), project(), "t-1", kCanonical, {"cfg/x"});
  ASSERT_FALSE(notes);
  EXPECT_EQ(notes.error().code, ErrorCode::kPrepareFailed);
  EXPECT_NE(notes.error().message.find("cannot link"), std::string::npos) << notes.error().message;
  EXPECT_FALSE(fs::exists(prepared_path(project(), "t-1")));
  EXPECT_FALSE(fs::exists(trash_path(project(), "t-1")));
  EXPECT_EQ(git_ok(repo_dir(), "branch --list 'baton/tmp/*'"), "");
}

// ---- retire

TEST_F(HandoffSteps, RetireTreePreservesTheWorkMovesTheTreeAsideAndPrunesIt) {
  commit_on_canonical(".gitignore", ".env\n");
  put_orchestrator("t-1");
  write_file(stable_dir() / "README.md", "changed, not committed\n");
  write_file(stable_dir() / ".env", "TOKEN=1\n");
  const RetiredTree out = retire("t-1");
  ASSERT_TRUE(out.result) << out.result.error().message;
  EXPECT_EQ(out.ref, "refs/baton/preserved/t-1");
  EXPECT_EQ(git_ok(repo_dir(), "rev-parse " + out.ref), out.commit + "\n");
  EXPECT_EQ(git_ok(repo_dir(), "show " + out.commit + ":README.md"), "changed, not committed\n");
  EXPECT_NE(out.preserved_at, std::chrono::steady_clock::time_point{});
  const fs::path trash = trash_path(project(), "t-1");
  EXPECT_FALSE(fs::exists(stable_dir()));
  EXPECT_EQ(read_file(trash / ".env"), "TOKEN=1\n");
  // The carry manifest went along, so the adopt (or `down`) knows what to take out of it.
  auto manifest = git::read_carry_manifest(trash);
  ASSERT_TRUE(manifest);
  ASSERT_EQ(manifest->size(), 1u);
  EXPECT_EQ((*manifest)[0].path, ".env");
  EXPECT_EQ(git_ok(repo_dir(), "worktree list --porcelain").find("baton-t-1"), std::string::npos);
}

TEST_F(HandoffSteps, RetireTreeNeverTouchesAnotherSessionsTreeAtThePath) {
  put_orchestrator("t-2");
  write_file(stable_dir() / "README.md", "t-2's work\n");
  const RetiredTree out = retire("t-1");
  ASSERT_TRUE(out.result) << out.result.error().message;
  EXPECT_EQ(out.commit, "");
  EXPECT_EQ(read_file(stable_dir() / "README.md"), "t-2's work\n");
  EXPECT_FALSE(fs::exists(trash_path(project(), "t-1")));
}

TEST_F(HandoffSteps, CheckBranchFreeNamesTheTreeThatHoldsTheBranchUntilItIsRetired) {
  put_orchestrator("t-1");
  auto busy = check_branch_free(repo_path(), kCanonical);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kBranchBusy);
  EXPECT_NE(busy.error().message.find(stable()), std::string::npos) << busy.error().message;
  ASSERT_TRUE(retire("t-1").result);
  EXPECT_TRUE(check_branch_free(repo_path(), kCanonical));
}

// ---- adopt

TEST_F(HandoffSteps, AdoptTreeGivesThePreparedTreeThePathTheBranchTheWorkAndTheIgnoredFiles) {
  commit_on_canonical(".gitignore", ".env\n");
  put_orchestrator("t-1");
  write_file(stable_dir() / "README.md", "work in progress\n");
  write_file(stable_dir() / ".env", "TOKEN=1\n");
  ASSERT_TRUE(prepare_tree(repo_path(), project(), "t-2", kCanonical, {}));
  const RetiredTree retired = retire("t-1");
  ASSERT_TRUE(retired.result) << retired.result.error().message;
  AdoptTree in = adopt_input("t-2");
  in.commits = {retired.commit};
  in.retired_trees = {{trash_path(project(), "t-1"), "t-1"}};
  auto notes = adopt_tree(in);
  ASSERT_TRUE(notes) << notes.error().message;
  EXPECT_FALSE(fs::exists(prepared_path(project(), "t-2")));
  EXPECT_EQ(head_of(stable_dir()), std::string("refs/heads/") + kCanonical + "\n");
  EXPECT_NE(git_ok(stable_dir(), "rev-parse --git-dir").find("baton-t-2"), std::string::npos);
  EXPECT_EQ(read_file(stable_dir() / "README.md"), "work in progress\n");
  EXPECT_EQ(read_file(stable_dir() / ".env"), "TOKEN=1\n");
  EXPECT_TRUE(check_branch_free(repo_path(), kCanonical).error().code == ErrorCode::kBranchBusy);
}

TEST_F(HandoffSteps, AdoptTreeStopsAtAnArmedFaultPointWithTheFaultCode) {
  ASSERT_TRUE(prepare_tree(repo_path(), project(), "t-1", kCanonical, {}));
  std::vector<std::string> asked;
  auto notes = adopt_tree(adopt_input("t-1"), [&asked](std::string_view point) {
    asked.emplace_back(point);
    return point == "adopt.adopted";
  });
  ASSERT_FALSE(notes);
  EXPECT_EQ(notes.error().code, ErrorCode::kFault);
  EXPECT_EQ(notes.error().message, "fault injected at adopt.adopted");
  EXPECT_EQ(asked, (std::vector<std::string>{"adopt.moved", "adopt.adopted"}));
  // Moved and adopted, and stopped before anything else.
  EXPECT_TRUE(fs::exists(stable_dir()));
  EXPECT_EQ(head_of(stable_dir()), std::string("refs/heads/") + kCanonical + "\n");
}

TEST_F(HandoffSteps, AdoptTreeFailsWithAdoptFailedWhenTheBranchIsCheckedOutElsewhere) {
  ASSERT_TRUE(prepare_tree(repo_path(), project(), "t-1", kCanonical, {}));
  git_ok(repo_dir(), std::string("switch -q ") + kCanonical);
  auto notes = adopt_tree(adopt_input("t-1"));
  ASSERT_FALSE(notes);
  EXPECT_EQ(notes.error().code, ErrorCode::kAdoptFailed);
}

// ---- launch

TEST_F(HandoffSteps, VerifyBranchPassesOnlyWhenTheBranchIsAtTheStablePath) {
  put_orchestrator("t-1");
  EXPECT_TRUE(verify_branch(repo_path(), kCanonical, stable()));
  git_ok(stable_dir(), "switch -q --detach");
  git_ok(repo_dir(), std::string("switch -q ") + kCanonical);
  auto verified = verify_branch(repo_path(), kCanonical, stable());
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error().code, ErrorCode::kVerifyFailed);
  EXPECT_EQ(verified.error().message, std::string("verification failed: ") + kCanonical +
                                          " is not checked out at " + stable());
}

TEST_F(HandoffSteps, DeleteTrashDeletesEachTreeAndReportsTheOneThatStays) {
  const fs::path gone = trash_path(project(), "t-1");
  const fs::path stays = trash_path(project(), "t-2");
  write_file(gone / "a.txt", "a\n");
  // A manifest entry still in the tree: nothing carried it, so deleting would lose it.
  write_file(stays / ".env", "TOKEN=2\n");
  ASSERT_TRUE(git::write_carry_manifest(stays, {{git::CarryKind::kIgnored, ".env"}}));
  const auto errors =
      delete_trash(repo_path(), project(), {"t-1", "t-2", "t-3"}, TrashMode::kDelete);
  EXPECT_FALSE(fs::exists(gone));
  EXPECT_EQ(read_file(stays / ".env"), "TOKEN=2\n");
  ASSERT_EQ(errors.size(), 1u);
  ASSERT_TRUE(errors.count("t-2"));
  EXPECT_NE(errors.at("t-2").find(".env"), std::string::npos) << errors.at("t-2");
}

TEST_F(HandoffSteps, DeleteTrashForDownKeepsWhatNoCommitHoldsWhole) {
  const fs::path trash = trash_path(project(), "t-1");
  write_file(trash / ".env", "TOKEN=1\n");
  ASSERT_TRUE(git::write_carry_manifest(trash, {{git::CarryKind::kIgnored, ".env"}}));
  const auto errors = delete_trash(repo_path(), project(), {"t-1"}, TrashMode::kKeepUntracked);
  EXPECT_TRUE(errors.empty());
  EXPECT_FALSE(fs::exists(trash));
  EXPECT_EQ(read_file(project_dir() / ".kept-t-1" / ".env"), "TOKEN=1\n");
}

}  // namespace
}  // namespace baton::plugin::testing
