// libgmp for C++: goroutines, channels, select and goroutine-aware sync over the C ABI
// of <gmp/gmp.h>. Header only, C++17. Link gmp::gmp (CMake) or gmp-runtime (pkg-config).
//
// The model in one page
// ---------------------
// * gmp::go(f, args...) starts a goroutine running f(args...) (decay-copied, as
//   std::thread) and returns a gmp::task<R>: join() waits and gives f's result; dropping
//   it lets the goroutine run on (it also converts to the goroutine's id). It may run on
//   any runtime thread and move between threads at switch points: channel and select
//   operations, sync waits, sleeps, yield. An exception that escapes it calls
//   std::terminate at its throw site, before any unwinding, as std::thread does (the
//   goroutine's entry is a boundary with no handler): a core dump keeps the throwing
//   frame. Exception: in a home (below) a gmp::error with GMP_ECANCELED, which blocking
//   calls throw once the home is closed, ends the goroutine quietly. gmp::group (Go's
//   errgroup) waits for many goroutines and carries the first exception or error code.
// * gmp::blocking(f, args...) runs a blocking library call so that the goroutine's P
//   serves others meanwhile (gmp_blocking); gmp::syscall_section is the RAII form of
//   gmp_syscall_enter/exit.
// * Thread identity moves with a goroutine: do not keep a thread_local's address, a
//   pthread_self() or errno across a switch point, nor hold a std::mutex (owned by a
//   thread, and it blocks the thread) across one: use gmp::mutex. gmp::lock_os_thread()
//   pins the goroutine to its thread when it must not move. The compiler keeps such
//   addresses by itself: a thread_local used before and after a switch point in one
//   function may read the old thread's object (one __tls_get_addr per function in -fPIC
//   code; std::this_thread::get_id() goes stale, pthread_self being const). Reach
//   per-thread state through a noinline accessor called after every switch point, and
//   keep per-goroutine state in goroutine-local storage (gmp_local_key_create,
//   gmp_local_get/set: values follow the goroutine, destructors run at its end).
//   README "Thread-local storage and goroutines".
// * C++ exception state (the thread's caught-exception stack and uncaught count, which
//   the ABI keeps per thread in __cxa_eh_globals) travels with goroutines started here:
//   their switch hooks save it when they park and restore it when they resume, so a
//   goroutine that parks inside a catch block and resumes on another thread still
//   rethrows its own exception with `throw;`. Goroutines started from C with gmp_go
//   have no hooks; do not park inside a catch block there.
// * gmp::chan<T> is a move-only handle of a reference-counted channel. How values
//   travel, decided by chan<T>::by_value:
//     - trivially copyable T (int, a POD struct, a raw pointer) travels by value: the
//       channel's element is T itself (elem_size = sizeof(T)), copied byte-wise;
//     - any other T (std::string, std::unique_ptr, std::vector) travels by ownership
//       transfer: the sender moves the value into a heap object and sends its T*; the
//       receiver moves it out and deletes it. A std::string's bytes can never be copied
//       byte-wise (its small-string buffer points into itself), hence the heap box.
//     The boxes come from a recycling pool (per size class: a per-thread cache and a
//     global list), so steady-state traffic allocates nothing.
//     Values still buffered when the last handle goes are destroyed (the channel's
//     element drop callback). A send that fails, times out or is not chosen by select
//     does not consume the value: try_send/send_for leave the argument (lvalue or
//     rvalue) holding it, and nothing leaks.
//   Sending on a closed channel or closing one twice throws gmp::error(GMP_ECLOSED)
//   (Go panics). Receiving from a closed, drained channel gives an empty optional. The
//   *_status forms (send_status, try_recv_status, recv_for_status, ...) never throw a
//   gmp::error and say what happened: chan_status::ok, closed, timeout, would_block, or
//   error (with its code).
//   Many goroutines may use one chan object at once (its operations only read the
//   handle); moving or assigning it must not race with them. share() gives a goroutine
//   its own handle, which keeps the channel alive as long as it needs it.
// * gmp::select(recv_case(a, f), send_case(b, v, g), timeout_case(10ms, h)) runs the
//   callback of the one case that fired and returns that case's position among the
//   arguments. A send_case given an lvalue gives it back if another case fired. Ready cases are chosen uniformly at random. A case on an empty (moved
//   from) chan never fires, as Go's nil channel.
// * Sync types are goroutine-aware (they park a goroutine, never its thread) and usable
//   from any thread: gmp::mutex (Lockable: std::lock_guard, std::unique_lock,
//   std::scoped_lock), gmp::rwmutex (also SharedLockable: std::shared_lock),
//   gmp::condition_variable (with std::unique_lock<gmp::mutex>), gmp::waitgroup,
//   gmp::once. Their zero state is ready; constructors are constexpr and never fail.
// * gmp::home binds goroutines to the thread that made it (engines, UI threads): they
//   run only when that thread calls run(), or while it waits in a blocking gmp call
//   (unless set_reentrant(false): then only in run(), for frame code that must not be
//   re-entered).
// * gmp::config's on_thread_start / on_thread_stop run on every thread the runtime
//   starts (role worker or sysmon, and an index): set priorities, affinity, names,
//   profiler registration there (gmp::init, before any other call).
// * Errors are gmp::error, a std::system_error whose code().value() is the GMP_E* code
//   and whose category is gmp::gmp_category() (message() is gmp_strerror). Codes that
//   are negative errno values compare equal to std::errc: e.code() == std::errc::timed_out.
// * Builds without exceptions (-fno-exceptions, or GMP_NO_EXCEPTIONS defined): the
//   header compiles and every throwing call has a non-throwing form: an overload taking a
//   std::error_code& (last argument, or first for variadic calls: gmp::go(ec, f),
//   gmp::select(ec, cases...)), or the channels' *_status forms. A throwing form that
//   fails there calls the handler set with gmp::set_error_handler(code, what), which
//   must not return; the default prints the message and aborts. GMP_HAS_EXCEPTIONS says
//   which build this is.
// * Timeouts take std::chrono durations. Zero or negative means "do not wait" (a try);
//   anything past 2^62 ns (about 146 years) means forever.

#ifndef GMP_GMP_HPP
#define GMP_GMP_HPP

#include <gmp/gmp.h>

#include <cxxabi.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>  // std::cv_status
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>  // std::unique_lock
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#if __cplusplus < 201703L && (!defined(_MSVC_LANG) || _MSVC_LANG < 201703L)
#error "<gmp/gmp.hpp> needs C++17"
#endif

// GMP_HAS_EXCEPTIONS: 1 when the translation unit may throw (the compiler's own macro),
// 0 under -fno-exceptions or when the user defines GMP_NO_EXCEPTIONS.
#ifndef GMP_HAS_EXCEPTIONS
#if !defined(GMP_NO_EXCEPTIONS) && (defined(__cpp_exceptions) || defined(__EXCEPTIONS))
#define GMP_HAS_EXCEPTIONS 1
#else
#define GMP_HAS_EXCEPTIONS 0
#endif
#endif

// The two builds differ in more than throwing (goroutines of a build without exceptions
// carry no exception state, so they have no switch hooks: see hooks_for), so each has
// its own inline namespace: translation units built both ways can share a program
// without mixing two definitions of one name.
#if GMP_HAS_EXCEPTIONS
#define GMP_ABI_NAMESPACE with_exceptions
#else
#define GMP_ABI_NAMESPACE without_exceptions
#endif

namespace gmp {
inline namespace GMP_ABI_NAMESPACE {

/// A goroutine id (unique for the life of the process, starting at 1; 0 is "none").
using goid = gmp_goid;

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// The GMP_E* codes by name, for comparisons: `e.code() == gmp::errc::closed`.
enum class errc : int {
  invalid_argument = GMP_EINVAL,
  not_enough_memory = GMP_ENOMEM,
  would_block = GMP_EAGAIN,
  timed_out = GMP_ETIMEDOUT,
  canceled = GMP_ECANCELED,
  deadlock = GMP_EDEADLK,
  already = GMP_EALREADY,
  interrupted = GMP_EINTR,
  too_big = GMP_E2BIG,
  closed = GMP_ECLOSED,
  not_goroutine = GMP_ENOTGOROUTINE,
  shutdown = GMP_ESHUTDOWN,
};

namespace detail {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gmp"; }
  std::string message(int code) const override { return gmp_strerror(code); }
  // Codes that are negative errno values (all but gmp's own, <= -4097) are the generic
  // condition of that errno, so e.code() == std::errc::timed_out holds.
  std::error_condition default_error_condition(int code) const noexcept override {
    if (code < 0 && code > -4096) return std::error_condition(-code, std::generic_category());
    return std::error_condition(code, *this);
  }
};
}  // namespace detail

/// The error category of every gmp::error: name() "gmp", message() gmp_strerror.
inline const std::error_category& gmp_category() noexcept {
  static const detail::category_impl category;
  return category;
}

inline std::error_code make_error_code(errc e) noexcept {
  return std::error_code(static_cast<int>(e), gmp_category());
}

/// What every gmp C++ call throws on failure: code().value() is the GMP_E* code.
class error : public std::system_error {
 public:
  explicit error(int code) : std::system_error(code, gmp_category()) {}
  error(int code, const char* what) : std::system_error(code, gmp_category(), what) {}
  error(int code, const std::string& what) : std::system_error(code, gmp_category(), what) {}
};

/// What a failing throwing-form call does in a build without exceptions (see "Builds
/// without exceptions" at the top): called with the GMP_E* code and the call's name
/// ("gmp::chan::send"). It must not return (log, then abort or exit); if it does,
/// the call aborts.
using error_handler = void (*)(int code, const char* what);

namespace detail {
inline std::atomic<error_handler> the_error_handler{nullptr};

/// The default for builds without exceptions: the message a gmp::error would carry, then
/// abort().
[[noreturn]] inline void default_error_handler(int code, const char* what) noexcept {
  std::fprintf(stderr, "gmp: %s: %s (built without exceptions: aborting)\n", what,
               gmp_strerror(code));
  std::fflush(stderr);
  std::abort();
}

/// Throws gmp::error(code, what); without exceptions calls the error handler and aborts.
[[noreturn]] inline void raise(int code, const char* what) {
#if GMP_HAS_EXCEPTIONS
  throw error(code, what);
#else
  if (error_handler h = the_error_handler.load(std::memory_order_acquire)) h(code, what);
  default_error_handler(code, what);
#endif
}

/// Throws gmp::error for a negative code; returns non-negative ones.
inline int check(int rc, const char* what) {
  if (rc < 0) raise(rc, what);
  return rc;
}

template <class T>
inline constexpr bool is_error_code_v =
    std::is_same_v<std::remove_cv_t<std::remove_reference_t<T>>, std::error_code>;

/// The non-throwing forms: sets ec from a C result (cleared on success); true on success.
inline bool report(int rc, std::error_code& ec) noexcept {
  if (rc < 0) {
    ec = std::error_code(rc, gmp_category());
    return false;
  }
  ec.clear();
  return true;
}
}  // namespace detail

/// Installs the handler that builds without exceptions call where a throwing form fails
/// (nullptr: the default, a message and abort()). Returns the previous one. Ignored
/// when exceptions are on: those builds throw gmp::error.
inline error_handler set_error_handler(error_handler h) noexcept {
  return detail::the_error_handler.exchange(h, std::memory_order_acq_rel);
}
inline error_handler get_error_handler() noexcept {
  return detail::the_error_handler.load(std::memory_order_acquire);
}

}  // namespace GMP_ABI_NAMESPACE
}  // namespace gmp

namespace std {
template <>
struct is_error_code_enum<gmp::errc> : true_type {};
}  // namespace std

