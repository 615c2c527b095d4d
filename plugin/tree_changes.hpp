#pragma once

// Which paths of a directory tree changed while it was watched: inotify on each of its
// directories. The handoff's scan of the old tree for uncommitted work then reads those paths
// (and what the last full scan reported) instead of every file, so the gap does not grow with
// the repository (docs/orchestrator.md, "The change record").

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <uv.h>

#include "runtime/uv_handles.hpp"

namespace baton::plugin {

// The record, shared by the loop (which reads the events as they come, so the kernel's queue
// does not overflow while an agent writes) and the threads that add the watches and take the
// record. Every member is safe to call from any thread.
class TreeChanges {
 public:
  // More changed paths than this and a full scan costs about what the limited one would:
  // the record stops growing and says it is incomplete.
  static constexpr std::size_t kMaxChanged = 10000;

  // An inotify instance for the tree at `root` (an absolute path); nullptr when the kernel
  // gives none (errno tells why: the instance limit, or no inotify at all).
  static std::shared_ptr<TreeChanges> open(std::string root);
  ~TreeChanges();
  TreeChanges(const TreeChanges&) = delete;
  TreeChanges& operator=(const TreeChanges&) = delete;
  TreeChanges(TreeChanges&&) = delete;
  TreeChanges& operator=(TreeChanges&&) = delete;

  // Off the loop: a watch on the root and every directory under it, each added before the
  // directory is read, so a directory made meanwhile is either read or seen being made.
  // Symlinks are not followed. A directory for which `is_skipped` (its path relative to the
  // root, no trailing '/') answers true, and one holding a `.git` (a nested repository or a
  // submodule, which git reports as a whole), is not entered: it counts as changed for good.
  // False when a watch could not be added (the user's watch limit): the record is incomplete.
  bool watch_tree(const std::function<bool(const std::string&)>& is_skipped);

  // Reads the events queued so far; never blocks.
  void read_events();

  // The paths changed since watch_tree began, once every queued event is read: relative to
  // the root, sorted, none inside another (a directory stands for everything under it: one
  // made, moved or deleted whole is not entered); nullopt when the record is incomplete (a
  // watch that could not be added, a queue overflow, more than kMaxChanged paths).
  std::optional<std::vector<std::string>> changed();

  // The inotify descriptor, for the loop's poll (TreeChangesReader reads a duplicate).
  int fd() const { return fd_; }

 private:
  TreeChanges(int fd, std::string root);
  bool add_watch(const std::string& rel);  // mutex_ held
  void read_locked();                      // mutex_ held
  void record(const std::string& path);    // mutex_ held

  std::mutex mutex_;
  const int fd_;
  const std::string root_;
  std::unordered_map<int, std::string> dirs_;  // watch descriptor → directory relative to root_
  std::set<std::string> changed_;
  bool is_complete_ = true;
};

// The loop's side: reads `changes`' events whenever its descriptor is readable. Owns a poll
// on a duplicate of the descriptor, so closing the poll never closes the record's own.
class TreeChangesReader {
 public:
  TreeChangesReader(uv_loop_t* loop, std::shared_ptr<TreeChanges> changes);
  TreeChangesReader(const TreeChangesReader&) = delete;
  TreeChangesReader& operator=(const TreeChangesReader&) = delete;
  TreeChangesReader(TreeChangesReader&&) = delete;
  TreeChangesReader& operator=(TreeChangesReader&&) = delete;
  ~TreeChangesReader() = default;

  const std::shared_ptr<TreeChanges>& changes() const { return changes_; }

 private:
  std::shared_ptr<TreeChanges> changes_;
  runtime::Owned<runtime::Poll> poll_;
};

}  // namespace baton::plugin
