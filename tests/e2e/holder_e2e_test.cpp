// Agents outlive the daemon (docs/runtime.md "Session holders"): every agent runs under its own
// baton-holder, so a daemon killed outright (kill -9) leaves it running, and the next daemon
// adopts it with what it printed meanwhile. `shutdown` and `kill` still stop agent and holder.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/harness.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

class HolderE2E : public BatonTest {
 protected:
  Json session(const std::string& id) {
    auto all = Json::parse(baton_ok({"sessions", "--all", "--json"}));
    for (const auto& s : all["sessions"])
      if (s["id"] == id) return s;
    return nullptr;
  }

  // kill -9: the daemon gets no chance to stop anyone.
  void kill_daemon() {
    const pid_t pid = daemon_pid();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] { return !process_exists(pid); }));
  }

  std::vector<std::string> history(const std::string& id) {
    auto r = Json::parse(baton_ok({"capture", id, "--history", "--json"}));
    return r["lines"].get<std::vector<std::string>>();
  }

  std::string file(const std::string& name) { return tmp_ + "/" + name; }
};

// The numbers in lines "n K", in the order they appear.
std::vector<long> numbers(const std::vector<std::string>& lines) {
  std::vector<long> out;
  for (const auto& l : lines) {
    if (l.rfind("n ", 0) == 0) out.push_back(std::stol(l.substr(2)));
  }
  return out;
}

// -1 until the file exists (the agent replaces it whole, by rename).
long read_number(const std::string& path) {
  std::ifstream in(path);
  long n = -1;
  if (!(in >> n)) return -1;
  return n;
}

TEST_F(HolderE2E, AKilledDaemonsAgentKeepsItsPidItsOutputAndItsInputGoesToItAfterAdoption) {
  // A numbered line every 10 ms, the newest number also in a file the test can read while no
  // daemon runs; what it reads from its terminal comes back as "got: ...".
  const std::string count = file("count");
  baton_ok({"new", "--name", "counter", "--", "sh", "-c",
            "(i=0; while :; do i=$((i+1)); echo \"n $i\"; echo $i > " + count + ".new; mv " +
                count + ".new " + count +
                "; sleep 0.01; done) & while read l; do echo \"got: $l\"; done"});
  ASSERT_TRUE(eventually([&] { return read_number(count) >= 10; }));
  const Json before = session("counter");
  const pid_t pid = before["pid"].get<pid_t>();
  const pid_t holder = before["holder_pid"].get<pid_t>();
  EXPECT_FALSE(before["adopted"].get<bool>());

  kill_daemon();
  const long at_kill = read_number(count);
  // The agent goes on printing with no daemon at all.
  ASSERT_TRUE(eventually([&] { return read_number(count) >= at_kill + 50; }));
  EXPECT_TRUE(process_exists(pid));
  EXPECT_TRUE(process_exists(holder));
  const long during = read_number(count);

  // The next command starts a daemon, which adopts the agent: same id, same pid.
  const Json after = session("counter");
  ASSERT_FALSE(after.is_null()) << read_file(home_ + "/logs/daemon.log");
  EXPECT_EQ(after["pid"].get<pid_t>(), pid);
  EXPECT_EQ(after["holder_pid"].get<pid_t>(), holder);
  EXPECT_EQ(after["state"], "running");
  EXPECT_TRUE(after["adopted"].get<bool>());

  // Every number printed while no daemon ran is in the scrollback, in order, none missing.
  std::vector<long> seen;
  ASSERT_TRUE(eventually([&] {
    seen = numbers(history("counter"));
    return !seen.empty() && seen.back() > during;
  }));
  ASSERT_LE(seen.front(), at_kill + 1) << "output from before the adoption is missing";
  for (std::size_t i = 1; i < seen.size(); ++i)
    ASSERT_EQ(seen[i], seen[i - 1] + 1) << "a line went missing after " << seen[i - 1];

  // A line typed now reaches the same agent.
  baton_ok({"send", "counter", "--keys", "hello-again", "Enter"});
  ASSERT_TRUE(eventually([&] {
    const auto lines = history("counter");
    return std::find(lines.begin(), lines.end(), "got: hello-again") != lines.end();
  }));
  // And attach shows the current screen: numbers printed after the adoption.
  const long now = read_number(count);
  auto r = baton({"attach", "counter", "--read-only"}, RunOptions{.timeout_ms = 5000});
  long newest = 0;
  for (std::size_t at = r.out.find("n "); at != std::string::npos; at = r.out.find("n ", at + 2))
    newest = std::max(newest, std::strtol(r.out.c_str() + at + 2, nullptr, 10));
  EXPECT_GE(newest, now) << r.out;
}

