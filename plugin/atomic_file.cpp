#include "plugin/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <memory>
#include <system_error>

namespace baton::plugin {
namespace {

// An fd owned by exactly one object; close errors are checked explicitly where they matter
// (the temp file), so the deleter's close is only the cleanup path.
struct FdCloser {
  using pointer = struct FdHandle {
    int fd = -1;
    FdHandle() = default;
    FdHandle(std::nullptr_t) {}
    explicit FdHandle(int f) : fd(f) {}
    explicit operator bool() const { return fd >= 0; }
    friend bool operator==(FdHandle a, FdHandle b) { return a.fd == b.fd; }
  };
  void operator()(pointer p) const { ::close(p.fd); }
};
using UniqueFd = std::unique_ptr<void, FdCloser>;

std::string os_error(int err) {
  return std::generic_category().message(err);
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p with 0700 for every directory it creates: the state dir holds session argv and
// env-derived values, so no other user reads it.
int make_dirs(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return errno;
  std::string parent = parent_of(dir);
  if (parent == dir) return ENOENT;
  if (int err = make_dirs(parent)) return err;
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return 0;
  return errno;
}

int write_all(int fd, std::string_view content) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

int fsync_dir(const std::string& dir) {
  UniqueFd fd(FdCloser::pointer(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
  if (!fd) return errno;
  if (::fsync(fd.get().fd) != 0) return errno;
  return 0;
}

// Writes the temp file completely and durably; returns 0 or the errno.
int write_temp(const std::string& temp, std::string_view content) {
  UniqueFd fd(
      FdCloser::pointer(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)));
  if (!fd) return errno;
  if (int err = write_all(fd.get().fd, content)) return err;
  if (::fsync(fd.get().fd) != 0) return errno;
  // close can report a deferred write error (NFS, some FUSE filesystems): check it.
  int raw = fd.release().fd;
  if (::close(raw) != 0 && errno != EINTR) return errno;
  return 0;
}

}  // namespace

tl::expected<void, std::string> write_file_atomic(const std::string& path,
                                                  std::string_view content) {
  static std::atomic<unsigned> counter{0};
  auto fail = [&](int err) -> tl::expected<void, std::string> {
    return tl::unexpected("cannot write " + path + ": " + os_error(err));
  };

  std::string dir = parent_of(path);
  if (int err = make_dirs(dir)) return fail(err);

  std::string temp = path + ".tmp-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
  if (int err = write_temp(temp, content)) {
    // EEXIST means the name belongs to someone else's file: not ours to remove.
    if (err != EEXIST) ::unlink(temp.c_str());
    return fail(err);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return fail(err);
  }
  // Without this the rename may not survive a crash, and a restarted daemon would act on
  // the previous transition (DESIGN.md §5: every transition is on disk before the next step).
  if (int err = fsync_dir(dir)) return fail(err);
  return {};
}

tl::expected<std::string, std::string> read_file(const std::string& path) {
  UniqueFd fd(FdCloser::pointer(::open(path.c_str(), O_RDONLY | O_CLOEXEC)));
  if (!fd) {
    // An empty message means "missing": the caller starts fresh instead of reporting.
    if (errno == ENOENT) return tl::unexpected(std::string());
    return tl::unexpected("cannot read " + path + ": " + os_error(errno));
  }
  std::string content;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get().fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected("cannot read " + path + ": " + os_error(errno));
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  return content;
}

tl::expected<std::string, std::string> move_aside_corrupt(const std::string& path) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
  const std::string base = path + ".corrupt-" + stamp;
  std::string target = base;
  struct stat st {};
  for (int n = 2; ::lstat(target.c_str(), &st) == 0; ++n) target = base + "-" + std::to_string(n);
  if (std::rename(path.c_str(), target.c_str()) != 0)
    return tl::unexpected(std::generic_category().message(errno));
  return target;
}

}  // namespace baton::plugin