namespace gmp {
inline namespace GMP_ABI_NAMESPACE {

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

namespace detail {
inline constexpr std::int64_t max_wait_ns = std::int64_t{1} << 62;

/// A duration as nanoseconds for a sleep: <= 0 stays 0, rounded up (never wake early),
/// saturated at 2^62 ns.
template <class Rep, class Period>
std::int64_t to_ns(const std::chrono::duration<Rep, Period>& d) noexcept {
  if (d <= d.zero()) return 0;
  const std::chrono::duration<long double, std::nano> wide(d);
  if (wide.count() >= static_cast<long double>(max_wait_ns)) return max_wait_ns;
  const long double whole = static_cast<long double>(static_cast<std::int64_t>(wide.count()));
  return static_cast<std::int64_t>(wide.count()) + (wide.count() > whole ? 1 : 0);
}

/// A duration as a C timeout: <= 0 is 0 (try), at or past 2^62 ns GMP_FOREVER.
template <class Rep, class Period>
std::int64_t to_timeout(const std::chrono::duration<Rep, Period>& d) noexcept {
  const std::int64_t ns = to_ns(d);
  return ns >= max_wait_ns ? std::int64_t{GMP_FOREVER} : ns;
}

/// Time left until a time point of any clock, as a duration of that clock.
template <class Clock, class Duration>
auto until(const std::chrono::time_point<Clock, Duration>& t) {
  return t - Clock::now();
}
}  // namespace detail

/// The runtime's monotonic clock (gmp_now, CLOCK_MONOTONIC) as nanoseconds.
inline std::chrono::nanoseconds now() noexcept { return std::chrono::nanoseconds(gmp_now()); }

// ---------------------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------------------

/// What a thread the runtime starts does (gmp_config's on_thread_start role).
enum class thread_role : int {
  worker = GMP_THREAD_WORKER,  ///< an M: runs goroutines (and their blocking calls)
  sysmon = GMP_THREAD_SYSMON,  ///< the runtime's monitor, mostly asleep
  other = GMP_THREAD_OTHER,    ///< any other runtime thread (none today)
};

/// A thread callback: the thread's role and index (the M's number for a worker).
using thread_callback = std::function<void(thread_role role, int index)>;

/// gmp_config: zero fields take their defaults (and GMP_MAXPROCS / GMP_STACK_SIZE).
struct config {
  int maxprocs = 0;             ///< P's; <= 0: automatic
  std::size_t stack_size = 0;   ///< default goroutine stack; 0: 256 KiB
  int max_threads = 0;          ///< cap on OS threads; 0: 10000
  /// Runs first on every thread the runtime starts (set priority, affinity, name,
  /// profiler registration). It must not throw, and may call only gmp::now() and
  /// this_goroutine::id() of gmp (the thread is not a goroutine).
  thread_callback on_thread_start;
  /// Runs last on a runtime thread that exits (at gmp::shutdown, or a worker whose
  /// locked goroutine ended). Same rules.
  thread_callback on_thread_stop;
};

namespace detail {
// The callbacks of the one successful init(), alive for the rest of the process.
struct thread_callbacks {
  thread_callback start;
  thread_callback stop;
};
inline void call_thread_callback(const thread_callback& f, int role, int index) noexcept {
  if (f) f(static_cast<thread_role>(role), index);
}
inline void thread_start_trampoline(int role, int index, void* ctx) noexcept {
  call_thread_callback(static_cast<thread_callbacks*>(ctx)->start, role, index);
}
inline void thread_stop_trampoline(int role, int index, void* ctx) noexcept {
  call_thread_callback(static_cast<thread_callbacks*>(ctx)->stop, role, index);
}
}  // namespace detail

/// Configures the runtime before its first use. Throws gmp::error (GMP_EALREADY once
/// the runtime has started: any other call starts it).
inline void init(const config& cfg, std::error_code& ec) {
  gmp_config c{};
  c.size = sizeof c;
  c.maxprocs = cfg.maxprocs;
  c.stack_size = cfg.stack_size;
  c.max_threads = cfg.max_threads;
  std::unique_ptr<detail::thread_callbacks> callbacks;
  if (cfg.on_thread_start || cfg.on_thread_stop) {
    callbacks.reset(new detail::thread_callbacks{cfg.on_thread_start, cfg.on_thread_stop});
    c.on_thread_start = &detail::thread_start_trampoline;
    c.on_thread_stop = &detail::thread_stop_trampoline;
    c.thread_ctx = callbacks.get();
  }
  if (detail::report(gmp_init(&c), ec)) (void)callbacks.release();  // the runtime's now
}
inline void init(const config& cfg) {
  std::error_code ec;
  init(cfg, ec);
  if (ec) detail::raise(ec.value(), "gmp::init");
}

/// GOMAXPROCS: sets the number of P's when n > 0; returns the previous value.
inline int maxprocs(int n = 0) { return detail::check(gmp_maxprocs(n), "gmp::maxprocs"); }
inline int maxprocs(int n, std::error_code& ec) noexcept {
  const int rc = gmp_maxprocs(n);
  return detail::report(rc, ec) ? rc : 0;
}

/// The number of goroutines that exist now.
inline std::int64_t num_goroutine() noexcept { return gmp_num_goroutine(); }

/// Waits up to `timeout` for every goroutine to end, then stops the runtime (for tests
/// and leak checkers). Returns false if goroutines remain at the deadline.
template <class Rep, class Period>
bool shutdown(const std::chrono::duration<Rep, Period>& timeout) {
  const int rc = gmp_shutdown(detail::to_timeout(timeout));
  if (rc == GMP_ETIMEDOUT) return false;
  detail::check(rc, "gmp::shutdown");
  return true;
}
template <class Rep, class Period>
bool shutdown(const std::chrono::duration<Rep, Period>& timeout, std::error_code& ec) noexcept {
  const int rc = gmp_shutdown(detail::to_timeout(timeout));
  if (rc == GMP_ETIMEDOUT) {
    ec.clear();
    return false;
  }
  return detail::report(rc, ec);
}

/// The library's version string, e.g. "0.1.0" (gmp_lib_version).
inline const char* version() noexcept { return gmp_lib_version(); }

// ---------------------------------------------------------------------------------------
// Goroutines
// ---------------------------------------------------------------------------------------

/// Attributes of a new goroutine.
struct go_attr {
  std::string name;            ///< shown in gmp_dump_goroutines; empty: none
  std::size_t stack_size = 0;  ///< 0: the runtime default
};

namespace detail {

// Mirror of the ABI's per-thread exception state (libstdc++ and libc++abi agree on it
// on Linux x86_64 and aarch64; only ARM EHABI appends a field).
struct eh_globals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
  // The ABI struct's padding, named so that a copy moves all 16 bytes and a slot's are
  // defined: the runtime reads a parked goroutine's slot as 16 bytes
  // (GMP_HOOKS_LAZY_RESUME: all zero, nothing to restore). libstdc++ and libc++abi
  // never write it; it stays zero.
  unsigned int reserved_;
};
static_assert(sizeof(eh_globals) == 16, "the ABI's per-thread exception state is 16 bytes");

// What the switch hooks keep per thread, in one thread_local (one %fs-relative access in
// an executable, one __tls_get_addr in -fPIC code):
// - globals: the thread's __cxa_get_globals() (fixed for the thread's life), learned on
//   the first hook there: asking libstdc++ is a PLT call and its own __tls_get_addr.
// - outer: the thread's own exception state while a goroutine runs on it, saved by the
//   goroutine's resume hook and put back by its park hook. One slot per thread is
//   enough: a thread runs one goroutine at a time and never one inside another (a
//   goroutine runs on a runtime thread, which cannot make a home; a home's goroutines
//   run on its thread outside any goroutine), and a resume hook and the next park hook
//   of that goroutine run on the same thread. Keeping it here rather than in each
//   goroutine keeps 16 bytes out of every C++ goroutine's object (bench/cpp skynet).
struct thread_eh {
  eh_globals* globals;
  eh_globals outer;
};
inline thread_local thread_eh tl_eh{nullptr, {nullptr, 0, 0}};

// A goroutine's own exception state while it is parked (the hooks' context).
struct eh_slot {
  eh_globals own{nullptr, 0, 0};
};

// The switch hooks, spawned with GMP_HOOKS_LAZY_RESUME: the runtime skips on_resume for
// a goroutine whose slot is all zero (it parked with no exception caught or in flight)
// when it runs only on the runtime's threads. Sound because a runtime thread's own state
// is always zero between goroutines (its base is the runtime's code, which never holds
// a C++ exception, and every park puts `outer`, zero there, back), so such a resume has
// nothing to install and nothing to save: the thread's state is already the slot's, and
// `outer` already the thread's. A home's goroutines and gmp_main's run on threads the
// program owns, which may be inside a catch block: the runtime calls every resume for
// those. On a ping-pong round trip this leaves two calls of the four (bench/cpp).
// GMP_HOOKS_LAZY_PARK does the same for parks: the runtime reads the thread's globals
// (eh_thread_record) and calls eh_park only when they are not zero; eh_resume leaves the
// slot zero once it has installed it, so a park that was not called leaves the slot
// right (zero). Then a ping-pong round trip makes no hook call at all.
// noinline, and each reads the thread's globals afresh: the ABI's
// __cxa_get_globals is declared const, and a thread_local's address may be kept across
// calls, so a caller that inlined these could reuse one thread's address after the
// goroutine moved to another.
// Under TSan they are not instrumented: they touch only the running thread's exception
// globals (libstdc++'s TLS, initialised by the thread, read here by the goroutine fibers
// that run on it, which TSan would call a race), tl_eh, and the goroutine's own slot;
// and they ask libstdc++ for the globals every time instead of keeping them in tl_eh.
#if defined(__SANITIZE_THREAD__)
#define GMP_NO_TSAN __attribute__((no_sanitize_thread))
#define GMP_EH_CACHE 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GMP_NO_TSAN __attribute__((no_sanitize("thread")))
#define GMP_EH_CACHE 0
#endif
#endif
#ifndef GMP_NO_TSAN
#define GMP_NO_TSAN
#endif
#ifndef GMP_EH_CACHE
#define GMP_EH_CACHE 1
#endif
// Save the thread's state as `outer` and install the slot's (a resume), leaving the slot
// zero: while the goroutine runs, its state is the thread's, and the slot stays zero
// until a park saves a state that is not.
GMP_NO_TSAN inline void eh_swap_in(eh_slot* s, thread_eh& tl, eh_globals* t) noexcept {
  tl.outer = *t;
  *t = s->own;
  s->own = eh_globals{nullptr, 0, 0};
}
// Save the thread's state into the slot and put `outer` back (a park). When both are
// zero (nothing caught or in flight, on a thread whose own state is zero: every park of
// a goroutine on the runtime's threads that is not in a catch block) there is nothing to
// move: the slot is zero already (above), and the park only reads. For goroutines on the
// runtime's threads the runtime makes that test itself (GMP_HOOKS_LAZY_PARK) and calls
// only when the thread's state is set; this one serves the parks it calls every time
// (a home's goroutines and gmp_main's, on the program's threads), which need not store
// either when there is nothing to move.
GMP_NO_TSAN inline void eh_swap_out(eh_slot* s, thread_eh& tl, eh_globals* t) noexcept {
  std::uint64_t cur[2], outer[2];
  std::memcpy(cur, t, sizeof cur);
  std::memcpy(outer, &tl.outer, sizeof outer);
  if ((cur[0] | cur[1] | outer[0] | outer[1]) == 0) return;
  std::memcpy(&s->own, cur, sizeof cur);
  std::memcpy(t, outer, sizeof outer);
}
// The first hook on a thread (every hook under TSan): learns the thread's globals, then
// swaps. Out of line, so the hooks' common path is the thread_local's address, a load,
// a test, the moves and no stack frame.
[[gnu::noinline]] GMP_NO_TSAN inline void eh_resume_first(eh_slot* s) noexcept {
  thread_eh& tl = tl_eh;
  eh_globals* t = reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
  if (GMP_EH_CACHE) tl.globals = t;
  eh_swap_in(s, tl, t);
}
[[gnu::noinline]] GMP_NO_TSAN inline void eh_park_first(eh_slot* s) noexcept {
  thread_eh& tl = tl_eh;
  eh_globals* t = reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
  if (GMP_EH_CACHE) tl.globals = t;
  eh_swap_out(s, tl, t);
}

[[gnu::noinline]] GMP_NO_TSAN inline void eh_resume(void* ctx) noexcept {
  eh_slot* s = static_cast<eh_slot*>(ctx);
  thread_eh& tl = tl_eh;
  eh_globals* t = tl.globals;
  if (__builtin_expect(t == nullptr, 0)) return eh_resume_first(s);
  eh_swap_in(s, tl, t);
}

// GMP_HOOKS_LAZY_PARK's thread record: the thread's exception globals, which the
// runtime asks for once per thread and then reads itself before each park, calling
// eh_park only when they are not zero (the goroutine is in a catch block, or unwinding).
inline void* eh_thread_record() noexcept { return abi::__cxa_get_globals(); }

[[gnu::noinline]] GMP_NO_TSAN inline void eh_park(void* ctx) noexcept {
  eh_slot* s = static_cast<eh_slot*>(ctx);
  thread_eh& tl = tl_eh;
  eh_globals* t = tl.globals;
  if (__builtin_expect(t == nullptr, 0)) return eh_park_first(s);
  eh_swap_out(s, tl, t);
}

// Recycled storage for values that travel through a channel by ownership transfer (see
// the top of this file) and for goroutine objects, so that steady-state sends and spawns
// allocate nothing. Blocks of one size class are recycled through a per-thread cache of
// up to `cache_max` and a global list of up to `shared_max` under a std::mutex that
// moves `batch` blocks at a time (held only for the move, never across a switch point);
// beyond that they go back to operator delete. get() and put() are noinline and take the
// thread's cache afresh: a goroutine may resume on another thread, and a caller that
// inlined them could keep one thread's cache address across a switch point. (The
// per-thread cache with a shared overflow follows the shape of tcmalloc's and Go's
// mcache/mcentral; written here from that idea, no code taken.) Under AddressSanitizer
// and ThreadSanitizer every get() and put() is a plain operator new / delete: ASan then
// sees each use after free, and TSan the allocator's happens-before edges (a block
// handed on through a thread's cache, by goroutines that are TSan fibers sharing that
// thread, would look like a race).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GMP_BOX_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GMP_BOX_POOL 0
#endif
#endif
#ifndef GMP_BOX_POOL
#define GMP_BOX_POOL 1
#endif
template <std::size_t Size, std::size_t Align>
class box_pool {
  struct block {
    block* next;
  };
  static constexpr std::size_t batch = 32;
  static constexpr std::size_t cache_max = 2 * batch;
  // Blocks the global list keeps; a spill beyond it goes back to operator delete, so a
  // burst (a million goroutines, a huge channel) does not stay allocated for good.
  static constexpr std::size_t shared_max = 1024;

  struct shared_list {
    std::mutex mu;
    block* head = nullptr;
    std::size_t n = 0;
  };
  static void* allocate() {
    if constexpr (Align > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      return ::operator new(Size, std::align_val_t(Align));
    } else {
      return ::operator new(Size);
    }
  }
  static void release_list(block* b) noexcept {
    while (b != nullptr) {
      block* next = b->next;
      if constexpr (Align > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
        ::operator delete(static_cast<void*>(b), std::align_val_t(Align));
      } else {
        ::operator delete(static_cast<void*>(b));
      }
      b = next;
    }
  }
  // Gives up to `batch` blocks of *from to the global list, or frees them if it is full.
  static std::size_t spill(block*& from) noexcept {
    shared_list& s = shared();
    block* freed = nullptr;
    std::size_t moved;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      if (s.n < shared_max) {
        moved = splice(from, s.head, batch);
        s.n += moved;
      } else {
        moved = splice(from, freed, batch);
      }
    }
    release_list(freed);
    return moved;
  }
  static shared_list& shared() noexcept {
    static shared_list* s = new shared_list;  // never destroyed: thread exits use it late
    return *s;
  }
  // Moves up to n blocks from *from (a list) to the front of *to; returns how many moved.
  static std::size_t splice(block*& from, block*& to, std::size_t n) noexcept {
    std::size_t moved = 0;
    while (from != nullptr && moved < n) {
      block* b = from;
      from = b->next;
      b->next = to;
      to = b;
      ++moved;
    }
    return moved;
  }
  struct cache {
    block* head = nullptr;
    std::size_t n = 0;
    cache() = default;
    cache(const cache&) = delete;
    cache& operator=(const cache&) = delete;
    ~cache() {
      while (head != nullptr) spill(head);
    }
  };
  static cache& local() noexcept {
    static thread_local cache c;
    return c;
  }

 public:
  static constexpr std::size_t size = Size;
  static constexpr std::size_t align = Align;

  [[gnu::noinline]] static void* get() {
    if constexpr (!GMP_BOX_POOL) return allocate();
    cache& c = local();
    if (c.head == nullptr) {
      shared_list& s = shared();
      std::lock_guard<std::mutex> lock(s.mu);
      const std::size_t moved = splice(s.head, c.head, batch);
      s.n -= moved;
      c.n += moved;
    }
    if (c.head != nullptr) {
      block* b = c.head;
      c.head = b->next;
      --c.n;
      return b;
    }
    return allocate();
  }
  [[gnu::noinline]] static void put(void* p) noexcept {
    block* b = static_cast<block*>(p);
    if constexpr (!GMP_BOX_POOL) {
      b->next = nullptr;
      release_list(b);
      return;
    }
    cache& c = local();
    b->next = c.head;
    c.head = b;
    if (++c.n > cache_max) c.n -= spill(c.head);
  }
};

// One pool per size class: sizes rounded up to 16 bytes, at least 16-byte alignment.
template <class T>
using box_pool_for =
    box_pool<(sizeof(T) + 15) / 16 * 16, (alignof(T) > 16 ? alignof(T) : std::size_t{16})>;

// The exception-state swap at a goroutine's start and end, which the runtime's hooks do
// not cover (they run around switches). The start installs an empty state (a new
// goroutine has caught nothing) and keeps the thread's; the end puts the thread's back
// (what the goroutine caught, it has let go of by then). Neither touches the goroutine's
// object. noinline for the same reason as the hooks.
[[gnu::noinline]] GMP_NO_TSAN inline void eh_start() noexcept {
  thread_eh& tl = tl_eh;
  eh_globals* t = tl.globals;
  if (__builtin_expect(t == nullptr, 0)) {
    t = reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
    if (GMP_EH_CACHE) tl.globals = t;
  }
  tl.outer = *t;
  t->caught_exceptions = nullptr;
  t->uncaught_exceptions = 0;
}
[[gnu::noinline]] GMP_NO_TSAN inline void eh_end() noexcept {
  thread_eh& tl = tl_eh;
  eh_globals* t = tl.globals;
  if (__builtin_expect(t == nullptr, 0)) {
    t = reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
    if (GMP_EH_CACHE) tl.globals = t;
  }
  *t = tl.outer;
}

// A goroutine started from C++ (gmp::go, waitgroup::go, group, home::go). It starts with
// what a goroutine that is not joined touches: the exception slot (the hooks' context),
// the handle state, then, in the derived classes, the result (non-void only) and the
// callable; with a callable of up to 40 bytes (a function pointer and four words:
// bench/cpp skynet's) that is 64 bytes, where it was 128 (a vtable pointer, a 32-byte
// slot, two counters and the wait group before the callable): skynet at one P,
// cachegrind, 2.34 to 2.20 million D1 misses (C 1.98; bench/cpp/README.md). The
// joiner's wait group comes last and is set up only by a joiner. No virtual functions:
// the goroutine's entry knows its type (goroutine_entry<G>), and a task handle carries
// the two operations it needs (goroutine_ops), so no vtable pointer takes 8 of the 64
// bytes. Allocated by go() from the box pool (16-byte aligned: line-aligned blocks
// measured worse, glibc's memalign on each pool miss costing more than the misses
// saved); freed by whichever of the goroutine and its task handle lets go of it last.
struct goroutine_base {
  // The handle state. A task handle holds the goroutine (`handle`) from the spawn until
  // it detaches (or joined); a joiner sets up the wait group, then sets `joining`; the
  // goroutine's end sets `done` and, if it found `joining`, calls done on the wait
  // group. At most one atomic read-modify-write a side, the end setting `done` and the
  // handle clearing `handle`; whichever comes second frees the object (an end that finds
  // the handle gone frees it with no read-modify-write at all). Each side's bit is
  // known (only the handle clears `handle`, which it holds; only the end sets `done`,
  // once), so they are fetch_sub/fetch_add: one `lock xadd` on x86, where a
  // fetch_and/fetch_or whose result is used is a compare-exchange loop.
  static constexpr std::uint32_t handle = 1;
  static constexpr std::uint32_t joining = 2;
  static constexpr std::uint32_t done = 4;

