#include "git/submodules.hpp"

#include <fmt/format.h>
#include <git2.h>

#include "git/handles.hpp"
#include "git/repository.hpp"

namespace baton::git {

namespace fs = std::filesystem;

namespace {

struct Listed {
  std::string name;
  std::string path;
  git_oid commit{};  // the gitlink recorded in the worktree's index
  bool has_commit = false;
};

bool exists_no_follow(const fs::path& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found;
}

int collect_cb(git_submodule* sm, const char* name, void* payload) {
  auto* out = static_cast<std::vector<Listed>*>(payload);
  Listed l;
  l.name = name;
  l.path = git_submodule_path(sm);
  if (const git_oid* id = git_submodule_index_id(sm)) {
    l.commit = *id;
    l.has_commit = true;
  }
  out->push_back(std::move(l));
  return 0;
}

// The objects reachable from `commit` in `from`, written as one pack into `to`'s object store.
Result<void> copy_history(git_repository* from, git_repository* to, const git_oid& commit,
                          const std::string& where) {
  git_packbuilder* raw_pb = nullptr;
  int rc = git_packbuilder_new(&raw_pb, from);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "pack objects for", where));
  PackbuilderPtr pb(raw_pb);
  git_revwalk* raw_walk = nullptr;
  rc = git_revwalk_new(&raw_walk, from);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "walk history for", where));
  RevwalkPtr walk(raw_walk);
  rc = git_revwalk_push(walk.get(), &commit);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "find recorded commit of", where));
  rc = git_packbuilder_insert_walk(pb.get(), walk.get());
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "pack history of", where));
  const fs::path pack_dir = directory_path(git_repository_path(to)) / "objects" / "pack";
  rc = git_packbuilder_write(pb.get(), pack_dir.c_str(), 0, nullptr, nullptr);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "write pack into", pack_dir.native()));
  return {};
}

Result<void> init_one(const fs::path& local, const fs::path& gitdir, const fs::path& workdir,
                      const Listed& sm) {
  const std::string& where = workdir.native();
  RepositoryPtr source;
  {
    git_repository* raw = nullptr;
    int rc = git_repository_open_bare(&raw, local.c_str());
    if (rc < 0) return tl::unexpected(libgit2_error(rc, "open", local.native()));
    source.reset(raw);
  }
  git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  opts.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT |
               GIT_REPOSITORY_INIT_NO_DOTGIT_DIR;
  opts.workdir_path = workdir.c_str();
  git_repository* raw = nullptr;
  int rc = git_repository_init_ext(&raw, gitdir.c_str(), &opts);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "make git dir for submodule", where));
  RepositoryPtr sub(raw);

  if (auto c = copy_history(source.get(), sub.get(), sm.commit, where); !c)
    return tl::unexpected(c.error());
  git_config* raw_cfg = nullptr;
  if (git_repository_config_snapshot(&raw_cfg, source.get()) == 0) {
    ConfigPtr cfg(raw_cfg);
    git_buf url = GIT_BUF_INIT;
    if (git_config_get_string_buf(&url, cfg.get(), "remote.origin.url") == 0) {
      // As `git submodule update` leaves it, so a later `git fetch` in it works.
      git_remote* raw_remote = nullptr;
      if (git_remote_create(&raw_remote, sub.get(), "origin", url.ptr) == 0)
        RemotePtr(raw_remote).reset();
    }
    git_buf_dispose(&url);
    git_error_clear();
  }
  rc = git_repository_set_head_detached(sub.get(), &sm.commit);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "point HEAD of submodule", where));
  git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
  co.checkout_strategy = GIT_CHECKOUT_FORCE;
  rc = git_checkout_head(sub.get(), &co);
  if (rc < 0) return tl::unexpected(libgit2_error(rc, "check out submodule", where));
  return {};
}

}  // namespace

Result<SubmoduleInit> init_submodules(git_repository* repo, const fs::path& worktree_path) {
  SubmoduleInit result;
  if (!exists_no_follow(worktree_path / ".gitmodules")) return result;
  auto wt = open_worktree(worktree_path);
  if (!wt) return tl::unexpected(wt.error());
  std::vector<Listed> listed;
  int rc = git_submodule_foreach(wt->get(), collect_cb, &listed);
  if (rc < 0)
    return tl::unexpected(libgit2_error(rc, "list submodules of", worktree_path.native()));
  const fs::path common = directory_path(git_repository_commondir(repo));
  const fs::path admin = directory_path(git_repository_path(wt->get()));
  for (const auto& sm : listed) {
    const fs::path workdir = worktree_path / sm.path;
    const fs::path gitdir = admin / "modules" / sm.name;
    const fs::path local = common / "modules" / sm.name;
    if (!sm.has_commit || exists_no_follow(workdir / ".git")) continue;
    if (!exists_no_follow(local)) {
      result.notes.push_back(fmt::format(
          "submodule {} is not initialized: the main checkout has not initialized it either",
          sm.path));
      continue;
    }
    if (auto done = init_one(local, gitdir, workdir, sm); !done) {
      // Half made: gone again, so the worktree is as a plain checkout leaves it.
      std::error_code ec;
      fs::remove_all(gitdir, ec);
      fs::remove(workdir / ".git", ec);
      result.notes.push_back(
          fmt::format("submodule {} is not initialized: {}", sm.path, done.error().message));
      continue;
    }
    result.initialized.push_back(sm.path);
  }
  return result;
}

}  // namespace baton::git
