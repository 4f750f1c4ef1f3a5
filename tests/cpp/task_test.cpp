// gmp::go's task handle (join, result, detach) and gmp::group (Go's errgroup).
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

using namespace std::chrono_literals;

TEST(Task, JoinGivesTheResult) {
  auto answer = gmp::go([](int a, int b) { return a * b; }, 6, 7);
  auto text = gmp::go([] {
    gmp::this_goroutine::sleep_for(1ms);
    return std::string(50, 'x');
  });
  EXPECT_TRUE(answer.joinable());
  EXPECT_NE(answer.id(), 0u);
  EXPECT_EQ(answer.join(), 42);
  EXPECT_FALSE(answer.joinable());
  EXPECT_EQ(text.join(), std::string(50, 'x'));
}

TEST(Task, JoinReturnsAfterTheCapturesAreDestroyed) {
  auto token = std::make_shared<int>(1);
  std::weak_ptr<int> watch = token;
  gmp::chan<int> go_on;
  auto t = gmp::go([token = std::move(token), in = go_on.share()]() mutable { in.recv(); });
  EXPECT_FALSE(watch.expired());
  go_on.send(1);
  t.join();
  EXPECT_TRUE(watch.expired());
}

TEST(Task, ADroppedTaskLetsTheGoroutineRunOn) {
  gmp::chan<int> out(1);
  { auto t = gmp::go([in = out.share()]() mutable { in.send(5); }); }
  gmp::go([] {});  // discarded at once
  EXPECT_EQ(out.recv(), std::optional<int>(5));
  const gmp::goid id = gmp::go([] {});  // still converts to the goroutine's id
  EXPECT_NE(id, 0u);
}

TEST(Task, ManyJoinersFromGoroutines) {
  std::atomic<int> sum{0};
  gmp::waitgroup wg;
  for (int i = 0; i < 100; i++) {
    wg.go([&sum, i] {
      auto t = gmp::go([i] { return i; });
      sum += t.join();
    });
  }
  wg.wait();
  EXPECT_EQ(sum.load(), 4950);
}

TEST(Group, WaitsForAllAndReportsTheFirstErrorCode) {
  gmp::group g;
  std::atomic<int> ran{0};
  for (int i = 0; i < 20; i++) {
    g.go([&ran, i]() -> std::error_code {
      ran++;
      if (i == 7) return gmp::errc::timed_out;
      return {};
    });
  }
  g.go([&ran] { ran++; });  // void is fine too
  const std::error_code ec = g.wait();
  EXPECT_EQ(ran.load(), 21);
  EXPECT_EQ(ec, gmp::errc::timed_out);
  EXPECT_TRUE(g.failed());
}

TEST(Group, NoFailureGivesAnEmptyCode) {
  gmp::group g;
  for (int i = 0; i < 10; i++) g.go([] { gmp::this_goroutine::yield(); });
  EXPECT_FALSE(g.wait());
  EXPECT_FALSE(g.failed());
}

#if GMP_HAS_EXCEPTIONS
TEST(Group, CarriesTheFirstException) {
  gmp::group g;
  gmp::chan<int> second_may_throw;
  g.go([] { throw std::runtime_error("first"); });
  g.go([&g, in = second_may_throw.share()]() mutable {
    while (!g.failed()) gmp::this_goroutine::sleep_for(100us);
    throw std::logic_error("second");
  });
  try {
    g.wait();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
}
#endif
