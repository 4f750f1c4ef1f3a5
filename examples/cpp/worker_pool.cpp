// worker_pool.cpp: a fixed pool of worker goroutines counts the primes of a range, one
// slice per job. A feeder sends the jobs on a buffered gmp::chan<job>; workers send
// results on a gmp::chan<result>; a gmp::waitgroup closes the results once the pool has
// ended. The collector (the main goroutine) selects over three cases: a result, a
// gmp::ticker's tick (print progress) and a timeout_case, a watchdog that cancels the
// pool when no result has come for a while. Cancelling is closing the `quit` channel:
// every goroutine selects on it wherever it may wait, so all of them stop.
//
// Usage: worker_pool [jobs] [workers] [--stall]
//   (default 400 jobs of 10,000 numbers, 4 workers). With --stall one job hangs (a
//   stuck dependency, waited for with a timeout of an hour): the watchdog sees no
//   result for 1 s, cancels, and the pool ends early. Exit status 0 when the run
//   ends as it should: every job done and checked against a sieve, or with --stall,
//   cancelled with every other job done.
#include <gmp/gmp.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

constexpr std::uint64_t span = 10000;  // numbers per job
constexpr auto report_every = 100ms;
constexpr auto stall_limit = 1s;

struct job {
  int id;
  std::uint64_t lo, hi;  // count the primes in [lo, hi)
};

struct result {
  int job;
  int worker;
  std::uint64_t primes;
};

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (std::uint64_t d = 3; d * d <= n; d += 2)
    if (n % d == 0) return false;
  return true;
}

std::uint64_t count_primes(const job& j) {
  std::uint64_t n = 0;
  for (std::uint64_t k = j.lo; k < j.hi; k++) n += is_prime(k);
  return n;
}

// The check: primes below n by the sieve of Eratosthenes.
std::uint64_t sieve_count(std::uint64_t n) {
  std::vector<bool> composite(n, false);
  std::uint64_t count = 0;
  for (std::uint64_t i = 2; i < n; i++) {
    if (composite[i]) continue;
    count++;
    for (std::uint64_t k = i * i; k < n; k += i) composite[k] = true;
  }
  return count;
}

double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  int n_jobs = 400, n_workers = 4;
  bool stall = false;
  std::vector<int> numbers;
  for (int i = 1; i < argc; i++) {
    if (std::string(argv[i]) == "--stall") stall = true;
    else numbers.push_back(std::atoi(argv[i]));
  }
  if (numbers.size() > 0) n_jobs = numbers[0];
  if (numbers.size() > 1) n_workers = numbers[1];
  if (n_jobs < 1 || n_workers < 1) {
    std::fprintf(stderr, "usage: worker_pool [jobs >= 1] [workers >= 1] [--stall]\n");
    return 2;
  }
  const int stuck_job = stall ? n_jobs / 2 : -1;

  bool ok = false;
  gmp::main([&] {
    gmp::chan<job> jobs(2 * static_cast<std::size_t>(n_workers));
    gmp::chan<result> results(static_cast<std::size_t>(n_workers));
    gmp::chan<bool> quit;  // never sent on: closing it cancels everyone
    gmp::waitgroup pool;   // the feeder and the workers

    // Waits for quit, or forever. Returns false if cancelled.
    auto not_cancelled = [&quit](auto&& case_) {
      bool cancelled = false;
      gmp::select(std::forward<decltype(case_)>(case_),
                  gmp::recv_case(quit, [&] { cancelled = true; }));
      return !cancelled;
    };

    pool.go([&] {  // the feeder
      for (int i = 0; i < n_jobs; i++) {
        const std::uint64_t lo = static_cast<std::uint64_t>(i) * span;
        if (!not_cancelled(gmp::send_case(jobs, job{i, lo, lo + span}))) break;
      }
      jobs.close();  // workers drain what is buffered, then stop
    });

    for (int w = 0; w < n_workers; w++) {
      pool.go([&](int me) {
        for (;;) {
          std::optional<job> j;
          if (!not_cancelled(gmp::recv_case(jobs, [&](std::optional<job> v) { j = v; }))) return;
          if (!j) return;  // jobs closed and drained
          if (j->id == stuck_job) {
            // A dependency that never answers: wait for it with a long timeout, but
            // give up as soon as the pool is cancelled.
            gmp::select(gmp::recv_case(quit), gmp::timeout_case(1h, [] {}));
            return;
          }
          const result r{j->id, me, count_primes(*j)};
          if (!not_cancelled(gmp::send_case(results, r))) return;
        }
      }, w);
    }

    gmp::go([&] {  // results end when the whole pool has
      pool.wait();
      results.close();
    });

    // The collector.
    const auto start = steady::now();
    auto last_result = start;
    std::uint64_t primes = 0;
    int done = 0;
    bool cancelled = false;
    std::vector<int> per_worker(static_cast<std::size_t>(n_workers), 0);
    auto report = [&](const char* what) {
      std::printf("%-9s %7.1f ms: %4d/%d jobs, %8llu primes; per worker:", what, ms_since(start),
                  done, n_jobs, static_cast<unsigned long long>(primes));
      for (int k : per_worker) std::printf(" %d", k);
      std::printf("\n");
    };
    gmp::ticker progress(report_every);
    for (bool open = true; open;) {
      gmp::select(
          gmp::recv_case(results,
                         [&](std::optional<result> r) {
                           if (!r) {  // closed: the pool has ended
                             open = false;
                             return;
                           }
                           primes += r->primes;
                           done++;
                           per_worker[static_cast<std::size_t>(r->worker)]++;
                           last_result = steady::now();
                         }),
          gmp::recv_case(progress.channel(), [&] { report("progress"); }),
          // The watchdog: the time left until stall_limit after the last result (once
          // cancelled, none: the pool is winding down and results will close).
          gmp::timeout_case(cancelled ? steady::duration::max()
                                      : last_result + stall_limit - steady::now(), [&] {
            report("stalled");
            std::printf("no result for %lld ms: cancelling the pool\n",
                        static_cast<long long>(std::chrono::milliseconds(stall_limit).count()));
            cancelled = true;
            quit.close();  // every select on quit fires now
          }));
    }
    progress.stop();
    report("finished");
    const double elapsed_ms = ms_since(start);

    const std::uint64_t below = static_cast<std::uint64_t>(n_jobs) * span;
    if (cancelled) {
      std::printf("cancelled after %d of %d jobs\n", done, n_jobs);
      ok = stall && done == n_jobs - 1;
    } else {
      const std::uint64_t want = sieve_count(below);
      std::printf("%d jobs by %d workers in %.1f ms: %llu primes below %llu (sieve: %llu)\n", done,
                  n_workers, elapsed_ms, static_cast<unsigned long long>(primes),
                  static_cast<unsigned long long>(below), static_cast<unsigned long long>(want));
      ok = !stall && done == n_jobs && primes == want;
    }
  });
  std::printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
