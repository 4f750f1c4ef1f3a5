// gmp::mutex (with std::lock_guard, std::unique_lock, std::scoped_lock), gmp::rwmutex
// (with std::shared_lock), gmp::condition_variable, gmp::waitgroup, gmp::once.
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>

#include "test_util.hpp"

using namespace std::chrono_literals;
using gmp_test::steady;

TEST(Mutex, LockGuardProtectsAPlainCounter) {
  constexpr int goroutines = 8, per = 2000;
  gmp::mutex mu;
  long counter = 0;  // not atomic: the mutex is what makes this exact
  gmp::waitgroup wg;
  for (int g = 0; g < goroutines; g++) {
    wg.go([&] {
      for (int i = 0; i < per; i++) {
        std::lock_guard<gmp::mutex> lock(mu);
        const long seen = counter;
        if (i % 128 == 0) gmp::this_goroutine::yield();  // park while holding it
        counter = seen + 1;
      }
    });
  }
  wg.wait();
  EXPECT_EQ(counter, long{goroutines} * per);
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(Mutex, TryLockUniqueLockScopedLock) {
  gmp::mutex a;
  gmp::mutex b;
  {
    std::unique_lock<gmp::mutex> la(a);
    EXPECT_FALSE(a.try_lock());
    la.unlock();
    EXPECT_TRUE(a.try_lock());
    a.unlock();
  }
  {
    std::scoped_lock both(a, b);
    EXPECT_FALSE(b.try_lock());
  }
  EXPECT_TRUE(b.try_lock());
  b.unlock();
  try {
    b.unlock();  // not locked
    FAIL() << "no exception";
  } catch (const gmp::error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
}
#endif

TEST(Mutex, ConstantInitialisedStatic) {
  static gmp::mutex mu;  // constexpr constructor: no static-init order issue
  std::lock_guard<gmp::mutex> lock(mu);
  SUCCEED();
}

TEST(RwMutex, SharedLockReadersOverlapWritersExclude) {
  gmp::rwmutex rw;
  std::atomic<int> readers{0};
  std::atomic<int> max_readers{0};
  std::atomic<int> writer_saw_readers{0};
  int value = 0;
  gmp::waitgroup wg;
  for (int r = 0; r < 6; r++) {
    wg.go([&] {
      for (int i = 0; i < 20; i++) {
        std::shared_lock<gmp::rwmutex> lock(rw);
        const int now = ++readers;
        int m = max_readers.load();
        while (now > m && !max_readers.compare_exchange_weak(m, now)) {
        }
        gmp::this_goroutine::sleep_for(200us);  // hold the read lock across a park
        --readers;
      }
    });
  }
  for (int w = 0; w < 2; w++) {
    wg.go([&] {
      for (int i = 0; i < 20; i++) {
        std::lock_guard<gmp::rwmutex> lock(rw);
        if (readers.load() != 0) writer_saw_readers++;
        value++;
        gmp::this_goroutine::yield();
      }
    });
  }
  wg.wait();
  EXPECT_EQ(value, 40);
  EXPECT_EQ(writer_saw_readers.load(), 0);
  EXPECT_GT(max_readers.load(), 1);  // readers did share the lock
  EXPECT_TRUE(rw.try_lock_shared());
  EXPECT_FALSE(rw.try_lock());
  rw.unlock_shared();
  EXPECT_TRUE(rw.try_lock());
  EXPECT_FALSE(rw.try_lock_shared());
  rw.unlock();
}

TEST(ConditionVariable, WaitForPredicateBecomesTrue) {
  gmp::mutex mu;
  gmp::condition_variable cv;
  bool ready = false;
  gmp::go([&] {
    gmp::this_goroutine::sleep_for(10ms);
    std::lock_guard<gmp::mutex> lock(mu);
    ready = true;
    cv.notify_all();
  });
  std::unique_lock<gmp::mutex> lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, 5s, [&] { return ready; }));
  EXPECT_TRUE(lock.owns_lock());
}

TEST(ConditionVariable, WaitForPredicateTimesOut) {
  gmp::mutex mu;
  gmp::condition_variable cv;
  std::unique_lock<gmp::mutex> lock(mu);
  const auto t0 = steady::now();
  EXPECT_FALSE(cv.wait_for(lock, 20ms, [] { return false; }));
  EXPECT_GE(steady::now() - t0, 20ms);
  EXPECT_TRUE(lock.owns_lock());
  EXPECT_EQ(cv.wait_for(lock, 1ms), std::cv_status::timeout);
  EXPECT_FALSE(cv.wait_until(lock, steady::now() + 2ms, [] { return false; }));
}

TEST(ConditionVariable, ProducerConsumerQueueInGoroutines) {
  gmp::mutex mu;
  gmp::condition_variable cv;
  std::deque<int> queue;
  bool closed = false;
  std::atomic<long> sum{0};
  gmp::waitgroup consumers;
  for (int c = 0; c < 4; c++) {
    consumers.go([&] {
      std::unique_lock<gmp::mutex> lock(mu);
      for (;;) {
        cv.wait(lock, [&] { return !queue.empty() || closed; });
        if (queue.empty()) return;
        sum += queue.front();
        queue.pop_front();
      }
    });
  }
  gmp::waitgroup producers;
  for (int p = 0; p < 4; p++) {
    producers.go([&, p] {
      for (int i = 0; i < 250; i++) {
        std::lock_guard<gmp::mutex> lock(mu);
        queue.push_back(p * 250 + i);
        cv.notify_one();
      }
    });
  }
  producers.wait();
  {
    std::lock_guard<gmp::mutex> lock(mu);
    closed = true;
  }
  cv.notify_all();
  consumers.wait();
  EXPECT_EQ(sum.load(), 999L * 1000 / 2);
}

TEST(WaitGroup, WaitsForAHundredGoroutines) {
  gmp::waitgroup wg;
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; i++) {
    wg.add(1);
    gmp::go([&] {
      gmp::this_goroutine::sleep_for(1ms);
      ran++;
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(ran.load(), 100);
  for (int i = 0; i < 100; i++) wg.go([&](int k) { ran += k; }, 1);
  wg.wait();
  EXPECT_EQ(ran.load(), 200);
#if GMP_HAS_EXCEPTIONS
  EXPECT_THROW(wg.done(), gmp::error);  // below zero
#endif
}

TEST(Once, RunsOnceAcrossGoroutines) {
  gmp::once once;
  std::atomic<int> calls{0};
  int value = 0;
  std::atomic<int> saw_value{0};
  gmp::waitgroup wg;
  for (int i = 0; i < 50; i++) {
    wg.go([&] {
      once.call([&](int v) {
        calls++;
        gmp::this_goroutine::sleep_for(5ms);  // the others wait for it to return
        value = v;
      }, 42);
      if (value == 42) saw_value++;
    });
  }
  wg.wait();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(saw_value.load(), 50);
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(Once, AnExceptionReachesTheCallerAndCountsAsDone) {
  gmp::once once;
  EXPECT_THROW(once.call([] { throw std::runtime_error("first"); }), std::runtime_error);
  bool ran = false;
  gmp::call_once(once, [&] { ran = true; });
  EXPECT_FALSE(ran);  // as Go's sync.Once: a panicking f still counts as done
}
#endif
