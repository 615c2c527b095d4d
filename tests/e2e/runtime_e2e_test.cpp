// The runtime through the real binaries: sessions, exit status, output integrity,
// terminal queries, auto-start and lock, protocol mismatch, shutdown.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;

class RuntimeE2E : public BatonTest {};

TEST_F(RuntimeE2E, NewPrintsTheIdAndSessionsListsItWithItsFields) {
  const std::string id = baton_ok({"new", "--name", "work", "--cwd", tmp_, "--", "sleep", "100"});
  EXPECT_EQ(id, "work\n");
  auto j = Json::parse(baton_ok({"sessions", "--json"}));
  ASSERT_EQ(j["sessions"].size(), 1u);
  const auto& s = j["sessions"][0];
  EXPECT_EQ(s["id"], "work");
  EXPECT_EQ(s["command"], Json::array({"sleep", "100"}));
  EXPECT_EQ(s["cwd"], tmp_);
  EXPECT_EQ(s["state"], "running");
  EXPECT_TRUE(s["exit_status"].is_null());
  EXPECT_GT(s["pid"].get<int>(), 1);
  EXPECT_TRUE(process_exists(s["pid"].get<int>()));
  EXPECT_EQ(s["created_at"].get<std::string>().size(), 24u);  // 2026-11-26T00:00:00.000Z
}

// A command that connects while the daemon is being killed: the dying daemon's socket takes
// the connection and closes it without a byte. The command is not answered by that; it goes
// to the daemon that starts next (the one-line "daemon closed the connection" before).
TEST_F(RuntimeE2E, ARequestADyingDaemonLeftUnansweredGoesToTheNextDaemon) {
  const std::string run = home_ + "/run";
  ASSERT_EQ(mkdir(home_.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(run.c_str(), 0700), 0);
  const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = run + "/control.sock";
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::copy(path.begin(), path.end(), addr.sun_path);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  std::thread dying([listener] {
    const int c = accept(listener, nullptr, nullptr);
    if (c >= 0) close(c);
    close(listener);
  });
  auto r = baton({"sessions", "--json"});
  dying.join();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out, nullptr, false)["sessions"].size(), 0u) << r.out;
  EXPECT_GT(daemon_pid(), 0);
}

TEST_F(RuntimeE2E, AutoIdsCountUp) {
  EXPECT_EQ(baton_ok({"new", "--", "sleep", "100"}), "s1\n");
  EXPECT_EQ(baton_ok({"new", "--", "sleep", "100"}), "s2\n");
}