  eh_slot eh;
  std::atomic<std::uint32_t> state{0};
};

/// What a task handle needs of its goroutine's type: the joiner's wait group, and the
/// free when the handle lets go last.
struct goroutine_ops {
  gmp_waitgroup* (*finished)(goroutine_base*) noexcept;
  void (*destroy)(goroutine_base*) noexcept;
};

template <class R>
struct goroutine_result : goroutine_base {
  std::optional<R> result;
};
template <>
struct goroutine_result<void> : goroutine_base {};

template <class Fn, class... Args>
using go_result_t = std::decay_t<std::invoke_result_t<Fn, Args...>>;

template <class Fn, class... Args>
struct goroutine final : goroutine_result<go_result_t<Fn, Args...>> {
  using result_type = go_result_t<Fn, Args...>;
  using call_type = std::tuple<Fn, Args...>;
  // The callable and its arguments: constructed here, destroyed by drop() (at the end,
  // while the goroutine's exception state is still installed; or when the spawn failed),
  // never by the destructor. No engaged flag (std::optional's), which would push a
  // 40-byte callable out of the first line.
  union {
    call_type call;
  };
  // The joiner's wait group: touched by the goroutine only when it found `joining`, so
  // a goroutine that is not joined never touches it (nor this line).
  alignas(gmp_waitgroup) unsigned char join_wg[sizeof(gmp_waitgroup)];

  template <class F, class... A>
  explicit goroutine(F&& f, A&&... a) : call(std::forward<F>(f), std::forward<A>(a)...) {}
  ~goroutine() {}
  goroutine(const goroutine&) = delete;
  goroutine& operator=(const goroutine&) = delete;
  gmp_waitgroup* finished() noexcept { return reinterpret_cast<gmp_waitgroup*>(join_wg); }
  static constexpr goroutine_ops ops{
      [](goroutine_base* g) noexcept { return static_cast<goroutine*>(g)->finished(); },
      [](goroutine_base* g) noexcept { delete static_cast<goroutine*>(g); }};
  // Recycled like channel boxes: a goroutine's spawn and end make no malloc or free call
  // in steady state.
  static void* operator new(std::size_t) { return box_pool_for<goroutine>::get(); }
  static void operator delete(void* p) noexcept { box_pool_for<goroutine>::put(p); }
  void run() {
    if constexpr (std::is_void_v<result_type>) {
      std::apply([](auto&... x) { std::invoke(std::move(x)...); }, call);
    } else {
      this->result.emplace(std::apply(
          [](auto&... x) -> result_type { return std::invoke(std::move(x)...); }, call));
    }
  }
  void drop() noexcept { call.~call_type(); }
  // A goroutine that never started (the spawn failed): its callable dies with it.
  void discard() noexcept {
    drop();
    delete this;
  }
};

/// The end of every C++ goroutine: its captures die while its exception state is still
/// installed; then the thread's state goes back, a joiner is let go, and the goroutine
/// lets go of itself (freed here when no task handle holds it).
template <class G>
inline void goroutine_finish(G* g) noexcept {
  g->drop();
#if GMP_HAS_EXCEPTIONS
  eh_end();
#endif
  // No handle (waitgroup::go, group, home::go), or it has let go already (a dropped
  // task, the common case): it can never come back (`handle` is set only before the
  // spawn), so nobody else touches g and a plain load does instead of the
  // read-modify-write below (the acquire pairs with the handle's fetch_sub). A joiner
  // whose join failed and who then let go waits on nothing: its count is not undone.
  if (!(g->state.load(std::memory_order_acquire) & goroutine_base::handle)) {
    delete g;
    return;
  }
  const std::uint32_t old =
      g->state.fetch_add(goroutine_base::done, std::memory_order_acq_rel);  // see `done`
  // With `joining`, a handle is held or was: after this done the joiner may free g.
  if (old & goroutine_base::joining) gmp_waitgroup_done(g->finished());
  if (!(old & goroutine_base::handle)) delete g;
}

/// The gmp_fn of goroutines started by gmp::go (one per goroutine type: run, drop and the
/// free are direct calls), and their noexcept boundary: an exception
/// that escapes f finds no handler on the goroutine's stack, and the unwinder's search
/// phase ends at the runtime's start frame below this one (an extern "C" Rust function,
/// which cannot unwind), so std::terminate runs inside __cxa_throw, at the throw site,
/// before anything is unwound: a core dump or a debugger shows the throwing frame, as
/// with std::thread, and no destructor of the goroutine's frames runs. Deliberately not
/// declared noexcept: g++ (below -O2) and clang++ implement noexcept as a handler that
/// calls terminate, so the search would stop here and unwind the stack first.
template <class G>
void goroutine_entry(void* arg) {
  G* g = static_cast<G*>(arg);
#if GMP_HAS_EXCEPTIONS
  eh_start();  // the runtime calls the hooks around switches, not at start and end
#endif
  g->run();
  goroutine_finish(g);
}

/// The gmp_fn of a home's goroutines: as goroutine_entry, except that gmp::error
/// GMP_ECANCELED (what blocking calls throw once the home is closed) ends the goroutine
/// quietly. Any other gmp::error is reported and terminates (after unwinding, here).
template <class G>
void home_goroutine_entry(void* arg) noexcept {
  G* g = static_cast<G*>(arg);
#if GMP_HAS_EXCEPTIONS
  eh_start();
  try {
    g->run();
  } catch (const error& e) {
    if (e.code().value() != GMP_ECANCELED) {
      std::fprintf(stderr, "gmp: goroutine %llu: uncaught exception: %s\n",
                   static_cast<unsigned long long>(gmp_self()), e.what());
      std::fflush(stderr);
      std::terminate();
    }
  }
#else
  g->run();
#endif
  goroutine_finish(g);
}

template <class F, class... Args>
auto* make_goroutine(F&& f, Args&&... args) {
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "gmp::go: f(args...) must be callable with the decayed (copied) arguments");
  return new goroutine<std::decay_t<F>, std::decay_t<Args>...>(std::forward<F>(f),
                                                               std::forward<Args>(args)...);
}

inline gmp_switch_hooks eh_hooks(goroutine_base* g) noexcept {
  gmp_switch_hooks h{};
  h.size = sizeof h;
  h.on_park = &eh_park;
  h.on_resume = &eh_resume;
  h.ctx = &g->eh;
  h.flags = GMP_HOOKS_LAZY_RESUME | GMP_HOOKS_LAZY_PARK;  // see the switch hooks above
  h.thread_record = &eh_thread_record;
  return h;
}

/// The hooks a goroutine starts with: the exception-state swap, or none in a build
/// without exceptions (nothing to carry; a switch then costs what it costs from C).
inline const gmp_switch_hooks* hooks_for(const gmp_switch_hooks& h) noexcept {
#if GMP_HAS_EXCEPTIONS
  return &h;
#else
  (void)h;
  return nullptr;
#endif
}

/// Starts g (held by a task handle when `joinable`). On failure g is freed and the code
/// returned.
template <class G>
inline int spawn(const go_attr* attr, G* g, bool joinable, goid* id) noexcept {
  const gmp_switch_hooks hooks = eh_hooks(g);
  gmp_go_attr a{};
  a.size = sizeof a;
  a.stack_size = attr ? attr->stack_size : 0;
  a.name = attr && !attr->name.empty() ? attr->name.c_str() : nullptr;
  a.hooks = hooks_for(hooks);
  if (joinable) g->state.store(goroutine_base::handle, std::memory_order_relaxed);
  const int rc = gmp_go_ex(&a, &goroutine_entry<G>, g, id);
  if (rc < 0) g->discard();
  return rc;
}

// Goroutines whose callable lives in the runtime's record of the goroutine (its G), not
// in an object of ours: gmp_go_inline gives each goroutine GMP_GO_INLINE_SIZE bytes
// there (a cache line of the G), which an init callback fills on the spawning thread
// before the goroutine can run, and the goroutine's entry then uses in place (the
// small-buffer idea of std::function, with the buffer in the runtime). A spawn then
// allocates nothing, makes one C call with no attribute to read, and takes no atomic
// read-modify-write (the end takes one, see `word`); the goroutine reads its callable
// from one line, where the object above cost up to three (object, pool list) and the C
// program's malloc'd argument one or two. bench/cpp skynet, per goroutine: 1577 -> 1491
// instructions (C 1562), C++/C by instructions 1.02 -> 0.95 (bench/cpp/README.md has
// the misses and the wall clock).
// Taken by gmp::go (and so waitgroup::go and group::go) when the goroutine returns
// nothing, its decayed callable and arguments fit in the 40 bytes after the header
// below and are at most 8-byte aligned, and building them cannot throw (init runs
// inside the runtime, which an exception must not cross). Anything else, a go_attr, a
// result, and home::go take the goroutine object above.
//
// The frame, the same in every C++ build (with and without exceptions, so that a frame
// read by a task of one build from a G last used by the other has the join word where
// both expect it):
// - eh (16 bytes, at 0): the switch hooks' slot; gmp_go_inline gives hooks whose ctx is
//   NULL the frame's address.
// - word (8 bytes, at 16): the join word. A task handle joins without holding anything
//   of the goroutine's: the word is the goroutine's id times two (even, never 0) from
//   the spawn until the end, which exchanges it for 0. A joiner that finds the id
//   there swaps in a channel of its own (its address plus 1, odd) with a
//   compare-exchange, which the end closes; a joiner that finds anything else knows the
//   goroutine has ended: ids are never reused, and a G that ran the goroutine
//   afterwards holds 0, another goroutine's id or channel, another language's bytes
//   (not this id, unless they wrote exactly it), or zeros (gmp_go_inline: the bytes
//   stay mapped, and a late read is safe). So a dropped task costs nothing, and the
//   goroutine's end one exchange on its own line (where the object above takes a
//   read-modify-write in the spawner, on a line the new goroutine may be reading on
//   another thread).
// - the callable and its arguments (a std::tuple), from byte 24.
// Under AddressSanitizer and ThreadSanitizer goroutines take the object above: the G's
// bytes are reused by the runtime without an allocator call that would tell them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GMP_GO_INLINE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GMP_GO_INLINE 0
#endif
#endif
#ifndef GMP_GO_INLINE
#define GMP_GO_INLINE 1
#endif

struct inline_header {
  eh_slot eh;
  std::uint64_t word;
};
static_assert(sizeof(inline_header) == 24 && alignof(inline_header) == 8,
              "the inline frame's header is the same in every build");

template <class Fn, class... Args>
struct inline_frame : inline_header {
  std::tuple<Fn, Args...> call;
};

template <class F, class... Args>
using inline_frame_for = inline_frame<std::decay_t<F>, std::decay_t<Args>...>;

template <class F, class... Args>
constexpr bool inline_fits() {
  using frame = inline_frame_for<F, Args...>;
  if constexpr (!GMP_GO_INLINE) {
    return false;
  } else if constexpr (!std::is_void_v<go_result_t<std::decay_t<F>, std::decay_t<Args>...>>) {
    return false;
  } else {
    return sizeof(frame) <= GMP_GO_INLINE_SIZE && alignof(frame) <= 8 &&
           std::is_nothrow_constructible_v<std::tuple<std::decay_t<F>, std::decay_t<Args>...>,
                                           F&&, Args&&...> &&
           std::is_nothrow_destructible_v<std::tuple<std::decay_t<F>, std::decay_t<Args>...>>;
  }
}

/// The end of an inline goroutine: its captures die while its exception state is still
/// installed; then the thread's state goes back, and a joiner's channel is closed.
inline void inline_finish(inline_header* h) noexcept {
#if GMP_HAS_EXCEPTIONS
  eh_end();
#endif
  const std::uint64_t w = __atomic_exchange_n(&h->word, 0, __ATOMIC_ACQ_REL);
  if (w & 1) {
    gmp_chan* ch = reinterpret_cast<gmp_chan*>(static_cast<std::uintptr_t>(w - 1));
    gmp_chan_close(ch);
    gmp_chan_release(ch);
  }
}

/// The gmp_fn of an inline goroutine, and its noexcept boundary (see goroutine_entry).
template <class Frame>
void inline_entry(void* arg) {
  Frame* fr = static_cast<Frame*>(arg);
#if GMP_HAS_EXCEPTIONS
  eh_start();
#endif
  std::apply([](auto&... x) { std::invoke(std::move(x)...); }, fr->call);
  fr->call.~tuple();
  inline_finish(fr);
}

