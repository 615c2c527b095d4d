// The attach frames and the JSON line splitter: both take untrusted bytes in arbitrary chunks.
#include "runtime/protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace baton::runtime::protocol {
namespace {

using namespace std::string_literals;

std::vector<Frame> drain(FrameDecoder& decoder) {
  std::vector<Frame> frames;
  while (auto f = decoder.next()) frames.push_back(std::move(*f));
  return frames;
}

std::string header(std::uint8_t type, std::uint32_t len) {
  return std::string{static_cast<char>(type), static_cast<char>(len >> 24),
                     static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                     static_cast<char>(len)};
}

struct Lines {
  std::vector<std::string> lines;
  int overflows = 0;

  LineReader::LineFn on_line() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
  LineReader::OverflowFn on_overflow() {
    return [this] { ++overflows; };
  }
};

TEST(FrameDecoder, SplitsFramesFedOneByteAtATime) {
  const std::string stream = encode_hello() + encode_frame(FrameType::kData, "abc\0def"s) +
                             encode_resize(24, 80) + encode_frame(FrameType::kDetach, "") +
                             encode_exit(-1);
  FrameDecoder decoder;
  std::vector<Frame> frames;
  for (char c : stream) {
    decoder.feed(std::string_view(&c, 1));
    for (auto& f : drain(decoder)) frames.push_back(std::move(f));
  }
  ASSERT_TRUE(decoder.error().empty()) << decoder.error();
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(frames[0].type, FrameType::kHello);
  ASSERT_EQ(frames[0].payload.size(), 4u);
  EXPECT_EQ(read_u32(frames[0].payload.data()), static_cast<std::uint32_t>(kVersion));
  EXPECT_EQ(frames[1].type, FrameType::kData);
  EXPECT_EQ(frames[1].payload, "abc\0def"s);
  EXPECT_EQ(frames[2].type, FrameType::kResize);
  EXPECT_EQ(frames[3].type, FrameType::kDetach);
  EXPECT_EQ(frames[3].payload, "");
  EXPECT_EQ(frames[4].type, FrameType::kExit);
}

TEST(FrameDecoder, ReturnsEveryFrameOfOneChunk) {
  FrameDecoder decoder;
  decoder.feed(encode_frame(FrameType::kData, "one") + encode_frame(FrameType::kData, "two"));
  const auto frames = drain(decoder);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].payload, "one");
  EXPECT_EQ(frames[1].payload, "two");
}

TEST(FrameDecoder, WaitsForTheWholePayload) {
  FrameDecoder decoder;
  const std::string frame = encode_frame(FrameType::kData, "payload");
  decoder.feed(frame.substr(0, frame.size() - 1));
  EXPECT_FALSE(decoder.next());
  EXPECT_TRUE(decoder.error().empty());
  decoder.feed(frame.substr(frame.size() - 1));
  auto f = decoder.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->payload, "payload");
}

TEST(FrameDecoder, KeepsOrderAcrossALongStream) {
  // Long enough for the consumed prefix to be compacted away more than once.
  FrameDecoder decoder;
  std::vector<std::string> received;
  for (int i = 0; i < 20000; ++i) {
    decoder.feed(encode_frame(FrameType::kData, "frame-" + std::to_string(i)));
    if (i % 7 == 0) {
      for (auto& f : drain(decoder)) received.push_back(f.payload);
    }
  }
  for (auto& f : drain(decoder)) received.push_back(f.payload);
  ASSERT_EQ(received.size(), 20000u);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(received[i], "frame-" + std::to_string(i));
}

TEST(FrameDecoder, RejectsAnUnknownType) {
  FrameDecoder decoder;
  decoder.feed(header(9, 0));
  EXPECT_FALSE(decoder.next());
  EXPECT_EQ(decoder.error(), "unknown frame type 9");
}

TEST(FrameDecoder, RejectsAnOverLimitLengthFromTheHeaderAlone) {
  // Only the header arrived: the length is refused before any payload is waited for or
  // allocated.
  FrameDecoder decoder;
  decoder.feed(header(static_cast<std::uint8_t>(FrameType::kData), 0xffffffffu));
  EXPECT_FALSE(decoder.next());
  EXPECT_EQ(decoder.error(), "frame of 4294967295 bytes is over the limit");
}

