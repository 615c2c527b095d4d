// The change record (plugin/tree_changes.hpp, plugin/change_record.hpp) and the scan it
// limits (git::preserve_uncommitted with a ScanLimit), against real worktrees and real
// inotify: a limited scan must preserve and carry exactly what a full scan does.
#include "plugin/tree_changes.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "git/preserve.hpp"
#include "git/repository.hpp"
#include "plugin/change_record.hpp"
#include "tests/git/fixture.hpp"

namespace baton::plugin::testing {
namespace {

namespace fs = std::filesystem;
using git::testing::git_ok;
using git::testing::write_file;

class ChangeRecordTest : public git::testing::ProjectTest {
 protected:
  void SetUp() override {
    ProjectTest::SetUp();
    write_file(repo_dir() / ".gitignore", "*.log\nbuild/\n");
    write_file(repo_dir() / "tracked.txt", "one\n");
    write_file(repo_dir() / "untrack-me.txt", "kept as a file\n");
    write_file(repo_dir() / "staged.txt", "base\n");
    write_file(repo_dir() / "tool.sh", "#!/bin/sh\n");
    write_file(repo_dir() / "lib/old/a.c", "a\n");
    write_file(repo_dir() / "lib/old/deep/b.c", "b\n");
    write_file(repo_dir() / "lib/keep.c", "keep\n");
    write_file(repo_dir() / "src/move-me.c", "moving\n");
    git_ok(repo_dir(), "add -A");
    git_ok(repo_dir(), "commit -qm files");
    git_ok(repo_dir(), std::string("branch -f ") + kCanonical + " main");
    fs::create_directories(project_dir());
    git_ok(repo_dir(), "worktree add -q '" + wt().native() + "' " + kCanonical);
    // Present before the record starts: an ignored directory and an untracked file.
    write_file(wt() / "build/out.o", "obj\n");
    write_file(wt() / "early.md", "untracked before the record\n");
  }
  fs::path wt() const { return stable_dir(); }

  // The record as the daemon starts it: watches first (ignored directories skipped), then the
  // full scan.
  void start_record() {
    changes_ = TreeChanges::open(wt().string());
    ASSERT_TRUE(changes_);
    auto repo = git::open_worktree(wt());
    ASSERT_TRUE(repo) << repo.error().message;
    git_repository* r = repo->get();
    ASSERT_TRUE(changes_->watch_tree([r](const std::string& rel) {
      auto ignored = git::is_ignored_path(r, rel);
      return ignored && *ignored;
    }));
    auto baseline = git::scan_baseline(wt());
    ASSERT_TRUE(baseline) << baseline.error().message;
    baseline_ = std::move(*baseline);
  }

  git::ScanLimit limit() {
    auto changed = changes_->changed();
    EXPECT_TRUE(changed) << "the record is incomplete";
    return git::ScanLimit{baseline_, changed.value_or(std::vector<std::string>{})};
  }

  std::string rev(const std::string& what) {
    std::string out = git_ok(wt(), "rev-parse '" + what + "'");
    out.erase(out.find_last_not_of('\n') + 1);
    return out;
  }

