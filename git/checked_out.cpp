#include "git/checked_out.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <git2.h>

#include "git/branch.hpp"
#include "git/handles.hpp"
#include "git/repository.hpp"

namespace baton::git {

namespace fs = std::filesystem;

// The first line of a small file, without its newline; nullopt when it does not exist.
static Result<std::optional<std::string>> read_first_line(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    if (ec) return tl::unexpected(os_error(ec.value(), "read", file.native()));
    return std::nullopt;
  }
  std::ifstream in(file);
  if (!in) return tl::unexpected(os_error(errno, "read", file.native()));
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

// HEAD as git stores it in a worktree's git dir: "ref: refs/heads/x" or a commit id.
static Result<std::string> read_head_file(const fs::path& git_dir) {
  auto line = read_first_line(git_dir / "HEAD");
  if (!line) return tl::unexpected(line.error());
  if (!*line) {
    return tl::unexpected(Error{
        ENOENT,
        fmt::format("read HEAD of worktree admin dir {}: missing HEAD file", git_dir.native())});
  }
  constexpr std::string_view kSymbolic = "ref: ";
  if (std::string_view(**line).starts_with(kSymbolic)) return (**line).substr(kSymbolic.size());
  return std::string();
}

// A rebase keeps HEAD detached and names the branch it will update in head-name.
static Result<std::string> read_rebasing_ref(const fs::path& git_dir) {
  for (const char* state : {"rebase-merge", "rebase-apply"}) {
    auto line = read_first_line(git_dir / state / "head-name");
    if (!line) return tl::unexpected(line.error());
    if (*line && !(*line)->empty()) return **line;
  }
  return std::string();
}

static Result<std::string> symbolic_head(git_repository* repo, const fs::path& where) {
  git_reference* raw = nullptr;
  int rc = git_reference_lookup(&raw, repo, "HEAD");
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read HEAD of", where.native()));
  ReferencePtr head(raw);
  if (git_reference_type(head.get()) != GIT_REFERENCE_SYMBOLIC) return std::string();
  return std::string(git_reference_symbolic_target(head.get()));
}

static Result<WorktreeHead> main_worktree_head(git_repository* repo) {
  RepositoryPtr opened;
  git_repository* main = repo;
  if (git_repository_is_worktree(repo)) {
    git_repository* raw = nullptr;
    const char* common = git_repository_commondir(repo);
    int rc = git_repository_open_ext(&raw, common, GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "open main repository", common));
    opened.reset(raw);
    main = raw;
  }
  WorktreeHead head;
  head.is_main = true;
  head.path = directory_path(git_repository_workdir(main));
  head.exists_on_disk = !head.path.empty();
  fs::path git_dir = directory_path(git_repository_path(main));
  auto target = symbolic_head(main, git_dir);
  if (!target) return tl::unexpected(target.error());
  head.head_ref = std::move(*target);
  auto rebasing = read_rebasing_ref(git_dir);
  if (!rebasing) return tl::unexpected(rebasing.error());
  head.rebasing_ref = std::move(*rebasing);
  return head;
}

static Result<WorktreeHead> linked_worktree_head(git_repository* repo, const char* name) {
  fs::path admin = directory_path(git_repository_commondir(repo)) / "worktrees" / name;
  git_worktree* raw_wt = nullptr;
  int rc = git_worktree_lookup(&raw_wt, repo, name);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "look up worktree", admin.native()));
  WorktreePtr wt(raw_wt);

  WorktreeHead head;
  head.name = name;
  head.path = directory_path(git_worktree_path(wt.get()));

  git_repository* raw_repo = nullptr;
  rc = git_repository_open_from_worktree(&raw_repo, wt.get());
  if (rc == 0) {
    RepositoryPtr wt_repo(raw_repo);
    head.exists_on_disk = true;
    auto target = symbolic_head(wt_repo.get(), head.path);
    if (!target) return tl::unexpected(target.error());
    head.head_ref = std::move(*target);
  } else {
    // open_from_worktree opens the working directory, which may have been deleted by hand
    // or lost its .git file; the admin entry still claims the branch until it is pruned.
    git_error_clear();
    auto target = read_head_file(admin);
    if (!target) return tl::unexpected(target.error());
    head.head_ref = std::move(*target);
    head.exists_on_disk = false;
  }
  auto rebasing = read_rebasing_ref(admin);
  if (!rebasing) return tl::unexpected(rebasing.error());
  head.rebasing_ref = std::move(*rebasing);
  return head;
}

Result<std::vector<WorktreeHead>> list_worktree_heads(git_repository* repo) {
  init_libgit2();
  std::vector<WorktreeHead> heads;
  if (!git_repository_is_bare(repo) || git_repository_is_worktree(repo)) {
    auto main = main_worktree_head(repo);
    if (!main) return tl::unexpected(main.error());
    if (!main->path.empty()) heads.push_back(std::move(*main));
  }
  StrArray names;
  int rc = git_worktree_list(&names.value, repo);
  if (rc < 0) {
    return tl::unexpected(libgit2_error(rc, "list worktrees of", git_repository_commondir(repo)));
  }
  for (size_t i = 0; i < names.value.count; ++i) {
    auto head = linked_worktree_head(repo, names.value.strings[i]);
    if (!head) return tl::unexpected(head.error());
    heads.push_back(std::move(*head));
  }
  return heads;
}

Result<std::optional<fs::path>> who_has_branch_checked_out(git_repository* repo,
                                                           std::string_view branch) {
  std::string ref = full_branch_ref(branch);
  auto heads = list_worktree_heads(repo);
  if (!heads) return tl::unexpected(heads.error());
  for (const auto& head : *heads) {
    if (head.head_ref == ref || head.rebasing_ref == ref) return head.path;
  }
  return std::nullopt;
}

}  // namespace baton::git
