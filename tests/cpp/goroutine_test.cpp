// gmp::go with callables and arguments, go_attr, this_goroutine, lock_os_thread,
// gmp::main, and the error type.
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "test_util.hpp"

using namespace std::chrono_literals;
using gmp_test::steady;

TEST(Go, CallableWithMoveOnlyArguments) {
  gmp::chan<int> out;
  gmp::go([](std::unique_ptr<int> p, gmp::chan<int> c) { c.send(*p); }, std::make_unique<int>(42),
          out.share());
  EXPECT_EQ(out.recv(), std::optional<int>(42));
}

TEST(Go, LambdaCapturesAndFunctionPointers) {
  struct functor {
    gmp::chan<std::string>* out;
    void operator()(const std::string& s) const { out->send(s + "!"); }
  };
  gmp::chan<std::string> out(2);
  gmp::waitgroup wg;
  const std::string word = "captured";
  wg.go([&out, word] { out.send(word); });
  wg.go(functor{&out}, std::string("functor"));
  wg.wait();
  std::optional<std::string> a = out.recv();
  std::optional<std::string> b = out.recv();
  ASSERT_TRUE(a && b);
  EXPECT_TRUE((*a == "captured" && *b == "functor!") || (*a == "functor!" && *b == "captured"));
}

TEST(Go, AttrNameStackAndId) {
  gmp::go_attr attr;
  attr.name = "named-worker";
  attr.stack_size = 64 * 1024;
  gmp::chan<gmp::goid> ids(1);
  const gmp::goid id = gmp::go(attr, [&ids] { ids.send(gmp::this_goroutine::id()); });
  EXPECT_NE(id, 0u);
  EXPECT_EQ(ids.recv(), std::optional<gmp::goid>(id));
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(Go, ThisGoroutineOnAForeignThread) {
  EXPECT_EQ(gmp::this_goroutine::id(), 0u);  // the test's thread is not a goroutine
  gmp::this_goroutine::yield();              // a no-op here
  const auto t0 = steady::now();
  gmp::this_goroutine::sleep_for(10ms);
  EXPECT_GE(steady::now() - t0, 10ms);
  gmp::this_goroutine::sleep_until(steady::now() + 2ms);
  EXPECT_THROW(gmp::this_goroutine::set_name("no"), gmp::error);  // GMP_ENOTGOROUTINE
}
#endif

TEST(Go, LockOsThreadKeepsTheGoroutineOnItsThread) {
  const int previous = gmp::maxprocs(2);
  std::atomic<bool> stop{false};
  gmp::waitgroup churn;
  for (int i = 0; i < 4; i++) {
    churn.go([&] {
      while (!stop) {
        gmp_test::spin_for_us(50);
        gmp::this_goroutine::sleep_for(100us);
      }
    });
  }
  gmp::chan<int> moves(1);
  gmp::go([&moves] {
    auto pin = gmp::lock_os_thread();
    const long tid = gmp_test::current_tid();
    int moved = 0;
    for (int i = 0; i < 50; i++) {
      gmp::this_goroutine::sleep_for(200us);
      if (gmp_test::current_tid() != tid) moved++;
    }
    moves.send(moved);
  });
  EXPECT_EQ(moves.recv(), std::optional<int>(0));
  stop = true;
  churn.wait();
  gmp::maxprocs(previous);
}

#if GMP_HAS_EXCEPTIONS  // the non-throwing forms: nothrow_test.cpp
TEST(Go, MainRunsAGoroutineAndRethrows) {
  gmp::goid id = 0;
  gmp::main([&id] { id = gmp::this_goroutine::id(); });
  EXPECT_NE(id, 0u);
  EXPECT_THROW(gmp::main([] { throw std::logic_error("from main"); }), std::logic_error);
}

// The main goroutine is not locked to gmp_main's thread: it may park inside a catch
// block, move to another thread, and still have its exception there (rethrow works),
// while the thread it left keeps its own exception state (gmp_main_ex's hooks).
TEST(Go, MainCarriesItsExceptionStateAcrossMigrations) {
  int moved = 0, kept = 0;
  try {
    throw std::runtime_error("the test thread's own");
  } catch (const std::runtime_error&) {
    gmp::main([&] {
      for (int round = 0; round < 50; ++round) {
        try {
          throw std::logic_error("main's");
        } catch (const std::logic_error&) {
          const long before = gmp_test::current_tid();
          gmp::this_goroutine::sleep_for(std::chrono::microseconds(200));
          gmp::go([] {}).join();
          if (gmp_test::current_tid() != before) ++moved;
          try {
            throw;  // the exception being handled, whichever thread we are on now
          } catch (const std::logic_error& e) {
            if (std::string(e.what()) == "main's") ++kept;
          } catch (...) {
          }
        }
      }
    });
    // The caller's own exception is still the one being handled here.
    try {
      throw;
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "the test thread's own");
    }
  }
  EXPECT_EQ(kept, 50) << "main lost its exception across parks (" << moved << " moves)";
}
#endif

