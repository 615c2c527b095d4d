#include "git/repository.hpp"

#include <string>

#include <fmt/format.h>
#include <git2.h>
#include <git2/sys/repository.h>

namespace baton::git {

namespace fs = std::filesystem;

fs::path directory_path(const char* libgit2_dir) {
  if (libgit2_dir == nullptr) return {};
  std::string dir(libgit2_dir);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return fs::path(dir);
}

bool is_same_path(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  auto na = fs::weakly_canonical(a, ec);
  if (ec) na = a.lexically_normal();
  auto nb = fs::weakly_canonical(b, ec);
  if (ec) nb = b.lexically_normal();
  return directory_path(na.c_str()) == directory_path(nb.c_str());
}

// True when some local branch resolves to a commit: a repository with only an unborn HEAD
// has nothing to base the canonical branch on.
static Result<bool> has_any_commit(git_repository* repo, const fs::path& where) {
  git_reference_iterator* raw = nullptr;
  int rc = git_reference_iterator_glob_new(&raw, repo, "refs/heads/*");
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "list branches of", where.native()));
  ReferenceIteratorPtr it(raw);
  git_reference* ref = nullptr;
  while ((rc = git_reference_next(&ref, it.get())) == 0) {
    ReferencePtr owned(ref);
    git_object* peeled = nullptr;
    if (git_reference_peel(&peeled, owned.get(), GIT_OBJECT_COMMIT) == 0) {
      git_object_free(peeled);
      return true;
    }
  }
  if (rc != GIT_ITEROVER)
    return tl::unexpected(libgit2_error(rc, "list branches of", where.native()));
  return false;
}

Result<Project> open_project(const fs::path& path) {
  init_libgit2();
  git_repository* raw = nullptr;
  int rc = git_repository_open_ext(&raw, path.c_str(), 0, nullptr);
  if (rc == GIT_ENOTFOUND) {
    return tl::unexpected(
        Error{kNotARepository, fmt::format("open repository {}: not a git repository (or any "
                                           "parent up to the root)",
                                           path.native())});
  }
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "open repository", path.native()));
  RepositoryPtr opened(raw);

  Project project;
  project.common_dir = directory_path(git_repository_commondir(opened.get()));
  project.opened_workdir = directory_path(git_repository_workdir(opened.get()));

  if (git_repository_is_worktree(opened.get())) {
    // A linked worktree's repository has that worktree's HEAD and index; the project is
    // the main repository behind the common dir.
    git_repository* main_raw = nullptr;
    rc = git_repository_open_ext(&main_raw, project.common_dir.c_str(),
                                 GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
    if (rc < 0) {
      return tl::unexpected(libgit2_error(rc, "open main repository", project.common_dir.native()));
    }
    project.repo.reset(main_raw);
  } else {
    project.repo = std::move(opened);
  }

  if (git_repository_is_bare(project.repo.get())) {
    return tl::unexpected(
        Error{kBareRepository,
              fmt::format("open repository {}: bare repository (baton needs a main worktree to "
                          "read baton.toml from); use a clone with a working tree",
                          project.common_dir.native())});
  }
  project.main_workdir = directory_path(git_repository_workdir(project.repo.get()));
  if (project.opened_workdir.empty()) project.opened_workdir = project.main_workdir;

  auto has_commit = has_any_commit(project.repo.get(), project.main_workdir);
  if (!has_commit) return tl::unexpected(has_commit.error());
  if (!*has_commit) {
    return tl::unexpected(
        Error{kNoCommits,
              fmt::format("open repository {}: no commits yet, so there is nothing to start the "
                          "orchestrator branch from; make a first commit (for example `git -C {} "
                          "commit --allow-empty -m \"Initial commit\"`) and try again",
                          project.main_workdir.native(), project.main_workdir.native())});
  }
  return project;
}

Result<RepositoryPtr> open_worktree(const fs::path& worktree_path) {
  init_libgit2();
  git_repository* raw = nullptr;
  int rc =
      git_repository_open_ext(&raw, worktree_path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "open worktree", worktree_path.native()));
  RepositoryPtr repo(raw);
  if (git_repository_is_bare(repo.get())) {
    return tl::unexpected(Error{
        kBareRepository, fmt::format("open worktree {}: bare repository", worktree_path.native())});
  }
  return repo;
}

Result<SharedIndex> read_worktree_index(const fs::path& worktree_path) {
  auto repo = open_worktree(worktree_path);
  if (!repo) return tl::unexpected(repo.error());
  git_index* raw = nullptr;
  int rc = git_repository_index(&raw, repo->get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "read index of", worktree_path.native()));
  return SharedIndex(raw, git_index_free);
}

Result<void> use_index(git_repository* worktree_repo, git_index* index) {
  int rc = git_repository_set_index(worktree_repo, index);
  if (rc < 0)
    return tl::unexpected(libgit2_error(rc, "use index of", git_repository_workdir(worktree_repo)));
  // Not forced: read again only when the file's stamp differs from the one read.
  rc = git_index_read(index, 0);
  if (rc < 0)
    return tl::unexpected(
        libgit2_error(rc, "read index of", git_repository_workdir(worktree_repo)));
  return {};
}

}  // namespace baton::git
