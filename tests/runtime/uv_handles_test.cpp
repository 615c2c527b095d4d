// Owned<T>, the one owner of a libuv handle, on a real loop: closing the handle is the
// owner's job on reset and destruction, so the loop can close and nobody is called back after
// the owner let go.
#include "runtime/uv_handles.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

#include "tests/runtime/test_loop.hpp"

namespace baton::runtime {
namespace {

using test::TestLoop;

bool is_fd_open(int fd) {
  return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

TEST(OwnedHandle, DestroyedOwnerClosesItsTimerSoTheLoopCloses) {
  TestLoop loop;
  int calls = 0;
  {
    // Left open, this timer would keep the loop from closing for a minute.
    Owned<Timer> timer = make_owned<Timer>(loop.get());
    timer->start(60000, [&calls] { ++calls; });
  }
  EXPECT_EQ(loop.close(), 0);
  EXPECT_EQ(calls, 0);
}

TEST(OwnedHandle, DestroyedOwnerClosesItsSignalWatcher) {
  TestLoop loop;
  {
    Owned<Signal> watcher = make_owned<Signal>(loop.get());
    watcher->start(SIGUSR2, [](int) {});
  }
  EXPECT_EQ(loop.close(), 0);
}

TEST(OwnedHandle, ResetPollClosesTheHandleAndThenItsFd) {
  TestLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  Owned<Poll> poll = make_owned<Poll>(loop.get(), fds[0], [](int, int) {});
  poll->start(UV_READABLE);
  poll.reset();
  EXPECT_FALSE(poll);
  EXPECT_EQ(loop.close(), 0);
  EXPECT_FALSE(is_fd_open(fds[0]));
  ::close(fds[1]);
}

TEST(OwnedHandle, ResetTimerIsNeverCalledBackAndLetsGoOfItsCallbackAtOnce) {
  TestLoop loop;
  int calls = 0;
  auto held = std::make_shared<int>(0);
  Owned<Timer> timer = make_owned<Timer>(loop.get());
  timer->start(0, [&calls, held] { ++calls; });
  timer.reset();
  // Before the close callback ran: what the callback captured is released already.
  EXPECT_EQ(held.use_count(), 1);
  loop.run_for(20);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(loop.close(), 0);
}

TEST(OwnedHandle, ACallbackThatResetsItsOwnOwnerRunsToItsEnd) {
  TestLoop loop;
  int calls = 0;
  std::string seen;
  Owned<Timer> timer = make_owned<Timer>(loop.get());
  const std::string text = "captured by the callback";
  timer->start(0, [&timer, &calls, &seen, text] {
    timer.reset();
    seen = text;  // the closure is still alive after its timer was closed
    ++calls;
  });
  ASSERT_TRUE(loop.run_until([&calls] { return calls == 1; }));
  EXPECT_EQ(seen, "captured by the callback");
  EXPECT_FALSE(timer);
  EXPECT_EQ(loop.close(), 0);
}

TEST(OwnedHandle, AssigningANewTimerClosesTheOldOne) {
  TestLoop loop;
  int old_calls = 0;
  int new_calls = 0;
  Owned<Timer> timer = make_owned<Timer>(loop.get());
  timer->start(0, [&old_calls] { ++old_calls; });
  timer = make_owned<Timer>(loop.get());
  timer->start(0, [&new_calls] { ++new_calls; });
  ASSERT_TRUE(loop.run_until([&new_calls] { return new_calls == 1; }));
  EXPECT_EQ(old_calls, 0);
  timer.reset();
  EXPECT_EQ(loop.close(), 0);
}

TEST(OwnedHandle, MovingAnOwnerHandsTheTimerOverWithoutClosingIt) {
  TestLoop loop;
  int calls = 0;
  Owned<Timer> first = make_owned<Timer>(loop.get());
  first->start(1, [&calls] { ++calls; });
  Owned<Timer> second = std::move(first);
  EXPECT_FALSE(first);  // NOLINT(bugprone-use-after-move): a moved-from owner is empty
  ASSERT_TRUE(second);
  ASSERT_TRUE(loop.run_until([&calls] { return calls == 1; }));
  second.reset();
  EXPECT_EQ(loop.close(), 0);
}

}  // namespace
}  // namespace baton::runtime