TEST(FrameDecoder, RejectsOneByteOverTheLimit) {
  FrameDecoder decoder;
  decoder.feed(header(static_cast<std::uint8_t>(FrameType::kData), kMaxFramePayload + 1));
  EXPECT_FALSE(decoder.next());
  EXPECT_FALSE(decoder.error().empty());
}

TEST(FrameDecoder, AcceptsAPayloadOfExactlyTheLimit) {
  FrameDecoder decoder;
  decoder.feed(encode_frame(FrameType::kData, std::string(kMaxFramePayload, 'z')));
  auto f = decoder.next();
  ASSERT_TRUE(f) << decoder.error();
  EXPECT_EQ(f->payload.size(), kMaxFramePayload);
}

TEST(FrameDecoder, StaysFailedAfterABadHeader) {
  FrameDecoder decoder;
  decoder.feed(header(200, 0));
  EXPECT_FALSE(decoder.next());
  decoder.feed(encode_frame(FrameType::kData, "fine"));
  EXPECT_FALSE(decoder.next());
  EXPECT_EQ(decoder.error(), "unknown frame type 200");
}

TEST(FrameEncoding, HeaderIsTypeThenBigEndianLength) {
  EXPECT_EQ(encode_frame_header(FrameType::kData, 0x01020304u), "\x01\x01\x02\x03\x04"s);
  EXPECT_EQ(encode_frame(FrameType::kDetach, ""), "\x03\x00\x00\x00\x00"s);
}

TEST(FrameEncoding, ResizeRoundTripsRowsAndCols) {
  const std::string frame = encode_resize(0x0102, 0xfffe);
  EXPECT_EQ(frame, "\x02\x00\x00\x00\x04\x01\x02\xff\xfe"s);
  FrameDecoder decoder;
  decoder.feed(frame);
  auto f = decoder.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, FrameType::kResize);
  ASSERT_EQ(f->payload.size(), 4u);
  EXPECT_EQ(read_u16(f->payload.data()), 0x0102);
  EXPECT_EQ(read_u16(f->payload.data() + 2), 0xfffe);
}

TEST(FrameEncoding, ExitRoundTripsANegativeStatus) {
  for (std::int32_t status : {-1, -255, 0, 137, INT32_MIN, INT32_MAX}) {
    FrameDecoder decoder;
    decoder.feed(encode_exit(status));
    auto f = decoder.next();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->type, FrameType::kExit);
    ASSERT_EQ(f->payload.size(), 4u);
    EXPECT_EQ(static_cast<std::int32_t>(read_u32(f->payload.data())), status);
  }
}

TEST(LineReader, JoinsALineSplitAcrossChunks) {
  LineReader reader;
  Lines got;
  for (std::string_view chunk : {"{\"id\":", "1}\n{\"id\"", ":2}\n", "{\"id\":3", "}\n"})
    reader.feed(chunk, got.on_line(), got.on_overflow());
  EXPECT_EQ(got.lines, (std::vector<std::string>{"{\"id\":1}", "{\"id\":2}", "{\"id\":3}"}));
  EXPECT_EQ(got.overflows, 0);
}

TEST(LineReader, HoldsAnUnfinishedLineBack) {
  LineReader reader;
  Lines got;
  reader.feed("done\nnot yet", got.on_line(), got.on_overflow());
  EXPECT_EQ(got.lines, (std::vector<std::string>{"done"}));
}

TEST(LineReader, LeavesCarriageReturnsToTheCaller) {
  LineReader reader;
  Lines got;
  reader.feed("a\r\nb\n", got.on_line(), got.on_overflow());
  EXPECT_EQ(got.lines, (std::vector<std::string>{"a\r", "b"}));
}

TEST(LineReader, DeliversEmptyLines) {
  LineReader reader;
  Lines got;
  reader.feed("\n\nx\n", got.on_line(), got.on_overflow());
  EXPECT_EQ(got.lines, (std::vector<std::string>{"", "", "x"}));
}

TEST(LineReader, AcceptsALineOfExactlyTheLimit) {
  LineReader reader(8);
  Lines got;
  reader.feed("1234", got.on_line(), got.on_overflow());
  reader.feed("5678\n", got.on_line(), got.on_overflow());
  EXPECT_EQ(got.lines, (std::vector<std::string>{"12345678"}));
  EXPECT_EQ(got.overflows, 0);
}

