// Timings of the git layer's steps inside and around the handoff's gap, at 20,000 files:
// prepare (a full checkout, before the gap) against adopt after a late one-file commit and
// the uncommitted-work scan (inside the gap). Not a test: `cmake --build B --target git_bench`
// then run B/git_bench [files].

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "fixture.hpp"
#include "git/branch.hpp"
#include "git/preserve.hpp"
#include "git/release.hpp"
#include "git/worktree.hpp"

namespace fs = std::filesystem;
using namespace baton::git;
using namespace baton::git::testing;

template <typename F>
static double time_ms(F&& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

static void must(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "%s failed\n", what);
    std::exit(1);
  }
}

int main(int argc, char** argv) {
  int files = argc > 1 ? std::atoi(argv[1]) : 20000;
  TempDir tmp;
  fs::path repo_dir = tmp.path() / "repo";
  fs::path project_dir = tmp.path() / "ws" / "bench";
  make_repo(repo_dir);
  for (int i = 0; i < files; ++i) {
    write_file(repo_dir / "src" / std::to_string(i % 100) / (std::to_string(i) + ".txt"),
               "content " + std::to_string(i) + "\n");
  }
  git_ok(repo_dir, "add -A");
  git_ok(repo_dir, "commit -q -m Files");
  auto project = open_project(repo_dir);
  must(bool(project), "open");
  git_repository* repo = project->repo.get();
  const char* branch = "baton/bench-orchestrator";
  must(bool(ensure_canonical_branch(repo, branch, "")), "branch");

  auto first = prepare_worktree(repo, project_dir, "b-1", branch);
  must(bool(first), "prepare first");
  must(bool(move_worktree(repo, first->name, project_dir / "orchestrator")), "move");
  must(bool(adopt_branch(repo, project_dir / "orchestrator", branch, first->temp_branch)),
       "adopt first");
  fs::path stable = project_dir / "orchestrator";

  tl::expected<PreparedWorktree, Error> second;
  double prepare_ms = time_ms([&] { second = prepare_worktree(repo, project_dir, "b-2", branch); });
  must(bool(second), "prepare second");

  commit_file(stable, "src/0/0.txt", "late\n", "Late commit");
  write_file(stable / "src/1/1.txt", "uncommitted\n");
  double cli_status_ms = time_ms([&] { git_ok(stable, "status --porcelain"); });
  tl::expected<std::optional<PreservedCommit>, Error> preserved;
  double preserve_ms = time_ms([&] { preserved = preserve_uncommitted(repo, stable, "b-1"); });
  must(preserved && *preserved, "preserve");

  must(bool(release_rename_aside(stable, project_dir / ".trash-b-1")), "rename aside");
  must(bool(release_prune(repo, first->name, branch)), "prune");
  must(bool(move_worktree(repo, second->name, stable)), "move second");
  tl::expected<AdoptStats, Error> adopted;
  double adopt_ms =
      time_ms([&] { adopted = adopt_branch(repo, stable, branch, second->temp_branch); });
  must(bool(adopted), "adopt second");

  std::printf("files: %d\n", files);
  std::printf("prepare (full checkout, before the gap): %8.1f ms\n", prepare_ms);
  std::printf("preserve (scan, in the gap):             %8.1f ms\n", preserve_ms);
  std::printf("git status (CLI, for comparison):        %8.1f ms\n", cli_status_ms);
  std::printf("adopt after a late commit (in the gap):  %8.1f ms (%zu files written)\n", adopt_ms,
              adopted->files_written);
  std::printf("adopt / prepare: %.3f\n", adopt_ms / prepare_ms);
  return adopt_ms < prepare_ms / 10 ? 0 : 1;
}
