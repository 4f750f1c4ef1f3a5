// gmp::blocking and gmp::syscall_section: a goroutine blocked in a call leaves its P to
// the others. Every P's goroutine sits in a 300 ms blocking call, and another goroutine
// still runs while they all are inside it (asserted by order, not by a time bound).
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

TEST(Blocking, ReturnsTheResult) {
  EXPECT_EQ(gmp::blocking([](int a) { return a + 1; }, 41), 42);
  int x = 0;
  int& r = gmp::blocking([&x]() -> int& { return x; });
  EXPECT_EQ(&r, &x);
  std::string s = gmp::blocking([] { return std::string(40, 'b'); });
  EXPECT_EQ(s.size(), 40u);
  gmp::blocking([] {});
  std::error_code ec;
  EXPECT_TRUE(gmp::blocking(ec, [] { ::usleep(10); }));
  EXPECT_FALSE(ec);
}

#if GMP_HAS_EXCEPTIONS
TEST(Blocking, CarriesExceptions) {
  EXPECT_THROW(gmp::blocking([] { throw std::out_of_range("inside"); }), std::out_of_range);
}
#endif

namespace {
// Puts one goroutine per P into `block` (300 ms of sleeping in the OS), waits until every
// one of them is inside it, then starts one more goroutine: it must run while they are
// all still blocked.
template <class Block>
void every_p_blocked_another_runs(Block block) {
  const int procs = gmp::maxprocs();
  std::atomic<int> inside{0};
  std::atomic<int> returned{0};
  gmp::waitgroup wg;
  for (int i = 0; i < procs; i++) {
    wg.go([&] { block(inside, returned); });
  }
  while (inside.load() < procs) gmp::this_goroutine::sleep_for(100us);
  gmp::chan<int> ran(1);
  gmp::go([&] { ran.send(returned.load()); });
  const std::optional<int> returned_when_it_ran = ran.recv();
  ASSERT_TRUE(returned_when_it_ran);
  EXPECT_EQ(*returned_when_it_ran, 0) << "the goroutine ran only after a blocked one returned";
  wg.wait();
  EXPECT_EQ(returned.load(), procs);
}
}  // namespace

TEST(Blocking, EveryPInABlockingCallAnotherGoroutineStillRuns) {
  gmp::chan<int> done;
  gmp::go([&] {
    every_p_blocked_another_runs([](std::atomic<int>& inside, std::atomic<int>& returned) {
      gmp::blocking([&] {
        inside++;
        ::usleep(300000);
        returned++;
      });
    });
    done.send(1);
  });
  done.recv();
}

TEST(Blocking, EveryPInASyscallSectionAnotherGoroutineStillRuns) {
  gmp::chan<int> done;
  gmp::go([&] {
    every_p_blocked_another_runs([](std::atomic<int>& inside, std::atomic<int>& returned) {
      gmp::syscall_section section;
      inside++;
      ::usleep(300000);
      returned++;
    });
    done.send(1);
  });
  done.recv();
}