TEST_F(RuntimeE2E, ExecFailureIsOneClearLine) {
  auto r = baton({"new", "--", "codx"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "baton: cannot start 'codx': No such file or directory\n");
  auto r2 = baton({"new", "--cwd", tmp_ + "/missing", "--", "sh"});
  EXPECT_EQ(r2.status, 1);
  EXPECT_EQ(r2.err,
            "baton: cannot start 'sh' in '" + tmp_ + "/missing': No such file or directory\n");
  const std::string script = tmp_ + "/noexec.sh";
  std::ofstream(script) << "#!/bin/sh\necho hi\n";
  auto r3 = baton({"new", "--", script});
  EXPECT_EQ(r3.status, 1);
  EXPECT_EQ(r3.err, "baton: cannot start '" + script + "': Permission denied\n");
}

TEST_F(RuntimeE2E, UsageErrorsExitTwo) {
  auto r = baton({"new"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("baton: "), std::string::npos);
  EXPECT_EQ(baton({"frobnicate"}).status, 2);
  EXPECT_EQ(baton({"attach", "--detach-key", "xyz"}).status, 2);
}

TEST_F(RuntimeE2E, ExitStatusAndFinalScreenAreKept) {
  baton_ok({"new", "--name", "seven", "--", "sh", "-c", "echo goodbye; exit 7"});
  EXPECT_EQ(wait_exited("seven"), 7);
  EXPECT_NE(capture("seven").find("goodbye"), std::string::npos);
  // An exited session is not listed without --all, and kill removes it.
  auto running = Json::parse(baton_ok({"sessions", "--json"}));
  EXPECT_TRUE(running["sessions"].empty());
  baton_ok({"kill", "seven"});
  auto all = Json::parse(baton_ok({"sessions", "--all", "--json"}));
  EXPECT_TRUE(all["sessions"].empty());
}

TEST_F(RuntimeE2E, KilledBySignalReportsOneTwentyEightPlusSignal) {
  baton_ok({"new", "--name", "k", "--", "sh", "-c", "kill -TERM $$; sleep 5"});
  EXPECT_EQ(wait_exited("k"), 128 + SIGTERM);
}

TEST_F(RuntimeE2E, TheLastLineBeforeExitIsNeverLost) {
  constexpr int kRuns = 200;
  for (int i = 0; i < kRuns; ++i) {
    const std::string id = "last" + std::to_string(i);
    const std::string marker = "LAST-LINE-" + std::to_string(i);
    baton_ok({"new", "--name", id, "--", "sh", "-c", "seq 1 300; printf '" + marker + "'"});
  }
  for (int i = 0; i < kRuns; ++i) {
    const std::string id = "last" + std::to_string(i);
    ASSERT_EQ(wait_exited(id), 0);
    const std::string screen = capture(id);
    ASSERT_NE(screen.find("LAST-LINE-" + std::to_string(i)), std::string::npos)
        << "run " << i << " lost its last line; screen:\n"
        << screen;
  }
}

TEST_F(RuntimeE2E, LargeOutputArrivesWholeAndInOrderThroughAnAttachedClient) {
  // ~56 MB; -onlcr so the bytes arrive exactly as seq wrote them.
  baton_ok({"new", "--name", "big", "--", "sh", "-c",
            "stty -echo -onlcr; read go; seq 1 8000000; echo END"});
  auto r = baton({"attach", "big"}, RunOptions{.input = "go\n", .timeout_ms = 240000});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string expected;
  expected.reserve(60u << 20);
  for (int i = 1; i <= 8000000; ++i) {
    expected += std::to_string(i);
    expected += '\n';
  }
  expected += "END\n";
  ASSERT_GE(r.out.size(), expected.size());
  EXPECT_GT(expected.size(), 50u << 20);
  const bool whole = r.out.compare(r.out.size() - expected.size(), expected.size(), expected) == 0;
  EXPECT_TRUE(whole) << "output differs; got " << r.out.size() << " bytes, expected a suffix of "
                     << expected.size();
}

TEST_F(RuntimeE2E, AttachForwardsInputAndExitsWithTheSessionsStatus) {
  baton_ok(
      {"new", "--name", "ask", "--", "sh", "-c", "read answer; echo \"you said $answer\"; exit 3"});
  auto r = baton({"attach", "ask"}, RunOptions{.input = "forty-two\n"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_NE(r.out.find("you said forty-two"), std::string::npos) << r.out;
  // Attaching to an exited session shows its last screen and its status at once.
  auto again = baton({"attach", "ask"});
  EXPECT_EQ(again.status, 3);
  EXPECT_NE(again.out.find("you said forty-two"), std::string::npos) << again.out;
}

TEST_F(RuntimeE2E, ACursorPositionQueryGetsExactlyOneAnswerWhenNoClientIsAttached) {
  baton_ok({"new", "--name", "probe", "--", QUERY_PROBE_BIN});
  std::string screen;
  ASSERT_TRUE(eventually([&] {
    screen = capture("probe");
    return screen.find("answers") != std::string::npos;
  })) << screen;
  // The probe drew "probe" at row 3, col 7: the cursor was at 3;12.
  EXPECT_NE(screen.find("answers cpr=1 da=1 first=[3;12R"), std::string::npos) << screen;
}

TEST_F(RuntimeE2E, SendTypesTextAndNamedKeys) {
  baton_ok({"new", "--name", "cat", "--", "sh", "-c",
            "stty -echo; while read l; do echo \"got:$l\"; done"});
  baton_ok({"send", "cat", "hello", "world"});
  baton_ok({"send", "cat", "--keys", "Enter"});
  std::string screen;
  EXPECT_TRUE(eventually([&] {
    screen = capture("cat");
    return screen.find("got:hello world") != std::string::npos;
  })) << screen;
  auto r = baton({"send", "nosuch", "x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "baton: no session 'nosuch'\n");
}

TEST_F(RuntimeE2E, CaptureJoinsSoftWrappedRowsUnlessRaw) {
  baton_ok({"new", "--name", "wrap", "--", "sh", "-c", "printf '%0150d\\n' 0; sleep 100"});
  std::string joined;
  ASSERT_TRUE(eventually([&] {
    joined = capture("wrap");
    return joined.find(std::string(150, '0')) != std::string::npos;
  })) << joined;
  const std::string raw = baton_ok({"capture", "wrap", "--raw"});
  EXPECT_NE(raw.find(std::string(120, '0') + "\n" + std::string(30, '0')), std::string::npos)
      << raw;
}

TEST_F(RuntimeE2E, TwoConcurrentAutoStartsMakeOneDaemon) {
  std::vector<std::thread> threads;
  std::vector<RunResult> results(4);
  threads.reserve(results.size());
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] { results[i] = baton({"sessions", "--json"}); });
  for (auto& t : threads) t.join();
  for (auto& r : results) EXPECT_EQ(r.status, 0) << r.err;
  const std::string log = read_file(home_ + "/logs/daemon.log");
  std::size_t listening = 0;
  for (std::size_t p = log.find("listening"); p != std::string::npos;
       p = log.find("listening", p + 1))
    ++listening;
  EXPECT_EQ(listening, 1u) << log;
  // A daemon started by hand next to it says so and leaves the running one alone.
  const pid_t pid = daemon_pid();
  auto second =
      run_process({BATON_DAEMON_BIN, "--foreground"}, RunOptions{.env = {{"BATON_HOME", home_}}});
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("already running"), std::string::npos) << second.err;
  EXPECT_EQ(daemon_pid(), pid);
  EXPECT_TRUE(process_exists(pid));
}

TEST_F(RuntimeE2E, AProtocolMismatchIsOneLineSayingWhatToDo) {
  baton_ok({"sessions"});
  auto r = baton({"sessions"}, RunOptions{.env = {{"BATON_TEST_PROTOCOL_VERSION", "999"}}});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "baton: daemon speaks protocol 1, this client 999 — run 'baton shutdown'\n");
  // The advice works even across the mismatch.
  const pid_t pid = daemon_pid();
  auto s = baton({"shutdown"}, RunOptions{.env = {{"BATON_TEST_PROTOCOL_VERSION", "999"}}});
  EXPECT_EQ(s.status, 0) << s.err;
  EXPECT_TRUE(eventually([&] { return !process_exists(pid); }));
}

TEST_F(RuntimeE2E, ShutdownStopsEverySessionEvenOneIgnoringHangupAndTerm) {
  baton_ok({"new", "--name", "a", "--", "sleep", "1000"});
  baton_ok({"new", "--name", "stubborn", "--", "sh", "-c",
            "trap '' HUP TERM; while :; do sleep 1; done"});
  auto j = Json::parse(baton_ok({"sessions", "--json"}));
  std::vector<pid_t> pids;
  for (const auto& s : j["sessions"]) pids.push_back(s["pid"].get<pid_t>());
  ASSERT_EQ(pids.size(), 2u);
  const pid_t daemon = daemon_pid();
  auto r = baton({"shutdown"});
  EXPECT_EQ(r.status, 0) << r.err;
  for (pid_t p : pids) EXPECT_TRUE(eventually([&] { return !process_exists(p); })) << p;
  EXPECT_TRUE(eventually([&] { return !process_exists(daemon); }));
  const std::string log = read_file(home_ + "/logs/daemon.log");
  EXPECT_NE(log.find("uv_loop_close=0"), std::string::npos) << log;
}

TEST_F(RuntimeE2E, StateLivesUnderBatonHomeWithPrivatePermissions) {
  baton_ok({"sessions"});
  struct stat st {};
  ASSERT_EQ(stat((home_ + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((home_ + "/run/control.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(stat((home_ + "/logs/daemon.log").c_str(), &st), 0);
  EXPECT_EQ(stat((home_ + "/state").c_str(), &st), 0);
}

TEST_F(RuntimeE2E, SessionsGetTermColortermAndAUtf8Lang) {
  baton_ok({"new", "--name", "env", "--", "sh", "-c",
            "echo \"T=$TERM C=$COLORTERM L=$LANG\"; sleep 100"},
           RunOptions{.env = {{"LANG", "POSIX"}}});
  std::string screen;
  EXPECT_TRUE(eventually([&] {
    screen = capture("env");
    return screen.find("T=xterm-256color C=truecolor L=C.UTF-8") != std::string::npos;
  })) << screen;
}

}  // namespace
}  // namespace baton::test
