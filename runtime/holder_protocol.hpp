// The session holder's protocol (docs/runtime.md "Session holders"): what `baton-holder`, the
// tiny per-session process that owns an agent's PTY master, and the daemon say to each other
// over a SOCK_SEQPACKET unix socket. One message is one packet: a type byte, then a payload.
// The master fd travels with kReady as SCM_RIGHTS. Shared by both sides, so it links nothing
// but libc (the holder has no libuv and stays small).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::runtime {

// Raised when a message changes meaning; a daemon adopts holders of every version from
// kHolderOldestVersion up to its own, and leaves a newer one alone (it cannot speak to it).
inline constexpr int kHolderProtocolVersion = 1;
inline constexpr int kHolderOldestVersion = 1;

// A packet is at most this big; output is sent in chunks that fit.
inline constexpr std::size_t kHolderMaxPacket = 64u << 10;
inline constexpr std::size_t kHolderMaxChunk = kHolderMaxPacket - 1;

// The bytes a holder keeps while no daemon reads its agent, unless told otherwise.
inline constexpr std::size_t kDefaultHolderBuffer = 4u << 20;
inline constexpr std::size_t kMinHolderBuffer = 64u << 10;
inline constexpr std::size_t kMaxHolderBuffer = 256u << 20;

enum class HolderMessage : std::uint8_t {
  // holder -> daemon
  kHello = 1,   // HolderHello, first on every connection
  kOutput = 2,  // output read while no daemon was connected, oldest first
  kReady = 3,   // carries the master fd; the holder no longer touches the master
  kExit = 4,    // decimal raw wait status: the agent was reaped
  kBusy = 5,    // another daemon holds this holder; the connection closes
  kError = 6,   // the agent could not be started: one line, then the holder exits
  // daemon -> holder
  kAdopted = 16,    // the daemon took the fd and the output: the holder drops its copy
  kCollected = 17,  // the daemon has the exit status: the holder exits
  kKill = 18,       // SIGKILL the agent's process group, reap it and exit
};

// What a holder tells each daemon that connects.
struct HolderHello {
  int version = kHolderProtocolVersion;
  std::string id;  // the session id the daemon gave it
  pid_t pid = -1;  // the agent
  pid_t holder_pid = -1;
  std::string created_at;
  std::string cwd;
  std::vector<std::string> argv;
  std::uint64_t dropped = 0;  // output bytes lost to the ring's bound since the last daemon
  bool has_exited = false;    // a kExit follows kReady
};

std::string encode_hello(const HolderHello& hello);
// Unknown keys are skipped (a newer holder may say more); a missing version, id or pid is not
// a hello.
std::optional<HolderHello> decode_hello(std::string_view payload);

// Sends one packet (type + payload) and, when fd >= 0, the fd with it. Returns 0 or an errno.
int send_holder_message(int sock, HolderMessage type, std::string_view payload, int fd = -1);

struct HolderPacket {
  HolderMessage type{};
  std::string payload;
  int fd = -1;  // close-on-exec; the receiver owns it
};

// Reads one packet; an empty optional with *err = 0 is the peer's hang-up. A packet with a
// truncated control message (MSG_CTRUNC) or fd-less kReady is refused as EPROTO.
std::optional<HolderPacket> receive_holder_message(int sock, int* err);

// The uid of the process at the other end of a unix socket, or -1.
long holder_peer_uid(int sock);

// Where the holders' sockets live (run/holders) and each one's name: the holder's pid, unique
// among living processes, so a relaunch under the same session id never meets its
// predecessor's socket.
std::string holder_socket_path(const std::string& holders_dir, pid_t holder_pid);

// Sockets under `holders_dir` (its *.sock entries), oldest holder first.
std::vector<std::string> list_holder_sockets(const std::string& holders_dir);

// Whether a socket under `holders_dir` names a process that is still running: agents a
// killed daemon left behind, for a daemon to adopt. A holder killed outright leaves its
// socket, which does not count.
bool has_running_holder(const std::string& holders_dir);

}  // namespace baton::runtime
