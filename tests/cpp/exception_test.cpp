// C++ exception state travels with goroutines: a goroutine that parks inside a catch
// block and resumes on another thread still rethrows its own exception with `throw;`.
// And an exception escaping a goroutine terminates the process with its what().
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

// Two P's kept busy by goroutines that run a little and yield, plus echo servers: a
// goroutine that parks waiting for a server's reply is readied on the server's P, and
// one waking from a sleep is often stolen by the other P. Either way it may resume on
// another thread.
class busy_runtime {
 public:
  explicit busy_runtime(int spinners) : previous_(gmp::maxprocs(2)) {
    for (int i = 0; i < spinners; i++) {
      wg_.go([this] {
        while (!stop_) {
          gmp_test::spin_for_us(20);
          gmp::this_goroutine::sleep_for(std::chrono::microseconds(30));
        }
      });
    }
    for (int i = 0; i < 2; i++) {
      wg_.go([this] {
        for (gmp::chan<int>* reply : requests_) reply->send(1);
      });
    }
  }
  ~busy_runtime() {
    stop_ = true;
    requests_.close();
    wg_.wait();
    gmp::maxprocs(previous_);
  }

  // Parks the calling goroutine: a sleep, a timer channel, or a round trip to a server.
  void park(int how) {
    switch (how % 3) {
      case 0:
        gmp::this_goroutine::sleep_for(std::chrono::microseconds(50 + 30 * (how % 5)));
        break;
      case 1:
        gmp::after(std::chrono::microseconds(80)).recv();
        break;
      default: {
        gmp::chan<int> reply;
        requests_.send(&reply);
        reply.recv();
      }
    }
  }

 private:
  int previous_;
  std::atomic<bool> stop_{false};
  gmp::chan<gmp::chan<int>*> requests_;
  gmp::waitgroup wg_;
};

}  // namespace

TEST(Exceptions, RethrowAfterParkingInACatchBlock) {
  busy_runtime busy(2);
  constexpr int n = 300;  // goroutines a batch, each parking 4 times in its handler
  std::atomic<int> rethrown_right{0};
  std::atomic<int> wrong{0};
  std::atomic<int> resumed_elsewhere{0};
  // Batches until some park did resume on another thread (the point of the test; the
  // first batch nearly always has), at most 10.
  int batches = 0;
  for (; batches < 10 && (batches == 0 || resumed_elsewhere == 0); batches++) {
    gmp::waitgroup wg;
    for (int i = 0; i < n; i++) {
      wg.go([&, i] {
        const std::string want = "exception of goroutine " + std::to_string(i);
        try {
          throw std::runtime_error(want);
        } catch (const std::runtime_error&) {
          for (int round = 0; round < 4; round++) {
            const long before = gmp_test::current_tid();
            busy.park(i + round);
            if (gmp_test::current_tid() != before) resumed_elsewhere++;
          }
          try {
            throw;  // the exception this goroutine caught, whichever thread it is on now
          } catch (const std::runtime_error& e) {
            if (want == e.what()) {
              rethrown_right++;
            } else {
              wrong++;
            }
          } catch (...) {
            wrong++;
          }
        }
        // Outside every handler again: no exception is current or in flight.
        if (std::current_exception() != nullptr) wrong++;
        if (std::uncaught_exceptions() != 0) wrong++;
      });
    }
    wg.wait();
  }
  EXPECT_EQ(rethrown_right.load(), n * batches);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(resumed_elsewhere.load(), 0);
  std::printf("[          ] %d of %d parks in a catch block resumed on another thread\n",
              resumed_elsewhere.load(), 4 * n * batches);
}

// GMP_HOOKS_LAZY_RESUME (see <gmp/gmp.hpp>'s switch hooks): a goroutine that parks with
// no exception caught or in flight resumes without the resume hook. Half the goroutines
// here park inside catch blocks (their resumes must install their exception), half park
// outside any handler, on the same threads, and after every park must see no current
// exception and none in flight: a skipped resume that found another goroutine's state
// on its thread, or a park that left one there, is counted.
TEST(Exceptions, ParksOutsideHandlersSeeNoneAmongParksInside) {
  busy_runtime busy(2);
  constexpr int n = 200;
  std::atomic<int> wrong{0};
  std::atomic<int> rethrown_right{0};
  gmp::waitgroup wg;
  for (int i = 0; i < n; i++) {
    if (i % 2 == 0) {
      wg.go([&, i] {
        const std::string want = "caught by " + std::to_string(i);
        try {
          throw std::runtime_error(want);
        } catch (const std::runtime_error&) {
          for (int round = 0; round < 6; round++) busy.park(i + round);
          try {
            throw;
          } catch (const std::runtime_error& e) {
            if (want == e.what()) rethrown_right++;
          }
        }
      });
    } else {
      wg.go([&, i] {
        for (int round = 0; round < 6; round++) {
          busy.park(i + round);
          if (std::current_exception() != nullptr) wrong++;
          if (std::uncaught_exceptions() != 0) wrong++;
        }
      });
    }
  }
  wg.wait();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(rethrown_right.load(), n / 2);
}

