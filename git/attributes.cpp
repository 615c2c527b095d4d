#include "git/attributes.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "git/handles.hpp"

namespace baton::git {

namespace fs = std::filesystem;

namespace {

bool is_there(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// `file` in any directory of libgit2's search path for `level` (a GIT_PATH_LIST_SEPARATOR
// list): where libgit2 looks for the XDG and the system attributes files.
Result<bool> is_in_search_path(git_config_level_t level, std::string_view file) {
  Buf dirs;
  if (int rc = git_libgit2_opts(GIT_OPT_GET_SEARCH_PATH, level, &dirs.value); rc < 0)
    return tl::unexpected(libgit2_error(rc, "read the search path for", file));
  std::string_view list(dirs.value.ptr ? dirs.value.ptr : "", dirs.value.size);
  while (!list.empty()) {
    const auto sep = list.find(GIT_PATH_LIST_SEPARATOR);
    const std::string_view dir = list.substr(0, sep);
    if (!dir.empty() && is_there(fs::path(dir) / file)) return true;
    if (sep == std::string_view::npos) break;
    list.remove_prefix(sep + 1);
  }
  return false;
}

int stop_at_gitattributes(const char*, const git_tree_entry* entry, void* found) {
  if (std::string_view(git_tree_entry_name(entry)) != ".gitattributes") return 0;
  *static_cast<bool*>(found) = true;
  return -1;  // stops the walk
}

}  // namespace

Result<bool> checkout_needs_filters(git_repository* repo, const git_tree* tree) {
  git_config* raw_cfg = nullptr;
  if (int rc = git_repository_config_snapshot(&raw_cfg, repo); rc < 0)
    return tl::unexpected(libgit2_error(rc, "read the config of", git_repository_path(repo)));
  ConfigPtr cfg(raw_cfg);

  // core.autocrlf=true converts text files on checkout without any attribute; "input" and
  // false do not.
  int autocrlf = 0;
  if (git_config_get_bool(&autocrlf, cfg.get(), "core.autocrlf") == 0 && autocrlf) return true;
  git_error_clear();

  git_buf attributes_file{};
  if (git_config_get_path(&attributes_file, cfg.get(), "core.attributesFile") == 0) {
    const bool is_configured_there = is_there(attributes_file.ptr);
    git_buf_dispose(&attributes_file);
    if (is_configured_there) return true;
  } else {
    git_error_clear();
    auto xdg = is_in_search_path(GIT_CONFIG_LEVEL_XDG, "attributes");
    if (!xdg || *xdg) return xdg;
  }
  auto system = is_in_search_path(GIT_CONFIG_LEVEL_SYSTEM, "gitattributes");
  if (!system || *system) return system;

  if (is_there(fs::path(git_repository_commondir(repo)) / "info" / "attributes")) return true;

  bool found = false;
  const int rc = git_tree_walk(tree, GIT_TREEWALK_PRE, stop_at_gitattributes, &found);
  if (rc < 0 && !found)
    return tl::unexpected(libgit2_error(rc, "walk tree", git_oid_tostr_s(git_tree_id(tree))));
  git_error_clear();  // the walk stopped on purpose: no error to leave behind
  return found;
}

}  // namespace baton::git
