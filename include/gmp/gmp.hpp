// libgmp for C++: goroutines, channels, select and goroutine-aware sync over the C ABI
// of <gmp/gmp.h>. Header only, C++17. Link gmp::gmp (CMake) or gmp-runtime (pkg-config).
//
// The model in one page
// ---------------------
// * gmp::go(f, args...) starts a goroutine running f(args...) (decay-copied, as
//   std::thread). It may run on any runtime thread and move between threads at switch
//   points: channel and select operations, sync waits, sleeps, yield. An exception that
//   escapes it is printed with its what() on stderr and std::terminate is called, as
//   std::thread does. Exception: in a home (below) a gmp::error with GMP_ECANCELED, which
//   blocking calls throw once the home is closed, ends the goroutine quietly.
// * Thread identity moves with a goroutine: do not keep a thread_local's address, a
//   pthread_self() or errno across a switch point, nor hold a std::mutex (owned by a
//   thread, and it blocks the thread) across one: use gmp::mutex. gmp::lock_os_thread()
//   pins the goroutine to its thread when it must not move.
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
//     Values still buffered when the last handle goes are destroyed (the channel's
//     element drop callback). A send that fails, times out or is not chosen by select
//     does not consume the value: try_send/send_for leave the argument (lvalue or
//     rvalue) holding it, and nothing leaks.
//   Sending on a closed channel or closing one twice throws gmp::error(GMP_ECLOSED)
//   (Go panics). Receiving from a closed, drained channel gives an empty optional.
//   Many goroutines may use one chan object at once (its operations only read the
//   handle); moving or assigning it must not race with them. share() gives a goroutine
//   its own handle, which keeps the channel alive as long as it needs it.
// * gmp::select(recv_case(a, f), send_case(b, v, g), timeout_case(10ms, h)) runs the
//   callback of the one case that fired and returns that case's position among the
//   arguments. Ready cases are chosen uniformly at random. A case on an empty (moved
//   from) chan never fires, as Go's nil channel.
// * Sync types are goroutine-aware (they park a goroutine, never its thread) and usable
//   from any thread: gmp::mutex (Lockable: std::lock_guard, std::unique_lock,
//   std::scoped_lock), gmp::rwmutex (also SharedLockable: std::shared_lock),
//   gmp::condition_variable (with std::unique_lock<gmp::mutex>), gmp::waitgroup,
//   gmp::once. Their zero state is ready; constructors are constexpr and never fail.
// * gmp::home binds goroutines to the thread that made it (engines, UI threads): they
//   run only when that thread calls run(), or while it waits in a blocking gmp call.
// * Errors are gmp::error, a std::system_error whose code().value() is the GMP_E* code
//   and whose category is gmp::gmp_category() (message() is gmp_strerror). Codes that
//   are negative errno values compare equal to std::errc: e.code() == std::errc::timed_out.
// * Timeouts take std::chrono durations. Zero or negative means "do not wait" (a try);
//   anything past 2^62 ns (about 146 years) means forever.

#ifndef GMP_GMP_HPP
#define GMP_GMP_HPP

#include <gmp/gmp.h>

#include <cxxabi.h>

#include <array>
#include <chrono>
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

namespace gmp {

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

namespace detail {
/// Throws gmp::error for a negative code; returns non-negative ones.
inline int check(int rc, const char* what) {
  if (rc < 0) throw error(rc, what);
  return rc;
}
}  // namespace detail

}  // namespace gmp

namespace std {
template <>
struct is_error_code_enum<gmp::errc> : true_type {};
}  // namespace std

