// The git side of a whole handoff (DESIGN.md §5), cross-checked with the real git CLI.

#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "git/branch.hpp"
#include "git/preserve.hpp"
#include "git/reapply.hpp"
#include "git/release.hpp"
#include "git/worktree.hpp"

namespace baton::git::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBranch = "baton/t-orchestrator";

// Content of every path that matters, symlinks as "-> target", missing as "<missing>".
using Snapshot = std::map<std::string, std::string>;

Snapshot snapshot(const fs::path& dir, const std::vector<std::string>& paths) {
  Snapshot snap;
  for (const auto& path : paths) {
    fs::path full = dir / path;
    std::error_code ec;
    auto status = fs::symlink_status(full, ec);
    if (status.type() == fs::file_type::not_found) {
      snap[path] = "<missing>";
    } else if (status.type() == fs::file_type::symlink) {
      snap[path] = "-> " + fs::read_symlink(full).native();
    } else {
      snap[path] = read_file(full);
    }
  }
  return snap;
}

std::set<std::string> lines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.insert(line);
  return out;
}

// Runs one handoff from session `old_id` (at the stable path) to `new_id`. With
// `late_commit`, the old orchestrator commits after the new worktree was prepared.
// Returns the failure, if any, as a message.
std::string run_handoff(git_repository* repo, const fs::path& project_dir,
                        const std::string& old_id, const std::string& new_id, bool late_commit,
                        std::string* preserved_oid) {
  fs::path stable = project_dir / kStableDirName;
  auto prepared = prepare_worktree(repo, project_dir, new_id, kBranch);
  if (!prepared) return prepared.error().message;
  if (late_commit) {
    // Only late.txt: whatever else the old agent staged stays uncommitted work.
    write_file(stable / "late.txt", "late\n");
    git_ok(stable, "add late.txt");
    git_ok(stable, "commit -q -m 'Late commit' -- late.txt");
  }
  auto preserved = preserve_uncommitted(repo, stable, old_id);
  if (!preserved) return preserved.error().message;
  fs::path trash = project_dir / (std::string(kTrashDirPrefix) + old_id);
  if (auto r = release_rename_aside(stable, trash); !r) return r.error().message;
  if (auto r = release_prune(repo, worktree_name(old_id), kBranch); !r) return r.error().message;
  if (auto r = move_worktree(repo, prepared->name, stable); !r) return r.error().message;
  auto adopted = adopt_branch(repo, stable, kBranch, prepared->temp_branch);
  if (!adopted) return adopted.error().message;
  if (*preserved) {
    if (preserved_oid != nullptr) *preserved_oid = (*preserved)->oid;
    auto reapplied = reapply_preserved(repo, stable, (*preserved)->oid);
    if (!reapplied) return reapplied.error().message;
    if (!reapplied->is_applied) return "re-apply conflicted";
  }
  if (auto r = delete_trash(trash); !r) return r.error().message;
  return "";
}

// The first orchestrator: prepared, moved to the stable path, adopted.
std::string start_first(git_repository* repo, const fs::path& project_dir, const std::string& id) {
  auto prepared = prepare_worktree(repo, project_dir, id, kBranch);
  if (!prepared) return prepared.error().message;
  if (auto r = move_worktree(repo, prepared->name, project_dir / kStableDirName); !r) {
    return r.error().message;
  }
  auto adopted = adopt_branch(repo, project_dir / kStableDirName, kBranch, prepared->temp_branch);
  return adopted ? "" : adopted.error().message;
}

class HandoffSequenceTest : public ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    commit_file(repo_dir(), "tracked.txt", "one\n", "Add tracked");
    commit_file(repo_dir(), "staged.txt", "base\n", "Add staged");
    commit_file(repo_dir(), "gone.txt", "bye\n", "Add gone");
    commit_file(repo_dir(), "image.bin", std::string("\x89PNG\0\0\x01", 7), "Add binary");
    git_ok(repo_dir(), std::string("branch -f ") + kBranch + " main");
    ASSERT_EQ(start_first(repo(), project_dir(), "t-1"), "");
  }
  // Uncommitted work of every kind in the old orchestrator.
  void make_work() {
    fs::path old = stable_dir();
    write_file(old / "tracked.txt", "two\n");
    write_file(old / "staged.txt", "staged\n");
    git_ok(old, "add staged.txt");
    write_file(old / "untracked dir" / "notes é.md", "notes\n");
    fs::remove(old / "gone.txt");
    write_file(old / "image.bin", std::string("\x89PNG\0\xff\x02\x03", 8));
    fs::create_symlink("tracked.txt", old / "link");
  }
  const std::vector<std::string> paths_ = {"tracked.txt", "staged.txt", "untracked dir/notes é.md",
                                           "gone.txt",    "image.bin",  "link",
                                           "README.md"};
};