/// gmp_go_inline's init: builds the frame in the G from the spawner's arguments.
template <class Frame, class... Refs>
struct inline_spawn {
  std::tuple<Refs...> src;  // references to go()'s arguments, forwarded as given
  std::uint64_t* word = nullptr;
  goid id = 0;
  static void init(void* arg, gmp_goid id, void* ctx) noexcept {
    auto* self = static_cast<inline_spawn*>(ctx);
    Frame* fr = static_cast<Frame*>(arg);
    ::new (static_cast<void*>(&fr->eh)) eh_slot{};
    using call_type = decltype(fr->call);
    ::new (static_cast<void*>(&fr->call)) call_type(std::apply(
        [](auto&&... x) { return call_type(std::forward<decltype(x)>(x)...); },
        std::move(self->src)));
    // Release: pairs with a stale joiner's acquire load that reads this (see `word`).
    __atomic_store_n(&fr->word, id << 1, __ATOMIC_RELEASE);
    self->word = &fr->word;
    self->id = id;
  }
};

template <class F>
inline constexpr bool is_go_attr = std::is_same_v<std::decay_t<F>, go_attr>;
template <class F>
inline constexpr bool is_go_callable = !is_go_attr<F> && !is_error_code_v<F>;

struct task_access;
}  // namespace detail

/// The handle gmp::go returns: join() waits for the goroutine to end (its captures
/// destroyed) and gives f's result. Destroying or detach()ing a joinable task lets the
/// goroutine run on unobserved (unlike std::thread, which terminates), so `gmp::go(f);`
/// alone starts a goroutine and forgets it. Converts to the goroutine's id (goid), as
/// go() returned before. Move-only; one goroutine may join it, from a goroutine or a
/// thread.
template <class R>
class task {
 public:
  using result_type = R;
  task() noexcept = default;
  task(task&& o) noexcept
      : g_(std::exchange(o.g_, nullptr)),
        ops_(o.ops_),
        word_(std::exchange(o.word_, nullptr)),
        joiner_(std::exchange(o.joiner_, nullptr)),
        id_(std::exchange(o.id_, 0)),
        registered_(std::exchange(o.registered_, false)) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      detach();
      g_ = std::exchange(o.g_, nullptr);
      ops_ = o.ops_;
      word_ = std::exchange(o.word_, nullptr);
      joiner_ = std::exchange(o.joiner_, nullptr);
      id_ = std::exchange(o.id_, 0);
      registered_ = std::exchange(o.registered_, false);
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { detach(); }

  /// The goroutine's id (kept after join() and detach()); 0 for an empty task.
  goid id() const noexcept { return id_; }
  operator goid() const noexcept { return id_; }
  /// True until join() or detach().
  bool joinable() const noexcept { return g_ != nullptr || word_ != nullptr; }

  /// Waits for the goroutine to end and returns f's result. Throws gmp::error
  /// (GMP_EINVAL: not joinable; GMP_ECANCELED: the caller's home was closed, and the
  /// task stays joinable).
  R join() {
    std::error_code ec;
    if constexpr (std::is_void_v<R>) {
      join(ec);
      if (ec) detail::raise(ec.value(), "gmp::task::join");
    } else {
      std::optional<R> r = join(ec);
      if (ec) detail::raise(ec.value(), "gmp::task::join");
      return std::move(*r);
    }
  }
  /// join() setting ec instead of throwing (empty optional then, for a non-void R).
  auto join(std::error_code& ec) noexcept(std::is_void_v<R> ||
                                          std::is_nothrow_move_constructible_v<R>) {
    if constexpr (std::is_void_v<R>) {
      if (wait(ec)) finish();
    } else {
      std::optional<R> r;
      if (wait(ec)) {
        r.emplace(std::move(*static_cast<detail::goroutine_result<R>*>(g_)->result));
        finish();
      }
      return r;
    }
  }

  /// Lets the goroutine go on unobserved; not joinable afterwards.
  void detach() noexcept {
    if (word_ != nullptr) {  // an inline goroutine (see detail::inline_header::word)
      word_ = nullptr;
      // A join that failed left its channel in the word: the goroutine's end closes
      // and releases its own reference.
      if (joiner_ != nullptr) gmp_chan_release(std::exchange(joiner_, nullptr));
      return;
    }
    if (g_ == nullptr) return;
    detail::goroutine_base* g = std::exchange(g_, nullptr);
    // See goroutine_base::handle: if the goroutine has ended, the handle frees it.
    if (g->state.fetch_sub(detail::goroutine_base::handle, std::memory_order_acq_rel) &
        detail::goroutine_base::done) {
      ops_->destroy(g);
    }
  }

 private:
  friend struct detail::task_access;
  task(detail::goroutine_base* g, const detail::goroutine_ops* ops, goid id) noexcept
      : g_(g), ops_(ops), id_(id) {}
  task(std::uint64_t* word, goid id) noexcept : word_(word), id_(id) {}
  // join() of an inline goroutine (see detail::inline_header::word).
  bool wait_inline(std::error_code& ec) noexcept {
    if (joiner_ == nullptr) {
      const std::uint64_t mine = id_ << 1;
      if (__atomic_load_n(word_, __ATOMIC_ACQUIRE) != mine) {  // ended
        ec.clear();
        return true;
      }
      gmp_chan* ch = nullptr;
      const int rc = gmp_chan_make(&ch, 0, 0);
      if (rc < 0) return detail::report(rc, ec);
      gmp_chan_retain(ch);  // the goroutine's reference, released by its end
      std::uint64_t expect = mine;
      if (!__atomic_compare_exchange_n(word_, &expect,
                                       static_cast<std::uint64_t>(
                                           reinterpret_cast<std::uintptr_t>(ch)) + 1,
                                       false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        gmp_chan_release(ch);  // ended meanwhile
        gmp_chan_release(ch);
        ec.clear();
        return true;
      }
      joiner_ = ch;
    }
    const int rc = gmp_chan_recv(joiner_, nullptr);  // nothing is ever sent: the close
    if (rc == GMP_ECLOSED) {
      gmp_chan_release(std::exchange(joiner_, nullptr));
      ec.clear();
      return true;
    }
    return detail::report(rc < 0 ? rc : GMP_EINVAL, ec);  // GMP_ECANCELED: still joinable
  }
  bool wait(std::error_code& ec) noexcept {
    using base = detail::goroutine_base;
    if (word_ != nullptr) return wait_inline(ec);
    if (g_ == nullptr) return detail::report(GMP_EINVAL, ec);
    if (g_->state.load(std::memory_order_acquire) & base::done) {
      ec.clear();
      return true;
    }
    gmp_waitgroup* wg = ops_->finished(g_);
    if (!registered_) {  // once: a join that failed (home closed) may be retried
      registered_ = true;
      ::new (static_cast<void*>(wg)) gmp_waitgroup{};  // GMP_WAITGROUP_INIT; ours to set up
      gmp_waitgroup_add(wg, 1);
      // Publishes the wait group to the goroutine's end (release), which reads it only
      // after finding `joining` (acquire).
      if (g_->state.fetch_or(base::joining, std::memory_order_acq_rel) & base::done) {
        gmp_waitgroup_done(wg);  // ended meanwhile: it will not call done
        ec.clear();
        return true;
      }
    }
    return detail::report(gmp_waitgroup_wait(wg), ec);
  }
  void finish() noexcept { detach(); }

  detail::goroutine_base* g_ = nullptr;
  const detail::goroutine_ops* ops_ = nullptr;  // g_'s type's (G::ops)
  std::uint64_t* word_ = nullptr;  // an inline goroutine's join word, in its G
  gmp_chan* joiner_ = nullptr;     // word_'s join channel once a join registered
  goid id_ = 0;
  bool registered_ = false;  // this handle added itself to the goroutine's `finished`
};

namespace detail {
struct task_access {
  template <class G>
  static task<typename G::result_type> start(const go_attr* attr, G* g, std::error_code* ec) {
    goid id = 0;
    const int rc = spawn(attr, g, true, &id);
    if (rc < 0) {
      if (ec == nullptr) raise(rc, "gmp::go");
      *ec = std::error_code(rc, gmp_category());
      return {};
    }
    if (ec != nullptr) ec->clear();
    return task<typename G::result_type>(g, &G::ops, id);
  }
  /// go() through gmp_go_inline (inline_fits<F, Args...>()).
  template <class F, class... Args>
  static task<void> start_inline(std::error_code* ec, F&& f, Args&&... args) {
    using frame = inline_frame_for<F, Args...>;
    using spawner = inline_spawn<frame, F&&, Args&&...>;
    spawner s{std::forward_as_tuple(std::forward<F>(f), std::forward<Args>(args)...)};
    gmp_switch_hooks hooks{};
    hooks.size = sizeof hooks;
    hooks.on_park = &eh_park;
    hooks.on_resume = &eh_resume;  // ctx NULL: the frame, whose eh slot is at 0
    hooks.flags = GMP_HOOKS_LAZY_RESUME | GMP_HOOKS_LAZY_PARK;  // see the switch hooks above
    hooks.thread_record = &eh_thread_record;
    const int rc = gmp_go_inline(&inline_entry<frame>, &spawner::init, &s, hooks_for(hooks));
    if (rc < 0) {  // init did not run: the arguments are untouched
      if (ec == nullptr) raise(rc, "gmp::go");
      *ec = std::error_code(rc, gmp_category());
      return {};
    }
    if (ec != nullptr) ec->clear();
    return task<void>(s.word, s.id);
  }
};
}  // namespace detail

/// Starts a goroutine running f(args...) (copies of the arguments, as std::thread) and
/// returns its task: join() it, or drop it to let the goroutine run on. An exception
/// escaping f calls std::terminate at its throw site (see goroutine_entry). Throws
/// gmp::error (GMP_ENOMEM, GMP_ESHUTDOWN).
template <class F, class... Args, class = std::enable_if_t<detail::is_go_callable<F>>>
auto go(F&& f, Args&&... args) {
  if constexpr (detail::inline_fits<F, Args...>()) {
    return detail::task_access::start_inline(nullptr, std::forward<F>(f),
                                             std::forward<Args>(args)...);
  } else {
    return detail::task_access::start(
        nullptr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...),
        nullptr);
  }
}

/// go() with a name and a stack size.
template <class F, class... Args>
auto go(const go_attr& attr, F&& f, Args&&... args) {
  return detail::task_access::start(
      &attr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...), nullptr);
}

/// go() setting ec instead of throwing; an empty task on failure.
template <class F, class... Args, class = std::enable_if_t<detail::is_go_callable<F>>>
auto go(std::error_code& ec, F&& f, Args&&... args) {
  if constexpr (detail::inline_fits<F, Args...>()) {
    return detail::task_access::start_inline(&ec, std::forward<F>(f),
                                             std::forward<Args>(args)...);
  } else {
    return detail::task_access::start(
        nullptr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...), &ec);
  }
}
template <class F, class... Args>
auto go(std::error_code& ec, const go_attr& attr, F&& f, Args&&... args) {
  return detail::task_access::start(
      &attr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...), &ec);
}

namespace detail {
template <class F, class... Args>
int run_main(std::exception_ptr& escaped, F&& f, Args&&... args) {
  struct context {
    std::tuple<std::decay_t<F>, std::decay_t<Args>...> call;
    std::exception_ptr* escaped;
    eh_slot eh;
  } ctx{{std::forward<F>(f), std::forward<Args>(args)...}, &escaped, {}};
  // The main goroutine migrates like any goroutine: it carries its exception state with
  // the same switch hooks as gmp::go's goroutines (gmp_main_ex), so f may park inside a
  // catch block.
  gmp_switch_hooks hooks{};
  hooks.size = sizeof hooks;
  hooks.on_park = &eh_park;
  hooks.on_resume = &eh_resume;
  hooks.ctx = &ctx.eh;
  gmp_go_attr attr{};
  attr.size = sizeof attr;
  attr.hooks = hooks_for(hooks);
  return gmp_main_ex(
      &attr,
      [](void* p) noexcept {
        auto* c = static_cast<context*>(p);
#if GMP_HAS_EXCEPTIONS
        eh_start();  // hooks run around switches, not at start and end
        try {
          std::apply([](auto&... x) { std::invoke(std::move(x)...); }, c->call);
        } catch (...) {
          *c->escaped = std::current_exception();
        }
        eh_end();
#else
        std::apply([](auto&... x) { std::invoke(std::move(x)...); }, c->call);
#endif
      },
      &ctx);
}
}  // namespace detail

/// Runs f(args...) as the main goroutine and returns on the calling thread when it
/// returns (gmp_main); an exception escaping f is rethrown here. As Go's main, f starts on
/// the calling thread and is not locked to it (it may resume on another thread after any
/// switch point: see the thread_local caveat); calling gmp_lock_os_thread() before its
/// first switch point keeps it on the calling thread for good. Its C++ exception state
/// travels with it (gmp_main_ex with gmp::go's switch hooks), so f may park inside a
/// catch block as any goroutine may.
/// Throws gmp::error (GMP_EDEADLK when every goroutine is asleep; GMP_EALREADY from a
/// goroutine, from a home thread, or while another main runs).
template <class F, class... Args, class = std::enable_if_t<!detail::is_error_code_v<F>>>
void main(F&& f, Args&&... args) {
  std::exception_ptr escaped;
  detail::check(detail::run_main(escaped, std::forward<F>(f), std::forward<Args>(args)...),
                "gmp::main");
#if GMP_HAS_EXCEPTIONS
  if (escaped) std::rethrow_exception(escaped);
#endif
}
/// main() setting ec instead of throwing a gmp::error (an exception escaping f is still
/// rethrown).
template <class F, class... Args>
void main(std::error_code& ec, F&& f, Args&&... args) {
  std::exception_ptr escaped;
  detail::report(detail::run_main(escaped, std::forward<F>(f), std::forward<Args>(args)...), ec);
#if GMP_HAS_EXCEPTIONS
  if (escaped) std::rethrow_exception(escaped);
#endif
}

namespace this_goroutine {

/// Yields the processor to other goroutines (gmp_gosched). No-op on a foreign thread.
inline void yield() noexcept { gmp_gosched(); }

/// The calling goroutine's id; 0 on a foreign thread.
inline goid id() noexcept { return gmp_self(); }

/// Sleeps, parking the goroutine (a foreign thread blocks). Throws gmp::error
/// (GMP_ECANCELED when the goroutine's home was closed).
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d) {
  detail::check(gmp_sleep(detail::to_ns(d)), "gmp::this_goroutine::sleep_for");
}
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d, std::error_code& ec) noexcept {
  detail::report(gmp_sleep(detail::to_ns(d)), ec);
}

template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& t) {
  sleep_for(detail::until(t));
}
template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& t, std::error_code& ec) noexcept {
  sleep_for(detail::until(t), ec);
}