namespace gmp {

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

/// gmp_config: zero fields take their defaults (and GMP_MAXPROCS / GMP_STACK_SIZE).
struct config {
  int maxprocs = 0;             ///< P's; <= 0: automatic
  std::size_t stack_size = 0;   ///< default goroutine stack; 0: 256 KiB
  int max_threads = 0;          ///< cap on OS threads; 0: 10000
};

/// Configures the runtime before its first use. Throws gmp::error (GMP_EALREADY once
/// the runtime has started: any other call starts it).
inline void init(const config& cfg) {
  gmp_config c{};
  c.size = sizeof c;
  c.maxprocs = cfg.maxprocs;
  c.stack_size = cfg.stack_size;
  c.max_threads = cfg.max_threads;
  detail::check(gmp_init(&c), "gmp::init");
}

/// GOMAXPROCS: sets the number of P's when n > 0; returns the previous value.
inline int maxprocs(int n = 0) { return detail::check(gmp_maxprocs(n), "gmp::maxprocs"); }

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
};

// The calling thread's __cxa_get_globals(), remembered per thread (the address is fixed
// for the thread's life). The hooks run at every park and resume: in an executable a
// thread_local is one %fs-relative load, where __cxa_get_globals is a PLT call into
// libstdc++ and its __tls_get_addr (about 5 ns a hook; bench/cpp measures it).
inline thread_local eh_globals* cached_eh_globals = nullptr;

inline eh_globals* thread_eh_globals() noexcept {
  eh_globals* t = cached_eh_globals;
  if (t == nullptr) {
    t = reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
    cached_eh_globals = t;
  }
  return t;
}

// A goroutine's exception state and, while it runs, the state of the thread it borrowed.
// Swapping (rather than clearing) keeps a home thread's own state intact: it may be
// inside a catch block itself when it runs its home.
struct eh_slot {
  eh_globals own{nullptr, 0};
  eh_globals outer{nullptr, 0};
};

// The switch hooks. noinline, and each reads the thread's globals afresh: the ABI's
// __cxa_get_globals is declared const, and a thread_local's address may be kept across
// calls, so a caller that inlined these could reuse one thread's address after the
// goroutine moved to another.
[[gnu::noinline]] inline void eh_resume(void* ctx) noexcept {
  eh_slot* s = static_cast<eh_slot*>(ctx);
  eh_globals* t = thread_eh_globals();
  s->outer = *t;
  *t = s->own;
}

[[gnu::noinline]] inline void eh_park(void* ctx) noexcept {
  eh_slot* s = static_cast<eh_slot*>(ctx);
  eh_globals* t = thread_eh_globals();
  s->own = *t;
  *t = s->outer;
}

// A goroutine started from C++: its exception slot (the hooks' context) and, in the
// derived class, its callable. Heap-allocated by go(), deleted by its entry.
struct goroutine_base {
  eh_slot eh;
  bool in_home = false;
  virtual void run() = 0;            // invokes the callable
  virtual void drop() noexcept = 0;  // destroys it (and its captures)
  virtual ~goroutine_base() = default;
};

template <class Fn, class... Args>
struct goroutine final : goroutine_base {
  std::optional<std::tuple<Fn, Args...>> call;

  template <class F, class... A>
  explicit goroutine(F&& f, A&&... a) {
    call.emplace(std::forward<F>(f), std::forward<A>(a)...);
  }
  void run() override { std::apply([](auto&... x) { std::invoke(std::move(x)...); }, *call); }
  void drop() noexcept override { call.reset(); }
};

