#include "plugin/config_texts.hpp"

#include <filesystem>
#include <vector>

#include "git/handles.hpp"
#include "plugin/atomic_file.hpp"
#include "plugin/trust.hpp"

namespace baton::plugin {

namespace fs = std::filesystem;

namespace {

// Whether the index of the repository whose working directory is `root` has `path`, at any
// stage (a conflicted file is tracked too). Anything unknown counts as tracked: the file is
// then treated as the repository's, which is the safe side.
bool is_tracked_by_git(const std::string& root, const std::string& path) {
  git::init_libgit2();
  git_repository* raw_repo = nullptr;
  if (git_repository_open_ext(&raw_repo, root.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
    return true;
  git::RepositoryPtr repo(raw_repo);
  git_index* raw_index = nullptr;
  if (git_repository_index(&raw_index, repo.get()) != 0) return true;
  git::IndexPtr index(raw_index);
  for (int stage = 0; stage <= 3; ++stage)
    if (git_index_get_bypath(index.get(), path.c_str(), stage)) return true;
  return false;
}

std::string path_in(const std::string& repo_root, std::string_view name) {
  return (fs::path(repo_root) / name).string();
}

}  // namespace

tl::expected<ConfigTexts, std::string> read_config_texts(const std::string& repo_root) {
  ConfigTexts texts;
  for (auto name : {kConfigFileName, kLocalConfigFileName}) {
    auto content = read_file(path_in(repo_root, name));
    if (!content && !content.error().empty()) return tl::unexpected(content.error());
    (name == kConfigFileName ? texts.main : texts.local) =
        content ? std::optional<std::string>(std::move(*content)) : std::nullopt;
  }
  texts.local_is_tracked =
      texts.local && is_tracked_by_git(repo_root, std::string(kLocalConfigFileName));
  return texts;
}

std::string repository_config_hash(const std::string& repo_root, const ConfigTexts& texts) {
  const std::string local = path_in(repo_root, kLocalConfigFileName);
  std::vector<ConfigFile> files{{path_in(repo_root, kConfigFileName), texts.main}};
  // The user's own local file is left out; its being the user's is part of what was allowed.
  if (texts.local_is_tracked)
    files.push_back({local, texts.local});
  else
    files.push_back({local + " (the user's)", std::nullopt});
  return config_hash_of_contents(files);
}

}  // namespace baton::plugin
