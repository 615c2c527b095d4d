// The session holder and its protocol, with the real baton-holder: what a daemon that starts,
// dies and adopts sees, one step at a time (the end-to-end view is tests/e2e/holder_e2e_test.cpp).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "runtime/holder_client.hpp"
#include "runtime/holder_protocol.hpp"
#include "runtime/pty.hpp"
#include "tests/support/temp_dir.hpp"

extern char** environ;

namespace baton::runtime {
namespace {

namespace fs = std::filesystem;

bool wait_for(const std::function<bool()>& pred, int timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// Gone or a zombie: an orphan's parent here may not reap it.
bool is_gone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = all.rfind(')');
  return paren == std::string::npos || paren + 2 >= all.size() || all[paren + 2] == 'Z';
}

TEST(HolderProtocol, AHelloRoundTripsAndUnknownKeysAreSkipped) {
  HolderHello h;
  h.id = "shop-3";
  h.pid = 4242;
  h.holder_pid = 4241;
  h.created_at = "2026-12-04T10:00:00.000Z";
  h.cwd = "/w/shop/orchestrator";
  h.argv = {"codex", "--", "a prompt\nwith lines"};
  h.dropped = 77;
  h.has_exited = true;
  std::string wire = encode_hello(h);
  wire += std::string("future_key=whatever") + '\0';
  auto back = decode_hello(wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->version, kHolderProtocolVersion);
  EXPECT_EQ(back->id, h.id);
  EXPECT_EQ(back->pid, h.pid);
  EXPECT_EQ(back->holder_pid, h.holder_pid);
  EXPECT_EQ(back->created_at, h.created_at);
  EXPECT_EQ(back->cwd, h.cwd);
  EXPECT_EQ(back->argv, h.argv);
  EXPECT_EQ(back->dropped, 77u);
  EXPECT_TRUE(back->has_exited);
}

TEST(HolderProtocol, AHelloWithoutVersionIdOrPidOrWithABadNumberIsRefused) {
  EXPECT_FALSE(decode_hello(std::string("id=x\0pid=3\0", 11)));
  EXPECT_FALSE(decode_hello(std::string("version=1\0pid=3\0", 16)));
  EXPECT_FALSE(decode_hello(std::string("version=1\0id=x\0", 15)));
  EXPECT_FALSE(decode_hello(std::string("version=1\0id=x\0pid=3z\0", 22)));
  EXPECT_FALSE(decode_hello("garbage"));
}

class HolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    site_.binary = BATON_HOLDER_BIN;
    holders_ = dir_.str() + "/holders";
    fs::create_directory(holders_);
    chmod(holders_.c_str(), 0700);
    site_.holders_dir = holders_;
  }
  void TearDown() override {
    // Nothing outlives the test: every holder still listening is told to kill its agent.
    for (const auto& path : list_holder_sockets(holders_)) {
      auto held = adopt_holder(path);
      if (!held) continue;
      send_holder_message(held->process.link_fd, HolderMessage::kKill, "");
      close(held->process.link_fd);
      close(held->process.master_fd);
    }
    EXPECT_TRUE(wait_for([&] { return list_holder_sockets(holders_).empty(); }));
  }

  tl::expected<HeldProcess, std::string> start(const std::string& script) {
    PtySpawnOptions spawn;
    spawn.argv = {"sh", "-c", script};
    spawn.env = session_environment(environ, {});
    spawn.cwd = dir_.str();
    return spawn_held(site_, "t1", "2026-12-04T00:00:00.000Z", spawn);
  }

  // What a daemon killed outright leaves: nothing of its own.
  static void drop(HeldProcess& held) {
    close(held.link_fd);
    close(held.master_fd);
  }

  test::TempDir dir_;
  std::string holders_;
  HolderSite site_;
};

TEST_F(HolderTest, AnAgentThatCannotStartIsOneLine) {
  PtySpawnOptions spawn;
  spawn.argv = {"codx-not-there"};
  spawn.env = session_environment(environ, {});
  auto held = spawn_held(site_, "t1", "now", spawn);
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error(), "cannot start 'codx-not-there': No such file or directory");
  EXPECT_TRUE(wait_for([&] { return list_holder_sockets(holders_).empty(); }));
}

TEST_F(HolderTest, AHoldersDirectoryThatIsASymlinkIsRefusedAndNothingStarts) {
  const std::string link = dir_.str() + "/elsewhere";
  fs::create_directory_symlink(holders_, link);
  site_.holders_dir = link;
  const std::string marker = dir_.str() + "/ran";
  auto held = start("touch " + marker + "; sleep 100");
  ASSERT_FALSE(held);
  EXPECT_NE(held.error().find("refusing " + link + ": it is a symlink"), std::string::npos)
      << held.error();
  EXPECT_FALSE(fs::exists(marker));
}

// What the holder says when the path of its socket (`<its pid>.sock`) is taken. The child
// plants `plant(path)` there and then execs baton-holder as itself, so the pid matches.
std::string holder_error_with_path_taken(const std::string& holders,
                                         const std::function<void(const std::string&)>& plant,
                                         const std::string& marker) {
  int link[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, link) != 0) return "socketpair";
  const std::string script = "touch " + marker + "; sleep 100";
  const pid_t pid = fork();
  if (pid == 0) {
    plant(holders + "/" + std::to_string(getpid()) + ".sock");
    dup2(link[1], 3);
    execl(BATON_HOLDER_BIN, BATON_HOLDER_BIN, "--id", "t1", "--dir", holders.c_str(), "--", "sh",
          "-c", script.c_str(), nullptr);
    _exit(127);
  }
  close(link[1]);
  int err = 0;
  auto msg = receive_holder_message(link[0], &err);
  close(link[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!msg) return "no message, exit " + std::to_string(WEXITSTATUS(status));
  if (msg->type != HolderMessage::kError) return "not an error";
  return msg->payload;
}

