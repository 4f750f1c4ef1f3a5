// gmp_config's on_thread_start / on_thread_stop through gmp::config (its own process:
// the callbacks must be set before the runtime starts). Every thread the runtime starts
// reports its role first, on itself, and can rename itself (what an engine does to set
// names, priorities, affinity); at gmp::shutdown every started thread reports its stop.
#include <gmp/gmp.hpp>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

using namespace std::chrono_literals;

namespace {
std::mutex mu;
std::set<long> started_tids;  // threads whose start callback ran (on themselves)
std::atomic<int> workers{0};
std::atomic<int> sysmons{0};
std::atomic<int> stops{0};
std::atomic<int> misnamed{0};
int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    failures++;
  }
}

long tid() { return static_cast<long>(::syscall(SYS_gettid)); }

std::string thread_name() {
  char buf[32] = {};
  pthread_getname_np(pthread_self(), buf, sizeof buf);
  return buf;
}
}  // namespace

int main() {
  gmp::config cfg;
  cfg.maxprocs = 2;
  cfg.on_thread_start = [](gmp::thread_role role, int index) {
    // The runtime named the thread before this ran: gmp-m<index> or gmp-sysmon.
    const std::string want =
        role == gmp::thread_role::worker ? "gmp-m" + std::to_string(index) : "gmp-sysmon";
    if (thread_name() != want) misnamed++;
    if (role == gmp::thread_role::worker) {
      workers++;
      pthread_setname_np(pthread_self(), ("engine-w" + std::to_string(index)).c_str());
    } else if (role == gmp::thread_role::sysmon) {
      sysmons++;
    }
    std::lock_guard<std::mutex> lock(mu);
    started_tids.insert(tid());
  };
  cfg.on_thread_stop = [](gmp::thread_role, int) {
    std::lock_guard<std::mutex> lock(mu);
    if (started_tids.count(tid()) == 1) stops++;  // on the thread that started
  };
  gmp::init(cfg);

  // Work on both P's, and blocking calls that make the runtime start more threads.
  std::atomic<int> on_engine_threads{0};
  gmp::group g;
  for (int i = 0; i < 8; i++) {
    g.go([&on_engine_threads] {
      gmp::blocking([] { ::usleep(20000); });
      if (thread_name().rfind("engine-w", 0) == 0) on_engine_threads++;
    });
  }
  g.wait();

  check(workers.load() >= 2, "at least one worker per P started with its callback");
  check(sysmons.load() == 1, "sysmon started once, with its callback");
  check(misnamed.load() == 0, "the callbacks ran on the new threads themselves");
  check(on_engine_threads.load() == 8, "goroutines ran on threads renamed by the callback");
  std::error_code ec;
  gmp::config again;
  gmp::init(again, ec);
  check(ec == gmp::errc::already, "a second init is GMP_EALREADY");

  const int started = static_cast<int>(started_tids.size());
  check(gmp::shutdown(10s), "shutdown");
  check(stops.load() == started, "every started thread reported its stop, on itself");
  std::printf("threads started %d (workers %d, sysmon %d), stopped %d\n", started,
              workers.load(), sysmons.load(), stops.load());
  return failures == 0 ? 0 : 1;
}
