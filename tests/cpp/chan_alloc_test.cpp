// Channels of non-trivially-copyable types allocate nothing per send and receive in steady
// state: their boxes come from a recycling pool (gmp::detail::box_pool). Counted with a
// replacement operator new (for the whole test program; it only counts while `counting`).
// Also: the send case that was not chosen gives its value back.
#include <gmp/gmp.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace

// g++ sees the inlined free() of a pointer from operator new (it is this one's malloc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  std::abort();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {
// Ping-pong of `rounds` values between the calling goroutine and an echo goroutine over
// two channels of T; returns the allocations counted during the last `counted` rounds.
template <class T, class Make>
long steady_state_allocations(std::size_t capacity, Make make, int rounds, int counted) {
  gmp::chan<T> ping(capacity);
  gmp::chan<T> pong(capacity);
  auto echo = gmp::go([in = ping.share(), out = pong.share()]() mutable {
    for (auto& v : in) out.send(std::move(v));
    out.close();
  });
  T v = make();
  long before = 0;
  for (int i = 0; i < rounds; i++) {
    if (i == rounds - counted) {
      before = allocations.load();
      counting = true;
    }
    ping.send(std::move(v));
    std::optional<T> back = pong.recv();
    v = std::move(*back);
  }
  counting = false;
  const long during = allocations.load() - before;
  ping.close();
  echo.join();
  return during;
}
}  // namespace

TEST(ChanAlloc, StringsTravelWithoutAllocating) {
  for (std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{64}}) {
    EXPECT_EQ(steady_state_allocations<std::string>(
                  cap, [] { return std::string(200, 's'); }, 3000, 1000),
              0)
        << "capacity " << cap;
  }
}

TEST(ChanAlloc, UniquePtrsTravelWithoutAllocating) {
  EXPECT_EQ(steady_state_allocations<std::unique_ptr<int>>(
                0, [] { return std::make_unique<int>(3); }, 3000, 1000),
            0);
  EXPECT_EQ(steady_state_allocations<std::unique_ptr<int>>(
                16, [] { return std::make_unique<int>(3); }, 3000, 1000),
            0);
}

TEST(ChanAlloc, BufferedBurstsReuseTheirBoxes) {
  gmp::chan<std::string> ch(100);
  auto burst = [&ch] {
    for (int i = 0; i < 100; i++) ch.send(std::string(30, 'x'));  // SSO-free length
    for (int i = 0; i < 100; i++) ch.recv();
  };
  for (int i = 0; i < 5; i++) burst();  // warm the pool
  const long before = allocations.load();
  counting = true;
  // Strings of 30 chars allocate their own bytes: 100 a burst, the channel none.
  for (int i = 0; i < 5; i++) burst();
  counting = false;
  EXPECT_EQ(allocations.load() - before, 500);
}

// gmp::go of a small goroutine allocates nothing: its callable lives in the runtime's G
// (gmp_go_inline), and a dropped task holds nothing. Also through waitgroup::go.
TEST(GoAlloc, SmallGoroutinesSpawnWithoutAllocating) {
  gmp::waitgroup wg;
  std::atomic<long> sum{0};
  for (int i = 0; i < 100; i++) wg.go([&sum, i] { sum += i; });  // warm up
  wg.wait();
  const long before = allocations.load();
  counting = true;
  for (int i = 0; i < 1000; i++) {
    wg.add(1);
    gmp::go([&sum, &wg, i] {
      sum += i;
      wg.done();
    });
    wg.go([&sum, i] { sum += i; });
  }
  counting = false;
  const long during = allocations.load() - before;
  wg.wait();
  EXPECT_EQ(sum.load(), 4950 + 2 * 499500);
#if GMP_GO_INLINE
  EXPECT_EQ(during, 0);
#else
  (void)during;
#endif
}

TEST(SendCase, AnUnchosenCaseGivesItsValueBack) {
  gmp::chan<std::unique_ptr<int>> full(1);
  full.send(std::make_unique<int>(0));
  gmp::chan<int> ready(1);
  ready.send(1);
  auto p = std::make_unique<int>(7);
  const std::size_t i = gmp::select(gmp::send_case(full, p), gmp::recv_case(ready));
  EXPECT_EQ(i, 1u);
  ASSERT_TRUE(p);  // not sent: still ours
  EXPECT_EQ(*p, 7);

  full.recv();  // room now
  const std::size_t j = gmp::select(gmp::send_case(full, p), gmp::default_case([] {}));
  EXPECT_EQ(j, 0u);
  EXPECT_FALSE(p);  // sent: moved into the channel
  EXPECT_EQ(*full.recv().value(), 7);

  // A case that owns its value (an rvalue) keeps it when not chosen: take() returns it.
  full.send(std::make_unique<int>(1));
  auto owned = gmp::send_case(full, std::make_unique<int>(9));
  EXPECT_EQ(gmp::select(owned, gmp::default_case([] {})), 1u);
  std::optional<std::unique_ptr<int>> back = owned.take();
  ASSERT_TRUE(back && *back);
  EXPECT_EQ(**back, 9);

  // A string lvalue: given back unchanged.
  gmp::chan<std::string> none;
  std::string s(100, 'q');
  EXPECT_EQ(gmp::select(gmp::send_case(none, s), gmp::default_case([] {})), 1u);
  EXPECT_EQ(s, std::string(100, 'q'));
}
