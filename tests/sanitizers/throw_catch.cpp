// throw_catch.cpp: C++ exceptions thrown and caught inside goroutines, under ASan.
//
// Unwinding skips the epilogues that unpoison a frame's redzones, so ASan's
// `__cxa_throw` interceptor calls `__asan_handle_no_return`, which clears the poison
// of the current stack from sp to its top. It knows the top only if every stack switch
// was announced (`__sanitizer_start_switch_fiber`); without that it prints "ignoring
// requested __asan_handle_no_return" and leaves the stale poison, and the next deep
// call in the same goroutine is a false "stack-buffer-underflow". Here each goroutine
// throws from deep frames full of arrays, catches, parks (and so may resume on another
// thread), and runs deep frames again over the same stack. Run by
// tests/sanitizers/run.sh with -fsanitize=address (and under TSan); must print no
// report. Uses the C API so that it tests the runtime, not a binding.
#include <gmp/gmp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace {

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            std::exit(1);                                                          \
        }                                                                          \
    } while (0)

gmp_waitgroup wg = GMP_WAITGROUP_INIT;

__attribute__((noinline)) int deep_throw(int depth, volatile char *sink) {
    char pad[256];
    std::memset(pad, depth, sizeof pad);
    sink[0] = pad[depth % 256];
    if (depth == 0) throw std::runtime_error("from the bottom");
    return deep_throw(depth - 1, sink) + pad[7];
}

__attribute__((noinline)) int deep_use(int depth) {
    char buf[512];
    std::memset(buf, 1, sizeof buf); // touches the poison left by the unwound frames
    if (depth == 0) return buf[511];
    return deep_use(depth - 1) + buf[0];
}

void worker(void *arg) {
    gmp_chan *ch = static_cast<gmp_chan *>(arg);
    volatile char sink[1];
    for (int round = 0; round < 20; round++) {
        bool caught = false;
        try {
            deep_throw(24, sink);
        } catch (const std::runtime_error &e) {
            caught = std::strcmp(e.what(), "from the bottom") == 0;
        }
        CHECK(caught);
        int v = round;
        CHECK(gmp_chan_send(ch, &v) == 0); // a switch point between throw and reuse
        CHECK(deep_use(20) == 21);
    }
    gmp_waitgroup_done(&wg);
}

void drain(void *arg) {
    gmp_chan *ch = static_cast<gmp_chan *>(arg);
    int v;
    while (gmp_chan_recv(ch, &v) == 0) {
        if (v % 5 == 0) gmp_gosched();
    }
    gmp_chan_release(ch);
}

void run(void *) {
    gmp_chan *ch;
    CHECK(gmp_chan_make(&ch, sizeof(int), 0) == 0);
    CHECK(gmp_go(drain, gmp_chan_retain(ch)) == 0);
    gmp_waitgroup_add(&wg, 8);
    for (int i = 0; i < 8; i++) CHECK(gmp_go(worker, ch) == 0);
    CHECK(gmp_waitgroup_wait(&wg) == 0);
    CHECK(gmp_chan_close(ch) == 0);
    gmp_chan_release(ch);
}

} // namespace

int main() {
    CHECK(gmp_main(run, nullptr) == 0);
    std::printf("throw_catch: ok\n");
    return 0;
}
