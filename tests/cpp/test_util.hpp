// Helpers shared by the C++ tests: instance-counting value types and a thread id that
// is read afresh after a goroutine may have moved.
#ifndef GMP_TESTS_CPP_TEST_UTIL_HPP
#define GMP_TESTS_CPP_TEST_UTIL_HPP

#include <gmp/gmp.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

namespace gmp_test {

using steady = std::chrono::steady_clock;

/// The calling OS thread's id. A real system call, never cached: pthread_self() and
/// std::this_thread::get_id() may be (glibc declares pthread_self const), and a goroutine
/// can resume on another thread (DESIGN.md "Thread-locals move").
[[gnu::noinline]] inline long current_tid() { return static_cast<long>(::syscall(SYS_gettid)); }

/// A value type that is not trivially copyable (so chan<counted> transfers ownership)
/// and counts its live instances and destructor calls.
struct counted {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> destroyed{0};
  static void reset() {
    live = 0;
    destroyed = 0;
  }

  int value;
  explicit counted(int v) : value(v) { ++live; }
  counted(const counted& o) : value(o.value) { ++live; }
  counted(counted&& o) noexcept : value(o.value) { ++live; }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) noexcept = default;
  ~counted() {
    --live;
    ++destroyed;
  }
};

/// Burns about `us` microseconds of CPU without a switch point.
inline void spin_for_us(int us) {
  const auto end = steady::now() + std::chrono::microseconds(us);
  while (steady::now() < end) {
  }
}

}  // namespace gmp_test

#endif  // GMP_TESTS_CPP_TEST_UTIL_HPP
