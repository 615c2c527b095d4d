#include "runtime/holder_protocol.hpp"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstring>
#include <memory>
#include <utility>

namespace baton::runtime {

namespace {

// Fields are `key=value` separated by NUL: no value (a path, an argument) can hold a NUL.
void put(std::string& out, std::string_view key, std::string_view value) {
  out.append(key);
  out += '=';
  out.append(value);
  out += '\0';
}

template <typename Int>
bool parse_int(std::string_view s, Int& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string encode_hello(const HolderHello& hello) {
  std::string out;
  put(out, "version", std::to_string(hello.version));
  put(out, "id", hello.id);
  put(out, "pid", std::to_string(hello.pid));
  put(out, "holder_pid", std::to_string(hello.holder_pid));
  put(out, "created_at", hello.created_at);
  put(out, "cwd", hello.cwd);
  for (const auto& a : hello.argv) put(out, "arg", a);
  put(out, "dropped", std::to_string(hello.dropped));
  put(out, "exited", hello.has_exited ? "1" : "0");
  return out;
}

std::optional<HolderHello> decode_hello(std::string_view payload) {
  HolderHello h;
  h.version = 0;
  while (!payload.empty()) {
    const auto nul = payload.find('\0');
    const std::string_view field = payload.substr(0, nul);
    payload.remove_prefix(nul == std::string_view::npos ? payload.size() : nul + 1);
    const auto eq = field.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = field.substr(0, eq);
    const std::string_view value = field.substr(eq + 1);
    bool ok = true;
    if (key == "version") {
      ok = parse_int(value, h.version);
    } else if (key == "id") {
      h.id = value;
    } else if (key == "pid") {
      ok = parse_int(value, h.pid);
    } else if (key == "holder_pid") {
      ok = parse_int(value, h.holder_pid);
    } else if (key == "created_at") {
      h.created_at = value;
    } else if (key == "cwd") {
      h.cwd = value;
    } else if (key == "arg") {
      h.argv.emplace_back(value);
    } else if (key == "dropped") {
      ok = parse_int(value, h.dropped);
    } else if (key == "exited") {
      h.has_exited = value == "1";
    }
    if (!ok) return std::nullopt;
  }
  if (h.version <= 0 || h.id.empty() || h.pid <= 0) return std::nullopt;
  return h;
}

int send_holder_message(int sock, HolderMessage type, std::string_view payload, int fd) {
  auto type_byte = static_cast<std::uint8_t>(type);
  iovec iov[2];
  iov[0].iov_base = &type_byte;
  iov[0].iov_len = 1;
  iov[1].iov_base = const_cast<char*>(payload.data());
  iov[1].iov_len = payload.size();
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = payload.empty() ? 1 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  }
  for (;;) {
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

std::optional<HolderPacket> receive_holder_message(int sock, int* err) {
  *err = 0;
  // Not zero-filled: touching all 64 KiB would keep every adopted holder's heap that much
  // larger for good.
  auto buf = std::make_unique_for_overwrite<char[]>(kHolderMaxPacket);
  iovec iov{buf.get(), kHolderMaxPacket};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    *err = errno;
    return std::nullopt;
  }
  if (n == 0) return std::nullopt;
  HolderPacket p;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
        cm->cmsg_len == CMSG_LEN(sizeof(int)) && p.fd < 0)
      std::memcpy(&p.fd, CMSG_DATA(cm), sizeof(int));
  }
  if ((msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0) {
    if (p.fd >= 0) close(p.fd);
    *err = EPROTO;
    return std::nullopt;
  }
  p.type = static_cast<HolderMessage>(static_cast<std::uint8_t>(buf[0]));
  if (p.type == HolderMessage::kReady && p.fd < 0) {
    *err = EPROTO;
    return std::nullopt;
  }
  if (p.type != HolderMessage::kReady && p.fd >= 0) {
    // Only kReady carries a descriptor; one anywhere else is dropped, never kept open.
    close(p.fd);
    p.fd = -1;
  }
  p.payload.assign(buf.get() + 1, static_cast<std::size_t>(n) - 1);
  return p;
}

long holder_peer_uid(int sock) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
  return static_cast<long>(cred.uid);
}

std::string holder_socket_path(const std::string& holders_dir, pid_t holder_pid) {
  std::string path = holders_dir;
  path += '/';
  path += std::to_string(holder_pid);
  path += ".sock";
  return path;
}

namespace {

// The holder pid a socket's name carries ("<pid>.sock"), or -1 for any other name.
long holder_pid_of(const std::string& name) {
  constexpr std::string_view kSuffix = ".sock";
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) return -1;
  long pid = 0;
  if (!parse_int(std::string_view(name).substr(0, name.size() - kSuffix.size()), pid) || pid <= 0)
    return -1;
  return pid;
}

}  // namespace

std::vector<std::string> list_holder_sockets(const std::string& holders_dir) {
  std::vector<std::pair<long, std::string>> found;
  DIR* d = opendir(holders_dir.c_str());
  if (!d) return {};
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() <= 5 || !name.ends_with(".sock")) continue;
    const long pid = holder_pid_of(name);
    found.emplace_back(pid > 0 ? pid : LONG_MAX, holders_dir + "/" + name);
  }
  closedir(d);
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  out.reserve(found.size());
  for (auto& [pid, path] : found) out.push_back(std::move(path));
  return out;
}

bool has_running_holder(const std::string& holders_dir) {
  for (const auto& path : list_holder_sockets(holders_dir)) {
    const long pid = holder_pid_of(path.substr(path.rfind('/') + 1));
    if (pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) return true;
  }
  return false;
}

}  // namespace baton::runtime