TEST_F(HolderE2E, AnAgentThatExitsWhileNoDaemonRunsHasItsStatusAndLastWordsReported) {
  const std::string go = file("go");
  baton_ok({"new", "--name", "leaver", "--", "sh", "-c",
            "while [ ! -e " + go + " ]; do sleep 0.02; done; echo last-words; exit 7"});
  const pid_t pid = session("leaver")["pid"].get<pid_t>();
  kill_daemon();
  std::ofstream(go) << "go\n";
  ASSERT_TRUE(eventually([&] { return !process_exists(pid); }));
  // The holder reaped it and keeps its status until a daemon collects it.
  ASSERT_EQ(holder_sockets().size(), 1u);
  EXPECT_EQ(wait_exited("leaver"), 7);
  EXPECT_NE(capture("leaver").find("last-words"), std::string::npos) << capture("leaver");
  // Collected: the holder is gone.
  EXPECT_TRUE(eventually([&] { return holder_sockets().empty(); }));
}

TEST_F(HolderE2E, ATerminalQueryWhileNoDaemonRunsIsAnsweredByTheHolder) {
  // As codex does at start: ask for the cursor position and give up when no answer comes.
  const std::string go = file("go");
  const std::string answer = file("answer");
  baton_ok({"new", "--name", "asker", "--", "bash", "-c",
            "stty raw -echo; while [ ! -e " + go +
                " ]; do sleep 0.02; done; printf '\\033[6n';"
                " if IFS= read -r -s -d R -t 5 reply; then echo \"ok ${reply#?}\" > " +
                answer + "; else echo none > " + answer + "; fi; sleep 100"});
  kill_daemon();
  std::ofstream(go) << "go\n";
  ASSERT_TRUE(eventually([&] { return !read_file(answer).empty(); }, 8000));
  EXPECT_EQ(read_file(answer), "ok [1;1\n");
}

TEST_F(HolderE2E, ShutdownAndKillStillStopTheAgentAndItsHolder) {
  baton_ok({"new", "--name", "a", "--", "sleep", "1000"});
  baton_ok({"new", "--name", "b", "--", "sleep", "1000"});
  const Json a = session("a");
  const Json b = session("b");
  ASSERT_EQ(holder_sockets().size(), 2u);
  baton_ok({"kill", "a"});
  EXPECT_TRUE(eventually([&] {
    return !process_exists(a["pid"].get<pid_t>()) && !process_exists(a["holder_pid"].get<pid_t>());
  }));
  EXPECT_EQ(holder_sockets().size(), 1u);
  const pid_t daemon = daemon_pid();
  baton_ok({"shutdown"});
  EXPECT_TRUE(eventually([&] { return !process_exists(daemon); }));
  EXPECT_TRUE(eventually([&] {
    return !process_exists(b["pid"].get<pid_t>()) && !process_exists(b["holder_pid"].get<pid_t>());
  }));
  EXPECT_TRUE(holder_sockets().empty());
}

TEST_F(HolderE2E, ShutdownAfterADaemonKillStopsTheAgentsItLeftRunning) {
  baton_ok({"new", "--name", "left", "--", "sleep", "1000"});
  const Json s = session("left");
  kill_daemon();
  ASSERT_TRUE(process_exists(s["pid"].get<pid_t>()));
  // No daemon runs, but an agent does: shutdown adopts it and stops it with its holder.
  baton_ok({"shutdown"});
  EXPECT_TRUE(eventually([&] {
    return !process_exists(s["pid"].get<pid_t>()) && !process_exists(s["holder_pid"].get<pid_t>());
  }));
  EXPECT_TRUE(holder_sockets().empty());
  EXPECT_TRUE(eventually([&] { return !process_exists(daemon_pid()); }));
}

