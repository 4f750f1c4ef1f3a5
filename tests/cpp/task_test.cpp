// gmp::go's task handle (join, result, detach) and gmp::group (Go's errgroup).
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

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

// The handle state is one word with one read-modify-write a side (the end sets done, the
// handle lets go); whichever comes second frees the goroutine. Every order: handles
// dropped before, during and after the end, joins before and after it, from threads
// and goroutines on two P's. Each callable's captures die exactly once (a live count),
// and every join sees its goroutine's result.
TEST(Task, EveryOrderOfEndDetachAndJoinFreesOnce) {
  static std::atomic<int> live{0};
  struct token {
    token() { live++; }
    token(const token&) { live++; }
    token(token&&) noexcept { live++; }
    ~token() { live--; }
  };
  const int previous = gmp::maxprocs(2);
  for (int round = 0; round < 10; round++) {
    std::vector<gmp::task<int>> kept;
    gmp::waitgroup wg;
    for (int i = 0; i < 200; i++) {
      auto t = gmp::go(
          [tok = token(), i]() {
            (void)tok;
            if (i % 3 == 0) gmp::this_goroutine::yield();
            return i;
          });
      switch (i % 4) {
        case 0:  // dropped at once
          break;
        case 1:  // joined at once, from this thread
          EXPECT_EQ(t.join(), i);
          break;
        case 2:  // joined by another goroutine, maybe after the end
          wg.go([t = std::move(t), i]() mutable {
            if (i % 8 == 2) gmp::this_goroutine::yield();
            EXPECT_EQ(t.join(), i);
          });
          break;
        default:  // kept, joined or dropped below
          kept.push_back(std::move(t));
      }
    }
    for (std::size_t k = 0; k < kept.size(); k++) {
      if (k % 2 == 0) {
        EXPECT_EQ(kept[k].join() % 4, 3);
      }
    }
    kept.clear();  // the others let go, ended or not
    wg.wait();
    // Dropped goroutines may still be running: wait for their captures to die (a
    // goroutine that never ends shows as ctest's time-out; one freed twice, as a
    // negative count or a crash).
    while (live.load() > 0) gmp::this_goroutine::sleep_for(std::chrono::microseconds(20));
    ASSERT_EQ(live.load(), 0) << "round " << round;
  }
  gmp::maxprocs(previous);
}

// What a goroutine that is not joined touches (exception slot, handle state, callable)
// comes first and the joiner's wait group last: for a 40-byte callable (a function
// pointer and four words, bench/cpp skynet's), the first 64 bytes.
namespace {
void skynet_like(gmp::chan<long>, long, long, long) {}
}  // namespace

TEST(Task, ASmallGoroutineKeepsItsHotPartInSixtyFourBytes) {
  auto* g = gmp::detail::make_goroutine(&skynet_like, gmp::chan<long>(), 0L, 0L, 0L);
  static_assert(sizeof(g->call) == 40);
  const auto at = [g](const void* p) {
    return static_cast<std::size_t>(static_cast<const unsigned char*>(p) -
                                    reinterpret_cast<const unsigned char*>(g));
  };
  EXPECT_LE(at(&g->call) + sizeof(g->call), 64u);
  EXPECT_EQ(at(g->join_wg), 64u);
  EXPECT_EQ(sizeof(*g), 96u);
  g->discard();  // never started: frees it, callable and all
}

// gmp::go of a goroutine that returns nothing, with a callable of up to 40 bytes that
// builds without throwing, keeps the callable in the runtime's G (gmp_go_inline; see
// gmp::detail::inline_header): skynet's fits exactly.
TEST(Task, SmallVoidGoroutinesLiveInTheirG) {
  using frame = gmp::detail::inline_frame_for<void (&)(gmp::chan<long>, long, long, long),
                                              gmp::chan<long>, long, long, long>;
  static_assert(sizeof(frame) == GMP_GO_INLINE_SIZE);
  static_assert(offsetof(gmp::detail::inline_header, word) == 16);
  constexpr bool skynet_inline =
      gmp::detail::inline_fits<void (&)(gmp::chan<long>, long, long, long), gmp::chan<long>,
                               long, long, long>();
  EXPECT_EQ(skynet_inline, GMP_GO_INLINE == 1);
  // A result, a callable over 40 bytes, or one whose copy may throw: the object.
  static_assert(!gmp::detail::inline_fits<int (*)()>());
  struct big {
    char bytes[48];
    void operator()() const {}
  };
  static_assert(!gmp::detail::inline_fits<big>());
  static_assert(!gmp::detail::inline_fits<void (*)(std::string), std::string&>());
}

// The join word of an inline goroutine (its id, then 0 or a joiner's channel): joins
// before the end, after it, after its G ran other goroutines, from threads and from
// goroutines, with handles moved and dropped; each capture dies exactly once.
TEST(Task, InlineGoroutinesJoinInEveryOrder) {
  static std::atomic<int> live{0};
  struct token {
    token() { live++; }
    token(const token&) noexcept { live++; }
    token(token&&) noexcept { live++; }
    ~token() { live--; }
  };
  const int previous = gmp::maxprocs(2);
  for (int round = 0; round < 10; round++) {
    std::vector<gmp::task<void>> kept;
    gmp::waitgroup wg;
    std::atomic<int> ran{0};
    for (int i = 0; i < 200; i++) {
      auto body = [tok = token(), i, &ran]() {
        (void)tok;
        if (i % 3 == 0) gmp::this_goroutine::yield();
        ran++;
      };
      static_assert(gmp::detail::inline_fits<decltype(body)>() == (GMP_GO_INLINE == 1));
      auto t = gmp::go(std::move(body));
      EXPECT_TRUE(t.joinable());
      switch (i % 5) {
        case 0:  // dropped at once
          break;
        case 1:  // joined at once, from this thread
          t.join();
          EXPECT_FALSE(t.joinable());
          break;
        case 2:  // joined by another goroutine, maybe after the end
          wg.go([t = std::move(t), i]() mutable {
            if (i % 10 == 2) gmp::this_goroutine::yield();
            t.join();
          });
          break;
        default:  // kept: joined below, long after most have ended and their G's reused
          kept.push_back(std::move(t));
      }
    }
    for (std::size_t k = 0; k < kept.size(); k++) {
      if (k % 2 == 0) kept[k].join();
    }
    kept.clear();  // the others let go
    wg.wait();
    while (live.load() > 0) gmp::this_goroutine::sleep_for(std::chrono::microseconds(20));
    ASSERT_EQ(live.load(), 0) << "round " << round;
    EXPECT_EQ(ran.load(), 200);
  }
  gmp::maxprocs(previous);
}

TEST(Task, JoinWaitsForARunningInlineGoroutine) {
  gmp::chan<int> go_on;
  std::atomic<bool> done{false};
  auto t = gmp::go([in = go_on.share(), &done]() mutable {
    in.recv();
    done = true;
  });
  gmp::waitgroup wg;
  wg.go([&] {  // joins while the goroutine is parked
    t.join();
    EXPECT_TRUE(done.load());
  });
  gmp::this_goroutine::sleep_for(2ms);
  EXPECT_FALSE(done.load());
  go_on.send(1);
  wg.wait();
  std::error_code ec;
  t.join(ec);  // no longer joinable
  EXPECT_EQ(ec.value(), GMP_EINVAL);
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