TEST(Exceptions, NestedHandlersAcrossParks) {
  busy_runtime busy(2);
  constexpr int n = 100;
  std::atomic<int> right{0};
  gmp::waitgroup wg;
  for (int i = 0; i < n; i++) {
    wg.go([&, i] {
      const std::string outer = "outer " + std::to_string(i);
      const std::string inner = "inner " + std::to_string(i);
      int ok = 0;
      try {
        throw std::runtime_error(outer);
      } catch (const std::runtime_error&) {
        busy.park(i);
        try {
          throw std::logic_error(inner);
        } catch (const std::logic_error&) {
          busy.park(i + 1);
          try {
            throw;
          } catch (const std::logic_error& e) {
            ok += inner == e.what();
          }
        }
        busy.park(i + 2);
        try {
          throw;  // the inner handler has ended: the outer exception again
        } catch (const std::runtime_error& e) {
          ok += outer == e.what();
        }
        // std::current_exception() inside the outer handler, after parks.
        try {
          std::rethrow_exception(std::current_exception());
        } catch (const std::runtime_error& e) {
          ok += outer == e.what();
        }
      }
      if (ok == 3) right++;
    });
  }
  wg.wait();
  EXPECT_EQ(right.load(), n);
}

// A park with no exception caught or in flight stores nothing (<gmp/gmp.hpp>'s
// eh_swap_out): the goroutine's slot must then already be zero, which the resume that
// installed a caught exception makes it. Each goroutine here parks inside a handler
// (its exception saved and installed again, maybe on another thread), leaves the
// handler, and parks on: had the resume left the exception in the slot, the next
// resume would install it again, a dangling exception after its handler ended.
TEST(Exceptions, ParksAfterLeavingAHandlerSeeNone) {
  busy_runtime busy(2);
  constexpr int n = 200;
  std::atomic<int> wrong{0};
  std::atomic<int> caught{0};
  gmp::waitgroup wg;
  for (int i = 0; i < n; i++) {
    wg.go([&, i] {
      try {
        throw std::runtime_error("caught by " + std::to_string(i));
      } catch (const std::runtime_error&) {
        for (int round = 0; round < 3; round++) busy.park(i + round);
        if (std::current_exception() != nullptr) caught++;
      }
      for (int round = 0; round < 6; round++) {
        busy.park(i + round);
        if (std::current_exception() != nullptr) wrong++;
        if (std::uncaught_exceptions() != 0) wrong++;
      }
    });
  }
  wg.wait();
  EXPECT_EQ(caught.load(), n);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Exceptions, UncaughtCountInADestructorAcrossParks) {
  busy_runtime busy(2);
  constexpr int n = 100;
  std::atomic<int> right{0};
  struct parks_in_destructor {
    busy_runtime* busy;
    int i;
    std::atomic<int>* right;
    ~parks_in_destructor() {
      const int before = std::uncaught_exceptions();  // 1: unwinding
      busy->park(i);
      if (before == 1 && std::uncaught_exceptions() == 1) (*right)++;
    }
  };
  gmp::waitgroup wg;
  for (int i = 0; i < n; i++) {
    wg.go([&, i] {
      try {
        parks_in_destructor guard{&busy, i, &right};
        throw std::runtime_error("unwinding");
      } catch (const std::runtime_error&) {
      }
    });
  }
  wg.wait();
  EXPECT_EQ(right.load(), n);
}

// The goroutine entry is a noexcept boundary with no handler on the goroutine's stack:
// std::terminate runs inside __cxa_throw, before any unwinding, so the throwing frame is
// still there (a core dump shows it; goroutine_exception_backtrace checks under gdb) and
// no destructor of the goroutine's frames has run.
namespace {
std::atomic<bool> unwound{false};
struct notes_unwinding {
  notes_unwinding() = default;
  notes_unwinding(const notes_unwinding&) = delete;
  notes_unwinding& operator=(const notes_unwinding&) = delete;
  ~notes_unwinding() { unwound = true; }
};
}  // namespace

TEST(ExceptionsDeathTest, EscapingExceptionTerminatesAtTheThrowSite) {
  EXPECT_DEATH(
      {
        std::set_terminate([] {
          // Like std::thread: terminate runs with the escaped exception current.
          try {
            throw;
          } catch (const std::exception& e) {
            std::fprintf(stderr, "terminate handler saw: %s, unwound=%d\n", e.what(),
                         unwound.load() ? 1 : 0);
          } catch (...) {
          }
          std::abort();
        });
        gmp::go([] {
          notes_unwinding guard;
          throw std::runtime_error("boom from a goroutine");
        });
        gmp::this_goroutine::sleep_for(10s);
      },
      "terminate handler saw: boom from a goroutine, unwound=0");
}

TEST(ExceptionsDeathTest, NonStdExceptionTerminatesToo) {
  EXPECT_DEATH(
      {
        gmp::go([] { throw 42; });
        gmp::this_goroutine::sleep_for(10s);
      },
      // libstdc++'s verbose terminate handler; libc++abi's
      "instance of 'int'|exception of type int");
}