/// Yields if the runtime asked this goroutine to (it ran too long): put it in long loops.
inline void preempt_point() noexcept { gmp_preempt_point(); }

/// Names the calling goroutine (shown in dumps). Throws GMP_ENOTGOROUTINE on a thread.
inline void set_name(const std::string& name) {
  detail::check(gmp_set_name(name.c_str()), "gmp::this_goroutine::set_name");
}
inline void set_name(const char* name, std::error_code& ec) noexcept {
  detail::report(gmp_set_name(name), ec);
}

}  // namespace this_goroutine

/// Wires the calling goroutine to its OS thread while it lives (gmp_lock_os_thread /
/// gmp_unlock_os_thread; nests). A no-op on a foreign thread and in a home.
class lock_os_thread_guard {
 public:
  lock_os_thread_guard() { detail::check(gmp_lock_os_thread(), "gmp::lock_os_thread_guard"); }
  /// Sets ec instead of throwing; the destructor then unlocks nothing.
  explicit lock_os_thread_guard(std::error_code& ec) noexcept
      : locked_(detail::report(gmp_lock_os_thread(), ec)) {}
  ~lock_os_thread_guard() {
    if (locked_) gmp_unlock_os_thread();
  }
  lock_os_thread_guard(const lock_os_thread_guard&) = delete;
  lock_os_thread_guard& operator=(const lock_os_thread_guard&) = delete;

 private:
  bool locked_ = true;
};

/// `auto pin = gmp::lock_os_thread();` The spelling of lock_os_thread_guard as a call. A
/// function, not a type alias: `gmp::lock_os_thread();` alone would otherwise make a
/// temporary that unlocks at once; [[nodiscard]] turns that mistake into a warning.
[[nodiscard]] inline lock_os_thread_guard lock_os_thread() { return lock_os_thread_guard(); }

// ---------------------------------------------------------------------------------------
// Blocking calls
// ---------------------------------------------------------------------------------------

namespace detail {
template <class R>
struct blocking_result {
  std::optional<R> value;
  template <class Call>
  void run(Call&& call) {
    value.emplace(std::apply(
        [](auto&&... x) -> R { return std::invoke(std::forward<decltype(x)>(x)...); },
        std::move(call)));
  }
  R take() { return std::move(*value); }
};
template <class R>
struct blocking_result<R&> {
  R* value = nullptr;
  template <class Call>
  void run(Call&& call) {
    value = std::addressof(std::apply(
        [](auto&&... x) -> R& { return std::invoke(std::forward<decltype(x)>(x)...); },
        std::move(call)));
  }
  R& take() { return *value; }
};
template <>
struct blocking_result<void> {
  template <class Call>
  void run(Call&& call) {
    std::apply([](auto&&... x) { std::invoke(std::forward<decltype(x)>(x)...); },
               std::move(call));
  }
  void take() {}
};

template <class F, class... Args>
int run_blocking(blocking_result<std::invoke_result_t<F, Args...>>& result,
                 std::exception_ptr& escaped, F&& f, Args&&... args) {
  struct context {
    std::tuple<F&&, Args&&...> call;
    blocking_result<std::invoke_result_t<F, Args...>>* result;
    std::exception_ptr* escaped;
  } ctx{std::forward_as_tuple(std::forward<F>(f), std::forward<Args>(args)...), &result,
        &escaped};
  return gmp_blocking(
      [](void* p) noexcept {
        auto* c = static_cast<context*>(p);
#if GMP_HAS_EXCEPTIONS
        try {
          c->result->run(std::move(c->call));
        } catch (...) {
          *c->escaped = std::current_exception();
        }
#else
        (void)c->escaped;
        c->result->run(std::move(c->call));
#endif
      },
      &ctx);
}
}  // namespace detail

/// Runs f(args...) as a blocking call (gmp_blocking: Go's entersyscall/exitsyscall around
/// it, on the thread's own stack) and returns its result; an exception f throws is
/// rethrown here. While f blocks, the goroutine's P goes to another thread, so the other
/// goroutines run on: wrap blocking library calls (getaddrinfo, file I/O, a database
/// client, a long computation in a library that never yields) in it. f must not make
/// blocking gmp calls. Arguments are passed by reference (f runs before this returns).
/// Throws gmp::error (GMP_ESHUTDOWN: the runtime is shut down; f did not run).
template <class F, class... Args, class = std::enable_if_t<!detail::is_error_code_v<F>>>
std::invoke_result_t<F, Args...> blocking(F&& f, Args&&... args) {
  detail::blocking_result<std::invoke_result_t<F, Args...>> result;
  std::exception_ptr escaped;
  detail::check(detail::run_blocking(result, escaped, std::forward<F>(f),
                                     std::forward<Args>(args)...),
                "gmp::blocking");
#if GMP_HAS_EXCEPTIONS
  if (escaped) std::rethrow_exception(escaped);
#endif
  return result.take();
}

/// blocking() setting ec instead of throwing a gmp::error: true when f ran (its result,
/// if any, is discarded: use the throwing form or capture it).
template <class F, class... Args>
bool blocking(std::error_code& ec, F&& f, Args&&... args) {
  detail::blocking_result<std::invoke_result_t<F, Args...>> result;
  std::exception_ptr escaped;
  const bool ran = detail::report(
      detail::run_blocking(result, escaped, std::forward<F>(f), std::forward<Args>(args)...), ec);
#if GMP_HAS_EXCEPTIONS
  if (escaped) std::rethrow_exception(escaped);
#endif
  return ran;
}

/// RAII gmp_syscall_enter / gmp_syscall_exit: the code in its scope may block its thread
/// (plain system calls, a blocking library call) while the goroutine's P serves other
/// goroutines; the destructor takes a P back, which may park the goroutine and resume
/// it on another thread (a switch point). Make no gmp call inside the section. On a
/// foreign thread both are no-ops.
///
///   { gmp::syscall_section s; n = ::read(fd, buf, len); }
class syscall_section {
 public:
  syscall_section() noexcept { gmp_syscall_enter(); }
  ~syscall_section() { gmp_syscall_exit(); }
  syscall_section(const syscall_section&) = delete;
  syscall_section& operator=(const syscall_section&) = delete;
};

// ---------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------

template <class T>
class chan;

/// Tag of chan's constructor that adopts a reference to an existing gmp_chan.
struct adopt_handle_t {
  explicit adopt_handle_t() = default;
};
inline constexpr adopt_handle_t adopt_handle{};

/// What a channel operation did: the *_status forms return it instead of throwing.
enum class chan_status : int {
  ok = 0,       ///< sent, or received a value
  closed,       ///< the channel is closed (and, for a receive, drained)
  timeout,      ///< the wait ran out (send_for/recv_for)
  would_block,  ///< a try found no room, value or partner
  error,        ///< another failure: see the result's `error` (GMP_ECANCELED, GMP_EINVAL)
};

/// A send's status (and, for chan_status::error, its code). True when the value was sent.
struct send_result {
  chan_status status = chan_status::ok;
  int code = 0;  ///< the GMP_E* code of chan_status::error, else 0
  explicit operator bool() const noexcept { return status == chan_status::ok; }
  /// code as a std::error_code (empty unless status is chan_status::error).
  std::error_code error() const noexcept {
    return code == 0 ? std::error_code() : std::error_code(code, gmp_category());
  }
};

/// A receive's status and, when it is chan_status::ok, the value.
template <class T>
struct recv_result {
  chan_status status = chan_status::ok;
  int code = 0;  ///< the GMP_E* code of chan_status::error, else 0
  std::optional<T> value;
  std::error_code error() const noexcept {
    return code == 0 ? std::error_code() : std::error_code(code, gmp_category());
  }
  explicit operator bool() const noexcept { return status == chan_status::ok; }
  T& operator*() & noexcept { return *value; }
  T&& operator*() && noexcept { return std::move(*value); }
  T* operator->() noexcept { return std::addressof(*value); }
};

namespace detail {

template <class T>
struct type_identity {
  using type = T;
};
template <class T>
using type_identity_t = typename type_identity<T>::type;

/// A failed C result as a chan_status (GMP_EAGAIN: would_block, GMP_ETIMEDOUT:
/// timeout); `code` keeps rc for chan_status::error.
inline chan_status status_of(int rc, int& code) noexcept {
  if (rc == 0) return chan_status::ok;
  if (rc == GMP_ECLOSED) return chan_status::closed;
  if (rc == GMP_ETIMEDOUT) return chan_status::timeout;
  if (rc == GMP_EAGAIN) return chan_status::would_block;
  code = rc;
  return chan_status::error;
}

// How a T travels through a channel (see the top of this file).
template <class T>
struct chan_traits {
  static constexpr bool by_value = std::is_trivially_copyable_v<T> && sizeof(T) <= 65536;
  static constexpr std::size_t elem_size = by_value ? sizeof(T) : sizeof(T*);
  using pool = box_pool_for<T>;

  // A box holding a value moved in, from the pool.
  static T* box(T&& v) {
    void* p = pool::get();
    if constexpr (std::is_nothrow_move_constructible_v<T>) {
      return ::new (p) T(std::move(v));
    } else {
#if GMP_HAS_EXCEPTIONS
      try {
        return ::new (p) T(std::move(v));
      } catch (...) {
        pool::put(p);
        throw;
      }
#else
      return ::new (p) T(std::move(v));
#endif
    }
  }
  static void unbox(T* p) noexcept {
    p->~T();
    pool::put(p);
  }

  // The element drop callback (ownership transfer only): destroys a buffered box.
  static void drop(void* elem, void*) noexcept {
    T* p;
    std::memcpy(&p, elem, sizeof p);
    unbox(p);
  }

  // Where a receive lands; take() yields the value (once, after a successful receive).
  class recv_slot {
   public:
    recv_slot() = default;
    recv_slot(const recv_slot&) = delete;
    recv_slot& operator=(const recv_slot&) = delete;
    ~recv_slot() {
      if constexpr (!by_value) {
        if (ptr_ != nullptr) unbox(ptr_);
      }
    }
    void* address() noexcept {
      if constexpr (by_value) return bytes_;
      else return &ptr_;
    }
    T take() {
      if constexpr (by_value) {
        // The channel wrote the bytes of a T here: a trivially copyable type's value.
        return *std::launder(reinterpret_cast<T*>(bytes_));
      } else {
        T* p = std::exchange(ptr_, nullptr);
        struct release {
          T* p;
          ~release() { unbox(p); }
        } r{p};
        return T(std::move(*p));
      }
    }

   private:
    struct no_box {};
    alignas(T) unsigned char bytes_[by_value ? sizeof(T) : 1];
    // The box pointer exists only for values that travel in boxes: a by-value receive
    // then stores nothing before the C call.
    std::conditional_t<by_value, no_box, T*> ptr_{};
  };

  // A value about to be sent. address() is what the C call sends; committed() after a
  // successful send hands the box to the receiver; give_back() else moves the value
  // back into the caller's object.
  class send_slot {
   public:
    explicit send_slot(T& v) : v_(v) {
      if constexpr (!by_value) raw_ = box(std::move(v));
    }
    send_slot(const send_slot&) = delete;
    send_slot& operator=(const send_slot&) = delete;
    // Neither sent nor given back (an exception between the two): give the value back
    // when that cannot throw, else destroy it.
    ~send_slot() {
      if constexpr (!by_value) {
        if (raw_ == nullptr) return;
        if constexpr (std::is_nothrow_move_constructible_v<T>) {
          v_.~T();
          ::new (static_cast<void*>(std::addressof(v_))) T(std::move(*raw_));
        }
        unbox(raw_);
      }
    }
    const void* address() const noexcept {
      if constexpr (by_value) return std::addressof(v_);
      else return &raw_;
    }
    void committed() noexcept {
      if constexpr (!by_value) raw_ = nullptr;
    }
    void give_back() {
      if constexpr (!by_value) {
        if constexpr (std::is_move_assignable_v<T>) {
          v_ = std::move(*raw_);
        } else {
          v_.~T();
          ::new (static_cast<void*>(std::addressof(v_))) T(std::move(*raw_));
        }
        unbox(std::exchange(raw_, nullptr));
      }
    }

   private:
    T& v_;
    T* raw_ = nullptr;
  };
};

struct chan_access;

}  // namespace detail