TEST(LineReader, ReportsALineOverTheLimitOnceAndGoesOn) {
  LineReader reader(8);
  Lines got;
  reader.feed("before\n0123", got.on_line(), got.on_overflow());
  for (int i = 0; i < 10; ++i) reader.feed("0123456789", got.on_line(), got.on_overflow());
  reader.feed("tail\nafter\n", got.on_line(), got.on_overflow());
  EXPECT_EQ(got.overflows, 1);
  EXPECT_EQ(got.lines, (std::vector<std::string>{"before", "after"}));
}

TEST(LineReader, ReportsALineOverTheLimitInOneChunkOnce) {
  LineReader reader(8);
  Lines got;
  reader.feed("0123456789\nok\n", got.on_line(), got.on_overflow());
  EXPECT_EQ(got.overflows, 1);
  EXPECT_EQ(got.lines, (std::vector<std::string>{"ok"}));
}

TEST(LineReader, ReportsEachOverlongLineSeparately) {
  LineReader reader(4);
  Lines got;
  reader.feed("toolong\nalsotoolong\nok\n", got.on_line(), got.on_overflow());
  EXPECT_EQ(got.overflows, 2);
  EXPECT_EQ(got.lines, (std::vector<std::string>{"ok"}));
}

TEST(LineReader, StopReturnsTheBytesAfterTheCurrentLine) {
  LineReader reader;
  std::vector<std::string> lines;
  const std::string frames = encode_hello() + encode_frame(FrameType::kData, "x\ny\n");
  const std::string rest = reader.feed(
      "{\"method\":\"attach\"}\n" + frames,
      [&](std::string_view line) {
        lines.emplace_back(line);
        reader.stop();
      },
      [] {});
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"method\":\"attach\"}"}));
  EXPECT_EQ(rest, frames);
}

TEST(LineReader, StopAtTheEndOfAChunkReturnsNothing) {
  LineReader reader;
  int lines = 0;
  const std::string rest = reader.feed(
      "attach\n",
      [&](std::string_view) {
        ++lines;
        reader.stop();
      },
      [] {});
  EXPECT_EQ(lines, 1);
  EXPECT_EQ(rest, "");
}

TEST(Messages, ErrorCarriesTheCodeAndMessage) {
  const Json e = make_error(7, code::kNotFound, "no session 'x'");
  EXPECT_EQ(e["id"], 7);
  EXPECT_EQ(e["error"]["code"], "not_found");
  EXPECT_EQ(e["error"]["message"], "no session 'x'");
}

TEST(Messages, EventKeepsItsFieldsAndAddsIdAndEvent) {
  const Json e = make_event(3, "exit", Json{{"status", -1}});
  EXPECT_EQ(e["id"], 3);
  EXPECT_EQ(e["event"], "exit");
  EXPECT_EQ(e["status"], -1);
}

// What parse_request_line answers, as the error code of its reply ("" for a request).
std::string outcome_code(std::string_view line, bool& has_version) {
  auto outcome = parse_request_line(line, has_version);
  if (auto* error = std::get_if<ErrorReply>(&outcome))
    return error->reply["error"]["code"].get<std::string>();
  return std::holds_alternative<ParsedRequest>(outcome) ? "" : "blank";
}

TEST(RequestLine, ParsesIdMethodAndParams) {
  bool has_version = false;
  auto outcome = parse_request_line(R"({"id":4,"method":"send","params":{"data":"x"},"version":1})"
                                    "\r",
                                    has_version);
  auto* req = std::get_if<ParsedRequest>(&outcome);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->id, 4);
  EXPECT_EQ(req->method, "send");
  EXPECT_EQ(req->params, (Json{{"data", "x"}}));
  EXPECT_TRUE(has_version);
}

TEST(RequestLine, IgnoresABlankLine) {
  bool has_version = false;
  EXPECT_EQ(outcome_code("", has_version), "blank");
  EXPECT_EQ(outcome_code("\r", has_version), "blank");
}

TEST(RequestLine, AnswersEachMalformedRequestWithItsCode) {
  bool has_version = true;
  EXPECT_EQ(outcome_code("{", has_version), code::kBadJson);
  EXPECT_EQ(outcome_code("[1]", has_version), code::kBadRequest);
  EXPECT_EQ(outcome_code(R"({"id":1,"method":2})", has_version), code::kBadRequest);
  EXPECT_EQ(outcome_code(R"({"id":1,"method":"ping","params":[]})", has_version), code::kBadParams);
}

