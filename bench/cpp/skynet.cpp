// skynet through the C++ API: each node spawns div=10 children that report over a
// gmp::chan<std::int64_t> of capacity div made by the node (each child gets its own
// handle with share()), sums them and sends the sum up; 1,000,000 leaves; the sum must
// be 499999500000; ms total. The same work and output as bench/c/skynet.c.
#include "../c/bench_common.h"
#include "bench_go.hpp"

#include <gmp/gmp.hpp>

#include <cinttypes>
#include <cstdint>
#include <cstdio>

namespace {

void skynet(gmp::chan<std::int64_t> out, std::int64_t num, std::int64_t size, std::int64_t div) {
  if (size == 1) {
    out.send(num);
    return;
  }
  gmp::chan<std::int64_t> children(static_cast<std::size_t>(div));
  for (std::int64_t i = 0; i < div; i++)
    bench::go(skynet, children.share(), num + i * (size / div), size / div, div);
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < div; i++) {
    const std::optional<std::int64_t> v = children.recv();
    if (!v) bench_fail("skynet: channel closed");
    sum += *v;
  }
  out.send(sum);
}

void run() {
  // leaves: a power of ten near 1e6*scale (1e6 at scale 1), as bench/c/skynet.c
  double e = 6.0, s = bench_scale();
  while (s >= 3.1622776601683795) { e += 1; s /= 10; }
  while (s < 0.31622776601683794) { e -= 1; s *= 10; }
  const int exp = static_cast<int>(e) < 1 ? 1 : static_cast<int>(e);
  std::int64_t leaves = 1;
  for (int k = 0; k < exp; k++) leaves *= 10;
  const std::int64_t want = leaves * (leaves - 1) / 2;

  gmp::chan<std::int64_t> result(1);
  const std::int64_t t0 = gmp_now();
  bench::go(skynet, result.share(), std::int64_t{0}, leaves, std::int64_t{10});
  const std::optional<std::int64_t> sum = result.recv();
  const std::int64_t el = gmp_now() - t0;
  if (!sum || *sum != want)
    bench_fail("skynet: sum %" PRId64 ", want %" PRId64, sum ? *sum : -1, want);
  std::fprintf(stderr, "skynet (%s): %" PRId64 " leaves, sum %" PRId64 ", %.3f ms\n",
               bench::variant, leaves, *sum, static_cast<double>(el) / 1e6);
  bench_result("skynet", "ms", static_cast<double>(el) / 1e6);
}

}  // namespace

int main() {
  gmp::main(run);
  return 0;
}
