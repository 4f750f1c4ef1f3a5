// gmp::select: receive, send, default and timeout cases; the returned index is the
// case's position among the arguments; fairness; nil channels; no leaks.
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test_util.hpp"

using namespace std::chrono_literals;
using gmp_test::steady;
using gmp_test::counted;

TEST(Select, RecvCaseGetsTheValueAndItsIndex) {
  gmp::chan<int> empty;
  gmp::chan<std::string> ready(1);
  ready.send("hello");
  std::string got;
  const std::size_t i = gmp::select(
      gmp::recv_case(empty, [](std::optional<int>) { ADD_FAILURE() << "empty fired"; }),
      gmp::recv_case(ready, [&](std::optional<std::string> v) { got = v.value_or("<none>"); }));
  EXPECT_EQ(i, 1u);
  EXPECT_EQ(got, "hello");
}

TEST(Select, RecvOnClosedGivesEmptyOptional) {
  gmp::chan<int> ch;
  ch.close();
  bool called = false;
  std::optional<int> got = 5;
  EXPECT_EQ(gmp::select(gmp::recv_case(ch,
                                       [&](std::optional<int> v) {
                                         called = true;
                                         got = v;
                                       })),
            0u);
  EXPECT_TRUE(called);
  EXPECT_FALSE(got.has_value());
}

TEST(Select, SendCaseRunsItsCallback) {
  gmp::chan<int> full(1);
  full.send(0);
  gmp::chan<int> room(1);
  bool sent = false;
  const std::size_t i = gmp::select(gmp::send_case(full, 1, [] { ADD_FAILURE() << "full fired"; }),
                                    gmp::send_case(room, 2, [&] { sent = true; }));
  EXPECT_EQ(i, 1u);
  EXPECT_TRUE(sent);
  EXPECT_EQ(room.recv(), std::optional<int>(2));
}

TEST(Select, DefaultWhenNothingIsReady) {
  gmp::chan<int> a;
  gmp::chan<int> b(1);
  b.send(1);  // full: a send case on it cannot proceed
  bool defaulted = false;
  const std::size_t i = gmp::select(gmp::default_case([&] { defaulted = true; }),
                                    gmp::recv_case(a), gmp::send_case(b, 2));
  EXPECT_EQ(i, 0u);  // the default's position among the arguments
  EXPECT_TRUE(defaulted);
}

TEST(Select, TimeoutCaseWaitsItsDuration) {
  gmp::chan<int> a;
  const auto t0 = steady::now();
  bool timed_out = false;
  const std::size_t i = gmp::select(gmp::recv_case(a, [](std::optional<int>) {}),
                                    gmp::timeout_case(20ms, [&] { timed_out = true; }));
  EXPECT_EQ(i, 1u);
  EXPECT_TRUE(timed_out);
  EXPECT_GE(steady::now() - t0, 20ms);
  EXPECT_EQ(gmp::select(gmp::recv_case(a), gmp::timeout_case(0ms, [] {})), 1u);  // 0: default
}

TEST(Select, WakesWhenAGoroutineSends) {
  gmp::chan<int> ch;
  gmp::go(
      [](gmp::chan<int> c) {
        gmp::this_goroutine::sleep_for(10ms);
        c.send(7);
      },
      ch.share());
  int got = 0;
  const std::size_t i = gmp::select(gmp::timeout_case(10s, [] {}),
                                    gmp::recv_case(ch, [&](std::optional<int> v) { got = *v; }));
  EXPECT_EQ(i, 1u);
  EXPECT_EQ(got, 7);
}

TEST(Select, ChoosesFairlyAmongReadyCases) {
  constexpr int n = 2000;
  gmp::chan<int> a(n);
  gmp::chan<int> b(n);
  for (int k = 0; k < n; k++) {
    a.send(k);
    b.send(k);
  }
  int from_a = 0;
  int from_b = 0;
  for (int k = 0; k < n; k++) {
    gmp::select(gmp::recv_case(a, [&] { from_a++; }), gmp::recv_case(b, [&] { from_b++; }));
  }
  EXPECT_EQ(from_a + from_b, n);
  EXPECT_GT(from_a, n / 3);  // uniform: about n/2 each
  EXPECT_GT(from_b, n / 3);
}

TEST(Select, NilChannelNeverFires) {
  gmp::chan<int> nil;
  gmp::chan<int> moved = std::move(nil);
  // nil is moved-from: as Go's nil channel, its cases never fire.
  const std::size_t i =
      gmp::select(gmp::recv_case(nil), gmp::send_case(nil, 1),  // NOLINT(bugprone-use-after-move)
                  gmp::timeout_case(5ms, [] {}));
  EXPECT_EQ(i, 2u);
}

TEST(Select, UnchosenSendCaseValueIsDestroyedNotLeaked) {
  counted::reset();
  {
    gmp::chan<std::unique_ptr<counted>> full(1);
    full.send(std::make_unique<counted>(0));
    gmp::chan<int> ready(1);
    ready.send(1);
    const std::size_t i = gmp::select(gmp::send_case(full, std::make_unique<counted>(1)),
                                      gmp::recv_case(ready));
    EXPECT_EQ(i, 1u);
    EXPECT_EQ(counted::live, 1);  // only the buffered one
    EXPECT_EQ(counted::destroyed, 1);

    // The chosen send case hands its value over: nothing destroyed.
    std::optional<std::unique_ptr<counted>> out = full.recv();
    const std::size_t j = gmp::select(gmp::send_case(full, std::make_unique<counted>(2)));
    EXPECT_EQ(j, 0u);
    EXPECT_EQ(counted::live, 2);
    EXPECT_EQ(full.recv().value()->value, 2);
  }
  EXPECT_EQ(counted::live, 0);
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(Select, SendCaseOnClosedChannelThrows) {
  gmp::chan<std::string> ch(1);
  ch.close();
  try {
    gmp::select(gmp::send_case(ch, std::string("x"), [] { ADD_FAILURE() << "callback ran"; }));
    FAIL() << "no exception";
  } catch (const gmp::error& e) {
    EXPECT_EQ(e.code(), gmp::errc::closed);
  }
}
#endif

TEST(Select, LoopUntilDoneLikeGo) {
  // for { select { case v := <-in: sum += v; case <-done: return } }
  gmp::chan<int> in;
  gmp::chan<bool> done;
  gmp::go(
      [](gmp::chan<int> out, gmp::chan<bool> quit) {
        for (int k = 1; k <= 50; k++) out.send(k);
        quit.close();
      },
      in.share(), done.share());
  int sum = 0;
  bool finished = false;
  while (!finished) {
    gmp::select(gmp::recv_case(in, [&](std::optional<int> v) { sum += v.value_or(0); }),
                gmp::recv_case(done, [&] { finished = true; }));
  }
  EXPECT_EQ(sum, 1275);
}