/// A channel of T: a move-only handle of a reference-counted gmp_chan (share() makes
/// another). Any thread or goroutine may use it. See the top of this file for how
/// values travel; chan<T>::by_value says which way T does.
template <class T>
class chan {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T> &&
                    !std::is_array_v<T>,
                "gmp::chan<T>: T must be a non-const, non-array object type");
  static_assert(std::is_move_constructible_v<T>, "gmp::chan<T>: T must be movable");
  using traits = detail::chan_traits<T>;
  friend struct detail::chan_access;

 public:
  using value_type = T;
  /// True when T travels by value (trivially copyable), false for ownership transfer.
  static constexpr bool by_value = traits::by_value;

  /// Makes a channel with room for `capacity` buffered values (0: unbuffered, every send
  /// meets a receiver). Throws gmp::error (GMP_ENOMEM, GMP_EINVAL).
  explicit chan(std::size_t capacity = 0) { detail::check(make(capacity), "gmp::chan"); }
  /// Sets ec instead of throwing; the handle is then empty (operator bool false).
  chan(std::size_t capacity, std::error_code& ec) noexcept { detail::report(make(capacity), ec); }

  /// Adopts one reference to `h` (released by this handle). The caller vouches that its
  /// elements are what chan<T> sends: a T when by_value, else a T* boxed by chan<T>.
  chan(adopt_handle_t, gmp_chan* h) noexcept : h_(h) {}

  chan(chan&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  chan& operator=(chan&& other) noexcept {
    if (this != &other) {
      if (h_ != nullptr) gmp_chan_release(h_);
      h_ = std::exchange(other.h_, nullptr);
    }
    return *this;
  }
  chan(const chan&) = delete;
  chan& operator=(const chan&) = delete;
  /// Releases this handle's reference; the last one destroys the buffered values.
  /// (Moved-from handles, common in goroutine arguments, make no call.)
  ~chan() {
    if (h_ != nullptr) gmp_chan_release(h_);
  }

  /// Another handle of the same channel (gmp_chan_retain).
  chan share() const noexcept { return chan(adopt_handle, gmp_chan_retain(h_)); }
  gmp_chan* native_handle() const noexcept { return h_; }
  /// False for a moved-from handle.
  explicit operator bool() const noexcept { return h_ != nullptr; }
  void swap(chan& other) noexcept { std::swap(h_, other.h_); }

  // --- Sending. The throwing forms; the *_status forms below never throw a gmp::error.

  /// Sends v, waiting for room or a receiver. Throws gmp::error: GMP_ECLOSED (closed),
  /// GMP_ECANCELED (home closed), GMP_EINVAL (moved-from handle); v is then destroyed
  /// (try_send, send_for and the *_status forms give a value back instead).
  void send(T v) {
    const send_result r = send_timed(v, GMP_FOREVER);
    if (!r) detail::raise(code_of(r), "gmp::chan::send");
  }

  /// Sends v if that needs no wait; false (v keeps its value) if it would block. Throws
  /// gmp::error (GMP_ECLOSED: closed).
  bool try_send(T& v) { return sent(send_timed(v, 0), "gmp::chan::try_send"); }
  bool try_send(T&& v) { return sent(send_timed(v, 0), "gmp::chan::try_send"); }
  bool try_send(const T& v) {
    T copy(v);
    return sent(send_timed(copy, 0), "gmp::chan::try_send");
  }

  /// Sends v, waiting at most d; false (v keeps its value) on timeout. Throws
  /// gmp::error (GMP_ECLOSED: closed).
  template <class Rep, class Period>
  bool send_for(T& v, const std::chrono::duration<Rep, Period>& d) {
    return sent(send_timed(v, detail::to_timeout(d)), "gmp::chan::send_for");
  }
  template <class Rep, class Period>
  bool send_for(T&& v, const std::chrono::duration<Rep, Period>& d) {
    return sent(send_timed(v, detail::to_timeout(d)), "gmp::chan::send_for");
  }
  template <class Rep, class Period>
  bool send_for(const T& v, const std::chrono::duration<Rep, Period>& d) {
    T copy(v);
    return sent(send_timed(copy, detail::to_timeout(d)), "gmp::chan::send_for");
  }

  /// Sends v, waiting for room or a receiver, and says what happened: ok, closed, or
  /// error (GMP_ECANCELED, GMP_EINVAL). Unless ok, v keeps its value. Never throws a
  /// gmp::error.
  send_result send_status(T& v) { return send_timed(v, GMP_FOREVER); }
  send_result send_status(T&& v) { return send_timed(v, GMP_FOREVER); }
  /// As send_status, never waiting: would_block where it would.
  send_result try_send_status(T& v) { return send_timed(v, 0); }
  send_result try_send_status(T&& v) { return send_timed(v, 0); }
  /// As send_status, waiting at most d: timeout when it ran out.
  template <class Rep, class Period>
  send_result send_for_status(T& v, const std::chrono::duration<Rep, Period>& d) {
    return send_timed(v, detail::to_timeout(d));
  }
  template <class Rep, class Period>
  send_result send_for_status(T&& v, const std::chrono::duration<Rep, Period>& d) {
    return send_timed(v, detail::to_timeout(d));
  }

  // --- Receiving.

  /// Receives a value, waiting for one; empty once the channel is closed and drained.
  /// Throws gmp::error (GMP_ECANCELED: home closed; GMP_EINVAL: moved-from handle).
  std::optional<T> recv() {
    // The hot path of every receive loop: straight from the C call to the optional,
    // without the recv_result that recv_timed builds.
    typename traits::recv_slot s;
    const int rc = gmp_chan_recv(h_, s.address());
    if (rc == 0) return std::optional<T>(s.take());
    if (rc != GMP_ECLOSED) detail::raise(rc, "gmp::chan::recv");
    return std::nullopt;
  }

  /// Receives a value if one is ready; empty if none is, or closed and drained (see
  /// try_recv_status to tell which).
  std::optional<T> try_recv() { return value_of(recv_timed(0), "gmp::chan::try_recv"); }

  /// Receives a value, waiting at most d; empty on timeout, or closed and drained (see
  /// recv_for_status to tell which).
  template <class Rep, class Period>
  std::optional<T> recv_for(const std::chrono::duration<Rep, Period>& d) {
    return value_of(recv_timed(detail::to_timeout(d)), "gmp::chan::recv_for");
  }

  /// Receives a value, waiting for one, and says what happened: ok (with the value),
  /// closed (and drained), or error. Never throws a gmp::error.
  recv_result<T> recv_status() { return recv_timed(GMP_FOREVER); }
  /// As recv_status, never waiting: would_block when no value is ready.
  recv_result<T> try_recv_status() { return recv_timed(0); }
  /// As recv_status, waiting at most d: timeout when it ran out.
  template <class Rep, class Period>
  recv_result<T> recv_for_status(const std::chrono::duration<Rep, Period>& d) {
    return recv_timed(detail::to_timeout(d));
  }

  /// Closes the channel: receivers drain what is buffered, then get empty optionals;
  /// senders get GMP_ECLOSED. Throws gmp::error (GMP_ECLOSED if already closed).
  void close() { detail::check(gmp_chan_close(h_), "gmp::chan::close"); }
  void close(std::error_code& ec) noexcept { detail::report(gmp_chan_close(h_), ec); }

  /// Values buffered now. Throws gmp::error (GMP_EINVAL: moved-from handle).
  std::size_t size() const { return count(gmp_chan_len(h_), "gmp::chan::size"); }
  /// The capacity given at construction.
  std::size_t capacity() const { return count(gmp_chan_cap(h_), "gmp::chan::capacity"); }

  /// The end of a range-for over a channel: reached when it is closed and drained.
  struct sentinel {};

  /// Input iterator receiving values until the channel is closed and drained.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;

    explicit iterator(chan* c) : c_(c), v_(c->recv()) {}
    T& operator*() { return *v_; }
    T* operator->() { return std::addressof(*v_); }
    iterator& operator++() {
      v_ = c_->recv();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& i, sentinel) noexcept { return !i.v_; }
    friend bool operator!=(const iterator& i, sentinel s) noexcept { return !(i == s); }
    friend bool operator==(sentinel s, const iterator& i) noexcept { return i == s; }
    friend bool operator!=(sentinel s, const iterator& i) noexcept { return !(i == s); }

   private:
    chan* c_;
    std::optional<T> v_;
  };

  /// `for (auto& v : ch)` receives until the channel is closed and drained.
  iterator begin() { return iterator(this); }
  sentinel end() noexcept { return {}; }

 private:
  int make(std::size_t capacity) noexcept {
    return gmp_chan_make_ex(&h_, traits::elem_size, capacity, by_value ? nullptr : &traits::drop,
                            nullptr);
  }
  static int code_of(const send_result& r) noexcept {
    return r.status == chan_status::closed ? GMP_ECLOSED : r.code;
  }
  // The throwing forms' rule: a would_block or timeout is false, closed or an error throws.
  static bool sent(const send_result& r, const char* what) {
    if (r.status == chan_status::ok) return true;
    if (r.status == chan_status::would_block || r.status == chan_status::timeout) return false;
    detail::raise(code_of(r), what);
  }
  static std::optional<T> value_of(recv_result<T>&& r, const char* what) {
    if (r.status == chan_status::error) detail::raise(r.code, what);
    return std::move(r.value);
  }
  static std::size_t count(std::int64_t n, const char* what) {
    if (n < 0) detail::raise(static_cast<int>(n), what);
    return static_cast<std::size_t>(n);
  }

  send_result send_timed(T& v, std::int64_t timeout) {
    typename traits::send_slot s(v);
    send_result r;
    // The blocking forms call the C functions without a timeout: those have the
    // deadline folded away (the _timeout ones compute it at run time; 1-2% of a round
    // trip). timeout is a constant at every call, so the test folds away too.
    const int rc = timeout == GMP_FOREVER ? gmp_chan_send(h_, s.address())
                                          : gmp_chan_send_timeout(h_, s.address(), timeout);
    if (rc == 0) {
      s.committed();
    } else {
      r.status = detail::status_of(rc, r.code);
      s.give_back();
    }
    return r;
  }

  recv_result<T> recv_timed(std::int64_t timeout) {
    typename traits::recv_slot s;
    recv_result<T> r;
    const int rc = timeout == GMP_FOREVER ? gmp_chan_recv(h_, s.address())
                                          : gmp_chan_recv_timeout(h_, s.address(), timeout);
    if (rc == 0) {
      r.value.emplace(s.take());
    } else {
      r.status = detail::status_of(rc, r.code);
    }
    return r;
  }

  gmp_chan* h_ = nullptr;
};

template <class T>
void swap(chan<T>& a, chan<T>& b) noexcept {
  a.swap(b);
}

/// Go's time.After: a channel that receives gmp::now() (as nanoseconds) once, after d.
template <class Rep, class Period>
chan<std::int64_t> after(const std::chrono::duration<Rep, Period>& d) {
  gmp_chan* h = nullptr;
  detail::check(gmp_after(&h, detail::to_ns(d)), "gmp::after");
  return chan<std::int64_t>(adopt_handle, h);
}
/// after() setting ec instead of throwing (an empty channel then).
template <class Rep, class Period>
chan<std::int64_t> after(const std::chrono::duration<Rep, Period>& d, std::error_code& ec) noexcept {
  gmp_chan* h = nullptr;
  detail::report(gmp_after(&h, detail::to_ns(d)), ec);
  return chan<std::int64_t>(adopt_handle, h);
}

/// Go's time.Ticker: channel() receives gmp::now() every period; a slow reader misses
/// ticks. Stops when destroyed.
class ticker {
 public:
  template <class Rep, class Period>
  explicit ticker(const std::chrono::duration<Rep, Period>& period) : c_(make(detail::to_ns(period))) {}
  /// Sets ec instead of throwing (GMP_EINVAL: period <= 0); channel() is then empty.
  template <class Rep, class Period>
  ticker(const std::chrono::duration<Rep, Period>& period, std::error_code& ec) noexcept
      : c_(make(detail::to_ns(period), ec)) {}
  ~ticker() { stop(); }
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;
  chan<std::int64_t>& channel() noexcept { return c_; }
  /// No tick is sent after this returns, except one already in flight.
  void stop() noexcept {
    if (c_) gmp_ticker_stop(c_.native_handle());
  }

 private:
  static chan<std::int64_t> make(std::int64_t ns) {
    gmp_chan* h = nullptr;
    detail::check(gmp_ticker(&h, ns), "gmp::ticker");
    return chan<std::int64_t>(adopt_handle, h);
  }
  static chan<std::int64_t> make(std::int64_t ns, std::error_code& ec) noexcept {
    gmp_chan* h = nullptr;
    detail::report(gmp_ticker(&h, ns), ec);
    return chan<std::int64_t>(adopt_handle, h);
  }
  chan<std::int64_t> c_;
};

// ---------------------------------------------------------------------------------------
// Select
// ---------------------------------------------------------------------------------------

namespace detail {

enum class case_kind { receive, send, otherwise, timeout };

struct chan_access {
  template <class T>
  static gmp_chan* handle(const chan<T>& c) noexcept {
    return c.h_;
  }
};

struct noop {
  void operator()() const noexcept {}
};

template <class T, class F>
class recv_case_t {
 public:
  static constexpr case_kind kind = case_kind::receive;
  template <class G>
  recv_case_t(chan<T>& c, G&& f) : c_(&c), f_(std::forward<G>(f)) {}

  void prepare(gmp_select_case& sc) {
    sc.chan = chan_access::handle(*c_);
    sc.op = GMP_RECV;
    sc.elem = slot_.address();
    sc.result = 0;
  }
  void settle() noexcept {}
  void fire(const gmp_select_case& sc, std::error_code*) {
    std::optional<T> v;
    if (sc.result == 0) v.emplace(slot_.take());
    if constexpr (std::is_invocable_v<F&, std::optional<T>>) {
      std::invoke(f_, std::move(v));
    } else {
      static_assert(std::is_invocable_v<F&>,
                    "gmp::recv_case: the callback takes std::optional<T> or nothing");
      std::invoke(f_);
    }
  }

 private:
  chan<T>* c_;
  F f_;
  typename chan_traits<T>::recv_slot slot_;
};

template <class T, class F>
class send_case_t {
 public:
  static constexpr case_kind kind = case_kind::send;
  // Refers to the caller's object: moved into the channel only if this case fires,
  // given back otherwise.
  template <class G>
  send_case_t(chan<T>& c, T& v, G&& f) : c_(&c), value_(std::addressof(v)), f_(std::forward<G>(f)) {}
  // Owns its value (a copy, or converted from another type).
  template <class G, class U>
  send_case_t(std::in_place_t, chan<T>& c, U&& v, G&& f)
      : c_(&c), owned_(std::in_place, std::forward<U>(v)), value_(&*owned_), f_(std::forward<G>(f)) {}
  send_case_t(const send_case_t&) = delete;
  send_case_t& operator=(const send_case_t&) = delete;

  void prepare(gmp_select_case& sc) {
    slot_.emplace(*value_);  // ownership transfer: moves the value into a box
    sc.chan = chan_access::handle(*c_);
    sc.op = GMP_SEND;
    sc.elem = const_cast<void*>(slot_->address());
    sc.result = 0;
  }
  // Another case fired, or select failed: the value goes back where it came from.
  void settle() {
    if (slot_) {
      slot_->give_back();
      slot_.reset();
    }
  }
  /// Runs the callback. If the send failed (GMP_ECLOSED) sets *ec, or without ec throws
  /// gmp::error.
  void fire(const gmp_select_case& sc, std::error_code* ec) {
    if (!sent(sc)) {
      if (ec == nullptr) detail::raise(sc.result, "gmp::select: send_case");
      *ec = std::error_code(sc.result, gmp_category());
      return;
    }
    static_assert(std::is_invocable_v<F&>, "gmp::send_case: the callback takes nothing");
    std::invoke(f_);
  }
  /// The value of a case that did not fire and owns its value (see send_case).
  std::optional<T> take() {
    if (!owned_) return std::nullopt;
    return std::exchange(owned_, std::nullopt);
  }
  /// fire() without throwing: false (the value given back) if the send failed.
  bool sent(const gmp_select_case& sc) {
    if (sc.result != 0) {
      settle();
      return false;
    }
    slot_->committed();
    slot_.reset();
    return true;
  }

 private:
  chan<T>* c_;
  std::optional<T> owned_;
  T* value_;
  std::optional<typename chan_traits<T>::send_slot> slot_;
  F f_;
};

template <class F>
class default_case_t {
 public:
  static constexpr case_kind kind = case_kind::otherwise;
  template <class G>
  explicit default_case_t(G&& f) : f_(std::forward<G>(f)) {}
  std::int64_t timeout_ns() const noexcept { return 0; }
  void fire() { std::invoke(f_); }

 private:
  F f_;
};

template <class F>
class timeout_case_t {
 public:
  static constexpr case_kind kind = case_kind::timeout;
  template <class G>
  timeout_case_t(std::int64_t ns, G&& f) : ns_(ns), f_(std::forward<G>(f)) {}
  std::int64_t timeout_ns() const noexcept { return ns_; }
  void fire() { std::invoke(f_); }