// gmp_go_inline through the C ABI: init fills the G's bytes on the spawning thread
// before the goroutine runs, with its id; fn gets the same address, and so do hooks
// whose ctx is NULL; bad arguments are refused without calling init.
namespace {
struct inline_arg {
  gmp_waitgroup* wg;
  std::atomic<int>* ok;
  gmp_goid id;
  int parks;
  int resumes;
};
static_assert(sizeof(inline_arg) <= GMP_GO_INLINE_SIZE);
std::atomic<int> inits{0};
void inline_init(void* arg, gmp_goid id, void* ctx) {
  inits++;
  auto* a = static_cast<inline_arg*>(arg);
  *a = *static_cast<const inline_arg*>(ctx);
  a->id = id;
}
void inline_fn(void* arg) {
  auto* a = static_cast<inline_arg*>(arg);
  gmp_sleep(1000000);  // a switch point: the hooks run with this very address
  if (a->id == gmp_self() && a->parks > 0 && a->resumes == a->parks) (*a->ok)++;
  gmp_waitgroup_done(a->wg);
}
void inline_park(void* ctx) { static_cast<inline_arg*>(ctx)->parks++; }
void inline_resume(void* ctx) { static_cast<inline_arg*>(ctx)->resumes++; }
}  // namespace

TEST(GoInline, CAbi) {
  inits = 0;
  gmp_waitgroup wg = GMP_WAITGROUP_INIT;
  std::atomic<int> ok{0};
  inline_arg proto{&wg, &ok, 0, 0, 0};
  gmp_switch_hooks hooks{};
  hooks.size = sizeof hooks;
  hooks.on_park = &inline_park;
  hooks.on_resume = &inline_resume;
  const int n = 50;
  for (int i = 0; i < n; i++) {
    gmp_waitgroup_add(&wg, 1);
    ASSERT_EQ(gmp_go_inline(&inline_fn, &inline_init, &proto, &hooks), 0);
  }
  ASSERT_EQ(gmp_waitgroup_wait(&wg), 0);
  EXPECT_EQ(ok.load(), n);
  EXPECT_EQ(inits.load(), n);

  EXPECT_EQ(gmp_go_inline(nullptr, &inline_init, &proto, nullptr), GMP_EINVAL);
  EXPECT_EQ(gmp_go_inline(&inline_fn, nullptr, &proto, nullptr), GMP_EINVAL);
  gmp_switch_hooks bad = hooks;
  bad.size = 3;
  EXPECT_EQ(gmp_go_inline(&inline_fn, &inline_init, &proto, &bad), GMP_EINVAL);
  struct {
    gmp_switch_hooks h;
    long extra;
  } longer{hooks, 1};
  longer.h.size = sizeof longer;
  EXPECT_EQ(gmp_go_inline(&inline_fn, &inline_init, &proto, &longer.h), GMP_E2BIG);
  EXPECT_EQ(inits.load(), n);  // none of the refused spawns called init
}

TEST(Error, CategoryCodesAndMessages) {
  const gmp::error closed(GMP_ECLOSED, "gmp::chan::send");
  EXPECT_EQ(closed.code().value(), GMP_ECLOSED);
  EXPECT_STREQ(closed.code().category().name(), "gmp");
  EXPECT_EQ(closed.code().message(), std::string(gmp_strerror(GMP_ECLOSED)));
  EXPECT_NE(std::strstr(closed.what(), "gmp::chan::send"), nullptr);
  EXPECT_EQ(closed.code(), gmp::errc::closed);
  EXPECT_EQ(gmp::error(GMP_ETIMEDOUT).code(), std::errc::timed_out);  // errno codes map
  EXPECT_EQ(gmp::error(GMP_EAGAIN).code(), std::errc::resource_unavailable_try_again);
  EXPECT_NE(gmp::error(GMP_ECLOSED).code(), std::errc::timed_out);
  const std::system_error& base = closed;  // catchable as std::system_error
  EXPECT_EQ(&base.code().category(), &gmp::gmp_category());
}
