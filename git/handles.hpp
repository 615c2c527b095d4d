#pragma once

// Ownership of libgit2 objects: one unique_ptr alias per type, each with its free function.

#include <memory>

#include <git2.h>

namespace baton::git {

struct Libgit2Free {
  void operator()(git_repository* p) const { git_repository_free(p); }
  void operator()(git_reference* p) const { git_reference_free(p); }
  void operator()(git_commit* p) const { git_commit_free(p); }
  void operator()(git_tree* p) const { git_tree_free(p); }
  void operator()(git_index* p) const { git_index_free(p); }
  void operator()(git_worktree* p) const { git_worktree_free(p); }
  void operator()(git_signature* p) const { git_signature_free(p); }
  void operator()(git_object* p) const { git_object_free(p); }
  void operator()(git_status_list* p) const { git_status_list_free(p); }
  void operator()(git_reference_iterator* p) const { git_reference_iterator_free(p); }
  void operator()(git_index_conflict_iterator* p) const { git_index_conflict_iterator_free(p); }
  void operator()(git_diff* p) const { git_diff_free(p); }
  void operator()(git_config* p) const { git_config_free(p); }
  void operator()(git_tree_entry* p) const { git_tree_entry_free(p); }
  void operator()(git_submodule* p) const { git_submodule_free(p); }
  void operator()(git_packbuilder* p) const { git_packbuilder_free(p); }
  void operator()(git_revwalk* p) const { git_revwalk_free(p); }
  void operator()(git_remote* p) const { git_remote_free(p); }
};

using RepositoryPtr = std::unique_ptr<git_repository, Libgit2Free>;
using ReferencePtr = std::unique_ptr<git_reference, Libgit2Free>;
using CommitPtr = std::unique_ptr<git_commit, Libgit2Free>;
using TreePtr = std::unique_ptr<git_tree, Libgit2Free>;
using IndexPtr = std::unique_ptr<git_index, Libgit2Free>;
using WorktreePtr = std::unique_ptr<git_worktree, Libgit2Free>;
using SignaturePtr = std::unique_ptr<git_signature, Libgit2Free>;
using ObjectPtr = std::unique_ptr<git_object, Libgit2Free>;
using StatusListPtr = std::unique_ptr<git_status_list, Libgit2Free>;
using ReferenceIteratorPtr = std::unique_ptr<git_reference_iterator, Libgit2Free>;
using ConflictIteratorPtr = std::unique_ptr<git_index_conflict_iterator, Libgit2Free>;
using DiffPtr = std::unique_ptr<git_diff, Libgit2Free>;
using ConfigPtr = std::unique_ptr<git_config, Libgit2Free>;
using TreeEntryPtr = std::unique_ptr<git_tree_entry, Libgit2Free>;
using SubmodulePtr = std::unique_ptr<git_submodule, Libgit2Free>;
using PackbuilderPtr = std::unique_ptr<git_packbuilder, Libgit2Free>;
using RevwalkPtr = std::unique_ptr<git_revwalk, Libgit2Free>;
using RemotePtr = std::unique_ptr<git_remote, Libgit2Free>;

// A git_strarray filled by libgit2 and disposed with it.
struct StrArray {
  git_strarray value{};
  StrArray() = default;
  StrArray(const StrArray&) = delete;
  StrArray& operator=(const StrArray&) = delete;
  ~StrArray() { git_strarray_dispose(&value); }
};

// A git_buf filled by libgit2 and disposed with it.
struct Buf {
  git_buf value{};
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { git_buf_dispose(&value); }
};

// git_libgit2_init exactly once per process, however many threads call the layer; never
// shut down, because the plugin's thread-pool workers may call in until exit.
void init_libgit2();

}  // namespace baton::git