/// Reports an exception escaping a goroutine and terminates, as std::thread does;
/// called inside the catch block, so a terminate handler sees std::current_exception().
/// Returns only for a home goroutine ended by GMP_ECANCELED (its home was closed).
inline void goroutine_escaped(const goroutine_base* g) noexcept {
  const unsigned long long id = gmp_self();
  try {
    throw;
  } catch (const error& e) {
    if (g->in_home && e.code().value() == GMP_ECANCELED) return;
    std::fprintf(stderr, "gmp: goroutine %llu: uncaught exception: %s\n", id, e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gmp: goroutine %llu: uncaught exception: %s\n", id, e.what());
  } catch (...) {
    std::fprintf(stderr, "gmp: goroutine %llu: uncaught exception (not a std::exception)\n",
                 id);
  }
  std::fflush(stderr);
  std::terminate();
}

/// The gmp_fn of every C++ goroutine. noexcept: nothing unwinds into the runtime.
inline void goroutine_entry(void* arg) noexcept {
  goroutine_base* g = static_cast<goroutine_base*>(arg);
  eh_resume(&g->eh);  // the runtime calls the hooks around switches, not at start and end
  try {
    g->run();
  } catch (...) {
    goroutine_escaped(g);
  }
  g->drop();  // captures die while the goroutine's exception state is still installed
  eh_park(&g->eh);
  delete g;
}

template <class F, class... Args>
goroutine_base* make_goroutine(F&& f, Args&&... args) {
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
  return h;
}

inline goid spawn(const go_attr* attr, goroutine_base* g) {
  const gmp_switch_hooks hooks = eh_hooks(g);
  gmp_go_attr a{};
  a.size = sizeof a;
  a.stack_size = attr ? attr->stack_size : 0;
  a.name = attr && !attr->name.empty() ? attr->name.c_str() : nullptr;
  a.hooks = &hooks;
  goid id = 0;
  const int rc = gmp_go_ex(&a, &goroutine_entry, g, &id);
  if (rc < 0) {
    delete g;
    throw error(rc, "gmp::go");
  }
  return id;
}

template <class F>
inline constexpr bool is_go_attr = std::is_same_v<std::decay_t<F>, go_attr>;
}  // namespace detail

/// Starts a goroutine running f(args...) (copies of the arguments, as std::thread) and
/// returns its id. Throws gmp::error (GMP_ENOMEM, GMP_ESHUTDOWN).
template <class F, class... Args, class = std::enable_if_t<!detail::is_go_attr<F>>>
goid go(F&& f, Args&&... args) {
  return detail::spawn(nullptr,
                       detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...));
}

/// go() with a name and a stack size.
template <class F, class... Args>
goid go(const go_attr& attr, F&& f, Args&&... args) {
  return detail::spawn(&attr,
                       detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...));
}

/// Runs f(args...) as the main goroutine, locked to the calling thread, and returns when
/// it returns (gmp_main); an exception escaping f is rethrown here. Throws gmp::error
/// (GMP_EALREADY from a goroutine, from a home thread, or while another main runs).
template <class F, class... Args>
void main(F&& f, Args&&... args) {
  struct context {
    std::tuple<std::decay_t<F>, std::decay_t<Args>...> call;
    std::exception_ptr escaped;
  } ctx{{std::forward<F>(f), std::forward<Args>(args)...}, nullptr};
  const int rc = gmp_main(
      [](void* p) noexcept {
        auto* c = static_cast<context*>(p);
        try {
          std::apply([](auto&... x) { std::invoke(std::move(x)...); }, c->call);
        } catch (...) {
          c->escaped = std::current_exception();
        }
      },
      &ctx);
  detail::check(rc, "gmp::main");
  if (ctx.escaped) std::rethrow_exception(ctx.escaped);
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

template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& t) {
  sleep_for(detail::until(t));
}

/// Yields if the runtime asked this goroutine to (it ran too long): put it in long loops.
inline void preempt_point() noexcept { gmp_preempt_point(); }

/// Names the calling goroutine (shown in dumps). Throws GMP_ENOTGOROUTINE on a thread.
inline void set_name(const std::string& name) {
  detail::check(gmp_set_name(name.c_str()), "gmp::this_goroutine::set_name");
}

}  // namespace this_goroutine

/// Wires the calling goroutine to its OS thread while it lives (gmp_lock_os_thread /
/// gmp_unlock_os_thread; nests). A no-op on a foreign thread and in a home.
class lock_os_thread_guard {
 public:
  lock_os_thread_guard() { detail::check(gmp_lock_os_thread(), "gmp::lock_os_thread_guard"); }
  ~lock_os_thread_guard() { gmp_unlock_os_thread(); }
  lock_os_thread_guard(const lock_os_thread_guard&) = delete;
  lock_os_thread_guard& operator=(const lock_os_thread_guard&) = delete;
};

