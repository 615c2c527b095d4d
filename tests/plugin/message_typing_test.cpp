// A message is typed as one paste: inside bracketed paste when the agent turned it on, and a
// message cannot end the paste early and have the rest typed as keys.
#include "plugin/message_typing.hpp"

#include <gtest/gtest.h>

namespace baton::plugin {
namespace {

TEST(MessageTyping, PlainWhenTheAgentDidNotTurnOnBracketedPaste) {
  EXPECT_EQ(paste_bytes("line one\nline two", false), "line one\nline two");
}

TEST(MessageTyping, BracketedWhenTheAgentTurnedItOn) {
  EXPECT_EQ(paste_bytes("line one\nline two", true), "\x1b[200~line one\nline two\x1b[201~");
}

TEST(MessageTyping, AMessageCannotEndThePasteEarly) {
  EXPECT_EQ(paste_bytes("a\x1b[201~\rrm -rf x\x1b[201~", true), "\x1b[200~a\rrm -rf x\x1b[201~");
}

}  // namespace
}  // namespace baton::plugin
