// The control protocol (DESIGN.md §4): newline-delimited JSON requests and replies, then,
// for `attach`, binary frames [u8 type][u32 len][payload]. Shared by client and daemon, so it
// stays light: no libuv, no libvterm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace baton::runtime::protocol {

using Json = nlohmann::json;

// Bumped whenever a request, reply or frame changes shape.
inline constexpr int kVersion = 1;
inline constexpr std::size_t kMaxLineBytes = 1u << 20;
inline constexpr std::size_t kMaxFramePayload = 1u << 20;
inline constexpr std::size_t kFrameHeaderBytes = 5;

enum class FrameType : std::uint8_t {
  kHello = 0,   // payload: u32 protocol version; the first frame each way
  kData = 1,    // payload: bytes
  kResize = 2,  // payload: rows u16, cols u16
  kDetach = 3,  // payload: empty
  kExit = 4,    // payload: i32 exit status
};

std::string encode_frame(FrameType type, std::string_view payload);
std::string encode_frame_header(FrameType type, std::uint32_t len);
std::string encode_hello();
std::string encode_resize(std::uint16_t rows, std::uint16_t cols);
std::string encode_exit(std::int32_t status);

struct Frame {
  FrameType type;
  std::string payload;
};

// Splits a byte stream into frames; a header announcing more than kMaxFramePayload or an
// unknown type is an error before anything is allocated (as dtach checks lengths first).
class FrameDecoder {
 public:
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // Returns the next whole frame, nullopt when more bytes are needed. Sets error() on a bad
  // header; the stream is then unusable.
  std::optional<Frame> next();
  const std::string& error() const { return error_; }

 private:
  std::string buf_;
  std::size_t off_ = 0;
  std::string error_;
};

std::uint32_t read_u32(const char* p);
std::uint16_t read_u16(const char* p);

// A RESIZE payload (rows, cols) and an EXIT payload (status); nullopt for a payload of
// another size, which both ends ignore rather than read past its end.
struct FrameSize {
  std::uint16_t rows;
  std::uint16_t cols;
};
std::optional<FrameSize> decode_resize(std::string_view payload);
std::optional<std::int32_t> decode_exit(std::string_view payload);
// True for the HELLO frame of this protocol version.
bool is_hello_of_this_version(const Frame& frame);

// Splits a byte stream into lines. A line longer than kMaxLineBytes is discarded up to its
// newline and reported once through on_overflow; the stream goes on.
class LineReader {
 public:
  using LineFn = std::function<void(std::string_view line)>;
  using OverflowFn = std::function<void()>;
  explicit LineReader(std::size_t max_bytes = kMaxLineBytes) : max_bytes_(max_bytes) {}
  // Returns the bytes after the last complete line handled when stop() was called from a
  // callback (the attach switch to frames), else an empty string.
  std::string feed(std::string_view bytes, const LineFn& on_line, const OverflowFn& on_overflow);
  void stop() { stopped_ = true; }

 private:
  std::size_t max_bytes_;
  std::string partial_;
  bool discarding_ = false;
  bool stopped_ = false;
};

// Error codes are stable; messages are for humans.
namespace code {
inline constexpr const char* kBadJson = "bad_json";
inline constexpr const char* kBadRequest = "bad_request";
inline constexpr const char* kLineTooLong = "line_too_long";
inline constexpr const char* kUnknownMethod = "unknown_method";
inline constexpr const char* kBadParams = "bad_params";
inline constexpr const char* kProtocolMismatch = "protocol_mismatch";
inline constexpr const char* kNotFound = "not_found";
inline constexpr const char* kSpawnFailed = "spawn_failed";
inline constexpr const char* kShuttingDown = "shutting_down";
inline constexpr const char* kFailed = "failed";
}  // namespace code

// One request line as the daemon reads it, before dispatch.
struct ParsedRequest {
  Json id;
  std::string method;
  Json params;
};
struct ErrorReply {
  Json reply;
};
// What one line asks of its connection: nothing (a blank line), a request to dispatch, or one
// error reply. has_version is the connection's "a request carried the version" state; a
// line that carries an acceptable version sets it. Pure, so the fuzzer drives exactly this.
using LineOutcome = std::variant<std::monostate, ParsedRequest, ErrorReply>;
LineOutcome parse_request_line(std::string_view line, bool& has_version);

// Reads an optional parameter of a method: absent or null leaves out unchanged. Returns the
// error message when the value has another type, or is an integer out of T's range.
template <typename T>
std::optional<std::string> read_param(const Json& params, const char* name, T& out) {
  if (!params.is_object() || !params.contains(name) || params[name].is_null()) return std::nullopt;
  const Json& value = params[name];
  const std::string quoted = std::string("parameter \"") + name + "\"";
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // nlohmann's get<int>() casts any number: a float that does not fit is undefined
    // behaviour and a large integer wraps (rows 4294967336 would be 40). Found by fuzzing.
    if (!value.is_number_integer()) return quoted + " has the wrong type";
    const bool fits = value.is_number_unsigned()
                          ? value.get<std::uint64_t>() <=
                                static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                          : std::in_range<T>(value.get<std::int64_t>());
    if (!fits) return quoted + " is out of range";
  }
  try {
    out = value.get<T>();
    return std::nullopt;
  } catch (const Json::exception&) {
    return quoted + " has the wrong type";
  }
}

Json make_request(std::int64_t id, std::string_view method, Json params);
Json make_result(const Json& id, Json result);
Json make_error(const Json& id, std::string_view code, std::string_view message);
Json make_event(const Json& id, std::string_view event, Json fields);

}  // namespace baton::runtime::protocol
