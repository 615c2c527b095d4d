// plugin/config_keys: the one list of config keys, and the loader (plugin/config.cpp) that
// refuses any other. Each key of the list is loaded alone from a real baton.toml.
#include "plugin/config_keys.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "plugin/config.hpp"
#include "tests/support/temp_dir.hpp"

namespace baton::plugin {
namespace {

namespace fs = std::filesystem;

class ConfigKeysTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(repo_); }

  void write(const std::string& name, const std::string& content) {
    std::ofstream(repo_ / name, std::ios::binary) << content;
  }

  tl::expected<ProjectConfig, std::string> load() {
    ConfigInputs in;
    in.repo_root = repo_.string();
    in.baton_home = "/home/u/.baton";
    in.environment = {{"HOME", "/home/u"}};
    in.is_on_path = [](const std::string&) { return false; };
    return load_config(in);
  }

  // The file that sets `k` to its example, alone: an agent table is a preset's (no command
  // needed), an [env] key a variable.
  static std::string file_setting(const ConfigKey& k) {
    const std::string section =
        k.section == "agents.NAME" ? "agents.codex" : std::string(k.section);
    const std::string key = k.section == "env" ? "MY_VAR" : std::string(k.key);
    // permissions needs an agent that has the mode; the preset codex does (and is inert).
    const std::string agent =
        k.section == "orchestrator" && k.key != "agent" ? "agent = \"codex\"\n" : "";
    return "[" + section + "]\n" + agent + key + " = " + std::string(k.example) + "\n";
  }

  // How the loader names the key in trust_keys ("[agents.codex] command").
  static std::string trust_name(const ConfigKey& k) {
    const std::string section =
        k.section == "agents.NAME" ? "agents.codex" : std::string(k.section);
    const std::string key = k.section == "env" ? "MY_VAR" : std::string(k.key);
    return "[" + section + "] " + key;
  }

  std::string toml_path() const { return (repo_ / "baton.toml").string(); }

  test::TempDir tmp_{"baton-config-keys"};
  fs::path repo_ = tmp_.path() / "shop";
};

TEST_F(ConfigKeysTest, EveryKeyOfTheListIsAcceptedByTheLoader) {
  for (const auto& k : config_keys()) {
    write("baton.toml", file_setting(k));
    const auto cfg = load();
    EXPECT_TRUE(cfg.has_value()) << file_setting(k) << (cfg ? "" : cfg.error());
  }
}

TEST_F(ConfigKeysTest, TheListSaysWhichKeysWaitForAllowAsTheLoaderDoes) {
  for (const auto& k : config_keys()) {
    write("baton.toml", file_setting(k));
    const auto cfg = load();
    ASSERT_TRUE(cfg.has_value()) << cfg.error();
    const bool is_trust_key = std::find(cfg->trust_keys.begin(), cfg->trust_keys.end(),
                                        trust_name(k)) != cfg->trust_keys.end();
    // An agent's example names a preset: kUnlessPreset is inert there.
    const bool wants_allow = k.trust == KeyTrust::kNeedsAllow;
    EXPECT_EQ(is_trust_key, wants_allow) << trust_name(k);
    EXPECT_EQ(cfg->needs_trust(), wants_allow) << trust_name(k);
  }
}

TEST_F(ConfigKeysTest, AKeyOutsideTheListIsRefusedNamingFileLineAndKey) {
  write("baton.toml", "[project]\nname = \"shop\"\n\n[runtime]\nholder_bufer = 8388608\n");
  auto cfg = load();
  ASSERT_FALSE(cfg.has_value());
  EXPECT_EQ(cfg.error(), toml_path() + ":5:1: unknown key 'holder_bufer' in [runtime]");

  write("baton.toml", "[agents.mine]\ncommand = [\"x\"]\ncomand = [\"x\"]\n");
  cfg = load();
  ASSERT_FALSE(cfg.has_value());
  EXPECT_EQ(cfg.error(), toml_path() + ":3:1: unknown key 'comand' in [agents.mine]");

  write("baton.toml", "[orchestrator]\nagent = \"codex\"\n[workspaces]\nroot = \"/x\"\n");
  cfg = load();
  ASSERT_FALSE(cfg.has_value());
  EXPECT_EQ(cfg.error(), toml_path() + ":3:2: unknown key 'workspaces'");
}

TEST_F(ConfigKeysTest, EverySectionOfTheListIsATableTheLoaderReadsAndNoOther) {
  std::set<std::string> listed;
  for (const auto& k : config_keys()) {
    const auto section = std::string(k.section.substr(0, k.section.find('.')));
    listed.insert(section);
    EXPECT_NE(std::find(config_sections().begin(), config_sections().end(), section),
              config_sections().end())
        << section;
    // Every line of the manual is whole: no key without a description, a type or an example.
    EXPECT_FALSE(k.description.empty() || k.type.empty() || k.default_value.empty() ||
                 k.example.empty())
        << k.section << " " << k.key;
  }
  EXPECT_EQ(listed.size(), config_sections().size());
  // Each (section, key) once.
  std::set<std::string> seen;
  for (const auto& k : config_keys())
    EXPECT_TRUE(seen.insert(std::string(k.section) + " " + std::string(k.key)).second)
        << k.section << " " << k.key;
}

TEST_F(ConfigKeysTest, FindsKeysOfAnyAgentAndAnyEnvironmentVariable) {
  EXPECT_NE(find_config_key("agents.NAME", "command"), nullptr);
  EXPECT_NE(find_config_key("env", "ANYTHING"), nullptr);
  EXPECT_NE(find_config_key("runtime", "holder_buffer"), nullptr);
  EXPECT_EQ(find_config_key("runtime", "holder_bufer"), nullptr);
  EXPECT_EQ(find_config_key("project", "NAME"), nullptr);
}

}  // namespace
}  // namespace baton::plugin
