// gmp::home: goroutines bound to the thread that made the home, run by its loop.
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_util.hpp"

using namespace std::chrono_literals;

TEST(Home, RunLoopRunsItsGoroutinesOnItsThread) {
  const long home_tid = gmp_test::current_tid();
  gmp::chan<int> requests;
  gmp::chan<int> replies;
  // A server goroutine on the runtime's threads.
  gmp::go(
      [](gmp::chan<int> in, gmp::chan<int> out) {
        for (int& v : in) out.send(v * 2);
      },
      requests.share(), replies.share());

  constexpr int clients = 10;
  std::atomic<int> finished{0};
  std::atomic<int> off_thread{0};
  {
    gmp::home home;
    for (int c = 0; c < clients; c++) {
      home.go([&, c] {
        for (int i = 0; i < 20; i++) {
          requests.send(c * 100 + i);
          std::optional<int> r = replies.recv();
          if (!r || gmp_test::current_tid() != home_tid) off_thread++;
          gmp::this_goroutine::sleep_for(100us);
        }
        finished++;
      });
    }
    // The engine's frame loop.
    for (int frame = 0; finished < clients && frame < 100000; frame++) {
      home.wait(10ms);
      home.run(2ms);
    }
    EXPECT_EQ(finished.load(), clients);
  }  // closed, drained and freed
  requests.close();
  EXPECT_EQ(off_thread.load(), 0);
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(Home, CloseCancelsBlockedGoroutinesQuietly) {
  gmp::chan<int> never;
  std::atomic<int> saw_canceled{0};
  std::atomic<int> ended{0};
  gmp::home home;
  home.go([&] {
    try {
      never.recv();
    } catch (const gmp::error& e) {
      if (e.code() == gmp::errc::canceled) saw_canceled++;
    }
    ended++;
  });
  home.go([&] {
    ended++;
    never.recv();  // its gmp::error(GMP_ECANCELED) escapes: the goroutine ends quietly
  });
  home.run();
  EXPECT_EQ(ended.load(), 1);
  home.close();
  for (int i = 0; !home.finished() && i < 1000; i++) {
    home.run();
    home.wait(1ms);
  }
  EXPECT_TRUE(home.finished());
  EXPECT_EQ(saw_canceled.load(), 1);
  EXPECT_EQ(ended.load(), 2);
  EXPECT_THROW(home.go([] {}), gmp::error);  // closed
}
#endif

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(Home, LeavesTheHomeThreadsOwnExceptionAlone) {
  gmp::home home;
  std::atomic<int> right{0};
  try {
    throw std::runtime_error("the home thread's own");
  } catch (const std::runtime_error&) {
    for (int i = 0; i < 5; i++) {
      home.go([&, i] {
        const std::string want = "home goroutine " + std::to_string(i);
        try {
          throw std::runtime_error(want);
        } catch (const std::runtime_error&) {
          gmp::this_goroutine::sleep_for(1ms);
          try {
            throw;
          } catch (const std::runtime_error& e) {
            if (want == e.what()) right++;
          }
        }
      });
    }
    for (int i = 0; right < 5 && i < 10000; i++) {
      home.wait(5ms);
      home.run();
    }
    try {
      throw;  // still the home thread's own exception
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "the home thread's own");
    }
  }
  EXPECT_EQ(right.load(), 5);
}
#endif

// <gmp/gmp.hpp> keeps the thread's own exception state while a goroutine runs in one
// slot per thread (detail::tl_eh), which holds because goroutines never run nested on a
// thread: a goroutine (the main one too, locked or not) cannot make a home, so a home's
// goroutines only ever run on a thread that is not running a goroutine.
TEST(Home, AGoroutineCannotMakeAHome) {
  std::atomic<int> refused{0};
  auto try_make = [&refused] {
    gmp_home* h = nullptr;
    if (gmp_home_make(&h) == GMP_EALREADY && h == nullptr) refused++;
  };
  gmp::go(try_make).join();
  gmp::go([&try_make] {
    const auto locked = gmp::lock_os_thread();
    try_make();
  }).join();
  EXPECT_EQ(refused.load(), 2);
}

TEST(Home, FdIsReadableWhenWorkIsReadyAndWakeInterruptsWait) {
  gmp::home home;
  const int fd = home.fd();
  ASSERT_GE(fd, 0);
  std::atomic<bool> ran{false};
  std::thread other([&] { home.go([&] { ran = true; }); });  // go() from any thread
  other.join();
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_GT(home.run(), 0u);
  EXPECT_TRUE(ran.load());

  std::thread waker([&] {
    std::this_thread::sleep_for(10ms);
    home.wake();
  });
  EXPECT_FALSE(home.wait(10s));  // woken, not by work
  waker.join();
}

TEST(Home, NotReentrantRunsItsGoroutinesOnlyInRun) {
  std::thread([] {
    gmp::home h;
    gmp::chan<int> never;
    bool ran = false;
    h.go([&ran] { ran = true; });
    EXPECT_TRUE(h.set_reentrant(false));  // was on
    // A blocking call on the home thread: it must not run the home's goroutine.
    EXPECT_FALSE(never.recv_for(20ms));
    EXPECT_FALSE(ran);
    EXPECT_EQ(h.run(), 1u);
    EXPECT_TRUE(ran);

    EXPECT_FALSE(h.set_reentrant(true));
    bool ran_again = false;
    h.go([&ran_again] { ran_again = true; });
    EXPECT_FALSE(never.recv_for(20ms));  // on again: the wait runs it
    EXPECT_TRUE(ran_again);
  }).join();
}
