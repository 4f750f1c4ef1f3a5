// gmp::chan<T>: by value (int), by ownership transfer (std::string, std::unique_ptr,
// a counted type), closing, timeouts, range-for, handles; smoke to stampede.
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace std::chrono_literals;
using gmp_test::steady;
using gmp_test::counted;

static_assert(gmp::chan<int>::by_value);
static_assert(gmp::chan<double>::by_value);
static_assert(!gmp::chan<std::string>::by_value);
static_assert(!gmp::chan<std::unique_ptr<int>>::by_value);
static_assert(!std::is_copy_constructible_v<gmp::chan<int>>);
static_assert(std::is_nothrow_move_constructible_v<gmp::chan<int>>);

TEST(ChanInt, BufferedKeepsOrder) {
  gmp::chan<int> ch(8);
  EXPECT_EQ(ch.capacity(), 8u);
  for (int i = 0; i < 8; i++) ch.send(i);
  EXPECT_EQ(ch.size(), 8u);
  for (int i = 0; i < 8; i++) {
    std::optional<int> v = ch.recv();
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, i);
  }
  EXPECT_EQ(ch.size(), 0u);
}

TEST(ChanInt, UnbufferedPingPongWithGoroutine) {
  gmp::chan<int> ping;
  gmp::chan<int> pong;
  gmp::go(
      [](gmp::chan<int> in, gmp::chan<int> out) {
        for (auto& v : in) out.send(v + 1);
        out.close();
      },
      ping.share(), pong.share());
  for (int i = 0; i < 1000; i++) {
    ping.send(i);
    EXPECT_EQ(pong.recv(), std::optional<int>(i + 1));
  }
  ping.close();
  EXPECT_FALSE(pong.recv().has_value());
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(ChanInt, CloseDrainsThenGivesEmpty) {
  gmp::chan<int> ch(3);
  ch.send(1);
  ch.send(2);
  ch.close();
  EXPECT_EQ(ch.recv(), std::optional<int>(1));
  EXPECT_EQ(ch.try_recv(), std::optional<int>(2));
  EXPECT_FALSE(ch.recv().has_value());
  EXPECT_FALSE(ch.recv_for(1ms).has_value());
  try {
    ch.send(3);
    FAIL() << "send on a closed channel did not throw";
  } catch (const gmp::error& e) {
    EXPECT_EQ(e.code().value(), GMP_ECLOSED);
    EXPECT_EQ(e.code(), gmp::errc::closed);
  }
  EXPECT_THROW(ch.close(), gmp::error);  // twice: Go panics
}
#endif

TEST(ChanInt, TryAndTimeouts) {
  gmp::chan<int> unbuffered;
  EXPECT_FALSE(unbuffered.try_recv().has_value());
  int v = 5;
  EXPECT_FALSE(unbuffered.try_send(v));  // nobody receives
  EXPECT_EQ(v, 5);

  auto t0 = steady::now();
  EXPECT_FALSE(unbuffered.send_for(v, 20ms));
  EXPECT_GE(steady::now() - t0, 20ms);
  t0 = steady::now();
  EXPECT_FALSE(unbuffered.recv_for(20ms).has_value());
  EXPECT_GE(steady::now() - t0, 20ms);

  gmp::chan<int> one(1);
  EXPECT_TRUE(one.try_send(1));
  EXPECT_FALSE(one.try_send(2));  // full
  EXPECT_FALSE(one.send_for(3, 0ms));
  EXPECT_FALSE(one.send_for(3, -5ms));  // negative: a try, not forever
  EXPECT_EQ(one.try_recv(), std::optional<int>(1));
}

TEST(ChanInt, RecvForGetsAValueSentLater) {
  gmp::chan<int> ch;
  gmp::go(
      [](gmp::chan<int> c) {
        gmp::this_goroutine::sleep_for(10ms);
        c.send(99);
      },
      ch.share());
  EXPECT_EQ(ch.recv_for(5s), std::optional<int>(99));
}

TEST(ChanInt, RangeForUntilClosed) {
  gmp::chan<int> ch(4);
  gmp::go(
      [](gmp::chan<int> c) {
        for (int i = 1; i <= 100; i++) c.send(i);
        c.close();
      },
      ch.share());
  int sum = 0;
  int count = 0;
  for (int& v : ch) {
    sum += v;
    count++;
  }
  EXPECT_EQ(count, 100);
  EXPECT_EQ(sum, 5050);
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(ChanInt, HandlesShareAndMove) {
  gmp::chan<int> a(2);
  gmp::chan<int> b = a.share();
  EXPECT_EQ(a.native_handle(), b.native_handle());
  a.send(7);
  gmp::chan<int> c = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_TRUE(c);
  EXPECT_EQ(b.recv(), std::optional<int>(7));
  try {
    a.send(1);  // NOLINT(bugprone-use-after-move)
    FAIL() << "send on a moved-from handle did not throw";
  } catch (const gmp::error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
  try {
    (void)a.recv();  // NOLINT(bugprone-use-after-move): recv's own fast path checks too
    FAIL() << "recv on a moved-from handle did not throw";
  } catch (const gmp::error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
  gmp::chan<int> d(1);
  swap(c, d);
  EXPECT_EQ(c.capacity(), 1u);
  EXPECT_EQ(d.capacity(), 2u);
}
#endif

TEST(ChanInt, StampedeManyProducersManyConsumers) {
  constexpr int producers = 8, consumers = 4, per = 2000;
  gmp::chan<int> ch(16);
  gmp::chan<long> sums(consumers);
  gmp::waitgroup senders;
  for (int p = 0; p < producers; p++) {
    senders.go([&ch, p] {
      for (int i = 0; i < per; i++) ch.send(p * per + i);
    });
  }
  for (int c = 0; c < consumers; c++) {
    gmp::go([in = ch.share(), out = sums.share()]() mutable {
      long s = 0;
      for (int& v : in) s += v;
      out.send(s);
    });
  }
  senders.wait();
  ch.close();
  long total = 0;
  for (int c = 0; c < consumers; c++) total += *sums.recv();
  const long n = long{producers} * per;
  EXPECT_EQ(total, n * (n - 1) / 2);
}

TEST(ChanString, ManyProducersLongAndShortStrings) {
  constexpr int producers = 8, per = 200;
  gmp::chan<std::string> ch;  // unbuffered: direct hand-off of the box
  for (int p = 0; p < producers; p++) {
    gmp::go(
        [p](gmp::chan<std::string> out) {
          for (int i = 0; i < per; i++) {
            std::string s = std::to_string(p) + ":" + std::to_string(i);
            if (i % 2) s += std::string(100, 'x');  // past the small-string buffer
            out.send(std::move(s));
          }
        },
        ch.share());
  }
  std::vector<std::string> got;
  for (int i = 0; i < producers * per; i++) got.push_back(*ch.recv());
  std::vector<std::string> want;
  for (int p = 0; p < producers; p++) {
    for (int i = 0; i < per; i++) {
      std::string s = std::to_string(p) + ":" + std::to_string(i);
      if (i % 2) s += std::string(100, 'x');
      want.push_back(s);
    }
  }
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST(ChanString, FailedTrySendKeepsTheString) {
  gmp::chan<std::string> ch(1);
  std::string a(64, 'a');
  std::string b(64, 'b');
  EXPECT_TRUE(ch.try_send(a));
  EXPECT_TRUE(a.empty() || a == std::string(64, 'a'));  // moved-from: valid, unspecified
  EXPECT_FALSE(ch.try_send(b));                           // full: b is not consumed
  EXPECT_EQ(b, std::string(64, 'b'));
  EXPECT_FALSE(ch.send_for(std::move(b), 5ms));  // an rvalue is given back too
  EXPECT_EQ(b, std::string(64, 'b'));            // NOLINT(bugprone-use-after-move)
  const std::string c = "const";
  EXPECT_FALSE(ch.try_send(c));
  EXPECT_EQ(ch.recv(), std::optional<std::string>(std::string(64, 'a')));
}

TEST(ChanUniquePtr, OwnershipMovesThroughTheChannel) {
  gmp::chan<std::unique_ptr<int>> ch(1);
  auto p = std::make_unique<int>(42);
  int* raw = p.get();
  ch.send(std::move(p));
  std::optional<std::unique_ptr<int>> q = ch.recv();
  ASSERT_TRUE(q && *q);
  EXPECT_EQ(q->get(), raw);  // the same object: moved, never copied
  EXPECT_EQ(**q, 42);
}

TEST(ChanUniquePtr, BufferedElementsDestroyedOnLastRelease) {
  counted::reset();
  {
    gmp::chan<std::unique_ptr<counted>> ch(8);
    for (int i = 0; i < 5; i++) ch.send(std::make_unique<counted>(i));
    EXPECT_EQ(counted::live, 5);
    gmp::chan<std::unique_ptr<counted>> other = ch.share();
    {
      gmp::chan<std::unique_ptr<counted>> gone = std::move(ch);
    }  // one reference released: nothing destroyed
    EXPECT_EQ(counted::destroyed, 0);
    EXPECT_EQ(counted::live, 5);
    EXPECT_EQ(other.size(), 5u);
  }  // the last reference: the five buffered values go
  EXPECT_EQ(counted::destroyed, 5);
  EXPECT_EQ(counted::live, 0);
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(ChanUniquePtr, FailedSendsNeitherConsumeNorLeak) {
  counted::reset();
  {
    gmp::chan<std::unique_ptr<counted>> ch(1);
    ch.send(std::make_unique<counted>(1));
    auto p = std::make_unique<counted>(2);
    counted* raw = p.get();
    EXPECT_FALSE(ch.try_send(p));  // full
    EXPECT_EQ(p.get(), raw);
    EXPECT_FALSE(ch.send_for(p, 5ms));  // times out
    EXPECT_EQ(p.get(), raw);
    EXPECT_FALSE(ch.try_send(std::move(p)));  // an rvalue is not consumed either
    EXPECT_EQ(p.get(), raw);                   // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(counted::live, 2);
    ch.close();
    EXPECT_THROW(ch.send(std::move(p)), gmp::error);  // closed: the value is destroyed
    EXPECT_EQ(counted::live, 1);                        // the buffered one
  }
  EXPECT_EQ(counted::live, 0);
}
#endif

TEST(ChanCounted, NonTrivialValuesMoveThroughWithoutLeaks) {
  counted::reset();
  {
    gmp::chan<counted> ch(4);
    gmp::waitgroup wg;
    wg.go([&ch] {
      for (int i = 0; i < 100; i++) ch.send(counted(i));
    });
    long sum = 0;
    for (int i = 0; i < 100; i++) sum += ch.recv()->value;
    wg.wait();
    EXPECT_EQ(sum, 4950);
    ch.send(counted(7));  // left buffered
  }
  EXPECT_EQ(counted::live, 0);
}

TEST(ChanTime, AfterFiresOnceAndTickerTicks) {
  const auto t0 = gmp::now();
  gmp::chan<std::int64_t> timer = gmp::after(15ms);
  std::optional<std::int64_t> at = timer.recv();
  ASSERT_TRUE(at);
  EXPECT_GE(std::chrono::nanoseconds(*at) - t0, 15ms);

  gmp::ticker tick(5ms);
  for (int i = 0; i < 3; i++) EXPECT_TRUE(tick.channel().recv_for(1s).has_value());
  tick.stop();
}
