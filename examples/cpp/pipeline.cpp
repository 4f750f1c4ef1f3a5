// pipeline.cpp: Go's concurrent prime sieve in C++. A generator and one filter goroutine
// per prime, chained by gmp::chan<int>; every stage also selects on a done channel, so
// closing it stops them all. Usage: pipeline [n]   (prints the first n primes)
#include <gmp/gmp.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>

namespace {

// Sends 2, 3, 4, ... until done is closed.
void generate(gmp::chan<int> out, gmp::chan<bool> done) {
  for (int i = 2;; i++) {
    bool stop = false;
    gmp::select(gmp::send_case(out, i), gmp::recv_case(done, [&] { stop = true; }));
    if (stop) return;
  }
}

// Passes on the values of in that prime does not divide, until done is closed.
void filter(gmp::chan<int> in, gmp::chan<int> out, int prime, gmp::chan<bool> done) {
  for (;;) {
    std::optional<int> v;
    bool stop = false;
    gmp::select(gmp::recv_case(in, [&](std::optional<int> x) { v = x; }),
                gmp::recv_case(done, [&] { stop = true; }));
    if (stop || !v) return;
    if (*v % prime == 0) continue;
    gmp::select(gmp::send_case(out, *v), gmp::recv_case(done, [&] { stop = true; }));
    if (stop) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20;
  gmp::main([n] {
    gmp::chan<bool> done;
    gmp::waitgroup stages;
    gmp::chan<int> ch;
    stages.go(generate, ch.share(), done.share());
    for (int i = 0; i < n; i++) {
      const int prime = ch.recv().value();
      std::printf("%d%c", prime, i + 1 < n ? ' ' : '\n');
      gmp::chan<int> next;
      stages.go(filter, std::move(ch), next.share(), prime, done.share());
      ch = std::move(next);
    }
    done.close();  // every stage's select sees it
    stages.wait();
    std::printf("%d stages stopped\n", n + 1);
  });
  return 0;
}
