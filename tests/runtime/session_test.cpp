// Session on a real loop with a real PTY and child: output fan-out in order, exit status and
// the last bytes before exit, staged stop, sizes, capture, input, and a stalled client that
// must never stop the session reading.
#include "runtime/session.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/holder_protocol.hpp"
#include "tests/runtime/test_loop.hpp"
#include "tests/support/temp_dir.hpp"

namespace baton::runtime {
namespace {

using test::TestLoop;

// An attached client that records everything it is given. A healthy one writes at once, so
// has nothing queued; a stalled one never writes (never calls on_client_drained()), so what it
// is given piles up on top of whatever the test says it is already behind by. Like the attach
// connection, once its backlog was dropped it is lagging and queues nothing until a repaint.
class FakeClient final : public SessionClient {
 public:
  void on_session_output(const SharedBytes& chunk) override {
    output += *chunk;
    ++chunks;
    if (is_stalled && !is_lagging_) queued_bytes += chunk->size();
  }
  void on_session_exit(int status) override {
    exit_status = status;
    ++exit_calls;
  }
  std::size_t backlog_bytes() const override { return queued_bytes; }
  void drop_backlog() override {
    ++drop_calls;
    output_at_drop = output.size();
    queued_bytes = 0;
    is_lagging_ = true;
  }
  bool is_lagging() const override { return is_lagging_; }

  std::string output;
  int chunks = 0;
  int exit_status = -1;
  int exit_calls = 0;
  bool is_stalled = false;
  std::size_t queued_bytes = 0;
  int drop_calls = 0;
  std::size_t output_at_drop = 0;

 private:
  bool is_lagging_ = false;
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    site_.binary = BATON_HOLDER_BIN;
    site_.holders_dir = holders_.str();
    chmod(holders_.str().c_str(), 0700);
  }
  void TearDown() override {
    EXPECT_EQ(loop_.close(), 0);
    // Nothing outlives its owner: every session is gone, and with it every holder (each
    // removes its socket as it leaves).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!list_holder_sockets(holders_.str()).empty() &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(list_holder_sockets(holders_.str()), std::vector<std::string>{})
        << "holders left behind";
  }

  std::unique_ptr<Session> start(std::vector<std::string> argv, unsigned short rows = 40,
                                 unsigned short cols = 120) {
    SessionSpec spec;
    // Appended, not `"s" + string`: GCC 12's false -Wrestrict at -O3 (DESIGN.md §8).
    spec.id.assign(1, 's');
    spec.id += std::to_string(++started_);
    spec.spawn.argv = std::move(argv);
    spec.spawn.env = session_environment(environ, {});
    spec.spawn.rows = rows;
    spec.spawn.cols = cols;
    auto session = Session::start(loop_.get(), site_, std::move(spec));
    EXPECT_TRUE(session) << session.error();
    return session ? std::move(*session) : nullptr;
  }

  std::unique_ptr<Session> start_sh(const std::string& script) {
    return start({"sh", "-c", script});
  }

  // A child that runs `script` only once the test sends a newline (see release()): a child
  // that ran at once could finish before the test attached or registered anything.
  std::unique_ptr<Session> start_gated(const std::string& script) {
    return start_sh("read gate; " + script);
  }
  // The newline is echoed: the output starts with "\r\n".
  static void release(Session& session) { session.write_input("\n"); }

  bool run_until_exited(Session& session, int timeout_ms = 5000) {
    return loop_.run_until([&] { return !session.is_running(); }, timeout_ms);
  }

  bool run_until_output(const FakeClient& client, const std::string& text, int timeout_ms = 5000) {
    return loop_.run_until([&] { return client.output.find(text) != std::string::npos; },
                           timeout_ms);
  }

