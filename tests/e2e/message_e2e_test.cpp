// `baton tell` and the outbox against the real daemon (docs/orchestrator.md "Messages"): fake
// agents read lines from their terminal, append them to a log with their session id, and say
// what they do with `baton signal`, as a hooked agent would. A message arrives once, in order,
// one per turn end, in the agent that can take it — the new one after a handoff or a crash, and
// after the daemon was killed at any step of a delivery.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugin/fault.hpp"
#include "tests/e2e/attach_probe.hpp"
#include "tests/e2e/orchestrator_fixture.hpp"

namespace baton::test {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// What a listening agent does, beyond reading lines and logging them.
struct Listener {
  std::string before_ready;  // shell run before it first says idle
  std::string ready_state = "idle";
  std::string turn;  // shell run while it works on a line, before it says idle again
  // Says `working` when a line comes; an agent that reports only its turn's end (codex's
  // notify) does not.
  bool says_working = true;
};

class MessageE2E : public OrchestratorE2E {
 protected:
  void SetUp() override {
    OrchestratorE2E::SetUp();
    log_ = tmp_ + "/messages.log";
    listener("agent-listen", {});
    use_agent("listen", "");
  }

  // A bash agent: logs "start <session>", then each line it reads as "<session> <line>"; a
  // line starting with "crash" ends it with status 3. "EARLY" in the log means a line was
  // typed while it was still working on the one before.
  void listener(const std::string& name, const Listener& l) {
    const std::string body =
        "log='" + log_ +
        "'\n"
        "echo \"AGENT $BATON_SESSION\"\n"
        "printf 'start %s\\n' \"$BATON_SESSION\" >> \"$log\"\n" +
        l.before_ready + "\nbaton signal " + l.ready_state +
        "\n"
        "while IFS= read -r line; do\n"
        "  printf '%s %s\\n' \"$BATON_SESSION\" \"$line\" >> \"$log\"\n"
        "  case \"$line\" in crash*) exit 3;; esac\n" +
        (l.says_working ? "  baton signal working\n" : "") + l.turn +
        "\n"
        "  if read -t 0; then printf 'EARLY %s\\n' \"$BATON_SESSION\" >> \"$log\"; fi\n"
        "  baton signal idle\n"
        "done\n";
    const std::string path = bin_ + "/" + name;
    write(path, "#!/bin/bash\n" + body);
    chmod(path.c_str(), 0755);
  }

  void use_agent(const std::string& name, const std::string& extra) {
    config("[orchestrator]\nagent = \"" + name + "\"\nlaunch_grace = \"1s\"\n" + extra +
           "[agents.listen]\ncommand = [\"agent-listen\"]\n"
           "[agents.slow]\ncommand = [\"agent-slow\"]\n"
           "[agents.paste]\ncommand = [\"agent-paste\"]\n"
           "[agents.waits]\ncommand = [\"agent-waits\"]\n");
    baton_ok({"allow", repo_});
  }

  std::string log() { return read_file(log_); }

  std::string activity() {
    const Json s = status();
    return s["activity"].is_string() ? s["activity"].get<std::string>() : "";
  }