TEST_F(HandoffSequenceTest, PreservedWorkRoundTripsByteIdenticalIntoTheNewOrchestrator) {
  make_work();
  Snapshot before = snapshot(stable_dir(), paths_);
  ASSERT_EQ(run_handoff(repo(), project_dir(), "t-1", "t-2", false, nullptr), "");
  EXPECT_EQ(snapshot(stable_dir(), paths_), before);
}

TEST_F(HandoffSequenceTest, TheGitCliAgreesAfterTheWholeSequence) {
  make_work();
  std::string oid;
  ASSERT_EQ(run_handoff(repo(), project_dir(), "t-1", "t-2", true, &oid), "");

  std::string listed = git_ok(repo_dir(), "worktree list --porcelain");
  std::string branch_line = std::string("branch refs/heads/") + kBranch;
  size_t at = listed.find(branch_line);
  ASSERT_NE(at, std::string::npos) << listed;
  EXPECT_EQ(listed.find(branch_line, at + 1), std::string::npos) << listed;  // exactly once
  // Its entry (the block holding the branch line) is at the stable path.
  size_t block = listed.rfind("worktree ", at);
  EXPECT_EQ(listed.substr(block, listed.find('\n', block) - block),
            "worktree " + stable_dir().native())
      << listed;
  EXPECT_EQ(listed.find("prunable"), std::string::npos) << listed;
  EXPECT_EQ(listed.find(".prepare-"), std::string::npos) << listed;

  // Exactly the re-applied changes, on top of the late commit, the stage kept apart.
  EXPECT_EQ(lines(git_ok(stable_dir(), "status --porcelain")),
            (std::set<std::string>{" M tracked.txt", "M  staged.txt", " D gone.txt", " M image.bin",
                                   "?? link", "?? \"untracked dir/\""}));
  EXPECT_EQ(read_file(stable_dir() / "late.txt"), "late\n");
  EXPECT_EQ(git_ok(stable_dir(), "rev-parse --abbrev-ref HEAD"), std::string(kBranch) + "\n");
  EXPECT_EQ(git_ok(repo_dir(), "rev-parse refs/baton/preserved/t-1"), oid + "\n");
  EXPECT_FALSE(fs::exists(project_dir() / ".trash-t-1"));
  EXPECT_EQ(git_cli(repo_dir(), "rev-parse --verify -q refs/heads/baton/tmp/t-2").status, 1);
}

TEST_F(HandoffSequenceTest, ASecondHandoffWorksFromTheFirstOnesResult) {
  ASSERT_EQ(run_handoff(repo(), project_dir(), "t-1", "t-2", true, nullptr), "");
  write_file(stable_dir() / "second.txt", "2\n");
  ASSERT_EQ(run_handoff(repo(), project_dir(), "t-2", "t-3", false, nullptr), "");
  EXPECT_EQ(read_file(stable_dir() / "second.txt"), "2\n");
  EXPECT_EQ(git_ok(stable_dir(), "status --porcelain"), "?? second.txt\n");
}

TEST(ConcurrentProjects, TwoProjectsHandOffAtTheSameTimeFromTwoThreads) {
  TempDir tmp;
  std::vector<Project> projects;
  for (const char* name : {"a", "b"}) {
    make_repo(tmp.path() / name);
    for (int i = 0; i < 50; ++i) {
      write_file(tmp.path() / name / "src" / (std::to_string(i) + ".txt"), name);
    }
    git_ok(tmp.path() / name, "add -A");
    git_ok(tmp.path() / name, "commit -q -m 'Files'");
    auto project = open_project(tmp.path() / name);
    ASSERT_TRUE(project);
    ASSERT_TRUE(ensure_canonical_branch(project->repo.get(), kBranch, ""));
    projects.push_back(std::move(*project));
  }
  std::string results[2];
  std::vector<std::thread> threads;
  threads.reserve(2);
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      fs::path project_dir = tmp.path() / "ws" / (i == 0 ? "a" : "b");
      git_repository* repo = projects[i].repo.get();
      results[i] = start_first(repo, project_dir, "p-1");
      for (int n = 1; n < 4 && results[i].empty(); ++n) {
        write_file(project_dir / kStableDirName / "work.txt", std::to_string(n));
        results[i] = run_handoff(repo, project_dir, "p-" + std::to_string(n),
                                 "p-" + std::to_string(n + 1), n == 2, nullptr);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(results[i], "") << "project " << i;
    fs::path stable = tmp.path() / "ws" / (i == 0 ? "a" : "b") / kStableDirName;
    EXPECT_EQ(read_file(stable / "work.txt"), "3");
    EXPECT_EQ(read_file(stable / "late.txt"), "late\n");
  }
}

}  // namespace
}  // namespace baton::git::testing