TEST_F(HolderTest, AHolderWhoseSocketPathIsTakenRefusesItAndStartsNothing) {
  const std::string marker = dir_.str() + "/ran";
  const std::string target = dir_.str() + "/target";
  std::ofstream(target) << "keep\n";
  const std::string as_link = holder_error_with_path_taken(
      holders_, [&](const std::string& p) { fs::create_symlink(target, p); }, marker);
  EXPECT_NE(as_link.find("it is a symlink"), std::string::npos) << as_link;
  const std::string as_file = holder_error_with_path_taken(
      holders_, [](const std::string& p) { std::ofstream(p) << "x\n"; }, marker);
  EXPECT_NE(as_file.find("it is not a socket"), std::string::npos) << as_file;
  if (getuid() == 0) {
    const std::string as_foreign = holder_error_with_path_taken(
        holders_,
        [](const std::string& p) {
          std::ofstream(p) << "x\n";
          if (chown(p.c_str(), 65534, 65534) != 0) _exit(126);
        },
        marker);
    EXPECT_NE(as_foreign.find("it belongs to uid 65534"), std::string::npos) << as_foreign;
  }
  // Nothing started, nothing followed.
  EXPECT_FALSE(fs::exists(marker));
  std::ifstream in(target);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "keep\n");
  for (const auto& e : fs::directory_iterator(holders_)) fs::remove(e.path());
}

TEST_F(HolderTest, ASecondDaemonIsToldTheHolderIsBusyAndGetsNothing) {
  auto held = start("sleep 100");
  ASSERT_TRUE(held) << held.error();
  const auto sockets = list_holder_sockets(holders_);
  ASSERT_EQ(sockets.size(), 1u);
  auto second = adopt_holder(sockets[0]);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().reason, AdoptSkip::kBusy);
  EXPECT_NE(second.error().message.find("another daemon holds it"), std::string::npos);
  // The first daemon still has it: its agent's exit reaches it.
  kill(held->pid, SIGTERM);
  ASSERT_TRUE(wait_for([&] {
    int err = 0;
    auto msg = receive_holder_message(held->link_fd, &err);
    return msg && msg->type == HolderMessage::kExit && msg->payload == std::to_string(SIGTERM);
  }));
  send_holder_message(held->link_fd, HolderMessage::kCollected, "");
  EXPECT_TRUE(wait_for([&] { return list_holder_sockets(holders_).empty(); }));
  drop(*held);
}

// A session dropped while its agent runs (Session's destructor) sends kill, kills the agent
// itself and hangs up. The holder, stopped meanwhile as a loaded machine may leave it, then
// sees the agent's death and the daemon's last word in one wakeup: it must still leave.
TEST_F(HolderTest, AKillFromADaemonThatHungUpEndsTheHolderThoughTheAgentDiedFirst) {
  auto held = start("sleep 100");
  ASSERT_TRUE(held) << held.error();
  ASSERT_EQ(kill(held->holder_pid, SIGSTOP), 0);
  send_holder_message(held->link_fd, HolderMessage::kKill, "");
  kill(held->pid, SIGKILL);
  drop(*held);
  ASSERT_TRUE(wait_for([&] { return is_gone(held->pid); }));
  ASSERT_EQ(kill(held->holder_pid, SIGCONT), 0);
  EXPECT_TRUE(wait_for([&] { return list_holder_sockets(holders_).empty(); }))
      << "the holder waits for a daemon that will never come";
  EXPECT_TRUE(wait_for([&] { return is_gone(held->holder_pid); }));
}

TEST_F(HolderTest, ADaemonKilledMidAdoptionLeavesTheOutputToTheNextOne) {
  const std::string go = dir_.str() + "/go";
  auto held =
      start("while [ ! -e " + go + " ]; do sleep 0.02; done; echo printed-alone; sleep 100");
  ASSERT_TRUE(held) << held.error();
  drop(*held);  // the daemon dies
  std::ofstream(go) << "go\n";
  const std::string path = holder_socket_path(holders_, held->holder_pid);
  // Adopted, but the daemon dies before it confirms: the holder keeps what it sent.
  std::string first;
  ASSERT_TRUE(wait_for([&] {
    auto a = adopt_holder(path);
    if (!a) return false;
    first = a->output;
    drop(a->process);
    return first.find("printed-alone") != std::string::npos;
  })) << first;
  auto again = adopt_holder(path);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->output, first);
  EXPECT_EQ(again->hello.pid, held->pid);
  EXPECT_EQ(again->hello.id, "t1");
  // Confirmed this time: the next daemon gets only what came after.
  send_holder_message(again->process.link_fd, HolderMessage::kAdopted, "");
  drop(again->process);
  ASSERT_TRUE(wait_for([&] {
    auto third = adopt_holder(path);
    if (!third) return false;
    const bool empty = third->output.empty();
    drop(third->process);
    return empty;
  }));
}

TEST_F(HolderTest, ADeadHoldersSocketIsRemovedNotAdopted) {
  auto held = start("sleep 100");
  ASSERT_TRUE(held) << held.error();
  const std::string path = holder_socket_path(holders_, held->holder_pid);
  kill(held->holder_pid, SIGKILL);
  drop(*held);
  ASSERT_TRUE(wait_for([&] {
    auto a = adopt_holder(path);
    return !a && a.error().reason == AdoptSkip::kGone;
  }));
  EXPECT_FALSE(fs::exists(path));
  // Its agent got SIGHUP from the kernel (PR_SET_PDEATHSIG) and is gone too.
  EXPECT_TRUE(wait_for([&] { return is_gone(held->pid); }));
}

}  // namespace
}  // namespace baton::runtime
