// Where baton keeps its state: BATON_HOME, else XDG_STATE_HOME/baton, else
// HOME/.local/state/baton, and the files under it.
#include "runtime/paths.hpp"

#include <gtest/gtest.h>

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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

TEST(Paths, WithoutHomeTheUsersPasswdEntryAgreesWithGetpwuid) {
  ScopedEnv baton("BATON_HOME", std::nullopt);
  ScopedEnv xdg("XDG_STATE_HOME", std::nullopt);
  ScopedEnv home("HOME", std::nullopt);
  const passwd* pw = getpwuid(getuid());
  ASSERT_NE(pw, nullptr);
  EXPECT_EQ(Paths::from_env().home, std::string(pw->pw_dir) + "/.local/state/baton");
}

TEST(Paths, PasswdHomeFindsTheUidsLineAndSkipsMalformedOnes) {
  const std::string file =
      (std::filesystem::temp_directory_path() / ("baton-passwd-" + std::to_string(getpid())))
          .string();
  {
    std::ofstream out(file);
    out << "# not an entry\n"
           "short:x:1000\n"
           "root:x:0:0:root:/root:/bin/bash\n"
           "alice:x:10001:100::/home/alice:/bin/sh\n"
           "noise:x:1000x:100::/wrong:/bin/sh\n"
           "bob:x:1000:100:Bob,,,:/home/bob:/bin/zsh\n"
           "nohome:x:1001:100:::/bin/sh\n";
  }
  EXPECT_EQ(passwd_home(1000, file), "/home/bob");
  EXPECT_EQ(passwd_home(0, file), "/root");
  EXPECT_EQ(passwd_home(10001, file), "/home/alice");
  EXPECT_EQ(passwd_home(1001, file), "");
  EXPECT_EQ(passwd_home(4242, file), "");
  EXPECT_EQ(passwd_home(0, file + ".missing"), "");
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace baton::runtime