/// `auto pin = gmp::lock_os_thread();` The spelling of lock_os_thread_guard as a call. A
/// function, not a type alias: `gmp::lock_os_thread();` alone would otherwise make a
/// temporary that unlocks at once; [[nodiscard]] turns that mistake into a warning.
[[nodiscard]] inline lock_os_thread_guard lock_os_thread() { return lock_os_thread_guard(); }

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

namespace detail {

template <class T>
struct type_identity {
  using type = T;
};
template <class T>
using type_identity_t = typename type_identity<T>::type;

// How a T travels through a channel (see the top of this file).
template <class T>
struct chan_traits {
  static constexpr bool by_value = std::is_trivially_copyable_v<T> && sizeof(T) <= 65536;
  static constexpr std::size_t elem_size = by_value ? sizeof(T) : sizeof(T*);

  // The element drop callback (ownership transfer only): deletes a buffered T*.
  static void drop(void* elem, void*) noexcept {
    T* p;
    std::memcpy(&p, elem, sizeof p);
    delete p;
  }

  // Where a receive lands; take() yields the value (once, after a successful receive).
  class recv_slot {
   public:
    recv_slot() = default;
    recv_slot(const recv_slot&) = delete;
    recv_slot& operator=(const recv_slot&) = delete;
    ~recv_slot() {
      if constexpr (!by_value) delete ptr_;
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
        std::unique_ptr<T> owned(ptr_);
        ptr_ = nullptr;
        return T(std::move(*owned));
      }
    }

   private:
    alignas(T) unsigned char bytes_[by_value ? sizeof(T) : 1];
    T* ptr_ = nullptr;
  };

  // A value about to be sent. address() is what the C call sends; committed() after a
  // successful send hands the heap box to the receiver; else the value is still ours.
  class send_slot {
   public:
    explicit send_slot(T& v) : v_(v) {
      if constexpr (!by_value) {
        box_.reset(new T(std::move(v)));
        raw_ = box_.get();
      }
    }
    send_slot(const send_slot&) = delete;
    send_slot& operator=(const send_slot&) = delete;
    const void* address() const noexcept {
      if constexpr (by_value) return std::addressof(v_);
      else return &raw_;
    }
    void committed() noexcept {
      if constexpr (!by_value) (void)box_.release();
    }
    // Not sent: move the value back into the caller's object.
    void give_back() {
      if constexpr (!by_value) {
        if constexpr (std::is_move_assignable_v<T>) {
          v_ = std::move(*box_);
        } else {
          v_.~T();
          ::new (static_cast<void*>(std::addressof(v_))) T(std::move(*box_));
        }
        box_.reset();
      }
    }

   private:
    T& v_;
    std::unique_ptr<T> box_;
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
  explicit chan(std::size_t capacity = 0) {
    detail::check(gmp_chan_make_ex(&h_, traits::elem_size, capacity,
                                   by_value ? nullptr : &traits::drop, nullptr),
                  "gmp::chan");
  }

  /// Adopts one reference to `h` (released by this handle). The caller vouches that its
  /// elements are what chan<T> sends: a T when by_value, else a T* with the drop above.
  chan(adopt_handle_t, gmp_chan* h) noexcept : h_(h) {}

