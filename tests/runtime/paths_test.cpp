// Where baton keeps its state: BATON_HOME, else XDG_STATE_HOME/baton, else
// HOME/.local/state/baton, and the files under it.
#include "runtime/paths.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace baton::runtime {
namespace {

// Sets or unsets a variable for one test and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Paths, BatonHomeWinsOverXdgAndHome) {
  ScopedEnv baton("BATON_HOME", "/tmp/baton-home");
  ScopedEnv xdg("XDG_STATE_HOME", "/tmp/xdg-state");
  ScopedEnv home("HOME", "/tmp/user");
  EXPECT_EQ(Paths::from_env().home, "/tmp/baton-home");
}

TEST(Paths, XdgStateHomeIsUsedWithoutBatonHome) {
  ScopedEnv baton("BATON_HOME", std::nullopt);
  ScopedEnv xdg("XDG_STATE_HOME", "/tmp/xdg-state");
  ScopedEnv home("HOME", "/tmp/user");
  EXPECT_EQ(Paths::from_env().home, "/tmp/xdg-state/baton");
}

TEST(Paths, EmptyBatonHomeCountsAsUnset) {
  ScopedEnv baton("BATON_HOME", "");
  ScopedEnv xdg("XDG_STATE_HOME", "/tmp/xdg-state");
  EXPECT_EQ(Paths::from_env().home, "/tmp/xdg-state/baton");
}

TEST(Paths, HomeLocalStateIsTheFallback) {
  ScopedEnv baton("BATON_HOME", std::nullopt);
  ScopedEnv xdg("XDG_STATE_HOME", std::nullopt);
  ScopedEnv home("HOME", "/tmp/user");
  EXPECT_EQ(Paths::from_env().home, "/tmp/user/.local/state/baton");
}

TEST(Paths, TrailingSlashesOfBatonHomeAreTrimmed) {
  ScopedEnv baton("BATON_HOME", "/tmp/baton-home///");
  const Paths p = Paths::from_env();
  EXPECT_EQ(p.home, "/tmp/baton-home");
  EXPECT_EQ(p.socket, "/tmp/baton-home/run/control.sock");
}

TEST(Paths, TrailingSlashOfXdgStateHomeLeavesNoDoubleSlash) {
  ScopedEnv baton("BATON_HOME", std::nullopt);
  ScopedEnv xdg("XDG_STATE_HOME", "/tmp/xdg-state/");
  EXPECT_EQ(Paths::from_env().home, "/tmp/xdg-state/baton");
}

TEST(Paths, FilesLiveUnderHome) {
  ScopedEnv baton("BATON_HOME", "/tmp/bh");
  const Paths p = Paths::from_env();
  EXPECT_EQ(p.run_dir, "/tmp/bh/run");
  EXPECT_EQ(p.socket, "/tmp/bh/run/control.sock");
  EXPECT_EQ(p.lock, "/tmp/bh/run/daemon.lock");
  EXPECT_EQ(p.state_dir, "/tmp/bh/state");
  EXPECT_EQ(p.logs_dir, "/tmp/bh/logs");
}

}  // namespace
}  // namespace baton::runtime