  static std::vector<std::string> carried(const std::vector<git::CarryEntry>& carry) {
    std::vector<std::string> out;
    out.reserve(carry.size());
    for (const auto& e : carry) out.push_back(std::to_string(static_cast<int>(e.kind)) + e.path);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::shared_ptr<TreeChanges> changes_;
  git::ScanBaseline baseline_;
};

TEST_F(ChangeRecordTest, ALimitedScanPreservesAndCarriesWhatAFullScanDoes) {
  start_record();
  ASSERT_FALSE(HasFailure());
  // Every kind of change an agent makes, after the record began.
  write_file(wt() / "tracked.txt", "two\n");
  write_file(wt() / "staged.txt", "staged\n");
  git_ok(wt(), "add staged.txt");
  write_file(wt() / "staged.txt", "staged, then changed again\n");
  git_ok(wt(), "rm -q --cached untrack-me.txt");  // the index changes, the file does not
  fs::remove_all(wt() / "lib/old");
  write_file(wt() / "newdir/sub/file.txt", "in a new directory\n");
  write_file(wt() / "notes.md", "notes\n");
  write_file(wt() / "debug.log", "ignored at the root\n");
  write_file(wt() / "build/more.o", "inside an ignored directory\n");
  fs::rename(wt() / "src/move-me.c", wt() / "src/moved.c");
  ASSERT_EQ(::chmod((wt() / "tool.sh").c_str(), 0755), 0);
  write_file(wt() / "nested/inner.txt", "a nested repository\n");
  git_ok(wt() / "nested", "init -q");
  write_file(wt() / "lib/became-repo/x.txt", "x\n");
  git_ok(wt() / "lib/became-repo", "init -q");

  std::vector<git::CarryEntry> limited_carry;
  const git::ScanLimit lim = limit();
  auto limited = git::preserve_uncommitted(repo(), wt(), "t-1", &limited_carry, &lim);
  ASSERT_TRUE(limited) << limited.error().message;
  std::vector<git::CarryEntry> full_carry;
  auto full = git::preserve_uncommitted(repo(), wt(), "t-2", &full_carry);
  ASSERT_TRUE(full) << full.error().message;
  ASSERT_TRUE(*limited && *full);

  EXPECT_EQ(rev("refs/baton/preserved/t-1^{tree}"), rev("refs/baton/preserved/t-2^{tree}"));
  EXPECT_EQ(rev("refs/baton/preserved/t-1^2^{tree}"), rev("refs/baton/preserved/t-2^2^{tree}"));
  EXPECT_EQ((*limited)->paths_changed, (*full)->paths_changed);
  EXPECT_EQ(carried(limited_carry), carried(full_carry));
  EXPECT_FALSE(limited_carry.empty());
  // It read far less than the tree: neither lib/keep.c nor anything unchanged is listed.
  EXPECT_EQ(std::count(lim.changed.begin(), lim.changed.end(), "lib/keep.c"), 0);
}

// What makes it fast is also what it trusts: a change the record did not see is not read.
TEST_F(ChangeRecordTest, ReadsOnlyTheRecordedPaths) {
  start_record();
  ASSERT_FALSE(HasFailure());
  write_file(wt() / "tracked.txt", "changed behind the record's back\n");
  git::ScanLimit blind{baseline_, {}};
  auto limited = git::preserve_uncommitted(repo(), wt(), "t-1", nullptr, &blind);
  ASSERT_TRUE(limited) << limited.error().message;
  auto full = git::preserve_uncommitted(repo(), wt(), "t-2", nullptr);
  ASSERT_TRUE(full) << full.error().message;
  // The baseline's untracked early.md is read either way; the unrecorded change only in full.
  ASSERT_TRUE(*limited && *full);
  EXPECT_EQ(git_ok(wt(), "show refs/baton/preserved/t-1:tracked.txt"), "one\n");
  EXPECT_EQ(git_ok(wt(), "show refs/baton/preserved/t-2:tracked.txt"),
            "changed behind the record's back\n");
}

// The record reads the index once its full scan ended; an agent stages after that.
TEST_F(ChangeRecordTest, AnIndexReadAheadThatChangedSinceIsReadAgain) {
  start_record();
  ASSERT_FALSE(HasFailure());
  auto ahead = git::read_worktree_index(wt());
  ASSERT_TRUE(ahead) << ahead.error().message;
  write_file(wt() / "staged.txt", "staged after the read\n");
  git_ok(wt(), "add staged.txt");
  git::ScanLimit lim = limit();
  lim.index = *ahead;
  auto preserved = git::preserve_uncommitted(repo(), wt(), "t-1", nullptr, &lim);
  ASSERT_TRUE(preserved) << preserved.error().message;
  ASSERT_TRUE(*preserved);
  EXPECT_EQ(git_ok(wt(), "show refs/baton/preserved/t-1^2:staged.txt"), "staged after the read\n");
}

TEST_F(ChangeRecordTest, RecordsADirectoryMadeOrRemovedWholeAndNeverEntersAnIgnoredOne) {
  start_record();
  ASSERT_FALSE(HasFailure());
  write_file(wt() / "newdir/a/b/c.txt", "c\n");
  fs::remove_all(wt() / "lib/old");
  write_file(wt() / "lib/keep.c", "changed\n");
  for (int i = 0; i < 50; ++i) write_file(wt() / "build" / ("gen" + std::to_string(i)), "x");
  auto changed = changes_->changed();
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, (std::vector<std::string>{"build", "lib/keep.c", "lib/old", "newdir"}));
}

TEST_F(ChangeRecordTest, AChangeInsideAGitDirIsTheDirectoryHoldingIt) {
  start_record();
  ASSERT_FALSE(HasFailure());
  write_file(wt() / "lib/became-repo/x.txt", "x\n");  // a new directory: recorded whole
  write_file(wt() / "src/inner/file", "f\n");
  auto before = changes_->changed();
  ASSERT_TRUE(before);
  fs::create_directories(wt() / "lib/.git");  // lib itself turns into a nested repository
  auto after = changes_->changed();
  ASSERT_TRUE(after);
  EXPECT_NE(std::find(after->begin(), after->end(), "lib"), after->end());
  EXPECT_EQ(std::count_if(after->begin(), after->end(),
                          [](const std::string& p) { return p.starts_with("lib/"); }),
            0);
}

TEST_F(ChangeRecordTest, TooManyChangesMakeTheRecordIncomplete) {
  start_record();
  ASSERT_FALSE(HasFailure());
  for (std::size_t i = 0; i <= TreeChanges::kMaxChanged; ++i) {
    write_file(wt() / "lib" / ("f" + std::to_string(i)), "x");
    if (i % 1000 == 0) changes_->read_events();  // as the loop does, so the queue holds
  }
  EXPECT_FALSE(changes_->changed());
  std::string why;
  EXPECT_FALSE(scan_limit(ScanHint{changes_, std::make_shared<git::ScanBaseline>(baseline_)}, why));
  EXPECT_EQ(why, "the change record is incomplete");
}

}  // namespace
}  // namespace baton::plugin::testing