  TestLoop loop_;
  baton::test::TempDir holders_;
  HolderSite site_;
  int started_ = 0;
};

bool is_dead(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = all.rfind(')');
  return paren == std::string::npos || paren + 2 >= all.size() || all[paren + 2] == 'Z';
}

std::string numbered_lines(const std::string& prefix, int first, int last) {
  std::string out;
  for (int i = first; i <= last; ++i) out += prefix + std::to_string(i) + "\r\n";
  return out;
}

TEST_F(SessionTest, OutputReachesAnAttachedClientWholeAndInOrder) {
  FakeClient client;
  auto session = start_gated("i=1; while [ $i -le 3000 ]; do echo line-$i; i=$((i+1)); done");
  ASSERT_TRUE(session);
  session->attach(&client, true, 0, 0);
  release(*session);
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_EQ(client.output, "\r\n" + numbered_lines("line-", 1, 3000));
}

TEST_F(SessionTest, EveryAttachedClientGetsTheSameBytes) {
  FakeClient writer;
  FakeClient reader;
  auto session = start_gated("i=1; while [ $i -le 500 ]; do echo row-$i; i=$((i+1)); done");
  ASSERT_TRUE(session);
  session->attach(&writer, true, 0, 0);
  session->attach(&reader, false, 0, 0);
  release(*session);
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_EQ(writer.output, "\r\n" + numbered_lines("row-", 1, 500));
  EXPECT_EQ(reader.output, writer.output);
}

TEST_F(SessionTest, ExitStatusIsTheChildsExitCode) {
  auto session = start_sh("exit 3");
  ASSERT_TRUE(session);
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_EQ(session->exit_status(), 3);
}

TEST_F(SessionTest, ExitStatusOfAKilledChildIsOneTwentyEightPlusTheSignal) {
  auto session = start_sh("kill -TERM $$");
  ASSERT_TRUE(session);
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_EQ(session->exit_status(), 128 + SIGTERM);
}

TEST_F(SessionTest, OnExitCallbacksRunOnceEachWithTheExitedSession) {
  auto session = start_gated("exit 4");
  ASSERT_TRUE(session);
  std::vector<int> seen;
  session->on_exit([&](Session& s) { seen.push_back(s.exit_status()); });
  session->on_exit([&](Session& s) { seen.push_back(100 + s.exit_status()); });
  release(*session);
  ASSERT_TRUE(run_until_exited(*session));
  loop_.run_for(20);
  EXPECT_EQ(seen, (std::vector<int>{4, 104}));
}

TEST_F(SessionTest, ARemovedExitListenerNeverRuns) {
  auto session = start_gated("exit 5");
  ASSERT_TRUE(session);
  std::vector<std::string> seen;
  const auto gone = session->on_exit([&](Session&) { seen.push_back("gone"); });
  Session::ExitListener later = 0;
  // A listener that removes a later one, as a handoff ends its launch-grace watch.
  session->on_exit([&](Session&) {
    seen.push_back("first");
    session->remove_exit_listener(later);
  });
  later = session->on_exit([&](Session&) { seen.push_back("later"); });
  session->on_exit([&](Session&) { seen.push_back("last"); });
  session->remove_exit_listener(gone);
  session->remove_exit_listener(gone);  // twice is harmless
  release(*session);
  ASSERT_TRUE(run_until_exited(*session));
  loop_.run_for(20);
  EXPECT_EQ(seen, (std::vector<std::string>{"first", "last"}));
}

TEST_F(SessionTest, OnExitRunsForAChildThatExitedBeforeStartReturned) {
  // A large screen makes the constructor take longer than `true` takes to exit, so the
  // child is gone when the constructor starts watching it. The daemon registers its exit
  // callback right after start() (Daemon::start_session); it must still run.
  auto session = start({"true"}, 300, 300);
  ASSERT_TRUE(session);
  int calls = 0;
  session->on_exit([&](Session&) { ++calls; });
  loop_.run_until([&] { return calls > 0; }, 1000);
  EXPECT_FALSE(session->is_running());
  EXPECT_EQ(calls, 1);
}

TEST_F(SessionTest, AttachedClientsAreToldTheExitStatusOnce) {
  FakeClient client;
  auto session = start_gated("exit 6");
  ASSERT_TRUE(session);
  session->attach(&client, true, 0, 0);
  release(*session);
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_EQ(client.exit_status, 6);
  EXPECT_EQ(session->client_count(), 0u);
  session.reset();
  EXPECT_EQ(client.exit_calls, 1);
}

TEST_F(SessionTest, LastBytesWrittenRightBeforeExitAreDelivered) {
  // No newline and an immediate exit: the bytes may still sit in the PTY when SIGCHLD
  // arrives.
  for (int i = 0; i < 200; ++i) {
    const std::string tail = "tail-" + std::to_string(i);
    FakeClient client;
    auto session = start_gated("printf '" + tail + "'");
    ASSERT_TRUE(session);
    session->attach(&client, true, 0, 0);
    release(*session);
    ASSERT_TRUE(run_until_exited(*session)) << "iteration " << i;
    ASSERT_EQ(client.output, "\r\n" + tail) << "iteration " << i;
    ASSERT_EQ(session->scrollback(), "\r\n" + tail) << "iteration " << i;
  }
}

TEST_F(SessionTest, StopEndsAChildThatHonoursHangupWithinTheFirstGrace) {
  auto session = start({"sleep", "100"});
  ASSERT_TRUE(session);
  const auto began = std::chrono::steady_clock::now();
  session->stop(2000);
  ASSERT_TRUE(run_until_exited(*session, 1500));
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::milliseconds(1500));
  EXPECT_EQ(session->exit_status(), 128 + SIGHUP);
}

