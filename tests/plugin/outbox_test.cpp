#include "plugin/outbox.hpp"

#include <uv.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace baton::plugin::testing {
namespace {

namespace fs = std::filesystem;

using baton::test::TempDir;

std::string read_raw(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_raw(const fs::path& file, const std::string& content) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
}

std::vector<std::string> ids_of(const RecipientOutbox& box) {
  std::vector<std::string> ids;
  for (const auto& m : box.messages) ids.push_back(m.id);
  return ids;
}

// A loop of the test's own, run until the outbox's saves are done; closed at the end.
class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }

  uv_loop_t loop_{};
  TempDir dir_;
};

TEST(OutboxFileName, EncodesEveryByteThatCouldLeaveTheDirectory) {
  EXPECT_EQ(outbox_file_name("shop"), "shop.json");
  EXPECT_EQ(outbox_file_name("shop/fix-login"), "shop%2Ffix-login.json");
  EXPECT_EQ(outbox_file_name(".."), "%2E..json");
  EXPECT_EQ(outbox_file_name("a b"), "a%20b.json");
  for (const std::string r : {"shop", "shop/fix-login", "..", "a b", "ümlaut"})
    EXPECT_EQ(recipient_from_file_name(outbox_file_name(r)), r) << r;
  EXPECT_EQ(recipient_from_file_name("shop.json.tmp"), std::nullopt);
  EXPECT_EQ(recipient_from_file_name("shop.json.corrupt-20260101T000000"), std::nullopt);
  EXPECT_EQ(recipient_from_file_name("bad%2.json"), std::nullopt);
}

TEST_F(OutboxTest, MessagesKeepTheirOrderAndIdsAcrossAReload) {
  std::vector<std::string> saved;
  {
    Outbox box(&loop_, dir_.str());
    for (const std::string text : {"one", "two", "three"}) {
      box.add("shop", text, [&saved, text](const tl::expected<void, std::string>& r) {
        ASSERT_TRUE(r) << r.error();
        saved.push_back(text);
      });
    }
    EXPECT_EQ(box.queued_texts("shop"), (std::vector<std::string>{"one", "two", "three"}));
    run();
    EXPECT_EQ(saved, (std::vector<std::string>{"one", "two", "three"}));
    ASSERT_TRUE(box.remove("shop", "m1", nullptr));
    EXPECT_FALSE(box.remove("shop", "m9", nullptr));
    run();
  }
  Outbox again(&loop_, dir_.str());
  again.load();
  EXPECT_EQ(again.queued_texts("shop"), (std::vector<std::string>{"two", "three"}));
  // Ids are never reused: the next one follows the last ever given.
  EXPECT_EQ(again.add("shop", "four", nullptr), "m4");
  run();
  EXPECT_EQ(again.count("shop"), 3u);
}

TEST_F(OutboxTest, TheLastSaveOnDiskIsTheNewestState) {
  Outbox box(&loop_, dir_.str());
  // Changes made while a save is in flight: the file ends with all of them, never with an
  // older snapshot written after a newer one.
  for (int i = 0; i < 20; ++i) box.add("shop", "text " + std::to_string(i), nullptr);
  box.set_state("shop", "m3", DeliveryState::kDelivering, "shop-1", nullptr);
  run();
  auto file = outbox_from_json(read_raw(dir_.path() / "outbox" / "shop.json"));
  ASSERT_TRUE(file) << file.error();
  ASSERT_EQ(file->messages.size(), 20u);
  EXPECT_EQ(file->messages[2].state, DeliveryState::kDelivering);
  EXPECT_EQ(file->messages[2].session, "shop-1");
  EXPECT_EQ(file->messages.back().text, "text 19");
  EXPECT_EQ(file->next_id, 21u);
  // Written through a temp file and a rename: nothing else is left in the directory.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_.path() / "outbox"))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"shop.json"}));
}

TEST(OutboxLoad, ADeliveringMessageIsQueuedAgainAndAnEnteringOneCountsAsDelivered) {
  TempDir dir;
  RecipientOutbox box;
  box.next_id = 4;
  box.messages = {{"m1", "entered", "t", DeliveryState::kEntering, "shop-1"},
                  {"m2", "pasted", "t", DeliveryState::kDelivering, "shop-1"},
                  {"m3", "waiting", "t", DeliveryState::kQueued, ""}};
  ASSERT_TRUE(save_outbox(dir.str(), "shop", box));
  auto loaded = load_outboxes(dir.str());
  ASSERT_TRUE(loaded) << loaded.error();
  const RecipientOutbox& got = loaded->boxes.at("shop");
  EXPECT_EQ(ids_of(got), (std::vector<std::string>{"m2", "m3"}));
  EXPECT_EQ(got.messages[0].state, DeliveryState::kQueued);
  EXPECT_EQ(got.messages[0].session, "");
  EXPECT_EQ(got.next_id, 4u);
  EXPECT_EQ(loaded->changed.count("shop"), 1u);
  EXPECT_EQ(loaded->warnings.size(), 2u);
}

TEST(OutboxLoad, ACorruptFileIsMovedAsideWithOneLineAndTheOthersLoad) {
  TempDir dir;
  RecipientOutbox box;
  box.messages = {{"m1", "kept", "t", DeliveryState::kQueued, ""}};
  ASSERT_TRUE(save_outbox(dir.str(), "shop", box));
  const fs::path bad = dir.path() / "outbox" / "cart.json";
  write_raw(bad, "{\"schema\":1,\"next_id\":2,\"messages\":[{\"id\":");
  auto loaded = load_outboxes(dir.str());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->boxes.count("cart"), 0u);
  EXPECT_EQ(loaded->boxes.at("shop").messages.size(), 1u);
  ASSERT_EQ(loaded->warnings.size(), 1u);
  EXPECT_NE(loaded->warnings[0].find("outbox " + bad.string() + " was corrupt (not JSON)"),
            std::string::npos)
      << loaded->warnings[0];
  EXPECT_FALSE(fs::exists(bad));
  std::size_t aside = 0;
  for (const auto& e : fs::directory_iterator(dir.path() / "outbox"))
    if (e.path().filename().string().starts_with("cart.json.corrupt-")) ++aside;
  EXPECT_EQ(aside, 1u);
}

TEST(OutboxLoad, AMessageInDeliveryWithoutItsSessionIsCorrupt) {
  auto r = outbox_from_json(
      R"({"schema":1,"next_id":2,"messages":[{"id":"m1","text":"x","told_at":"t","state":"entering"}]})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "messages[0]: entering without a session");
}

}  // namespace
}  // namespace baton::plugin::testing
