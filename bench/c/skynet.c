/* skynet: the classic. Each node spawns div=10 children that report over a
 * channel (capacity div) made by the node, sums them and sends the sum up;
 * 1,000,000 leaves; the sum must be 499999500000; ms total. */
#include "bench_common.h"

typedef struct node_arg {
    gmp_chan *out; /* the parent's channel: a reference of the child's own */
    int64_t num, size, div;
} node_arg;

static void skynet(void *p) {
    node_arg a = *(node_arg *)p;
    gmp_chan *rc;
    int64_t i, v, sum = 0;
    free(p);
    if (a.size == 1) {
        CHECK(gmp_chan_send(a.out, &a.num));
        gmp_chan_release(a.out);
        return;
    }
    CHECK(gmp_chan_make(&rc, sizeof(int64_t), (size_t)a.div));
    for (i = 0; i < a.div; i++) {
        node_arg *c = malloc(sizeof *c);
        if (c == NULL) bench_fail("out of memory");
        c->out = gmp_chan_retain(rc);
        if (c->out != rc) bench_fail("gmp_chan_retain returned %p, not %p", (void *)c->out, (void *)rc);
        c->num = a.num + i * (a.size / a.div);
        c->size = a.size / a.div;
        c->div = a.div;
        CHECK(bench_go(skynet, c));
    }
    for (i = 0; i < a.div; i++) {
        CHECK(gmp_chan_recv(rc, &v));
        sum += v;
    }
    gmp_chan_release(rc);
    CHECK(gmp_chan_send(a.out, &sum));
    gmp_chan_release(a.out);
}

static void run(void *unused) {
    /* leaves: a power of ten near 1e6*scale (1e6 at scale 1) */
    double e = 6.0, s = bench_scale();
    int64_t leaves = 1, want, sum, t0, el;
    int exp, k;
    gmp_chan *c;
    node_arg *root;
    (void)unused;
    while (s >= 3.1622776601683795) { e += 1; s /= 10; } /* round(6 + log10(scale)) without libm */
    while (s < 0.31622776601683794) { e -= 1; s *= 10; }
    exp = (int)e < 1 ? 1 : (int)e;
    for (k = 0; k < exp; k++) leaves *= 10;
    want = leaves * (leaves - 1) / 2;
    CHECK(gmp_chan_make(&c, sizeof(int64_t), 1));
    root = malloc(sizeof *root);
    if (root == NULL) bench_fail("out of memory");
    root->out = gmp_chan_retain(c);
    root->num = 0;
    root->size = leaves;
    root->div = 10;
    t0 = gmp_now();
    CHECK(bench_go(skynet, root));
    CHECK(gmp_chan_recv(c, &sum));
    el = gmp_now() - t0;
    gmp_chan_release(c);
    if (sum != want) bench_fail("skynet: sum %" PRId64 ", want %" PRId64, sum, want);
    fprintf(stderr, "skynet: %" PRId64 " leaves, sum %" PRId64 ", %.3f ms\n", leaves, sum, el / 1e6);
    bench_result("skynet", "ms", el / 1e6);
}

int main(void) {
    bench_main(run, NULL);
    return 0;
}