TEST_F(HolderE2E, ShutdownWithOnlyADeadHoldersSocketStartsNoDaemon) {
  baton_ok({"new", "--name", "gone", "--", "sleep", "1000"});
  const pid_t holder = session("gone")["holder_pid"].get<pid_t>();
  kill_daemon();
  kill_holders();
  // Reaped by init: until then its pid still answers.
  ASSERT_TRUE(eventually([&] { return kill(holder, 0) != 0; }));
  ASSERT_EQ(holder_sockets().size(), 1u);
  const RunResult r = baton({"shutdown"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.err.find("no daemon is running"), std::string::npos) << r.err;
  EXPECT_FALSE(process_exists(daemon_pid()));
}

TEST_F(HolderE2E, AnAttachedTerminalStaysAttachedToTheAgentThroughADaemonKill) {
  const std::string go = file("go");
  baton_ok({"new", "--name", "talker", "--", "sh", "-c",
            "echo ready; while [ ! -e " + go +
                " ]; do sleep 0.02; done; echo after-the-kill; read x; echo got-$x; sleep 1000"});
  const pid_t agent = session("talker")["pid"].get<pid_t>();
  const pid_t client = attach_in_background("talker", file("attach.out"), file("attach.err"));
  ASSERT_TRUE(
      eventually([&] { return read_file(file("attach.out")).find("ready") != std::string::npos; }));
  kill_daemon();
  std::ofstream(go) << "go\n";
  // The same client, reattached to the daemon it started, which adopted the agent.
  EXPECT_TRUE(eventually([&] {
    return read_file(file("attach.out")).find("after-the-kill") != std::string::npos;
  })) << read_file(file("attach.out"))
      << read_file(file("attach.err"));
  EXPECT_EQ(exit_of(client), -1) << read_file(file("attach.err"));
  EXPECT_EQ(session("talker")["pid"].get<pid_t>(), agent);
  baton_ok({"send", "talker", "hello\n"});
  EXPECT_TRUE(eventually([&] {
    return read_file(file("attach.out")).find("got-hello") != std::string::npos;
  })) << read_file(file("attach.out"));
  baton_ok({"kill", "talker"});
  int status = -1;
  EXPECT_TRUE(eventually([&] { return (status = exit_of(client)) >= 0; }));
  EXPECT_EQ(status, 128 + SIGHUP) << read_file(file("attach.err"));
}

TEST_F(HolderE2E, AShutdownEndsAnAttachedTerminalWithoutStartingAnotherDaemon) {
  baton_ok({"new", "--name", "s", "--", "sh", "-c", "echo ready; sleep 1000"});
  const pid_t client = attach_in_background("s", file("attach.out"), file("attach.err"));
  ASSERT_TRUE(
      eventually([&] { return read_file(file("attach.out")).find("ready") != std::string::npos; }));
  const pid_t daemon = daemon_pid();
  baton_ok({"shutdown"});
  int status = -1;
  ASSERT_TRUE(eventually([&] { return (status = exit_of(client)) >= 0; }));
  // The session's exit, not a lost connection (1), which would have been reattached.
  EXPECT_EQ(status, 128 + SIGHUP) << read_file(file("attach.err"));
  EXPECT_TRUE(eventually([&] { return !process_exists(daemon); }));
  // No daemon took its place: the lock names none that runs.
  EXPECT_FALSE(process_exists(daemon_pid()));
}

TEST_F(HolderE2E, AKilledHolderIsACrashOfItsAgent) {
  baton_ok({"new", "--name", "orphan", "--", "sleep", "1000"});
  const Json s = session("orphan");
  ASSERT_EQ(kill(s["holder_pid"].get<pid_t>(), SIGKILL), 0);
  // The kernel hangs the agent up (PR_SET_PDEATHSIG); the daemon reports it like any exit.
  EXPECT_EQ(wait_exited("orphan"), 128 + SIGHUP);
  EXPECT_TRUE(eventually([&] { return !process_exists(s["pid"].get<pid_t>()); }));
}

TEST_F(HolderE2E, AnOverflowingRingKeepsTheNewestOutputAndSaysHowMuchWentMissing) {
  const std::string go = file("go");
  const std::string done = file("done");
  // 800,000 lines of about 9 bytes: more than the 4 MiB ring holds.
  baton_ok({"new", "--name", "flood", "--", "sh", "-c",
            "while [ ! -e " + go +
                " ]; do sleep 0.02; done; seq 1 800000 | "
                "sed 's/^/n /'; touch " +
                done + "; sleep 100"});
  kill_daemon();
  std::ofstream(go) << "go\n";
  ASSERT_TRUE(eventually([&] { return fs::exists(done); }, 60000));
  const auto lines = history("flood");
  ASSERT_FALSE(lines.empty());
  bool has_marker = false;
  for (const auto& l : lines)
    has_marker |= l.find("bytes of output were dropped") != std::string::npos;
  EXPECT_TRUE(has_marker);
  const auto seen = numbers(lines);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), 800000);
  for (std::size_t i = 1; i < seen.size(); ++i)
    ASSERT_EQ(seen[i], seen[i - 1] + 1) << "a line went missing after " << seen[i - 1];
}