 private:
  std::int64_t ns_;
  F f_;
};

// The send_case overload taking any U owns a copy (const T&) or a converted value (U not
// T); a non-const T lvalue or a T rvalue picks the overloads above it.
template <class T, class U>
inline constexpr bool send_case_owns =
    std::is_constructible_v<T, U&&> &&
    (!std::is_same_v<std::remove_cv_t<std::remove_reference_t<U>>, T> ||
     (std::is_lvalue_reference_v<U> && std::is_const_v<std::remove_reference_t<U>>));

template <class C, class = void>
struct is_select_case : std::false_type {};
template <class C>
struct is_select_case<C, std::void_t<decltype(C::kind)>> : std::true_type {};

template <class C>
constexpr bool is_channel_case() {
  return C::kind == case_kind::receive || C::kind == case_kind::send;
}

template <class C>
using case_type = std::remove_cv_t<std::remove_reference_t<C>>;

}  // namespace detail

/// A select case receiving from `c`; `on_value(std::optional<T>)` gets the value, or
/// an empty optional when the channel is closed and drained. on_value may also take
/// no argument, or be left out.
template <class T, class F>
detail::recv_case_t<T, std::decay_t<F>> recv_case(chan<T>& c, F&& on_value) {
  return detail::recv_case_t<T, std::decay_t<F>>(c, std::forward<F>(on_value));
}
template <class T>
detail::recv_case_t<T, detail::noop> recv_case(chan<T>& c) {
  return detail::recv_case_t<T, detail::noop>(c, detail::noop{});
}

/// A select case sending a value on `c`, then calling `on_sent()` (optional).
///  * send_case(c, v) with a (non-const) lvalue v refers to v: v is moved into the
///    channel only if this case fires, and keeps its value otherwise (also when select
///    throws). Keep v alive until select returns.
///  * Any other argument (an rvalue, a const lvalue, a value of another type converted
///    to T) is moved or copied into the case object; if another case fires it stays
///    there (take() gives it back from a named case object) and dies with it.
/// A send case that fires on a closed channel throws gmp::error(GMP_ECLOSED), as
/// chan::send does (the value is given back first).
template <class T, class F>
detail::send_case_t<T, std::decay_t<F>> send_case(chan<T>& c, detail::type_identity_t<T>& value,
                                                  F&& on_sent) {
  return detail::send_case_t<T, std::decay_t<F>>(c, value, std::forward<F>(on_sent));
}
template <class T>
detail::send_case_t<T, detail::noop> send_case(chan<T>& c, detail::type_identity_t<T>& value) {
  return detail::send_case_t<T, detail::noop>(c, value, detail::noop{});
}
template <class T, class F>
detail::send_case_t<T, std::decay_t<F>> send_case(chan<T>& c, detail::type_identity_t<T>&& value,
                                                  F&& on_sent) {
  return detail::send_case_t<T, std::decay_t<F>>(std::in_place, c, std::move(value),
                                                 std::forward<F>(on_sent));
}
template <class T>
detail::send_case_t<T, detail::noop> send_case(chan<T>& c, detail::type_identity_t<T>&& value) {
  return detail::send_case_t<T, detail::noop>(std::in_place, c, std::move(value), detail::noop{});
}
template <class T, class U, class F, class = std::enable_if_t<detail::send_case_owns<T, U>>>
detail::send_case_t<T, std::decay_t<F>> send_case(chan<T>& c, U&& value, F&& on_sent) {
  return detail::send_case_t<T, std::decay_t<F>>(std::in_place, c, std::forward<U>(value),
                                                 std::forward<F>(on_sent));
}
template <class T, class U, class = std::enable_if_t<detail::send_case_owns<T, U>>>
detail::send_case_t<T, detail::noop> send_case(chan<T>& c, U&& value) {
  return detail::send_case_t<T, detail::noop>(std::in_place, c, std::forward<U>(value),
                                              detail::noop{});
}

/// A select case running f() when no other case is ready (Go's default).
template <class F>
detail::default_case_t<std::decay_t<F>> default_case(F&& f) {
  return detail::default_case_t<std::decay_t<F>>(std::forward<F>(f));
}

/// A select case running f() when no other case fired within d (d <= 0: as default).
template <class Rep, class Period, class F>
detail::timeout_case_t<std::decay_t<F>> timeout_case(const std::chrono::duration<Rep, Period>& d,
                                                     F&& f) {
  return detail::timeout_case_t<std::decay_t<F>>(detail::to_timeout(d), std::forward<F>(f));
}

namespace detail {
template <class... Cases>
std::size_t select_impl(std::error_code* ec, Cases&... cases) {
  static_assert((is_select_case<case_type<Cases>>::value && ...),
                "gmp::select takes recv_case, send_case, default_case and timeout_case");
  constexpr std::size_t n_chan =
      (std::size_t{0} + ... + (is_channel_case<case_type<Cases>>() ? 1 : 0));
  constexpr std::size_t n_other = sizeof...(Cases) - n_chan;
  static_assert(n_other <= 1, "gmp::select takes at most one default_case or timeout_case");

  std::array<gmp_select_case, n_chan> sc{};
  std::array<std::size_t, n_chan> position{};  // argument position of each C case
  std::size_t other_position = sizeof...(Cases);
  std::int64_t timeout = GMP_FOREVER;
  std::size_t k = 0;
  std::size_t i = 0;
  auto prepare = [&](auto& c) {
    using C = case_type<decltype(c)>;
    if constexpr (is_channel_case<C>()) {
      c.prepare(sc[k]);
      position[k] = i;
      ++k;
    } else {
      timeout = c.timeout_ns();
      other_position = i;
    }
    ++i;
  };
  (prepare(cases), ...);

  const int rc = gmp_select(sc.data(), n_chan, timeout);
  std::size_t fired = other_position;
  int failure = 0;
  if (rc >= 0) {
    if constexpr (n_chan > 0) fired = position[static_cast<std::size_t>(rc)];
  } else if ((rc != GMP_EAGAIN && rc != GMP_ETIMEDOUT) || n_other == 0) {
    failure = rc;
    fired = sizeof...(Cases);
  }
  // The cases that did not fire first: send cases give their values back before any
  // callback runs (or select throws).
  i = 0;
  auto settle = [&](auto& c) {
    using C = case_type<decltype(c)>;
    if constexpr (is_channel_case<C>()) {
      if (i != fired) c.settle();
    }
    ++i;
  };
  (settle(cases), ...);
  if (failure != 0) {
    if (ec == nullptr) raise(failure, "gmp::select");
    *ec = std::error_code(failure, gmp_category());
    return fired;
  }
  if (ec != nullptr) ec->clear();
  i = 0;
  auto run = [&](auto& c) {
    using C = case_type<decltype(c)>;
    if (i++ != fired) return;
    if constexpr (is_channel_case<C>()) {
      c.fire(sc[static_cast<std::size_t>(rc)], ec);
    } else {
      c.fire();
    }
  };
  (run(cases), ...);
  return fired;
}
}  // namespace detail

/// Waits until one of the cases can proceed, runs it (its callback too) and returns its
/// position among the arguments. Ready cases are chosen uniformly at random. At most one
/// default_case or timeout_case; without one, select waits forever. Throws gmp::error
/// (GMP_ECANCELED: home closed; GMP_ECLOSED: a send case fired on a closed channel) and
/// whatever the callback throws.
///
///   gmp::select(gmp::recv_case(in, [&](std::optional<int> v) { ... }),
///               gmp::send_case(out, 42, [] { ... }),
///               gmp::timeout_case(10ms, [] { ... }));
template <class... Cases>
std::size_t select(Cases&&... cases) {
  return detail::select_impl(nullptr, cases...);
}

/// select() setting ec instead of throwing a gmp::error: on a failure of select itself
/// it returns sizeof...(cases) (no callback ran); when a send case fired on a closed
/// channel it returns that case's position with ec == gmp::errc::closed (its callback
/// did not run, its value was given back). Exceptions of callbacks still propagate.
template <class... Cases>
std::size_t select(std::error_code& ec, Cases&&... cases) {
  return detail::select_impl(&ec, cases...);
}

// ---------------------------------------------------------------------------------------
// Sync
// ---------------------------------------------------------------------------------------

/// A goroutine-aware mutex (gmp_mutex): Lockable, so std::lock_guard, std::unique_lock
/// and std::scoped_lock work. Waiters are served in FIFO order. Any goroutine or thread
/// may unlock it, as in Go.
class mutex {
 public:
  constexpr mutex() noexcept = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  /// Throws gmp::error (GMP_ECANCELED: the goroutine's home was closed).
  void lock() { detail::check(gmp_mutex_lock(&m_), "gmp::mutex::lock"); }
  void lock(std::error_code& ec) noexcept { detail::report(gmp_mutex_lock(&m_), ec); }
  bool try_lock() { return trylock_result(gmp_mutex_trylock(&m_), "gmp::mutex::try_lock"); }
  /// Throws gmp::error (GMP_EINVAL: not locked).
  void unlock() { detail::check(gmp_mutex_unlock(&m_), "gmp::mutex::unlock"); }
  void unlock(std::error_code& ec) noexcept { detail::report(gmp_mutex_unlock(&m_), ec); }
  gmp_mutex* native_handle() noexcept { return &m_; }

 private:
  static bool trylock_result(int rc, const char* what) {
    if (rc == GMP_EAGAIN) return false;
    detail::check(rc, what);
    return true;
  }
  gmp_mutex m_{};
};

/// A goroutine-aware reader/writer mutex (gmp_rwmutex): Lockable for writers and
/// SharedLockable for readers (std::shared_lock). Writers are not starved.
class rwmutex {
 public:
  constexpr rwmutex() noexcept = default;
  rwmutex(const rwmutex&) = delete;
  rwmutex& operator=(const rwmutex&) = delete;

  void lock() { detail::check(gmp_rwmutex_lock(&m_), "gmp::rwmutex::lock"); }
  void lock(std::error_code& ec) noexcept { detail::report(gmp_rwmutex_lock(&m_), ec); }
  bool try_lock() { return trylock_result(gmp_rwmutex_trylock(&m_), "gmp::rwmutex::try_lock"); }
  void unlock() { detail::check(gmp_rwmutex_unlock(&m_), "gmp::rwmutex::unlock"); }
  void unlock(std::error_code& ec) noexcept { detail::report(gmp_rwmutex_unlock(&m_), ec); }

  void lock_shared() { detail::check(gmp_rwmutex_rlock(&m_), "gmp::rwmutex::lock_shared"); }
  void lock_shared(std::error_code& ec) noexcept { detail::report(gmp_rwmutex_rlock(&m_), ec); }
  bool try_lock_shared() {
    return trylock_result(gmp_rwmutex_tryrlock(&m_), "gmp::rwmutex::try_lock_shared");
  }
  void unlock_shared() { detail::check(gmp_rwmutex_runlock(&m_), "gmp::rwmutex::unlock_shared"); }
  void unlock_shared(std::error_code& ec) noexcept {
    detail::report(gmp_rwmutex_runlock(&m_), ec);
  }
  gmp_rwmutex* native_handle() noexcept { return &m_; }

 private:
  static bool trylock_result(int rc, const char* what) {
    if (rc == GMP_EAGAIN) return false;
    detail::check(rc, what);
    return true;
  }
  gmp_rwmutex m_{};
};

/// A goroutine-aware condition variable (gmp_cond) for std::unique_lock<gmp::mutex>.
/// As with std::condition_variable, wake-ups may be spurious: wait with a predicate.
class condition_variable {
 public:
  constexpr condition_variable() noexcept = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  void notify_one() noexcept { gmp_cond_signal(&c_); }
  void notify_all() noexcept { gmp_cond_broadcast(&c_); }

  /// Unlocks, waits for a notification, relocks. Throws gmp::error (GMP_EINVAL: the lock
  /// is not held; GMP_ECANCELED: home closed).
  void wait(std::unique_lock<mutex>& lock) {
    std::error_code ec;
    wait(lock, ec);
    if (ec) detail::raise(ec.value(), "gmp::condition_variable::wait");
  }
  void wait(std::unique_lock<mutex>& lock, std::error_code& ec) noexcept {
    if (!lock.owns_lock()) {
      detail::report(GMP_EINVAL, ec);
      return;
    }
    detail::report(gmp_cond_wait(&c_, lock.mutex()->native_handle()), ec);
  }
  template <class Predicate>
  void wait(std::unique_lock<mutex>& lock, Predicate pred) {
    while (!pred()) wait(lock);
  }

  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lock,
                          const std::chrono::duration<Rep, Period>& d) {
    return wait_ns(lock, detail::to_timeout(d));
  }
  /// wait_for setting ec instead of throwing (then the result is cv_status::timeout).
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lock,
                          const std::chrono::duration<Rep, Period>& d,
                          std::error_code& ec) noexcept {
    return wait_ns(lock, detail::to_timeout(d), ec);
  }
  /// Waits until pred() holds or d has passed; returns pred().
  template <class Rep, class Period, class Predicate,
            class = std::enable_if_t<!detail::is_error_code_v<Predicate>>>
  bool wait_for(std::unique_lock<mutex>& lock, const std::chrono::duration<Rep, Period>& d,
                Predicate pred) {
    const std::int64_t total = detail::to_timeout(d);
    if (total < 0) {
      wait(lock, std::move(pred));
      return true;
    }
    const std::int64_t deadline = gmp_now() + total;
    while (!pred()) {
      const std::int64_t left = deadline - gmp_now();
      if (left <= 0) return pred();
      wait_ns(lock, left);
    }
    return true;
  }

  template <class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<mutex>& lock,
                            const std::chrono::time_point<Clock, Duration>& t) {
    return wait_for(lock, detail::until(t));
  }
  template <class Clock, class Duration, class Predicate>
  bool wait_until(std::unique_lock<mutex>& lock, const std::chrono::time_point<Clock, Duration>& t,
                  Predicate pred) {
    while (!pred()) {
      if (wait_for(lock, detail::until(t)) == std::cv_status::timeout) return pred();
    }
    return true;
  }

  gmp_cond* native_handle() noexcept { return &c_; }

 private:
  std::cv_status wait_ns(std::unique_lock<mutex>& lock, std::int64_t ns) {
    std::error_code ec;
    const std::cv_status st = wait_ns(lock, ns, ec);
    if (ec) detail::raise(ec.value(), "gmp::condition_variable::wait_for");
    return st;
  }
  std::cv_status wait_ns(std::unique_lock<mutex>& lock, std::int64_t ns,
                         std::error_code& ec) noexcept {
    if (!lock.owns_lock()) {
      detail::report(GMP_EINVAL, ec);
      return std::cv_status::timeout;
    }
    const int rc = gmp_cond_wait_timeout(&c_, lock.mutex()->native_handle(), ns);
    ec.clear();
    if (rc == GMP_ETIMEDOUT || rc == GMP_EAGAIN) return std::cv_status::timeout;
    if (!detail::report(rc, ec)) return std::cv_status::timeout;
    return std::cv_status::no_timeout;
  }

  gmp_cond c_{};
};

/// Go's sync.WaitGroup (gmp_waitgroup).
class waitgroup {
 public:
  constexpr waitgroup() noexcept = default;
  waitgroup(const waitgroup&) = delete;
  waitgroup& operator=(const waitgroup&) = delete;

