// Google Benchmark of the git layer's steps around the handoff's gap (issue 7), on one
// repository of BATON_BENCH_FILES files (default 20,000) with one modified and one untracked
// file in the orchestrator's worktree: the uncommitted-work scan that is the gap's floor
// (libgit2's status with preserve's options, the whole preserve_uncommitted) beside the git
// CLI's `git status --porcelain`, and prepare's full checkout (before the gap) for scale.
// Not a test: scripts/bench builds it (`cmake --build B --target git_bench`) and runs it.

#include <benchmark/benchmark.h>
#include <git2.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "fixture.hpp"
#include "git/branch.hpp"
#include "git/handles.hpp"
#include "git/preserve.hpp"
#include "git/preserved_refs.hpp"
#include "git/release.hpp"
#include "git/repository.hpp"
#include "git/worktree.hpp"

namespace fs = std::filesystem;
using namespace baton::git;
using namespace baton::git::testing;

namespace {

constexpr const char* kBranch = "baton/bench-orchestrator";

void must(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "git_bench: %s failed\n", what);
    std::exit(1);
  }
}

// One repository for every benchmark, built on first use and removed at exit.
struct Fixture {
  TempDir tmp;
  fs::path repo_dir = tmp.path() / "repo";
  fs::path project_dir = tmp.path() / "ws" / "bench";
  fs::path stable = project_dir / "orchestrator";
  Project project;
  int files = 0;

  Fixture() {
    const char* env = std::getenv("BATON_BENCH_FILES");
    files = env != nullptr && *env != '\0' ? std::atoi(env) : 20000;
    make_repo(repo_dir);
    for (int i = 0; i < files; ++i) {
      write_file(repo_dir / "src" / std::to_string(i % 100) / (std::to_string(i) + ".c"),
                 "// file " + std::to_string(i) + "\nint value = " + std::to_string(i) + ";\n");
    }
    git_ok(repo_dir, "add -A");
    git_ok(repo_dir, "commit -q -m Files");
    auto opened = open_project(repo_dir);
    must(bool(opened), "open");
    project = std::move(*opened);
    must(bool(ensure_canonical_branch(project.repo.get(), kBranch, "")), "branch");
    auto first = prepare_worktree(project.repo.get(), project_dir, "b-1", kBranch);
    must(bool(first), "prepare");
    must(bool(move_worktree(project.repo.get(), first->name, stable)), "move");
    must(bool(adopt_branch(project.repo.get(), stable, kBranch, first->temp_branch)), "adopt");
    write_file(stable / "src/1/1.c", "// uncommitted\n");
    write_file(stable / "notes.md", "untracked\n");
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// One status scan on a freshly opened repository, as each handoff does.
void scan(benchmark::State& state, git_status_show_t show) {
  Fixture& f = fixture();
  for (auto _ : state) {
    auto wt = open_worktree(f.stable);
    must(bool(wt), "open worktree");
    git_status_options opts = GIT_STATUS_OPTIONS_INIT;
    opts.show = show;
    opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
                 GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
    git_status_list* raw = nullptr;
    must(git_status_list_new(&raw, wt->get(), &opts) == 0, "status");
    StatusListPtr list(raw);
    benchmark::DoNotOptimize(git_status_list_entrycount(list.get()));
  }
  state.counters["files"] = f.files;
}

// Google Benchmark's BM_ names, which scripts/bench reads back from the JSON output.
// NOLINTBEGIN(readability-identifier-naming)

// The scan preserve_uncommitted starts with (git/preserve.cpp): the workdir against the index.
void BM_ScanLibgit2Status(benchmark::State& state) {
  scan(state, GIT_STATUS_SHOW_WORKDIR_ONLY);
}
BENCHMARK(BM_ScanLibgit2Status)->Unit(benchmark::kMillisecond)->UseRealTime();

// The scan as it was before issue 7's profile: HEAD against the index too.
void BM_ScanLibgit2StatusHeadToo(benchmark::State& state) {
  scan(state, GIT_STATUS_SHOW_INDEX_AND_WORKDIR);
}
BENCHMARK(BM_ScanLibgit2StatusHeadToo)->Unit(benchmark::kMillisecond)->UseRealTime();

// The whole preserve step of the gap: scan, stage the changed paths in memory, write the
// tree, commit, pin the ref.
void BM_PreserveUncommitted(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    auto preserved = preserve_uncommitted(f.project.repo.get(), f.stable, "b-1");
    must(preserved && *preserved, "preserve");
  }
  state.counters["files"] = f.files;
}
BENCHMARK(BM_PreserveUncommitted)->Unit(benchmark::kMillisecond)->UseRealTime();

// What the baseline pays for the same question: the git CLI as a process.
void BM_GitStatusCli(benchmark::State& state) {
  Fixture& f = fixture();
  const std::string cmd = "git -C '" + f.stable.native() + "' status --porcelain >/dev/null";
  for (auto _ : state) must(std::system(cmd.c_str()) == 0, "git status");
  state.counters["files"] = f.files;
}
BENCHMARK(BM_GitStatusCli)->Unit(benchmark::kMillisecond)->UseRealTime();

// Prepare's full checkout, before the gap: what the gap no longer contains. Only with
// BATON_BENCH_PREPARE=1: on a loaded disk each checkout and deletion of 20,000 files takes
// seconds to minutes (docs/BENCHMARKS.md), and scripts/bench's handoff rows time it anyway.
void BM_PrepareCheckout(benchmark::State& state) {
  Fixture& f = fixture();
  int n = 100;
  for (auto _ : state) {
    const std::string id = "b-" + std::to_string(n++);
    auto prepared = prepare_worktree(f.project.repo.get(), f.project_dir, id, kBranch);
    must(bool(prepared), "prepare");
    state.PauseTiming();
    const fs::path trash = f.project_dir / (std::string(kTrashDirPrefix) + id);
    must(bool(release_rename_aside(prepared->path, trash)), "aside");
    must(bool(release_prune(f.project.repo.get(), prepared->name, "")), "prune");
    must(bool(delete_trash(trash)), "delete");
    must(bool(delete_temp_branch(f.project.repo.get(), id)), "temp branch");
    state.ResumeTiming();
  }
  state.counters["files"] = f.files;
}
// NOLINTEND(readability-identifier-naming)
[[maybe_unused]] const bool kHasPrepare = [] {
  const char* on = std::getenv("BATON_BENCH_PREPARE");
  if (on != nullptr && std::string(on) == "1") {
    benchmark::RegisterBenchmark("BM_PrepareCheckout", BM_PrepareCheckout)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(3);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
