// Fuzzes the attach frame decoder (DESIGN.md §4: [u8 type][u32 len][payload]) in both
// directions: the daemon reading a client's frames and the client reading the daemon's, with
// each side's interpretation of the payloads. Oracle: a reference decoder over the whole
// input; every frame re-encodes to exactly the bytes it came from; a header over the limit
// or of an unknown type is an error before its payload is awaited.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/protocol.hpp"

namespace proto = baton::runtime::protocol;

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    __builtin_fprintf(stderr, "oracle violated: %s\n", what);
    std::abort();
  }
}

struct Expected {
  std::vector<proto::Frame> frames;
  bool is_error = false;
};

Expected reference_decode(std::string_view in) {
  Expected out;
  while (in.size() >= proto::kFrameHeaderBytes) {
    const auto type = static_cast<std::uint8_t>(in[0]);
    const std::uint32_t len = proto::read_u32(in.data() + 1);
    if (type > static_cast<std::uint8_t>(proto::FrameType::kExit) ||
        len > proto::kMaxFramePayload) {
      out.is_error = true;
      break;
    }
    if (in.size() - proto::kFrameHeaderBytes < len) break;
    out.frames.push_back({static_cast<proto::FrameType>(type),
                          std::string(in.substr(proto::kFrameHeaderBytes, len))});
    in.remove_prefix(proto::kFrameHeaderBytes + len);
  }
  return out;
}

// The daemon's reading (runtime/connection.cpp) and the client's (runtime/attach_client.cpp).
void interpret(const proto::Frame& f, bool& has_hello) {
  switch (f.type) {
    case proto::FrameType::kResize:
      if (auto size = proto::decode_resize(f.payload))
        check(proto::encode_resize(size->rows, size->cols).substr(proto::kFrameHeaderBytes) ==
                  f.payload,
              "RESIZE does not round-trip");
      break;
    case proto::FrameType::kExit:
      if (auto status = proto::decode_exit(f.payload))
        check(proto::encode_exit(*status).substr(proto::kFrameHeaderBytes) == f.payload,
              "EXIT does not round-trip");
      break;
    case proto::FrameType::kHello:
      if (!has_hello) has_hello = proto::is_hello_of_this_version(f);
      break;
    case proto::FrameType::kData:
    case proto::FrameType::kDetach:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the read size; its top two bits set repeat the input past 64 KiB so
  // the decoder's buffer compaction runs too (a quarter of the runs: they are slower).
  const std::size_t chunk = 1 + (data[0] & 0x3f) * 97;
  std::string stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 0xc0) == 0xc0 && !stream.empty()) {
    const std::string once = stream;
    while (stream.size() <= 70000) stream += once;
  }

  const Expected expected = reference_decode(stream);
  proto::FrameDecoder decoder;
  std::vector<proto::Frame> got;
  std::string reencoded;
  bool has_hello = false;
  for (std::size_t off = 0; off < stream.size(); off += chunk) {
    decoder.feed(std::string_view(stream).substr(off, chunk));
    while (auto f = decoder.next()) {
      check(f->payload.size() <= proto::kMaxFramePayload, "payload over the limit");
      reencoded += proto::encode_frame(f->type, f->payload);
      interpret(*f, has_hello);
      got.push_back(std::move(*f));
    }
    if (!decoder.error().empty()) break;
  }
  check(got.size() == expected.frames.size(), "frame count differs from the reference");
  for (std::size_t i = 0; i < got.size(); ++i)
    check(got[i].type == expected.frames[i].type && got[i].payload == expected.frames[i].payload,
          "frame differs from the reference");
  check(decoder.error().empty() != expected.is_error, "error state differs from the reference");
  check(stream.compare(0, reencoded.size(), reencoded) == 0,
        "frames do not re-encode to the bytes they came from");
  return 0;
}
