#include "runtime/protocol.hpp"

#include <cstring>

namespace baton::runtime::protocol {

namespace {

void put_u32(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 4);
}

void put_u16(std::string& out, std::uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 2);
}

bool is_known_type(std::uint8_t t) {
  return t <= static_cast<std::uint8_t>(FrameType::kExit);
}

}  // namespace

std::uint32_t read_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

std::uint16_t read_u16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((u[0] << 8) | u[1]);
}

std::optional<FrameSize> decode_resize(std::string_view payload) {
  if (payload.size() != 4) return std::nullopt;
  return FrameSize{read_u16(payload.data()), read_u16(payload.data() + 2)};
}

std::optional<std::int32_t> decode_exit(std::string_view payload) {
  if (payload.size() != 4) return std::nullopt;
  return static_cast<std::int32_t>(read_u32(payload.data()));
}

bool is_hello_of_this_version(const Frame& frame) {
  return frame.type == FrameType::kHello && frame.payload.size() == 4 &&
         read_u32(frame.payload.data()) == static_cast<std::uint32_t>(kVersion);
}

std::string encode_frame_header(FrameType type, std::uint32_t len) {
  std::string out;
  out.reserve(kFrameHeaderBytes);
  out.push_back(static_cast<char>(type));
  put_u32(out, len);
  return out;
}

std::string encode_frame(FrameType type, std::string_view payload) {
  std::string out = encode_frame_header(type, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
  return out;
}

std::string encode_hello() {
  std::string p;
  put_u32(p, kVersion);
  return encode_frame(FrameType::kHello, p);
}

std::string encode_resize(std::uint16_t rows, std::uint16_t cols) {
  std::string p;
  put_u16(p, rows);
  put_u16(p, cols);
  return encode_frame(FrameType::kResize, p);
}

std::string encode_exit(std::int32_t status) {
  std::string p;
  put_u32(p, static_cast<std::uint32_t>(status));
  return encode_frame(FrameType::kExit, p);
}

std::optional<Frame> FrameDecoder::next() {
  if (!error_.empty()) return std::nullopt;
  if (buf_.size() - off_ < kFrameHeaderBytes) return std::nullopt;
  const char* h = buf_.data() + off_;
  const auto type = static_cast<std::uint8_t>(h[0]);
  const std::uint32_t len = read_u32(h + 1);
  if (!is_known_type(type)) {
    error_ = "unknown frame type " + std::to_string(type);
    return std::nullopt;
  }
  if (len > kMaxFramePayload) {
    error_ = "frame of " + std::to_string(len) + " bytes is over the limit";
    return std::nullopt;
  }
  if (buf_.size() - off_ < kFrameHeaderBytes + len) return std::nullopt;
  Frame f{static_cast<FrameType>(type), buf_.substr(off_ + kFrameHeaderBytes, len)};
  off_ += kFrameHeaderBytes + len;
  // Compact once the consumed prefix dominates, so a long stream stays O(n).
  if (off_ > 65536 && off_ * 2 > buf_.size()) {
    buf_.erase(0, off_);
    off_ = 0;
  }
  return f;
}

std::string LineReader::feed(std::string_view bytes, const LineFn& on_line,
                             const OverflowFn& on_overflow) {
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      if (discarding_) return {};
      if (partial_.size() + bytes.size() > max_bytes_) {
        partial_.clear();
        discarding_ = true;
        return {};
      }
      partial_.append(bytes);
      return {};
    }
    if (discarding_) {
      discarding_ = false;
      on_overflow();
    } else if (partial_.size() + nl > max_bytes_) {
      partial_.clear();
      on_overflow();
    } else if (partial_.empty()) {
      on_line(bytes.substr(0, nl));
    } else {
      partial_.append(bytes.substr(0, nl));
      std::string line;
      line.swap(partial_);
      on_line(line);
    }
    bytes.remove_prefix(nl + 1);
    if (stopped_) return std::string(bytes);
  }
  return {};
}

LineOutcome parse_request_line(std::string_view line, bool& has_version) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return std::monostate{};
  Json msg = Json::parse(line, nullptr, false);
  if (msg.is_discarded())
    return ErrorReply{make_error(nullptr, code::kBadJson, "request is not valid JSON")};
  if (!msg.is_object() || !msg.contains("method") || !msg["method"].is_string()) {
    return ErrorReply{make_error(msg.is_object() && msg.contains("id") ? msg["id"] : nullptr,
                                 code::kBadRequest,
                                 "request must be an object with a string \"method\"")};
  }
  Json id = msg.value("id", Json(nullptr));
  std::string method = msg["method"].get<std::string>();
  Json params = msg.value("params", Json::object());
  if (!params.is_object())
    return ErrorReply{make_error(id, code::kBadParams, "\"params\" must be an object")};
  if (msg.contains("version")) {
    const Json& version = msg["version"];
    // Compared as JSON numbers: through get<int>(), 4294967297 wrapped to 1 and passed for
    // this protocol (found by the control fuzzer).
    if (!version.is_number_integer() || version != kVersion) {
      // shutdown stays possible, so the user can follow the advice after a rebuild.
      if (method != "shutdown") {
        return ErrorReply{make_error(
            id, code::kProtocolMismatch,
            "daemon speaks protocol " + std::to_string(kVersion) + ", this client " +
                (version.is_number_integer() ? version.dump() : std::string("unknown")))};
      }
    }
    has_version = true;
  }
  if (!has_version && method != "shutdown")
    return ErrorReply{
        make_error(id, code::kBadRequest, "the first request must carry \"version\"")};
  return ParsedRequest{std::move(id), std::move(method), std::move(params)};
}

Json make_request(std::int64_t id, std::string_view method, Json params) {
  return Json{{"id", id}, {"method", method}, {"params", std::move(params)}};
}

Json make_result(const Json& id, Json result) {
  return Json{{"id", id}, {"result", std::move(result)}};
}

Json make_error(const Json& id, std::string_view code, std::string_view message) {
  return Json{{"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

Json make_event(const Json& id, std::string_view event, Json fields) {
  Json j = std::move(fields);
  if (!j.is_object()) j = Json::object();
  j["id"] = id;
  j["event"] = event;
  return j;
}

}  // namespace baton::runtime::protocol
