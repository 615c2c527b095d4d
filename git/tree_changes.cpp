#include "git/tree_changes.hpp"

#include <string_view>

#include <git2.h>

#include "git/branch.hpp"
#include "git/handles.hpp"
#include "git/repository.hpp"

namespace baton::git {

namespace {

// Walks two sorted entry lists side by side. Git sorts a tree's entries by name with a '/'
// after a subtree's name, so comparing the names that way keeps both walks in step.
class TreeWalk {
 public:
  TreeWalk(git_repository* repo, std::vector<std::string>& out) : repo_(repo), out_(out) {}

  Result<void> compare(const git_tree* old_tree, const git_tree* new_tree,
                       const std::string& prefix) {
    const std::size_t old_count = old_tree != nullptr ? git_tree_entrycount(old_tree) : 0;
    const std::size_t new_count = new_tree != nullptr ? git_tree_entrycount(new_tree) : 0;
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < old_count || j < new_count) {
      const git_tree_entry* a = i < old_count ? git_tree_entry_byindex(old_tree, i) : nullptr;
      const git_tree_entry* b = j < new_count ? git_tree_entry_byindex(new_tree, j) : nullptr;
      const int order = a == nullptr ? 1 : b == nullptr ? -1 : compare_names(a, b);
      if (order < 0) {
        if (auto r = list_entry(a, prefix); !r) return r;
        ++i;
      } else if (order > 0) {
        if (auto r = list_entry(b, prefix); !r) return r;
        ++j;
      } else {
        if (!is_same_entry(a, b)) {
          if (is_subtree(a) && is_subtree(b)) {
            auto old_sub = lookup(a);
            if (!old_sub) return tl::unexpected(old_sub.error());
            auto new_sub = lookup(b);
            if (!new_sub) return tl::unexpected(new_sub.error());
            if (auto r = compare(old_sub->get(), new_sub->get(), path_of(prefix, a) + "/"); !r)
              return r;
          } else {
            out_.push_back(path_of(prefix, a));
          }
        }
        ++i;
        ++j;
      }
    }
    return {};
  }

 private:
  static bool is_subtree(const git_tree_entry* e) {
    return git_tree_entry_type(e) == GIT_OBJECT_TREE;
  }

  static bool is_same_entry(const git_tree_entry* a, const git_tree_entry* b) {
    return git_tree_entry_filemode(a) == git_tree_entry_filemode(b) &&
           git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b));
  }

  // Git's tree order: bytewise, a subtree's name compared as if it ended in '/'. Equal only
  // when the names and the kinds (subtree or not) are the same.
  static int compare_names(const git_tree_entry* a, const git_tree_entry* b) {
    const std::string_view x = git_tree_entry_name(a);
    const std::string_view y = git_tree_entry_name(b);
    const std::size_t n = std::min(x.size(), y.size());
    if (int c = x.substr(0, n).compare(y.substr(0, n)); c != 0) return c;
    const unsigned char cx = x.size() > n    ? static_cast<unsigned char>(x[n])
                             : is_subtree(a) ? '/'
                                             : 0;
    const unsigned char cy = y.size() > n    ? static_cast<unsigned char>(y[n])
                             : is_subtree(b) ? '/'
                                             : 0;
    // Names cannot hold '/' or NUL: equal here means the same name and the same kind.
    return cx == cy ? 0 : cx < cy ? -1 : 1;
  }

  static std::string path_of(const std::string& prefix, const git_tree_entry* e) {
    return prefix + git_tree_entry_name(e);
  }

  Result<TreePtr> lookup(const git_tree_entry* e) {
    git_tree* raw = nullptr;
    int rc = git_tree_lookup(&raw, repo_, git_tree_entry_id(e));
    if (rc < 0)
      return tl::unexpected(libgit2_error(rc, "read tree", oid_hex(*git_tree_entry_id(e))));
    return TreePtr(raw);
  }

  // An entry on one side only: itself, or every file under it.
  Result<void> list_entry(const git_tree_entry* e, const std::string& prefix) {
    if (!is_subtree(e)) {
      out_.push_back(path_of(prefix, e));
      return {};
    }
    auto sub = lookup(e);
    if (!sub) return tl::unexpected(sub.error());
    const std::string inner = path_of(prefix, e) + "/";
    for (std::size_t k = 0, n = git_tree_entrycount(sub->get()); k < n; ++k) {
      if (auto r = list_entry(git_tree_entry_byindex(sub->get(), k), inner); !r) return r;
    }
    return {};
  }

  git_repository* repo_;
  std::vector<std::string>& out_;
};

}  // namespace

Result<std::vector<std::string>> tree_changes(git_repository* repo, const git_tree* old_tree,
                                              const git_tree* new_tree) {
  std::vector<std::string> out;
  if (old_tree != nullptr && new_tree != nullptr &&
      git_oid_equal(git_tree_id(old_tree), git_tree_id(new_tree)))
    return out;
  TreeWalk walk(repo, out);
  if (auto r = walk.compare(old_tree, new_tree, ""); !r) return tl::unexpected(r.error());
  return out;
}

}  // namespace baton::git
