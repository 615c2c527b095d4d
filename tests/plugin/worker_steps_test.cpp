// A worker's steps (plugin/worker_steps.hpp) and its notice text (plugin/worker_notice.hpp)
// in-process, against real repositories in temp dirs: no daemon, no loop.
#include "plugin/worker_steps.hpp"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "git/worktree.hpp"
#include "plugin/worker_notice.hpp"
#include "tests/git/fixture.hpp"

namespace baton::plugin::testing {
namespace {

namespace fs = std::filesystem;
using git::testing::git_cli;
using git::testing::git_ok;
using git::testing::read_file;
using git::testing::write_file;

class WorkerSteps : public git::testing::ProjectTest {
 protected:
  std::string repo_path() const { return repo_dir().string(); }
  std::string project() const { return project_dir().string(); }

  MakeWorker make(const std::string& id, const std::string& name) {
    return MakeWorker{repo_path(), project(),  id,    name, "baton/t-" + name,
                      "",          kCanonical, false, {}};
  }
  CheckSpawn check(const std::string& name) {
    return CheckSpawn{repo_path(), project(),  "t", name, "baton/t-" + name,
                      "",          kCanonical, "",  false};
  }
  bool has_ref(const std::string& ref) {
    return git_cli(repo_dir(), "rev-parse -q --verify " + ref).status == 0;
  }
};

TEST_F(WorkerSteps, NamesThatCannotNameABranchOrADirectoryAreRefused) {
  EXPECT_EQ(worker_name_problem("fix-login"), std::nullopt);
  EXPECT_EQ(worker_name_problem("v1.2_x"), std::nullopt);
  EXPECT_EQ(worker_name_problem(""), "is empty");
  EXPECT_EQ(worker_name_problem("orchestrator"),
            "is the orchestrator's: its branch would be the canonical one");
  EXPECT_EQ(worker_name_problem("a/b"), "must use only A-Z a-z 0-9 . _ -");
  EXPECT_EQ(worker_name_problem(".hidden"), "must not start with '.' or '-'");
  EXPECT_EQ(worker_name_problem("a..b"), "cannot be part of a branch name: it contains '..'");
  EXPECT_EQ(worker_name_problem(std::string(65, 'a')), "is longer than 64 characters");
  EXPECT_EQ(worker_id("shop", 3), "shop-w3");
  EXPECT_EQ(worker_number("shop", "shop-w12"), 12u);
  EXPECT_EQ(worker_number("shop", "shop-12"), 0u);
  EXPECT_EQ(worker_number("shop", "shop-wx"), 0u);
  EXPECT_EQ(worker_number("sh", "shop-w3"), 0u);
}

TEST_F(WorkerSteps, MakeChecksOutTheBranchUnderWorkersAndIsRepeatable) {
  auto checked = check_spawn(check("fix"));
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->max_number, 0u);
  auto made = make_worker_tree(make("t-w1", "fix"));
  ASSERT_TRUE(made) << made.error().message;
  const fs::path tree = project_dir() / "workers" / "fix";
  EXPECT_EQ(made->path, tree.string());
  EXPECT_EQ(git::worktree_owner(tree).session_id, "t-w1");
  EXPECT_EQ(git_ok(tree, "rev-parse --abbrev-ref HEAD"), "baton/t-fix\n");
  EXPECT_FALSE(fs::exists(project_dir() / "workers" / ".prepare-t-w1"));
  // Again (a daemon killed after the tree was in place): the tree is taken as it is.
  write_file(tree / "work.txt", "kept\n");
  auto again = make_worker_tree(make("t-w1", "fix"));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(read_file(tree / "work.txt"), "kept\n");
  // The number is taken now: the next check counts it; the name's tree is in the way.
  auto next = check_spawn(check("other"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->max_number, 1u);
  auto taken = check_spawn(check("fix"));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kInTheWay);
}

TEST_F(WorkerSteps, AHalfMadeSpawnIsDiscardedWithTheBranchItMadeButNotAMovedOne) {
  ASSERT_TRUE(make_worker_tree(make("t-w1", "fix")));
  const std::string base = git_ok(repo_dir(), "rev-parse baton/t-fix").substr(0, 40);
  ASSERT_TRUE(discard_worker_tree(make("t-w1", "fix"), base));
  EXPECT_FALSE(fs::exists(project_dir() / "workers" / "fix"));
  EXPECT_FALSE(fs::exists(repo_dir() / ".git/worktrees/baton-t-w1"));
  EXPECT_FALSE(has_ref("refs/heads/baton/t-fix"));
  // A branch that moved since it was made holds work: it stays.
  ASSERT_TRUE(make_worker_tree(make("t-w2", "fix")));
  git::testing::commit_file(project_dir() / "workers" / "fix", "w.txt", "w\n", "work");
  ASSERT_TRUE(discard_worker_tree(make("t-w2", "fix"), base));
  EXPECT_TRUE(has_ref("refs/heads/baton/t-fix"));
}

TEST_F(WorkerSteps, FinishPreservesKeepsAndRemovesOnlyTheWorkersTree) {
  ASSERT_TRUE(make_worker_tree(make("t-w1", "fix")));
  ASSERT_TRUE(make_worker_tree(make("t-w2", "other")));
  const fs::path tree = project_dir() / "workers" / "fix";
  write_file(tree / "README.md", "changed by the worker\n");
  write_file(tree / "new.txt", "new\n");
  write_file(tree / ".gitignore", "build/\n");
  write_file(tree / "build" / "out.o", "object\n");
  FinishWorker in{repo_path(),   project(),  "t-w1", tree.string(),
                  "baton/t-fix", kCanonical, false,  true};
  FinishedWorker out = finish_worker_tree(in);
  ASSERT_TRUE(out.result) << out.result.error().message;
  EXPECT_EQ(out.ref, "refs/baton/preserved/t-w1");
  EXPECT_EQ(git_ok(repo_dir(), "show " + out.ref + ":README.md"), "changed by the worker\n");
  EXPECT_EQ(git_ok(repo_dir(), "show " + out.ref + ":new.txt"), "new\n");
  EXPECT_EQ(out.kept, std::vector<std::string>{"build"});
  EXPECT_EQ(read_file(fs::path(out.kept_dir) / "build" / "out.o"), "object\n");
  EXPECT_FALSE(fs::exists(tree));
  EXPECT_FALSE(fs::exists(repo_dir() / ".git/worktrees/baton-t-w1"));
  // Merged (no commit of its own): deleted. The other worker is untouched.
  EXPECT_TRUE(out.is_branch_deleted);
  EXPECT_FALSE(has_ref("refs/heads/baton/t-fix"));
  EXPECT_TRUE(fs::exists(project_dir() / "workers" / "other" / "README.md"));
  EXPECT_TRUE(fs::exists(repo_dir() / ".git/worktrees/baton-t-w2"));
  // Again: nothing left to do, nothing preserved twice.
  in.has_preserved = true;
  FinishedWorker twice = finish_worker_tree(in);
  ASSERT_TRUE(twice.result) << twice.result.error().message;
  EXPECT_TRUE(twice.commit.empty());
}

TEST(WorkerNotice, IsOneShortLineWithTheScreensLastText) {
  EXPECT_EQ(last_screen_line({"first", "  Allow this command? (y/n)  ", "", "   "}),
            "Allow this command? (y/n)");
  EXPECT_EQ(last_screen_line({"", ""}), "");
  const std::string long_line = std::string(158, 'x') + "\u00e9\u00e9\u00e9";
  const std::string cut = last_screen_line({long_line});
  EXPECT_EQ(cut, std::string(158, 'x') + "\u00e9\u2026");
  EXPECT_EQ(worker_notice("fix", "waits for input", "Allow? (y/n)"),
            "worker fix waits for input: Allow? (y/n)");
  EXPECT_EQ(worker_notice("fix", "ended its turn", ""), "worker fix ended its turn");
}

}  // namespace
}  // namespace baton::plugin::testing
