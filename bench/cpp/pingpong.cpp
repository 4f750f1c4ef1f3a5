// pingpong through the C++ API: two goroutines over a pair of unbuffered
// gmp::chan<std::int64_t>, 1,000,000 round trips; ns per round trip. The same work as
// bench/c/pingpong.c, with the same arguments and output: "1p" (maxprocs 1, name
// pingpong_1p) or "allp" (maxprocs = CPUs, name pingpong_allp); without one, both.
#include "../c/bench_common.h"
#include "bench_go.hpp"

#include <gmp/gmp.hpp>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

void one(const char* name, int procs) {
  gmp::maxprocs(procs);
  if (gmp::maxprocs() != procs) bench_fail("gmp::maxprocs() = %d, want %d", gmp::maxprocs(), procs);
  const std::int64_t n = bench_scaled(1000000, 1);
  gmp::chan<std::int64_t> ping, pong;
  gmp::waitgroup wg;
  std::int64_t elapsed = 0;

  wg.add(2);
  bench::go([&] {  // ponger: echoes until ping is closed
    for (std::int64_t v : ping) pong.send(v);
    wg.done();
  });
  bench::go([&] {  // pinger
    const std::int64_t t0 = gmp_now();
    for (std::int64_t i = 0; i < n; i++) {
      ping.send(i);
      const std::optional<std::int64_t> v = pong.recv();
      if (!v || *v != i) bench_fail("%s: got %" PRId64 ", want %" PRId64, name, v ? *v : -1, i);
    }
    elapsed = gmp_now() - t0;
    ping.close();
    wg.done();
  });
  wg.wait();
  std::fprintf(stderr, "%s (%s): %" PRId64 " round trips on %d P in %.3f ms\n", name,
               bench::variant, n, procs, static_cast<double>(elapsed) / 1e6);
  bench_result(name, "ns_per_roundtrip", static_cast<double>(elapsed) / static_cast<double>(n));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!mode.empty() && mode != "1p" && mode != "allp")
    bench_fail("unknown mode \"%s\" (want 1p or allp)", mode.c_str());
  gmp::main([&] {
    if (mode.empty() || mode == "1p") one("pingpong_1p", 1);
    if (mode.empty() || mode == "allp") one("pingpong_allp", bench_ncpu());
  });
  return 0;
}
