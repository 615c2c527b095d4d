// Key names for `baton send --keys` and `--detach-key`, as a terminal encodes them.
#include "runtime/keys.hpp"

#include <gtest/gtest.h>

#include <string>

namespace baton::runtime {
namespace {

TEST(KeyBytes, EnterIsCarriageReturn) {
  EXPECT_EQ(key_bytes("Enter"), "\r");
}

TEST(KeyBytes, TabIsTab) {
  EXPECT_EQ(key_bytes("Tab"), "\t");
}

TEST(KeyBytes, UpIsTheCursorUpSequence) {
  EXPECT_EQ(key_bytes("Up"), "\x1b[A");
}

TEST(KeyBytes, ControlLetterIsItsControlByte) {
  EXPECT_EQ(key_bytes("C-c"), "\x03");
  EXPECT_EQ(key_bytes("C-a"), "\x01");
  EXPECT_EQ(key_bytes("C-C"), "\x03");
}

TEST(KeyBytes, ControlBackslashIsFileSeparator) {
  EXPECT_EQ(key_bytes("C-\\"), "\x1c");
}

TEST(KeyBytes, MetaIsEscapeThenTheKey) {
  EXPECT_EQ(key_bytes("M-x"), "\x1bx");
  EXPECT_EQ(key_bytes("M-Enter"), "\x1b\r");
  EXPECT_EQ(key_bytes("M-C-c"), "\x1b\x03");
}

TEST(KeyBytes, FunctionKeysUseTheirXtermSequences) {
  EXPECT_EQ(key_bytes("F1"), "\x1bOP");
  EXPECT_EQ(key_bytes("F5"), "\x1b[15~");
  EXPECT_EQ(key_bytes("F12"), "\x1b[24~");
}

TEST(KeyBytes, PlainWordIsSentAsText) {
  EXPECT_EQ(key_bytes("hello"), "hello");
  EXPECT_EQ(key_bytes("enter"), "enter");
  EXPECT_EQ(key_bytes("x"), "x");
}

TEST(KeyBytes, ControlPrefixWithoutASingleKeyIsText) {
  EXPECT_EQ(key_bytes("C-"), "C-");
  EXPECT_EQ(key_bytes("C-ab"), "C-ab");
}

TEST(ParseDetachKey, ControlBackslash) {
  auto key = parse_detach_key("C-\\");
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(*key, 0x1c);
}

TEST(ParseDetachKey, ControlA) {
  auto key = parse_detach_key("C-a");
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(*key, 0x01);
}

TEST(ParseDetachKey, CaretNotation) {
  auto upper = parse_detach_key("^A");
  auto backslash = parse_detach_key("^\\");
  ASSERT_TRUE(upper) << upper.error();
  ASSERT_TRUE(backslash) << backslash.error();
  EXPECT_EQ(*upper, 0x01);
  EXPECT_EQ(*backslash, 0x1c);
}

TEST(ParseDetachKey, RejectsAKeyThatIsNoControlKey) {
  for (const std::string spec : {"x", "C-", "C-ab", "^", "M-a", "C-1", ""}) {
    auto key = parse_detach_key(spec);
    EXPECT_FALSE(key) << "'" << spec << "' parsed as " << (key ? int(*key) : -1);
  }
}

TEST(ParseDetachKey, ErrorNamesTheSpec) {
  auto key = parse_detach_key("M-a");
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().find("'M-a'"), std::string::npos) << key.error();
}

}  // namespace
}  // namespace baton::runtime