  chan(chan&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  chan& operator=(chan&& other) noexcept {
    if (this != &other) {
      gmp_chan_release(h_);
      h_ = std::exchange(other.h_, nullptr);
    }
    return *this;
  }
  chan(const chan&) = delete;
  chan& operator=(const chan&) = delete;
  /// Releases this handle's reference; the last one destroys the buffered values.
  ~chan() { gmp_chan_release(h_); }

  /// Another handle of the same channel (gmp_chan_retain).
  chan share() const noexcept { return chan(adopt_handle, gmp_chan_retain(h_)); }
  gmp_chan* native_handle() const noexcept { return h_; }
  /// False for a moved-from handle.
  explicit operator bool() const noexcept { return h_ != nullptr; }
  void swap(chan& other) noexcept { std::swap(h_, other.h_); }

  /// Sends v, waiting for room or a receiver. Throws gmp::error: GMP_ECLOSED (closed),
  /// GMP_ECANCELED (home closed), GMP_EINVAL (moved-from handle); v is then destroyed
  /// (try_send and send_for give a value back instead).
  void send(T v) {
    typename traits::send_slot s(v);
    detail::check(gmp_chan_send(h_, s.address()), "gmp::chan::send");
    s.committed();
  }

  /// Sends v if that needs no wait; false (v keeps its value) if it would block. Throws
  /// gmp::error (GMP_ECLOSED: closed).
  bool try_send(T& v) { return send_timed(v, 0, "gmp::chan::try_send"); }
  bool try_send(T&& v) { return send_timed(v, 0, "gmp::chan::try_send"); }
  bool try_send(const T& v) {
    T copy(v);
    return send_timed(copy, 0, "gmp::chan::try_send");
  }

  /// Sends v, waiting at most d; false (v keeps its value) on timeout. Throws
  /// gmp::error (GMP_ECLOSED: closed).
  template <class Rep, class Period>
  bool send_for(T& v, const std::chrono::duration<Rep, Period>& d) {
    return send_timed(v, detail::to_timeout(d), "gmp::chan::send_for");
  }
  template <class Rep, class Period>
  bool send_for(T&& v, const std::chrono::duration<Rep, Period>& d) {
    return send_timed(v, detail::to_timeout(d), "gmp::chan::send_for");
  }
  template <class Rep, class Period>
  bool send_for(const T& v, const std::chrono::duration<Rep, Period>& d) {
    T copy(v);
    return send_timed(copy, detail::to_timeout(d), "gmp::chan::send_for");
  }

  /// Receives a value, waiting for one; empty once the channel is closed and drained.
  /// Throws gmp::error (GMP_ECANCELED: home closed; GMP_EINVAL: moved-from handle).
  std::optional<T> recv() { return recv_timed(GMP_FOREVER, "gmp::chan::recv"); }

  /// Receives a value if one is ready; empty if none is, or closed and drained.
  std::optional<T> try_recv() { return recv_timed(0, "gmp::chan::try_recv"); }

  /// Receives a value, waiting at most d; empty on timeout, or closed and drained.
  template <class Rep, class Period>
  std::optional<T> recv_for(const std::chrono::duration<Rep, Period>& d) {
    return recv_timed(detail::to_timeout(d), "gmp::chan::recv_for");
  }

  /// Closes the channel: receivers drain what is buffered, then get empty optionals;
  /// senders get GMP_ECLOSED. Throws gmp::error (GMP_ECLOSED if already closed).
  void close() { detail::check(gmp_chan_close(h_), "gmp::chan::close"); }

  /// Values buffered now.
  std::size_t size() const {
    const std::int64_t n = gmp_chan_len(h_);
    if (n < 0) throw error(static_cast<int>(n), "gmp::chan::size");
    return static_cast<std::size_t>(n);
  }
  /// The capacity given at construction.
  std::size_t capacity() const {
    const std::int64_t n = gmp_chan_cap(h_);
    if (n < 0) throw error(static_cast<int>(n), "gmp::chan::capacity");
    return static_cast<std::size_t>(n);
  }

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
  bool send_timed(T& v, std::int64_t timeout, const char* what) {
    typename traits::send_slot s(v);
    const int rc = gmp_chan_send_timeout(h_, s.address(), timeout);
    if (rc == 0) {
      s.committed();
      return true;
    }
    s.give_back();
    if (rc == GMP_EAGAIN || rc == GMP_ETIMEDOUT) return false;
    throw error(rc, what);
  }

  std::optional<T> recv_timed(std::int64_t timeout, const char* what) {
    typename traits::recv_slot s;
    const int rc = gmp_chan_recv_timeout(h_, s.address(), timeout);
    if (rc == 0) return std::optional<T>(s.take());
    if (rc == GMP_ECLOSED || rc == GMP_EAGAIN || rc == GMP_ETIMEDOUT) return std::nullopt;
    throw error(rc, what);
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

/// Go's time.Ticker: channel() receives gmp::now() every period; a slow reader misses
/// ticks. Stops when destroyed.
class ticker {
 public:
  template <class Rep, class Period>
  explicit ticker(const std::chrono::duration<Rep, Period>& period) : c_(make(detail::to_ns(period))) {}
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
  void fire(const gmp_select_case& sc) {
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
  template <class G>
  send_case_t(chan<T>& c, T&& v, G&& f)
      : c_(&c), value_(std::move(v)), slot_(value_), f_(std::forward<G>(f)) {}
  send_case_t(const send_case_t&) = delete;
  send_case_t& operator=(const send_case_t&) = delete;

  void prepare(gmp_select_case& sc) {
    sc.chan = chan_access::handle(*c_);
    sc.op = GMP_SEND;
    sc.elem = const_cast<void*>(slot_.address());
    sc.result = 0;
  }
  void fire(const gmp_select_case& sc) {
    if (sc.result != 0) throw error(sc.result, "gmp::select: send_case");
    slot_.committed();
    static_assert(std::is_invocable_v<F&>, "gmp::send_case: the callback takes nothing");
    std::invoke(f_);
  }

 private:
  chan<T>* c_;
  T value_;
  typename chan_traits<T>::send_slot slot_;  // boxes value_ for ownership transfer
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

/// A select case sending `value` on `c`, then calling `on_sent()`. If another case
/// fires, the value is destroyed with the case object, never leaked. A send case that
/// fires on a closed channel throws gmp::error(GMP_ECLOSED), as chan::send does.
template <class T, class F>
detail::send_case_t<T, std::decay_t<F>> send_case(chan<T>& c, detail::type_identity_t<T> value,
                                                  F&& on_sent) {
  return detail::send_case_t<T, std::decay_t<F>>(c, std::move(value), std::forward<F>(on_sent));
}
template <class T>
detail::send_case_t<T, detail::noop> send_case(chan<T>& c, detail::type_identity_t<T> value) {
  return detail::send_case_t<T, detail::noop>(c, std::move(value), detail::noop{});
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
  static_assert((detail::is_select_case<detail::case_type<Cases>>::value && ...),
                "gmp::select takes recv_case, send_case, default_case and timeout_case");
  constexpr std::size_t n_chan =
      (std::size_t{0} + ... + (detail::is_channel_case<detail::case_type<Cases>>() ? 1 : 0));
  constexpr std::size_t n_other = sizeof...(Cases) - n_chan;
  static_assert(n_other <= 1, "gmp::select takes at most one default_case or timeout_case");

  std::array<gmp_select_case, n_chan> sc{};
  std::array<std::size_t, n_chan> position{};  // argument position of each C case
  std::size_t other_position = sizeof...(Cases);
  std::int64_t timeout = GMP_FOREVER;
  std::size_t k = 0;
  std::size_t i = 0;
  auto prepare = [&](auto& c) {
    using C = detail::case_type<decltype(c)>;
    if constexpr (detail::is_channel_case<C>()) {
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
  if (rc >= 0) {
    if constexpr (n_chan > 0) fired = position[static_cast<std::size_t>(rc)];
  } else if ((rc != GMP_EAGAIN && rc != GMP_ETIMEDOUT) || n_other == 0) {
    throw error(rc, "gmp::select");
  }
  i = 0;
  auto run = [&](auto& c) {
    using C = detail::case_type<decltype(c)>;
    if (i++ != fired) return;
    if constexpr (detail::is_channel_case<C>()) {
      c.fire(sc[static_cast<std::size_t>(rc)]);
    } else {
      c.fire();
    }
  };
  (run(cases), ...);
  return fired;
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
  bool try_lock() {
    const int rc = gmp_mutex_trylock(&m_);
    if (rc == GMP_EAGAIN) return false;
    detail::check(rc, "gmp::mutex::try_lock");
    return true;
  }
  /// Throws gmp::error (GMP_EINVAL: not locked).
  void unlock() { detail::check(gmp_mutex_unlock(&m_), "gmp::mutex::unlock"); }
  gmp_mutex* native_handle() noexcept { return &m_; }

 private:
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
  bool try_lock() {
    const int rc = gmp_rwmutex_trylock(&m_);
    if (rc == GMP_EAGAIN) return false;
    detail::check(rc, "gmp::rwmutex::try_lock");
    return true;
  }
  void unlock() { detail::check(gmp_rwmutex_unlock(&m_), "gmp::rwmutex::unlock"); }

  void lock_shared() { detail::check(gmp_rwmutex_rlock(&m_), "gmp::rwmutex::lock_shared"); }
  bool try_lock_shared() {
    const int rc = gmp_rwmutex_tryrlock(&m_);
    if (rc == GMP_EAGAIN) return false;
    detail::check(rc, "gmp::rwmutex::try_lock_shared");
    return true;
  }
  void unlock_shared() { detail::check(gmp_rwmutex_runlock(&m_), "gmp::rwmutex::unlock_shared"); }
  gmp_rwmutex* native_handle() noexcept { return &m_; }

 private:
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
    detail::check(gmp_cond_wait(&c_, handle(lock)), "gmp::condition_variable::wait");
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
  /// Waits until pred() holds or d has passed; returns pred().
  template <class Rep, class Period, class Predicate>
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
  static gmp_mutex* handle(std::unique_lock<mutex>& lock) {
    if (!lock.owns_lock()) throw error(GMP_EINVAL, "gmp::condition_variable: lock not held");
    return lock.mutex()->native_handle();
  }
  std::cv_status wait_ns(std::unique_lock<mutex>& lock, std::int64_t ns) {
    const int rc = gmp_cond_wait_timeout(&c_, handle(lock), ns);
    if (rc == GMP_ETIMEDOUT || rc == GMP_EAGAIN) return std::cv_status::timeout;
    detail::check(rc, "gmp::condition_variable::wait_for");
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
  void done() { detail::check(gmp_waitgroup_done(&wg_), "gmp::waitgroup::done"); }
  /// Waits until the counter is zero.
  void wait() { detail::check(gmp_waitgroup_wait(&wg_), "gmp::waitgroup::wait"); }

  /// Go 1.25's WaitGroup.Go: add(1), then gmp::go(f, args...) calling done() after f.
  template <class F, class... Args>
  goid go(F&& f, Args&&... args) {
    add(1);
    try {
      return gmp::go(
          [this](auto&& fn, auto&&... a) {
            std::invoke(std::move(fn), std::move(a)...);
            done();
          },
          std::forward<F>(f), std::forward<Args>(args)...);
    } catch (...) {
      done();
      throw;
    }
  }

  gmp_waitgroup* native_handle() noexcept { return &wg_; }

 private:
  gmp_waitgroup wg_{};
};

/// Runs a function once (gmp_once): concurrent callers wait until it has returned. As
/// in Go, a call that throws counts as done; the exception reaches its caller.
class once {
 public:
  constexpr once() noexcept = default;
  once(const once&) = delete;
  once& operator=(const once&) = delete;

  template <class F, class... Args>
  void call(F&& f, Args&&... args) {
    struct context {
      std::tuple<F&&, Args&&...> call;
      std::exception_ptr escaped;
    } ctx{std::forward_as_tuple(std::forward<F>(f), std::forward<Args>(args)...), nullptr};
    const int rc = gmp_once_do(
        &o_,
        [](void* p) noexcept {
          auto* c = static_cast<context*>(p);
          try {
            std::apply([](auto&&... x) { std::invoke(std::forward<decltype(x)>(x)...); },
                       std::move(c->call));
          } catch (...) {
            c->escaped = std::current_exception();
          }
        },
        &ctx);
    detail::check(rc, "gmp::once::call");
    if (ctx.escaped) std::rethrow_exception(ctx.escaped);
  }

  gmp_once* native_handle() noexcept { return &o_; }

 private:
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

  /// Closes the home if open, runs it until its goroutines have ended (their blocking
  /// calls throw gmp::error(GMP_ECANCELED), which ends them quietly), and frees it.
  /// Must run on the home's thread (else: a message and std::terminate).
  ~home() {
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
  template <class F, class... Args, class = std::enable_if_t<!detail::is_go_attr<F>>>
  void go(F&& f, Args&&... args) {
    spawn(nullptr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...));
  }
  template <class F, class... Args>
  void go(const go_attr& attr, F&& f, Args&&... args) {
    spawn(&attr, detail::make_goroutine(std::forward<F>(f), std::forward<Args>(args)...));
  }

  /// Runs ready goroutines until none is ready or `budget` has passed; never waits.
  /// Returns how many ran (0 also once finished()). Home thread only.
  template <class Rep, class Period>
  std::size_t run(const std::chrono::duration<Rep, Period>& budget) {
    return run_ns(detail::to_ns(budget));
  }
  /// Runs ready goroutines until none is ready.
  std::size_t run() { return run_ns(-1); }

  /// Waits until a goroutine is ready (true), or the timeout passes or wake() is called
  /// (false). Home thread only.
  template <class Rep, class Period>
  bool wait(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_ns(detail::to_timeout(timeout));
  }
  bool wait() { return wait_ns(GMP_FOREVER); }

  /// Makes a wait() return (any thread; async-signal-safe).
  void wake() noexcept { gmp_home_wake(h_); }
  /// An eventfd readable while goroutines are ready, for your own event loop. Owned by
  /// the home: do not close it.
  int fd() const { return detail::check(gmp_home_fd(h_), "gmp::home::fd"); }
  /// No new goroutines; blocking calls of its goroutines fail with GMP_ECANCELED from
  /// now on, so they can finish. Keep calling run() until finished(). Idempotent.
  void close() noexcept { gmp_home_close(h_); }
  /// True once run() found the home closed and every goroutine ended.
  bool finished() const noexcept { return finished_; }
  gmp_home* native_handle() const noexcept { return h_; }

 private:
  void spawn(const go_attr* attr, detail::goroutine_base* g) {
    g->in_home = true;
    const gmp_switch_hooks hooks = detail::eh_hooks(g);
    gmp_go_attr a{};
    a.size = sizeof a;
    a.stack_size = attr ? attr->stack_size : 0;
    a.name = attr && !attr->name.empty() ? attr->name.c_str() : nullptr;
    a.hooks = &hooks;
    const int rc = gmp_go_home(h_, &a, &detail::goroutine_entry, g);
    if (rc < 0) {
      delete g;
      throw error(rc, "gmp::home::go");
    }
  }
  std::size_t run_ns(std::int64_t ns) {
    if (finished_) return 0;
    const int rc = gmp_home_run(h_, ns);
    if (rc == GMP_ECLOSED) {
      finished_ = true;
      return 0;
    }
    return static_cast<std::size_t>(detail::check(rc, "gmp::home::run"));
  }
  bool wait_ns(std::int64_t ns) {
    const int rc = gmp_home_wait(h_, ns);
    if (rc == GMP_ETIMEDOUT || rc == GMP_EINTR) return false;
    detail::check(rc, "gmp::home::wait");
    return true;
  }

  gmp_home* h_ = nullptr;
  bool finished_ = false;
};

}  // namespace gmp

#endif  // GMP_GMP_HPP
