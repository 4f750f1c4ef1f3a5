// How the C++ benchmarks start goroutines. Normally gmp::go, which installs the switch
// hooks that carry C++ exception state across threads (see <gmp/gmp.hpp>), and keeps a
// small callable (skynet's) in the runtime's G (gmp_go_inline). Built with
// -DGMP_BENCH_NO_HOOKS (the runner's "cpp-nohooks" variant, a diagnostic), bench_go
// starts the same callable with plain gmp_go and a new'ed tuple instead: no hooks, so
// comparing "cpp-nohooks" with C measures the rest of the wrapper (gmp::chan,
// std::optional, gmp::error checks) with a spawn as C's (one heap block).
#ifndef GMP_BENCH_GO_HPP
#define GMP_BENCH_GO_HPP

#include <gmp/gmp.hpp>

#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <type_traits>
#include <utility>

namespace bench {

#ifdef GMP_BENCH_NO_HOOKS
inline constexpr const char* variant = "cpp-nohooks";

template <class F, class... Args>
void go(F&& f, Args&&... args) {
  using call_t = std::tuple<std::decay_t<F>, std::decay_t<Args>...>;
  auto* call = new call_t(std::forward<F>(f), std::forward<Args>(args)...);
  const int rc = gmp_go(
      [](void* p) noexcept {
        auto* c = static_cast<call_t*>(p);
        std::apply([](auto&... x) { std::invoke(std::move(x)...); }, *c);
        delete c;
      },
      call);
  if (rc < 0) {
    delete call;
    std::fprintf(stderr, "FAIL: gmp_go: %s\n", gmp_strerror(rc));
    std::abort();
  }
}
#else
inline constexpr const char* variant = "cpp";

template <class F, class... Args>
void go(F&& f, Args&&... args) {
  gmp::go(std::forward<F>(f), std::forward<Args>(args)...);
}
#endif

}  // namespace bench

#endif