  void up_idle(const RunOptions& o) {
    auto r = baton({"up", repo_, "--detach"}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(eventually([&] { return activity() == "idle"; }, 15000)) << status().dump();
  }

  RunResult tell(const std::vector<std::string>& words) {
    std::vector<std::string> args{"tell", repo_};
    args.insert(args.end(), words.begin(), words.end());
    return b(args);
  }

  bool arrives(const std::string& line, int timeout_ms = 15000) {
    return eventually([&] { return log().find(line + "\n") != std::string::npos; }, timeout_ms);
  }

  int outbox_count() { return status()["outbox"].get<int>(); }

  // True when message delivery holds no activity listener and no timer (test builds).
  bool holds_nothing() {
    const auto r = b({"debug", "delivery"});
    const auto j = Json::parse(r.out, nullptr, false);
    return !j.is_discarded() && j["listening"] == false && j["timer"] == false;
  }

  std::string log_;
};

TEST_F(MessageE2E, TellToAnIdleAgentArrivesOnceAsALineOfItsOwn) {
  up_idle(opts());
  auto r = tell({"please", "review", "the", "diff"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "m1 queued\n");
  ASSERT_TRUE(arrives("shop-1 please review the diff")) << log();
  EXPECT_TRUE(eventually([&] { return outbox_count() == 0; })) << status().dump();
  EXPECT_EQ(count_of(log(), "please review the diff"), 1u) << log();
  // Once the agent's turn after the message ended, nothing of the delivery stays registered.
  if (plugin::kHasFaultPoints) {
    EXPECT_TRUE(eventually([&] { return activity() == "idle" && holds_nothing(); }))
        << b({"debug", "delivery"}).out;
  }
}

TEST_F(MessageE2E, TheTextGoesInsideBracketedPasteWhenTheAgentTurnedItOn) {
  listener("agent-paste", {.before_ready = "printf '\\033[?2004h'"});
  use_agent("paste", "");
  up_idle(opts());
  ASSERT_EQ(tell({"two words"}).status, 0);
  // The paste markers are part of the line the agent reads; the Enter comes after the end
  // marker, as a key of its own.
  ASSERT_TRUE(arrives("shop-1 \x1b[200~two words\x1b[201~")) << log();
}

TEST_F(MessageE2E, TwoTellsArriveInOrderOnePerTurnEnd) {
  // Works on each line until the test lets it finish, printing so its screen says it works;
  // reports only the end of its turn, as codex does.
  listener("agent-slow", {.turn = "  while [ ! -f '" + tmp_ +
                                  "/go' ]; do printf .; sleep 0.2; done; rm -f '" + tmp_ + "/go'",
                          .says_working = false});
  use_agent("slow", "");
  up_idle(opts());
  ASSERT_EQ(tell({"first"}).status, 0);
  ASSERT_EQ(tell({"second"}).status, 0);
  ASSERT_TRUE(arrives("shop-1 first")) << log();
  ASSERT_TRUE(eventually([&] { return activity() == "working"; })) << status().dump();
  // The agent's turn has not ended: the second message waits in the outbox, untouched.
  auto ls = Json::parse(baton_ok({"outbox", repo_, "ls", "--json"}, opts()));
  ASSERT_EQ(ls["messages"].size(), 1u) << ls.dump();
  EXPECT_EQ(ls["messages"][0]["text"], "second");
  EXPECT_EQ(ls["messages"][0]["state"], "queued");
  write(tmp_ + "/go", "");
  ASSERT_TRUE(arrives("shop-1 second")) << log();
  write(tmp_ + "/go", "");
  EXPECT_TRUE(eventually([&] { return activity() == "idle" && outbox_count() == 0; }));
  if (plugin::kHasFaultPoints) {
    EXPECT_TRUE(eventually([&] { return holds_nothing(); }));
  }
  const std::string l = log();
  EXPECT_LT(l.find("shop-1 first"), l.find("shop-1 second")) << l;
  EXPECT_EQ(count_of(l, "EARLY"), 0u) << l;
  EXPECT_EQ(count_of(l, "first"), 1u) << l;
  EXPECT_EQ(count_of(l, "second"), 1u) << l;
}

TEST_F(MessageE2E, AMessageWaitsWhileAnAttachedClientTypedInTheLastSeconds) {
  up_idle(opts());
  AttachProbe probe(24, 80);
  ASSERT_TRUE(probe.attach(home_, repo_).is_object());
  // The user types a character and erases it: the agent's line stays empty.
  ASSERT_TRUE(probe.type("x\x7f"));
  const auto typed_at = Clock::now();
  ASSERT_EQ(tell({"after the user"}).status, 0);
  ASSERT_TRUE(arrives("shop-1 after the user")) << log();
  const auto waited_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - typed_at).count();
  // Held for the quiet time (3 s) after the keystrokes, not typed into the user's line.
  EXPECT_GE(waited_ms, 2500) << log();
}

TEST_F(MessageE2E, ATellDuringAReplaceArrivesOnceInTheNewAgentAndNeverInTheOld) {
  up_idle(opts());
  // The old agent takes messages (its launch grace is over) until the handoff begins.
  ASSERT_EQ(tell({"before"}).status, 0);
  ASSERT_TRUE(arrives("shop-1 before")) << log();
  ASSERT_TRUE(eventually([&] { return activity() == "idle"; })) << status().dump();
  // From the next handoff on, its before_spawn hook holds it until the test lets it go.
  const std::string go = tmp_ + "/spawn-go";
  use_agent("listen",
            "[hooks]\nbefore_spawn = \"while [ ! -f '" + go + "' ]; do sleep 0.1; done\"\n");
  RunResult replaced;
  std::thread replace([&] { replaced = b({"replace", repo_}); });
  // The handoff holds in its before_spawn hook: the old agent is idle, but the message is for
  // the one that comes next.
  EXPECT_TRUE(eventually([&] { return status()["health"] == "replacing"; }));
  auto r = tell({"during", "the", "handoff"});
  EXPECT_EQ(r.status, 0) << r.err;
  write(go, "");
  replace.join();
  ASSERT_EQ(replaced.status, 0) << replaced.err;
  ASSERT_TRUE(arrives("shop-2 during the handoff")) << log();
  EXPECT_TRUE(eventually([&] { return outbox_count() == 0; }));
  EXPECT_EQ(count_of(log(), "during the handoff"), 1u) << log();
  // The timer that re-checked while the handoff held the message is closed.
  if (plugin::kHasFaultPoints) {
    EXPECT_TRUE(eventually([&] { return holds_nothing(); }));
  }
}

// The old tree's deletion after the reply holds nothing back: the new agent takes messages.
TEST_F(MessageE2E, ATellDuringTheOldTreesDeletionReachesTheNewAgent) {
  if (!plugin::kHasFaultPoints) GTEST_SKIP() << "needs the fault points (-DBATON_FAULTS=ON)";
  up_idle(opts());
  const std::string release = tmp_ + "/release-deletion";
  auto paused = opts();
  paused.env["BATON_FAULT"] = "trash.deleting:pause";
  paused.env["BATON_FAULT_RELEASE"] = release;
  auto r = baton({"replace", repo_}, paused);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(eventually([&] { return status()["orchestrator"]["id"] == "shop-2"; }));
  ASSERT_EQ(tell({"while", "deleting"}).status, 0);
  EXPECT_TRUE(arrives("shop-2 while deleting")) << log() << status().dump();
  EXPECT_TRUE(std::filesystem::exists(home_ + "/worktrees/shop/.trash-shop-1"));
  write(release, "go\n");
  EXPECT_TRUE(eventually(
      [&] { return !std::filesystem::exists(home_ + "/worktrees/shop/.trash-shop-1"); }));
  EXPECT_EQ(count_of(log(), "while deleting"), 1u) << log();
}

TEST_F(MessageE2E, ATellWhileTheAgentIsRelaunchedAfterACrashArrivesInTheRelaunchedAgent) {
  up_idle(opts());
  ASSERT_EQ(tell({"crash now"}).status, 0);
  ASSERT_TRUE(arrives("shop-1 crash now")) << log();
  // Exited, a relaunch pending (or already done): an agent comes back, so the tell is queued.
  auto r = tell({"after the crash"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(arrives("shop-1 after the crash")) << log();
  const std::string l = log();
  EXPECT_EQ(count_of(l, "start shop-1"), 2u) << l;
  EXPECT_GT(l.find("shop-1 after the crash"), l.rfind("start shop-1")) << l;
  EXPECT_EQ(count_of(l, "after the crash"), 1u) << l;
}

TEST_F(MessageE2E, TellToAProjectThatIsDownFailsWithOneLine) {
  up_idle(opts());
  ASSERT_EQ(b({"down", repo_}).status, 0);
  auto r = tell({"anyone?"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
  EXPECT_NE(r.err.find("project shop is down: no agent will read the message"), std::string::npos)
      << r.err;
  EXPECT_EQ(outbox_count(), 0);
}

TEST_F(MessageE2E, TellFailsWithOneLineOnceRelaunchesAreExhausted) {
  up_idle(opts());
  // Each relaunched agent takes the next message and crashes on it: 1 + 5 relaunches (1 s,
  // 2 s, 4 s, 8 s, 16 s back-off), after which the orchestrator is left exited.
  for (int i = 1; i <= 6; ++i) ASSERT_EQ(tell({"crash " + std::to_string(i)}).status, 0);
  ASSERT_TRUE(arrives("shop-1 crash 6", 60000)) << log();
  ASSERT_TRUE(eventually([&] { return status()["health"] == "exited"; }, 10000)) << status().dump();
  auto r = tell({"anyone?"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "baton: the orchestrator of shop exited and is not relaunched: no agent will "
            "read the message (run 'baton replace " +
                repo_ + "')\n");
  EXPECT_EQ(outbox_count(), 0);
}

TEST_F(MessageE2E, OutboxListsAndDropsQueuedMessages) {
  // Never ends its first turn while the test runs.
  listener("agent-slow", {.turn = "  while :; do printf .; sleep 0.2; done"});
  use_agent("slow", "");
  up_idle(opts());
  ASSERT_EQ(tell({"busy"}).status, 0);
  ASSERT_TRUE(arrives("shop-1 busy")) << log();
  ASSERT_EQ(tell({"one"}).out, "m2 queued\n");
  ASSERT_EQ(tell({"two"}).out, "m3 queued\n");
  EXPECT_EQ(outbox_count(), 2);
  const std::string ls = baton_ok({"outbox", repo_, "ls"}, opts());
  EXPECT_NE(ls.find("m2"), std::string::npos) << ls;
  EXPECT_LT(ls.find("one"), ls.find("two")) << ls;
  // Columns: id, time, state, text, each apart from the next.
  EXPECT_NE(ls.find("Z  queued      one"), std::string::npos) << ls;
  EXPECT_EQ(baton_ok({"outbox", repo_, "drop", "m2"}, opts()), "dropped m2\n");
  auto missing = b({"outbox", repo_, "drop", "m9"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err,
            "baton: outbox: no message 'm9' for shop (see 'baton outbox " + repo_ + " ls')\n");
  auto left = Json::parse(baton_ok({"outbox", repo_, "ls", "--json"}, opts()));
  ASSERT_EQ(left["messages"].size(), 1u);
  EXPECT_EQ(left["messages"][0]["id"], "m3");
  EXPECT_EQ(outbox_count(), 1);
  EXPECT_NE(baton_ok({"status", repo_}, opts()).find("outbox   1 message(s) to deliver"),
            std::string::npos);
}

TEST_F(MessageE2E, TellNowTypesAtOnceWhenTheAgentWaitsForInputAndQueuesWhileItWorks) {
  listener("agent-waits",
           {.ready_state = "waiting_input",
            .turn = "  while [ ! -f '" + tmp_ + "/go' ]; do printf .; sleep 0.2; done"});
  use_agent("waits", "");
  auto r = b({"up", repo_, "--detach"});
  ASSERT_EQ(r.status, 0) << r.err;
  // A permission prompt: waiting for input, its turn not ended — a plain tell would wait.
  ASSERT_TRUE(eventually([&] { return activity() == "waiting_input"; })) << status().dump();
  auto now = tell({"yes", "--now"});
  ASSERT_EQ(now.status, 0) << now.err;
  EXPECT_EQ(now.out, "m1 typed\n");
  ASSERT_TRUE(arrives("shop-1 yes")) << log();
  ASSERT_TRUE(eventually([&] { return activity() == "working"; }));
  auto queued = tell({"later", "--now"});
  EXPECT_EQ(queued.out, "m2 queued\n");
  write(tmp_ + "/go", "");
  ASSERT_TRUE(arrives("shop-1 later")) << log();
  EXPECT_EQ(count_of(log(), "yes"), 1u);
}

// ---- the daemon killed at each step of a delivery

class DeliveryKill : public MessageE2E, public ::testing::WithParamInterface<std::string> {};

TEST_P(DeliveryKill, TheMessageArrivesOnceAndInOrderAfterTheRestart) {
  if (!plugin::kHasFaultPoints) GTEST_SKIP() << "built without BATON_FAULTS";
  const std::string point = GetParam();
  // The daemon SetUp started is unarmed: the one the `up` starts carries the fault point.
  baton_ok({"shutdown"});
  auto armed = opts();
  armed.env["BATON_FAULT"] = point + ":kill";
  up_idle(armed);
  const pid_t pid = daemon_pid();
  ASSERT_EQ(tell({"first"}).status, 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(pid); }, 20000)) << point;
  // An unarmed daemon starts for this tell and adopts the agent, which outlived it.
  auto second = tell({"second"});
  ASSERT_EQ(second.status, 0) << second.err;
  ASSERT_TRUE(arrives(status()["orchestrator"]["id"].get<std::string>() + " second", 30000))
      << log();
  EXPECT_TRUE(eventually([&] { return outbox_count() == 0; })) << status().dump();
  const std::string l = log();
  EXPECT_EQ(count_of(l, "second"), 1u) << l;
  if (point == "tell.pasted") {
    // The window (docs/orchestrator.md): the text reached the agent, which outlived the
    // daemon, but its record did not: it is typed again. Never lost.
    EXPECT_GE(count_of(l, "first"), 1u) << l;
    EXPECT_LE(count_of(l, "first"), 2u) << l;
  } else {
    EXPECT_EQ(count_of(l, "first"), 1u) << l;
  }
  if (l.find("first") != std::string::npos) {
    EXPECT_LT(l.find("first"), l.find("second")) << l;
  }
}

std::vector<std::string> delivery_points() {
  return {plugin::kDeliveryFaultPoints.begin(), plugin::kDeliveryFaultPoints.end()};
}

INSTANTIATE_TEST_SUITE_P(EveryStep, DeliveryKill, ::testing::ValuesIn(delivery_points()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '.') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace baton::test