TEST_F(SessionTest, StopEscalatesToSigkillAfterTwoGracesWhenHangupAndTermAreIgnored) {
  FakeClient client;
  auto session = start_gated("trap '' HUP TERM; echo ready; while :; do sleep 1; done");
  ASSERT_TRUE(session);
  session->attach(&client, true, 0, 0);
  release(*session);
  ASSERT_TRUE(run_until_output(client, "ready"));

  constexpr std::uint64_t kGraceMs = 100;
  const auto began = std::chrono::steady_clock::now();
  session->stop(kGraceMs);
  ASSERT_TRUE(run_until_exited(*session, 3000));
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(session->exit_status(), 128 + SIGKILL);
  // libuv's clock counts whole milliseconds, so each of the two timers may fire up to 1 ms
  // before a full grace measured with steady_clock.
  EXPECT_GE(took, std::chrono::milliseconds(2 * kGraceMs - 2));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
}

TEST_F(SessionTest, StopKillsTheWholeProcessGroup) {
  FakeClient client;
  // The background sleep ignores HUP and TERM too; only SIGKILL to the group reaches it.
  auto session = start_gated("trap '' HUP TERM; sleep 100 & echo bg=$!; wait");
  ASSERT_TRUE(session);
  session->attach(&client, true, 0, 0);
  release(*session);
  const auto at_bg = [&] { return client.output.find("bg="); };
  ASSERT_TRUE(loop_.run_until([&] {
    return at_bg() != std::string::npos && client.output.find("\r\n", at_bg()) != std::string::npos;
  }));
  const auto at = at_bg();
  const pid_t background = std::stoi(client.output.substr(at + 3));

  session->stop(50);
  ASSERT_TRUE(run_until_exited(*session, 3000));
  // The orphaned sleep is reparented to init, which may take a while to reap it.
  const bool is_gone = loop_.run_until([&] { return is_dead(background); }, 2000);
  EXPECT_TRUE(is_gone) << "background pid " << background << " survived stop()";
}

TEST_F(SessionTest, StopAfterExitIsANoOp) {
  auto session = start_sh("exit 2");
  ASSERT_TRUE(session);
  ASSERT_TRUE(run_until_exited(*session));
  session->stop(10);
  loop_.run_for(30);
  EXPECT_EQ(session->exit_status(), 2);
}

