#include "plugin/tree_changes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace baton::plugin {

namespace {

// Everything that can change what git sees in a directory: a file written, its mode, an entry
// made, deleted or renamed. Only directories, and never through a symlink.
constexpr uint32_t kWatchMask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |
                                IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ONLYDIR | IN_DONT_FOLLOW;

std::string join(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

std::string absolute(const std::string& root, const std::string& rel) {
  return rel.empty() ? root : root + "/" + rel;
}

bool is_directory(const std::string& path, unsigned char d_type) {
  if (d_type == DT_DIR) return true;
  if (d_type != DT_UNKNOWN) return false;
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool holds_git(const std::string& dir) {
  struct stat st {};
  return ::lstat((dir + "/.git").c_str(), &st) == 0;
}

}  // namespace

std::shared_ptr<TreeChanges> TreeChanges::open(std::string root) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return nullptr;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return std::shared_ptr<TreeChanges>(new TreeChanges(fd, std::move(root)));
}

TreeChanges::TreeChanges(int fd, std::string root) : fd_(fd), root_(std::move(root)) {}

TreeChanges::~TreeChanges() {
  ::close(fd_);
}

bool TreeChanges::add_watch(const std::string& rel) {
  const int wd = ::inotify_add_watch(fd_, absolute(root_, rel).c_str(), kWatchMask);
  if (wd < 0) {
    // Gone or replaced meanwhile: its parent's watch saw that and recorded it.
    if (!rel.empty() && (errno == ENOENT || errno == ENOTDIR)) return true;
    is_complete_ = false;
    changed_.clear();
    return false;
  }
  dirs_[wd] = rel;
  return true;
}

bool TreeChanges::watch_tree(const std::function<bool(const std::string&)>& is_skipped) {
  std::vector<std::string> pending{""};
  while (!pending.empty()) {
    const std::string rel = std::move(pending.back());
    pending.pop_back();
    {
      std::lock_guard lock(mutex_);
      if (!add_watch(rel)) return false;
    }
    const std::string dir_path = absolute(root_, rel);
    DIR* dir = ::opendir(dir_path.c_str());
    if (dir == nullptr) continue;  // gone meanwhile (recorded by its parent's watch)
    std::vector<std::string> skipped;
    while (const dirent* e = ::readdir(dir)) {
      const std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      // The tree's own link to its repository (a file in a linked worktree).
      if (rel.empty() && name == ".git") continue;
      const std::string child = join(rel, name);
      const std::string child_path = absolute(root_, child);
      if (!is_directory(child_path, e->d_type)) continue;
      if (holds_git(child_path) || (is_skipped && is_skipped(child))) {
        skipped.push_back(child);
      } else {
        pending.push_back(child);
      }
    }
    ::closedir(dir);
    std::lock_guard lock(mutex_);
    for (const auto& s : skipped) record(s);
  }
  std::lock_guard lock(mutex_);
  return is_complete_;
}

void TreeChanges::read_events() {
  std::lock_guard lock(mutex_);
  read_locked();
}

void TreeChanges::read_locked() {
  alignas(inotify_event) std::array<char, 64 * 1024> buf;
  for (;;) {
    const ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: nothing more queued
    for (ssize_t at = 0; at < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if ((ev->mask & IN_Q_OVERFLOW) != 0) {
        is_complete_ = false;
        changed_.clear();
        continue;
      }
      auto dir = dirs_.find(ev->wd);
      if (dir == dirs_.end()) continue;
      if ((ev->mask & IN_IGNORED) != 0) {
        // The root's watch gone means the tree itself is: nothing can be said of it.
        if (dir->second.empty()) {
          is_complete_ = false;
          changed_.clear();
        }
        dirs_.erase(dir);
        continue;
      }
      // An event on a watched directory itself: its parent saw it deleted or moved.
      if (ev->len == 0 || ev->name[0] == '\0') continue;
      record(join(dir->second, ev->name));
    }
  }
}

void TreeChanges::record(const std::string& recorded) {
  if (!is_complete_) return;
  std::string path = recorded;
  // Inside a repository's .git: the directory holding it changed (it may have just become a
  // nested repository, which git reports whole). The tree's own .git link is baton's.
  if (path == ".git") return;
  if (path.starts_with(".git/")) return;
  if (auto at = path.find("/.git");
      at != std::string::npos && (at + 5 == path.size() || path[at + 5] == '/')) {
    path.resize(at);
  }
  // Already covered by a directory recorded whole.
  for (std::size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (changed_.count(path.substr(0, slash)) != 0) return;
  }
  if (!changed_.insert(path).second) return;
  // Now covering what was recorded under it.
  const std::string under = path + "/";
  for (auto it = changed_.lower_bound(under); it != changed_.end() && it->starts_with(under);)
    it = changed_.erase(it);
  if (changed_.size() > kMaxChanged) {
    is_complete_ = false;
    changed_.clear();
  }
}

std::optional<std::vector<std::string>> TreeChanges::changed() {
  std::lock_guard lock(mutex_);
  read_locked();
  if (!is_complete_) return std::nullopt;
  return std::vector<std::string>(changed_.begin(), changed_.end());
}

TreeChangesReader::TreeChangesReader(uv_loop_t* loop, std::shared_ptr<TreeChanges> changes)
    : changes_(std::move(changes)) {
  const int fd = ::fcntl(changes_->fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return;  // no reader: changed() still reads what is queued, or sees an overflow
  poll_.reset(runtime::Poll::make(loop, fd, [changes = changes_](int status, int) {
    if (status >= 0) changes->read_events();
  }));
  poll_->start(UV_READABLE);
}

}  // namespace baton::plugin
