// std::string through gmp::chan<std::string>: what a non-trivially-copyable element costs,
// and how many heap allocations each operation makes (counted with a replacement
// operator new over the measured loop only). The strings are 64 bytes, past the
// small-string buffer, so each owns a heap block that moves with it.
//
//   string_pingpong  two goroutines, an unbuffered chan<std::string> pair: ns per round
//                    trip; allocations per round trip (the channel's boxes come from a
//                    recycling pool: 0 in steady state)
//   string_stream    a producer sends n strings through a chan<std::string> of capacity
//                    128 to a consumer that sends them back through another (so the
//                    strings are reused, not made per op): ns per string; allocations
//                    per string
//   boxed_pingpong   the same ping-pong over chan<std::string*> with a new std::string
//                    moved into a heap box per send, deleted by the receiver: what the
//                    binding did before the pool (1 allocation per send)
//
// Prints RESULT lines (metric ns_per_roundtrip / ns_per_op, and allocs_per_op) as the
// other benchmarks do. Usage: string_chan [1p|allp] (default allp).
#include "../c/bench_common.h"

#include <gmp/gmp.hpp>

#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

namespace {
std::atomic<bool> counting{false};
std::atomic<std::int64_t> allocations{0};
}  // namespace

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

struct window {
  std::int64_t t0 = 0;
  std::int64_t a0 = 0;
  void start() {
    a0 = allocations.load();
    counting = true;
    t0 = gmp_now();
  }
  std::pair<double, double> stop(std::int64_t ops) {
    const std::int64_t el = gmp_now() - t0;
    counting = false;
    const std::int64_t a = allocations.load() - a0;
    return {static_cast<double>(el) / static_cast<double>(ops),
            static_cast<double>(a) / static_cast<double>(ops)};
  }
};

void report(const char* name, const char* metric, std::pair<double, double> r) {
  std::fprintf(stderr, "%s: %.1f %s, %.3f allocations per op\n", name, r.first, metric, r.second);
  bench_result(name, metric, r.first);
  std::printf("RESULT name=%s_allocs metric=allocs_per_op value=%.4f\n", name, r.second);
  std::fflush(stdout);
}

void string_pingpong(std::int64_t n, bool print = true) {
  gmp::chan<std::string> ping, pong;
  auto echo = gmp::go([&] {
    for (auto& s : ping) pong.send(std::move(s));
  });
  std::string s(64, 'x');
  window w;
  const std::int64_t warm = n / 10 + 100;
  for (std::int64_t i = 0; i < warm + n; i++) {
    if (i == warm) w.start();
    ping.send(std::move(s));
    s = std::move(*pong.recv());
  }
  const auto r = w.stop(n);
  ping.close();
  echo.join();
  if (s.size() != 64) bench_fail("string_pingpong: the string changed");
  if (print) report("string_pingpong", "ns_per_roundtrip", r);
}

void string_stream(std::int64_t n) {
  gmp::chan<std::string> out(128), back(128);
  auto consumer = gmp::go([&] {
    std::int64_t bytes = 0;
    for (auto& s : out) {
      bytes += static_cast<std::int64_t>(s.size());
      back.send(std::move(s));
    }
    return bytes;
  });
  for (int i = 0; i < 128; i++) back.send(std::string(64, 'y'));  // the strings in play
  window w;
  const std::int64_t warm = n / 10 + 1000;
  for (std::int64_t i = 0; i < warm + n; i++) {
    if (i == warm) w.start();
    out.send(std::move(*back.recv()));
  }
  const auto r = w.stop(n);
  out.close();
  if (consumer.join() != 64 * (warm + n)) bench_fail("string_stream: bytes lost");
  report("string_stream", "ns_per_op", r);
}

void boxed_pingpong(std::int64_t n) {
  gmp::chan<std::string*> ping, pong;
  auto echo = gmp::go([&] {
    for (std::string* p : ping) {
      std::string s(std::move(*p));
      delete p;
      pong.send(new std::string(std::move(s)));
    }
  });
  std::string s(64, 'x');
  window w;
  const std::int64_t warm = n / 10 + 100;
  for (std::int64_t i = 0; i < warm + n; i++) {
    if (i == warm) w.start();
    ping.send(new std::string(std::move(s)));
    std::string* p = *pong.recv();
    s = std::move(*p);
    delete p;
  }
  const auto r = w.stop(n);
  ping.close();
  echo.join();
  report("boxed_pingpong", "ns_per_roundtrip", r);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "allp";
  if (mode != "1p" && mode != "allp") bench_fail("unknown mode \"%s\" (want 1p or allp)", mode.c_str());
  gmp::main([&] {
    gmp::maxprocs(mode == "1p" ? 1 : bench_ncpu());
    const std::int64_t n = bench_scaled(500000, 1000);
    string_pingpong(n / 5 + 1, false);  // warm-up: threads started, caches and pool filled
    string_pingpong(n);
    string_stream(n);
    boxed_pingpong(n);
  });
  return 0;
}