TEST_F(SessionTest, DestroyingARunningSessionKillsAndReapsItsChild) {
  auto session = start({"sleep", "100"});
  ASSERT_TRUE(session);
  const pid_t pid = session->pid();
  session.reset();
  // The holder is the agent's parent: it kills the group on the last-resort message and
  // reaps it, so the pid is gone once the holder got to it (a zombie until then).
  const bool is_gone = loop_.run_until([&] { return kill(pid, 0) == -1 && errno == ESRCH; }, 2000);
  EXPECT_TRUE(is_gone) << "pid " << pid << " survived the session's destruction";
}

TEST_F(SessionTest, ResizeByTheSizeOwnerChangesTheSizeTheChildSees) {
  FakeClient client;
  auto session = start_gated("stty size; read x; stty size");
  ASSERT_TRUE(session);
  session->attach(&client, true, 0, 0);
  release(*session);
  ASSERT_TRUE(run_until_output(client, "40 120\r\n"));

  session->resize(&client, 25, 90);
  session->write_input("\n");
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_NE(client.output.find("25 90\r\n"), std::string::npos) << client.output;
}

TEST_F(SessionTest, FirstWritableClientAppliesItsSizeOnAttach) {
  FakeClient client;
  auto session = start_sh("read x; stty size");
  ASSERT_TRUE(session);
  session->attach(&client, true, 31, 97);
  session->write_input("\n");
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_NE(client.output.find("31 97\r\n"), std::string::npos) << client.output;
}

TEST_F(SessionTest, ReadOnlyClientNeverResizes) {
  FakeClient viewer;
  auto session = start_sh("read x; stty size");
  ASSERT_TRUE(session);
  session->attach(&viewer, false, 20, 60);
  session->resize(&viewer, 21, 61);
  session->write_input("\n");
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_NE(viewer.output.find("40 120\r\n"), std::string::npos) << viewer.output;
}

TEST_F(SessionTest, NextWritableClientOwnsTheSizeWhenTheOwnerDetaches) {
  FakeClient owner;
  FakeClient next;
  auto session = start_sh("read x; stty size");
  ASSERT_TRUE(session);
  session->attach(&owner, true, 30, 100);
  session->attach(&next, true, 22, 70);
  session->detach(&owner);
  session->write_input("\n");
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_NE(next.output.find("22 70\r\n"), std::string::npos) << next.output;
  EXPECT_EQ(owner.exit_calls, 0) << "a detached client is no longer told anything";
}

TEST_F(SessionTest, CaptureShowsTheChildsText) {
  FakeClient client;
  auto session = start_gated("stty -echo; printf 'hello capture\\nsecond line'; sleep 100");
  ASSERT_TRUE(session);
  session->attach(&client, true, 0, 0);
  release(*session);
  ASSERT_TRUE(run_until_output(client, "second line"));
  // The echoed newline took the first row.
  EXPECT_EQ(session->capture(false),
            (std::vector<std::string>{"", "hello capture", "second line"}));
}

TEST_F(SessionTest, CaptureKeepsTheFinalScreenAfterExit) {
  auto session = start({"printf", "last words"});
  ASSERT_TRUE(session);
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_EQ(session->capture(false), (std::vector<std::string>{"last words"}));
}

TEST_F(SessionTest, WriteInputReachesTheChild) {
  FakeClient client;
  auto session = start({"cat"});
  ASSERT_TRUE(session);
  session->attach(&client, true, 0, 0);
  session->write_input("ping\n");
  // Once by the terminal's echo, once by cat.
  ASSERT_TRUE(run_until_output(client, "ping\r\nping\r\n")) << client.output;
  session->write_input("\x04");
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_EQ(session->exit_status(), 0);
}

TEST_F(SessionTest, LargeInputReachesTheChildWhole) {
  // More than a PTY's input buffer: the rest waits for the master to become writable.
  FakeClient client;
  auto session = start_sh("stty -echo -icanon; echo ready; head -c 300000 | wc -c");
  ASSERT_TRUE(session);
  session->attach(&client, true, 0, 0);
  ASSERT_TRUE(run_until_output(client, "ready\r\n"));
  session->write_input(std::string(300000, 'x'));
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_NE(client.output.find("300000"), std::string::npos) << client.output;
}