  /// Adds n (may be negative). Throws gmp::error (GMP_EINVAL: it would go below zero).
  void add(std::int64_t n = 1) { detail::check(gmp_waitgroup_add(&wg_, n), "gmp::waitgroup::add"); }
  void add(std::int64_t n, std::error_code& ec) noexcept {
    detail::report(gmp_waitgroup_add(&wg_, n), ec);
  }
  void done() { detail::check(gmp_waitgroup_done(&wg_), "gmp::waitgroup::done"); }
  void done(std::error_code& ec) noexcept { detail::report(gmp_waitgroup_done(&wg_), ec); }
  /// Waits until the counter is zero. Throws gmp::error (GMP_ECANCELED: home closed).
  void wait() { detail::check(gmp_waitgroup_wait(&wg_), "gmp::waitgroup::wait"); }
  void wait(std::error_code& ec) noexcept { detail::report(gmp_waitgroup_wait(&wg_), ec); }

  /// Go 1.25's WaitGroup.Go: add(1), then gmp::go(f, args...) calling done() after f.
  /// Returns the goroutine's id.
  template <class F, class... Args, class = std::enable_if_t<!detail::is_error_code_v<F>>>
  goid go(F&& f, Args&&... args) {
    std::error_code ec;
    const goid id = go(ec, std::forward<F>(f), std::forward<Args>(args)...);
    if (ec) detail::raise(ec.value(), "gmp::waitgroup::go");
    return id;
  }
  /// go() setting ec instead of throwing (then 0, and the counter is unchanged).
  template <class F, class... Args>
  goid go(std::error_code& ec, F&& f, Args&&... args) {
    if (!detail::report(gmp_waitgroup_add(&wg_, 1), ec)) return 0;
    auto call = [wg = &wg_](auto&& fn, auto&&... a) {
      std::invoke(std::move(fn), std::move(a)...);
      gmp_waitgroup_done(wg);
    };
    if constexpr (detail::inline_fits<decltype(call), F, Args...>()) {
      const task<void> t = detail::task_access::start_inline(
          &ec, std::move(call), std::forward<F>(f), std::forward<Args>(args)...);
      if (ec) gmp_waitgroup_done(&wg_);
      return t.id();
    } else {
      auto* g = detail::make_goroutine(std::move(call), std::forward<F>(f),
                                       std::forward<Args>(args)...);
      goid id = 0;
      const int rc = detail::spawn(nullptr, g, false, &id);
      if (!detail::report(rc, ec)) {
        gmp_waitgroup_done(&wg_);
        return 0;
      }
      return id;
    }
  }

  gmp_waitgroup* native_handle() noexcept { return &wg_; }

 private:
  gmp_waitgroup wg_{};
};

/// Go's errgroup.Group: go() starts goroutines, wait() waits for all of them and reports
/// the first failure: the first exception one of them threw (rethrown by wait()) or the
/// first non-zero std::error_code one returned (f may return void or std::error_code).
/// Goroutines started here catch their exceptions (so, unlike gmp::go, an exception
/// unwinds their stack). The destructor waits too, quietly. failed() lets the others
/// stop early (errgroup's context cancellation).
class group {
 public:
  group() = default;
  group(const group&) = delete;
  group& operator=(const group&) = delete;
  ~group() { gmp_waitgroup_wait(wg_.native_handle()); }

  /// Starts f(args...) (copies, as gmp::go) in the group. Throws gmp::error
  /// (GMP_ENOMEM, GMP_ESHUTDOWN).
  template <class F, class... Args, class = std::enable_if_t<!detail::is_error_code_v<F>>>
  goid go(F&& f, Args&&... args) {
    std::error_code ec;
    const goid id = go(ec, std::forward<F>(f), std::forward<Args>(args)...);
    if (ec) detail::raise(ec.value(), "gmp::group::go");
    return id;
  }
  template <class F, class... Args>
  goid go(std::error_code& ec, F&& f, Args&&... args) {
    using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
    static_assert(std::is_void_v<R> || std::is_convertible_v<R, std::error_code>,
                  "gmp::group::go: f returns void or std::error_code");
    return wg_.go(
        ec,
        [this](auto&& fn, auto&&... a) {
#if GMP_HAS_EXCEPTIONS
          try {
            this->template call<R>(fn, a...);
          } catch (...) {
            if (!failed_.exchange(true, std::memory_order_acq_rel)) {
              exception_ = std::current_exception();
            }
          }
#else
          this->template call<R>(fn, a...);
#endif
        },
        std::forward<F>(f), std::forward<Args>(args)...);
  }

  /// Waits for every goroutine of the group; returns the first error code one returned,
  /// or rethrows the first exception one threw (whichever came first). Throws gmp::error
  /// (GMP_ECANCELED: the caller's home was closed).
  std::error_code wait() {
    wg_.wait();
#if GMP_HAS_EXCEPTIONS
    if (exception_) std::rethrow_exception(exception_);
#endif
    return first_;
  }
  /// True once a goroutine of the group failed.
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }

 private:
  template <class R, class Fn, class... A>
  void call(Fn& fn, A&... a) {
    if constexpr (std::is_void_v<R>) {
      std::invoke(std::move(fn), std::move(a)...);
    } else {
      const std::error_code ec = std::invoke(std::move(fn), std::move(a)...);
      if (ec && !failed_.exchange(true, std::memory_order_acq_rel)) first_ = ec;
    }
  }

  waitgroup wg_;
  std::atomic<bool> failed_{false};
  std::error_code first_;
  std::exception_ptr exception_;
};

/// Runs a function once (gmp_once): concurrent callers wait until it has returned. As
/// in Go, a call that throws counts as done; the exception reaches its caller.
class once {
 public:
  constexpr once() noexcept = default;
  once(const once&) = delete;
  once& operator=(const once&) = delete;

  template <class F, class... Args, class = std::enable_if_t<!detail::is_error_code_v<F>>>
  void call(F&& f, Args&&... args) {
    std::exception_ptr escaped;
    const int rc = call_impl(escaped, std::forward<F>(f), std::forward<Args>(args)...);
    detail::check(rc, "gmp::once::call");
#if GMP_HAS_EXCEPTIONS
    if (escaped) std::rethrow_exception(escaped);
#endif
  }
  /// call() setting ec instead of throwing on a gmp error (GMP_ECANCELED: home closed).
  /// An exception f throws still reaches the caller.
  template <class F, class... Args>
  void call(std::error_code& ec, F&& f, Args&&... args) {
    std::exception_ptr escaped;
    detail::report(call_impl(escaped, std::forward<F>(f), std::forward<Args>(args)...), ec);
#if GMP_HAS_EXCEPTIONS
    if (escaped) std::rethrow_exception(escaped);
#endif
  }

  gmp_once* native_handle() noexcept { return &o_; }

 private:
  template <class F, class... Args>
  int call_impl(std::exception_ptr& escaped, F&& f, Args&&... args) {
    struct context {
      std::tuple<F&&, Args&&...> call;
      std::exception_ptr* escaped;
    } ctx{std::forward_as_tuple(std::forward<F>(f), std::forward<Args>(args)...), &escaped};
    return gmp_once_do(
        &o_,
        [](void* p) noexcept {
          auto* c = static_cast<context*>(p);
#if GMP_HAS_EXCEPTIONS
          try {
            std::apply([](auto&&... x) { std::invoke(std::forward<decltype(x)>(x)...); },
                       std::move(c->call));
          } catch (...) {
            *c->escaped = std::current_exception();
          }
#else
          (void)c->escaped;
          std::apply([](auto&&... x) { std::invoke(std::forward<decltype(x)>(x)...); },
                     std::move(c->call));
#endif
        },
        &ctx);
  }

  gmp_once o_{};
};

/// std::call_once's spelling of once::call.
template <class F, class... Args>
void call_once(once& o, F&& f, Args&&... args) {
  o.call(std::forward<F>(f), std::forward<Args>(args)...);
}

// ---------------------------------------------------------------------------------------
// Homes
// ---------------------------------------------------------------------------------------

/// A run queue bound to the thread that made it: its goroutines run only on that thread,
/// when it calls run() (an engine: once a frame), or while it waits in a blocking gmp
/// call. Neither copyable nor movable; use it on its thread only, except go(), wake()
/// and close(), which any thread may call.
///
///   gmp::home h;                                  // one per thread
///   h.go([&] { ... });
///   while (!done) { h.wait(16ms); h.run(2ms); }   // or poll h.fd() in your own loop
class home {
 public:
  /// Throws gmp::error (GMP_EALREADY: this thread has a home, or is a runtime thread).
  home() { detail::check(gmp_home_make(&h_), "gmp::home"); }
  /// Sets ec instead of throwing; the home is then empty (native_handle() null) and only
  /// its destructor may be called.
  explicit home(std::error_code& ec) noexcept { detail::report(gmp_home_make(&h_), ec); }

  /// Closes the home if open, runs it until its goroutines have ended (their blocking
  /// calls throw gmp::error(GMP_ECANCELED), which ends them quietly), and frees it.
  /// Must run on the home's thread (else: a message and std::terminate).
  ~home() {
    if (h_ == nullptr) return;
    if (!finished_) {
      gmp_home_close(h_);
      for (;;) {
        const int rc = gmp_home_run(h_, -1);
        if (rc == GMP_ECLOSED) break;
        if (rc < 0) {
          std::fprintf(stderr, "gmp::home destroyed off its thread: %s\n", gmp_strerror(rc));
          std::terminate();
        }
        gmp_home_wait(h_, 1000000);
      }
    }
    gmp_home_free(h_);
  }
  home(const home&) = delete;
  home& operator=(const home&) = delete;

  /// Starts a goroutine in this home (any thread). Throws gmp::error (GMP_ECLOSED once
  /// the home is closed).
  template <class F, class... Args, class = std::enable_if_t<detail::is_go_callable<F>>>
  void go(F&& f, Args&&... args) {
    spawn(nullptr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...));
  }
  template <class F, class... Args>
  void go(const go_attr& attr, F&& f, Args&&... args) {
    spawn(&attr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...));
  }
  /// go() setting ec instead of throwing.
  template <class F, class... Args, class = std::enable_if_t<detail::is_go_callable<F>>>
  void go(std::error_code& ec, F&& f, Args&&... args) {
    spawn(nullptr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...), ec);
  }
  template <class F, class... Args>
  void go(std::error_code& ec, const go_attr& attr, F&& f, Args&&... args) {
    spawn(&attr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...), ec);
  }

  /// Runs ready goroutines until none is ready or `budget` has passed; never waits.
  /// Returns how many ran (0 also once finished()). Home thread only.
  template <class Rep, class Period>
  std::size_t run(const std::chrono::duration<Rep, Period>& budget) {
    return run_ns(detail::to_ns(budget));
  }
  /// Runs ready goroutines until none is ready.
  std::size_t run() { return run_ns(-1); }
  /// run() setting ec instead of throwing (then 0).
  template <class Rep, class Period>
  std::size_t run(const std::chrono::duration<Rep, Period>& budget, std::error_code& ec) noexcept {
    return run_ns(detail::to_ns(budget), ec);
  }

  /// Waits until a goroutine is ready (true), or the timeout passes or wake() is called
  /// (false). Home thread only.
  template <class Rep, class Period>
  bool wait(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_ns(detail::to_timeout(timeout));
  }
  bool wait() { return wait_ns(GMP_FOREVER); }
  /// wait() setting ec instead of throwing (then false).
  template <class Rep, class Period>
  bool wait(const std::chrono::duration<Rep, Period>& timeout, std::error_code& ec) noexcept {
    return wait_ns(detail::to_timeout(timeout), ec);
  }

  /// Makes a wait() return (any thread; async-signal-safe).
  void wake() noexcept { gmp_home_wake(h_); }
  /// An eventfd readable while goroutines are ready, for your own event loop. Owned by
  /// the home: do not close it.
  int fd() const { return detail::check(gmp_home_fd(h_), "gmp::home::fd"); }
  int fd(std::error_code& ec) const noexcept {
    const int rc = gmp_home_fd(h_);
    return detail::report(rc, ec) ? rc : -1;
  }
  /// No new goroutines; blocking calls of its goroutines fail with GMP_ECANCELED from
  /// now on, so they can finish. Keep calling run() until finished(). Idempotent.
  void close() noexcept { gmp_home_close(h_); }
  /// True once run() found the home closed and every goroutine ended.
  bool finished() const noexcept { return finished_; }
  /// Whether blocking gmp calls on the home's thread run its goroutines while they wait
  /// (true, the default) or only run() does (false: frame code that must not be
  /// re-entered; a call on the home thread that waits for one of the home's goroutines
  /// then waits forever). Returns the previous setting. Any thread
  /// (gmp_home_set_reentrant).
  bool set_reentrant(bool reentrant) noexcept {
    return gmp_home_set_reentrant(h_, reentrant ? 1 : 0) == 1;
  }
  gmp_home* native_handle() const noexcept { return h_; }

 private:
  template <class G>
  void spawn(const go_attr* attr, G* g) {
    std::error_code ec;
    spawn(attr, g, ec);
    if (ec) detail::raise(ec.value(), "gmp::home::go");
  }
  template <class G>
  void spawn(const go_attr* attr, G* g, std::error_code& ec) noexcept {
    const gmp_switch_hooks hooks = detail::eh_hooks(g);
    gmp_go_attr a{};
    a.size = sizeof a;
    a.stack_size = attr ? attr->stack_size : 0;
    a.name = attr && !attr->name.empty() ? attr->name.c_str() : nullptr;
    a.hooks = detail::hooks_for(hooks);
    const int rc = gmp_go_home(h_, &a, &detail::home_goroutine_entry<G>, g);
    if (rc < 0) g->discard();
    detail::report(rc, ec);
  }
  std::size_t run_ns(std::int64_t ns) {
    std::error_code ec;
    const std::size_t n = run_ns(ns, ec);
    if (ec) detail::raise(ec.value(), "gmp::home::run");
    return n;
  }
  std::size_t run_ns(std::int64_t ns, std::error_code& ec) noexcept {
    ec.clear();
    if (finished_) return 0;
    const int rc = gmp_home_run(h_, ns);
    if (rc == GMP_ECLOSED) {
      finished_ = true;
      return 0;
    }
    return detail::report(rc, ec) ? static_cast<std::size_t>(rc) : 0;
  }
  bool wait_ns(std::int64_t ns) {
    std::error_code ec;
    const bool ready = wait_ns(ns, ec);
    if (ec) detail::raise(ec.value(), "gmp::home::wait");
    return ready;
  }
  bool wait_ns(std::int64_t ns, std::error_code& ec) noexcept {
    const int rc = gmp_home_wait(h_, ns);
    ec.clear();
    if (rc == GMP_ETIMEDOUT || rc == GMP_EINTR) return false;
    return detail::report(rc, ec);
  }

  gmp_home* h_ = nullptr;
  bool finished_ = false;
};

}  // namespace GMP_ABI_NAMESPACE
}  // namespace gmp

#endif  // GMP_GMP_HPP