TEST(RequestLine, RequiresTheVersionOnTheFirstRequestExceptShutdown) {
  bool has_version = false;
  EXPECT_EQ(outcome_code(R"({"id":1,"method":"ping"})", has_version), code::kBadRequest);
  EXPECT_EQ(outcome_code(R"({"id":1,"method":"shutdown"})", has_version), "");
  EXPECT_FALSE(has_version);
  EXPECT_EQ(outcome_code(R"({"id":1,"method":"ping","version":1})", has_version), "");
  EXPECT_EQ(outcome_code(R"({"id":2,"method":"ping"})", has_version), "");
}

TEST(RequestLine, RefusesAnotherVersionButNotShutdown) {
  bool has_version = false;
  EXPECT_EQ(outcome_code(R"({"id":1,"method":"ping","version":2})", has_version),
            code::kProtocolMismatch);
  EXPECT_FALSE(has_version);
  EXPECT_EQ(outcome_code(R"({"id":1,"method":"shutdown","version":2})", has_version), "");
}

TEST(ReadParam, LeavesAnAbsentOrNullParameterAlone) {
  int rows = 40;
  EXPECT_EQ(read_param(Json{{"rows", nullptr}}, "rows", rows), std::nullopt);
  EXPECT_EQ(read_param(Json::object(), "rows", rows), std::nullopt);
  EXPECT_EQ(rows, 40);
}

TEST(ReadParam, RejectsAValueOfAnotherType) {
  std::vector<std::string> command;
  EXPECT_EQ(read_param(Json{{"command", "ls"}}, "command", command),
            "parameter \"command\" has the wrong type");
}

TEST(FramePayloads, DecodeOnlyPayloadsOfTheirSize) {
  EXPECT_FALSE(decode_resize("abc"));
  EXPECT_FALSE(decode_exit("abcde"));
  const auto size = decode_resize(encode_resize(50, 200).substr(kFrameHeaderBytes));
  ASSERT_TRUE(size);
  EXPECT_EQ(size->rows, 50);
  EXPECT_EQ(size->cols, 200);
  EXPECT_EQ(decode_exit(encode_exit(-2).substr(kFrameHeaderBytes)), -2);
  EXPECT_TRUE(
      is_hello_of_this_version(Frame{FrameType::kHello, encode_hello().substr(kFrameHeaderBytes)}));
  EXPECT_FALSE(
      is_hello_of_this_version(Frame{FrameType::kData, encode_hello().substr(kFrameHeaderBytes)}));
}

// Found by the control fuzzer: nlohmann converts a float to int with a cast, undefined
// behaviour when it does not fit (UBSan: "1e+10 is outside the range of ... 'int'").
TEST(ReadParam, RejectsAFloatForAnInteger) {
  int rows = 40;
  EXPECT_EQ(read_param(Json::parse(R"({"rows":1e10})"), "rows", rows),
            "parameter \"rows\" has the wrong type");
  EXPECT_EQ(read_param(Json::parse(R"({"rows":24.5})"), "rows", rows),
            "parameter \"rows\" has the wrong type");
  EXPECT_EQ(rows, 40);
}

TEST(ReadParam, RejectsAnIntegerOutOfRangeInsteadOfWrappingIt) {
  int rows = 40;
  EXPECT_EQ(read_param(Json::parse(R"({"rows":4294967336})"), "rows", rows),
            "parameter \"rows\" is out of range");
  EXPECT_EQ(read_param(Json::parse(R"({"rows":-4294967336})"), "rows", rows),
            "parameter \"rows\" is out of range");
  EXPECT_EQ(rows, 40);
  EXPECT_EQ(read_param(Json::parse(R"({"rows":-3})"), "rows", rows), std::nullopt);
  EXPECT_EQ(rows, -3);
}

// Found by the control fuzzer's version oracle: the version went through get<int>(), so
// 4294967297 wrapped to 1 and was taken for this protocol.
TEST(RequestLine, RefusesAVersionThatOnlyWrapsToThisOne) {
  bool has_version = false;
  auto outcome =
      parse_request_line(R"({"id":1,"method":"ping","version":4294967297})", has_version);
  auto* error = std::get_if<ErrorReply>(&outcome);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->reply["error"]["code"], code::kProtocolMismatch);
  EXPECT_EQ(error->reply["error"]["message"], "daemon speaks protocol 1, this client 4294967297");
  EXPECT_FALSE(has_version);
}

}  // namespace
}  // namespace baton::runtime::protocol