TEST_F(SessionTest, SessionAnswersEveryCursorQueryWhenNoWritableClientIsAttached) {
  // One query at a time, each sent once the previous one was answered, so each arrives in a
  // chunk of its own: twenty chances for the screen worker to parse a query before the
  // session could answer it.
  FakeClient viewer;
  auto session = start_gated(
      "stty raw -echo; i=0; while [ $i -lt 20 ]; do printf '\\033[6n'; head -c 6 >/dev/null; "
      "i=$((i+1)); done; echo all-answered");
  ASSERT_TRUE(session);
  session->attach(&viewer, false, 0, 0);
  release(*session);
  const bool has_exited = run_until_exited(*session, 3000);
  int queries = 0;
  for (auto at = viewer.output.find("\x1b[6n"); at != std::string::npos;
       at = viewer.output.find("\x1b[6n", at + 1))
    ++queries;
  EXPECT_TRUE(has_exited) << "query " << queries << " of 20 was never answered";
  EXPECT_NE(viewer.output.find("all-answered"), std::string::npos);
}

TEST_F(SessionTest, SessionLeavesACursorQueryToAnAttachedWritableClient) {
  FakeClient terminal;  // a terminal that never answers
  auto session = start_gated(
      "stty raw -echo; printf '\\033[6n'; timeout 0.3 head -c 1 | od -An -tx1; echo END");
  ASSERT_TRUE(session);
  session->attach(&terminal, true, 0, 0);
  release(*session);
  ASSERT_TRUE(run_until_exited(*session));
  const auto query = terminal.output.find("\x1b[6n");
  ASSERT_NE(query, std::string::npos) << terminal.output;
  EXPECT_EQ(terminal.output.substr(query + 4), "END\n") << "the session answered the query";
}

TEST_F(SessionTest, StalledClientPausesReadingAndIsDroppedAfterTheStallTime) {
  FakeClient stalled;
  stalled.is_stalled = true;
  stalled.queued_bytes = Session::kPauseBacklogBytes;
  auto session = start_sh(
      "echo before; read x; i=1; while [ $i -le 2000 ]; do echo later-$i; i=$((i+1)); done");
  ASSERT_TRUE(session);
  const auto began = std::chrono::steady_clock::now();
  session->attach(&stalled, true, 0, 0);

  // The only client is full: nothing is read until kStallMs passed, then it is dropped.
  ASSERT_TRUE(loop_.run_until([&] { return stalled.drop_calls > 0; }, Session::kStallMs + 3000));
  EXPECT_GE(std::chrono::steady_clock::now() - began,
            std::chrono::milliseconds(Session::kStallMs - 20));
  EXPECT_EQ(stalled.drop_calls, 1);
  EXPECT_EQ(stalled.output_at_drop, 0u) << "read while every client was full";

  // Reading resumed: the output held back meanwhile arrives.
  ASSERT_TRUE(run_until_output(stalled, "before\r\n"));

  // A healthy client joins; the stalled one never drains, so it stays lagging and holds
  // nothing back.
  FakeClient healthy;
  session->attach(&healthy, false, 0, 0);
  session->write_input("\n");
  ASSERT_TRUE(run_until_exited(*session));
  const auto later = healthy.output.find("later-1\r\n");
  ASSERT_NE(later, std::string::npos) << healthy.output;
  EXPECT_EQ(healthy.output.substr(later), numbered_lines("later-", 1, 2000));
  EXPECT_EQ(healthy.exit_status, 0);
}

