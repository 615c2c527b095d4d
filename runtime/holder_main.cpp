// baton-holder: started by baton-daemon only (double-forked, its link to the daemon on fd 3),
// never by hand. Usage: baton-holder --id ID --dir HOLDERS_DIR --buffer BYTES --rows R --cols C
// --cwd DIR --created-at TIME -- CMD [ARG...]; the agent gets the holder's own environment.
#include <fcntl.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "runtime/holder.hpp"
#include "runtime/holder_protocol.hpp"

extern char** environ;

namespace {

constexpr int kLinkFd = 3;

template <typename Int>
bool parse_number(const char* s, Int& out) {
  const std::string_view v(s);
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && end == v.data() + v.size();
}

int usage(const char* what) {
  std::fprintf(stderr, "baton-holder: %s (it is started by baton-daemon, not by hand)\n", what);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("baton-holder protocol %d\n", baton::runtime::kHolderProtocolVersion);
    return 0;
  }
  baton::runtime::HolderOptions opts;
  opts.buffer_bytes = baton::runtime::kDefaultHolderBuffer;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) return usage("missing value");
    const char* v = argv[++i];
    bool ok = true;
    if (a == "--id") {
      opts.id = v;
    } else if (a == "--dir") {
      opts.holders_dir = v;
    } else if (a == "--created-at") {
      opts.created_at = v;
    } else if (a == "--cwd") {
      opts.spawn.cwd = v;
    } else if (a == "--buffer") {
      ok = parse_number(v, opts.buffer_bytes) &&
           opts.buffer_bytes >= baton::runtime::kMinHolderBuffer &&
           opts.buffer_bytes <= baton::runtime::kMaxHolderBuffer;
    } else if (a == "--rows") {
      ok = parse_number(v, opts.spawn.rows);
    } else if (a == "--cols") {
      ok = parse_number(v, opts.spawn.cols);
    } else {
      return usage("unknown argument");
    }
    if (!ok) return usage("bad value");
  }
  for (; i < argc; ++i) opts.spawn.argv.emplace_back(argv[i]);
  for (char** e = environ; e && *e; ++e) opts.spawn.env.emplace_back(*e);
  if (opts.id.empty() || opts.holders_dir.empty() || opts.spawn.argv.empty())
    return usage("--id, --dir and a command are required");
  if (fcntl(kLinkFd, F_GETFD) < 0) return usage("no link to a daemon on fd 3");
  fcntl(kLinkFd, F_SETFD, FD_CLOEXEC);
  opts.link_fd = kLinkFd;
  return baton::runtime::run_holder(opts);
}