TEST_F(HolderE2E, HoldersThatAreNotSafeOrSpeakANewerProtocolAreLeftAloneWithOneLogLine) {
  baton_ok({"new", "--name", "keep", "--", "sleep", "1000"});
  kill_daemon();
  const std::string dir = home_ + "/run/holders";
  // A symlink planted where a holder's socket would be, and a file that is not a socket.
  fs::create_symlink("/etc/passwd", dir + "/1.sock");
  std::ofstream(dir + "/2.sock") << "not a socket\n";
  // A socket of another user's (only root can plant one in this 0700 directory).
  const std::string foreign = dir + "/4.sock";
  const bool is_root = getuid() == 0;
  if (is_root) {
    run_process({"python3", "-c",
                 "import socket,sys\n"
                 "socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET).bind(sys.argv[1])",
                 foreign});
    ASSERT_EQ(chown(foreign.c_str(), 65534, 65534), 0);
  }
  // A "holder" of protocol 99: it says hello and waits.
  const std::string fake = dir + "/3.sock";
  const std::string script =
      "import socket,sys,time\n"
      "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
      "s.bind(sys.argv[1]); s.listen(1)\n"
      "open(sys.argv[2],'w').write('up')\n"
      "c,_=s.accept()\n"
      "c.send(b'\\x01version=99\\x00id=future\\x00pid=1\\x00')\n"
      "time.sleep(30)\n";
  const std::string up = file("fake-up");
  pid_t fake_pid = fork();
  if (fake_pid == 0) {
    execlp("python3", "python3", "-c", script.c_str(), fake.c_str(), up.c_str(), nullptr);
    _exit(127);
  }
  ASSERT_TRUE(eventually([&] { return fs::exists(up); }));
  const Json s = session("keep");
  EXPECT_FALSE(s.is_null());
  EXPECT_TRUE(s["adopted"].get<bool>());
  EXPECT_TRUE(session("future").is_null());
  const std::string log = read_file(home_ + "/logs/daemon.log");
  EXPECT_NE(log.find(dir + "/1.sock: ignored, it is a symlink"), std::string::npos) << log;
  EXPECT_NE(log.find(dir + "/2.sock: ignored, it is not a socket"), std::string::npos) << log;
  if (is_root) {
    EXPECT_NE(log.find(foreign + ": ignored, it belongs to uid 65534"), std::string::npos) << log;
    EXPECT_TRUE(fs::exists(foreign));
  }
  EXPECT_NE(log.find("is held with protocol 99, this daemon speaks 1; left running"),
            std::string::npos)
      << log;
  // Nothing was followed or removed.
  EXPECT_TRUE(fs::is_symlink(dir + "/1.sock"));
  EXPECT_EQ(read_file("/etc/passwd").empty(), false);
  kill(fake_pid, SIGKILL);
  waitpid(fake_pid, nullptr, 0);
  fs::remove(dir + "/1.sock");
  fs::remove(dir + "/2.sock");
  fs::remove(foreign);
  fs::remove(fake);
}

}  // namespace
}  // namespace baton::test