TEST_F(SessionTest, FullClientBesideAHealthyOneNeitherPausesReadingNorIsDropped) {
  FakeClient full;
  full.is_stalled = true;
  full.queued_bytes = Session::kPauseBacklogBytes;
  FakeClient healthy;
  auto session = start_gated("i=1; while [ $i -le 2000 ]; do echo n-$i; i=$((i+1)); done");
  ASSERT_TRUE(session);
  session->attach(&full, true, 0, 0);
  session->attach(&healthy, false, 0, 0);
  release(*session);
  ASSERT_TRUE(run_until_exited(*session));
  EXPECT_EQ(healthy.output, "\r\n" + numbered_lines("n-", 1, 2000));
  // Only the stall timer of a paused session drops a backlog.
  EXPECT_EQ(full.drop_calls, 0);
}

TEST_F(SessionTest, ReadingResumesAsSoonAsAStalledClientDrains) {
  FakeClient slow;
  slow.is_stalled = true;
  slow.queued_bytes = Session::kPauseBacklogBytes;
  auto session = start_sh("echo hello; sleep 100");
  ASSERT_TRUE(session);
  session->attach(&slow, true, 0, 0);
  loop_.run_for(100);
  EXPECT_EQ(slow.output, "") << "read while every client was full";

  // The client wrote its backlog (a slow disk caught up): nothing is dropped.
  slow.is_stalled = false;
  slow.queued_bytes = 0;
  const auto drained_at = std::chrono::steady_clock::now();
  session->on_client_drained();
  ASSERT_TRUE(run_until_output(slow, "hello\r\n"));
  EXPECT_LT(std::chrono::steady_clock::now() - drained_at,
            std::chrono::milliseconds(Session::kStallMs / 2));
  EXPECT_EQ(slow.drop_calls, 0);
}

TEST_F(SessionTest, ScrollbackKeepsTheNewestBytesUpToItsLimit) {
  // 3 MiB through the ring: it keeps exactly the last kScrollbackBytes.
  auto session = start_sh("head -c 3145728 /dev/zero | tr '\\0' 'a'; printf END");
  ASSERT_TRUE(session);
  ASSERT_TRUE(run_until_exited(*session, 10000));
  const std::string back = session->scrollback();
  ASSERT_EQ(back.size(), Session::kScrollbackBytes);
  EXPECT_EQ(back.substr(back.size() - 3), "END");
  EXPECT_EQ(back.find_first_not_of('a'), back.size() - 3);
}

// A message is never typed into what the user is typing: the session knows when an attached
// client last typed, and `send`-style input (write_input) does not count as typing.
TEST_F(SessionTest, OnlyClientInputCountsAsTyping) {
  auto session = start_sh("cat");
  ASSERT_TRUE(session);
  EXPECT_EQ(session->ms_since_client_input(), UINT64_MAX);
  session->write_input("from send\n");
  EXPECT_EQ(session->ms_since_client_input(), UINT64_MAX);
  session->write_client_input("typed\n");
  EXPECT_LT(session->ms_since_client_input(), 1000u);
  session->stop(100);
  ASSERT_TRUE(run_until_exited(*session));
}

// Bracketed paste is what the program turned on, as the screen model parsed it.
TEST_F(SessionTest, BracketedPasteFollowsTheProgramsMode) {
  auto session = start_gated("printf 'on\\033[?2004h'; read x; printf 'off\\033[?2004l'; sleep 5");
  ASSERT_TRUE(session);
  EXPECT_FALSE(session->is_bracketed_paste());
  FakeClient client;
  session->attach(&client, false, 40, 120);
  release(*session);
  ASSERT_TRUE(run_until_output(client, "on"));
  ASSERT_TRUE(loop_.run_until([&] { return session->is_bracketed_paste(); }, 2000));
  session->write_input("\n");
  ASSERT_TRUE(run_until_output(client, "off"));
  ASSERT_TRUE(loop_.run_until([&] { return !session->is_bracketed_paste(); }, 2000));
  session->detach(&client);
  session->stop(100);
  ASSERT_TRUE(run_until_exited(*session));
}

}  // namespace
}  // namespace baton::runtime
