// Fuzzes what the daemon does with bytes arriving on the control socket (DESIGN.md §4):
// LineReader splitting, parse_request_line, the typed parameter reads of the runtime's
// methods, and after an `attach` request the switch to frames, as runtime/connection.cpp
// does. Oracles: every line LineReader hands out matches a reference split of the input, and
// every request the parser lets through obeys the protocol's rules.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/protocol.hpp"

namespace proto = baton::runtime::protocol;
using proto::Json;

namespace {

[[noreturn]] void violated(const char* what) {
  __builtin_fprintf(stderr, "oracle violated: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) violated(what);
}

// The parameters runtime/session_methods.cpp reads with read_param, by method; the
// plugin's methods read theirs with type checks of their own (string_param, bool_param).
void read_runtime_params(const std::string& method, const Json& params) {
  std::string text;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  int number = 0;
  bool flag = false;
  auto target = [&] {
    (void)proto::read_param(params, "target", text);
    (void)proto::read_param(params, "cwd", text);
  };
  if (method == "new") {
    (void)proto::read_param(params, "command", argv);
    (void)proto::read_param(params, "cwd", text);
    (void)proto::read_param(params, "name", text);
    (void)proto::read_param(params, "env", env);
    (void)proto::read_param(params, "rows", number);
    (void)proto::read_param(params, "cols", number);
  } else if (method == "sessions") {
    (void)proto::read_param(params, "all", flag);
  } else if (method == "attach") {
    (void)proto::read_param(params, "read_only", flag);
    (void)proto::read_param(params, "rows", number);
    (void)proto::read_param(params, "cols", number);
    target();
  } else if (method == "capture") {
    (void)proto::read_param(params, "raw", flag);
    target();
  } else if (method == "send") {
    (void)proto::read_param(params, "data", text);
    target();
  } else if (method == "kill") {
    target();
  }
}

// The connection's reply path: every reply must serialize (invalid UTF-8 is replaced).
void send(const Json& reply) {
  std::string line = reply.dump(-1, ' ', false, Json::error_handler_t::replace);
  check(line.find('\n') == std::string::npos, "a reply spans more than one line");
}

// What the daemon does with frames after attach: interprets RESIZE and the rest.
void feed_frames(std::string_view bytes) {
  proto::FrameDecoder frames;
  frames.feed(bytes);
  while (auto f = frames.next()) {
    if (f->type == proto::FrameType::kResize) (void)proto::decode_resize(f->payload);
    check(f->payload.size() <= proto::kMaxFramePayload, "frame payload over the limit");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks how the bytes arrive (read sizes) and a small line limit for the
  // reference check, so overflow and reassembly paths run on short inputs.
  const std::size_t chunk = 1 + (data[0] & 0x1f);
  const std::size_t small_limit = 1 + (data[0] >> 5) * 9;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Reference: each '\n'-terminated segment is a line, or an overflow when over the limit.
  {
    std::vector<std::string> expected;
    std::size_t start = 0;
    for (std::size_t nl; (nl = input.find('\n', start)) != std::string_view::npos; start = nl + 1) {
      auto segment = input.substr(start, nl - start);
      expected.push_back(segment.size() > small_limit ? std::string("\x01overflow")
                                                      : std::string(segment));
    }
    std::vector<std::string> got;
    proto::LineReader reader(small_limit);
    for (std::size_t off = 0; off < input.size(); off += chunk) {
      auto rest = reader.feed(
          input.substr(off, chunk), [&](std::string_view line) { got.emplace_back(line); },
          [&] { got.emplace_back("\x01overflow"); });
      check(rest.empty(), "a reader that was never stopped returned bytes");
    }
    check(got == expected, "LineReader disagrees with the reference split");
  }

  // The daemon's path, at the daemon's line limit.
  proto::LineReader lines;
  bool has_version = false;
  bool is_attaching = false;
  for (std::size_t off = 0; off < input.size() && !is_attaching; off += chunk) {
    std::string rest = lines.feed(
        input.substr(off, chunk),
        [&](std::string_view line) {
          if (is_attaching) return;
          const bool had_version = has_version;
          auto outcome = proto::parse_request_line(line, has_version);
          check(!had_version || has_version, "has_version was cleared");
          if (auto* error = std::get_if<proto::ErrorReply>(&outcome)) {
            check(error->reply.contains("error") && error->reply["error"]["code"].is_string(),
                  "an error reply without a code");
            send(error->reply);
            return;
          }
          auto* request = std::get_if<proto::ParsedRequest>(&outcome);
          if (!request) {
            check(line.empty() || line == "\r", "a non-blank line gave no outcome");
            return;
          }
          check(request->params.is_object(), "params let through that are not an object");
          check(has_version || request->method == "shutdown",
                "a request before the version let through");
          Json msg = Json::parse(line.substr(0, line.size() - (line.ends_with('\r') ? 1 : 0)));
          if (msg.contains("version") && request->method != "shutdown")
            check(msg["version"] == proto::kVersion, "a request of another version let through");
          read_runtime_params(request->method, request->params);
          send(proto::make_result(request->id, Json::object()));
          if (request->method == "attach") {
            // As if a session was found: the connection switches after this line.
            is_attaching = true;
            lines.stop();
          }
        },
        [&] { send(proto::make_error(nullptr, proto::code::kLineTooLong, "too long")); });
    if (is_attaching) {
      const std::size_t next = std::min(off + chunk, input.size());
      feed_frames(rest + std::string(input.substr(next)));
    }
  }
  return 0;
}
