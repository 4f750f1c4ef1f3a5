"""C code inside goroutines: a ctypes callback (PyGILState_Ensure) that parks, and C
goroutines on the very runtime `import gmp` uses (gmp.library_path), exchanging values
with Python goroutines over channels made in Python."""

import ctypes
import ctypes.util
import os
import shutil
import subprocess

import pytest

import gmp

CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))


def _qsort_with_parks(values, parks):
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    arr = (ctypes.c_int * len(values))(*values)

    def cmp(a, b):
        # Runs under PyGILState_Ensure inside ctypes' callback, on the goroutine's stack.
        parks.append(gmp.self_id())
        gmp.gosched()
        return a[0] - b[0]

    cb = CMP(cmp)
    libc.qsort(arr, len(arr), ctypes.sizeof(ctypes.c_int), cb)
    return list(arr)


def test_ctypes_callback_parks_while_others_run():
    ticks = []

    def ticker(stop):
        while not stop:
            ticks.append(1)
            gmp.gosched()

    def main():
        stop = []
        gmp.go(ticker, stop)
        results = gmp.Chan(2)
        parks = []
        for seed in (1, 2):
            vals = [(i * 7919 * seed) % 101 for i in range(40)]
            gmp.go(lambda v=vals: results.send((sorted(v), _qsort_with_parks(v, parks))))
        out = [results.recv() for _ in range(2)]
        stop.append(True)
        return out, parks

    out, parks = gmp.run(main)
    for want, got in out:
        assert want == got
    assert len(set(parks)) == 2  # both goroutines' comparators parked
    assert len(ticks) > 10  # and the ticker ran meanwhile


def test_pydll_callback_keeps_gil_and_parks():
    # PyDLL keeps the GIL across the C call: the park happens with the GIL held.
    libc = ctypes.PyDLL(ctypes.util.find_library("c"))
    arr = (ctypes.c_int * 20)(*range(20, 0, -1))

    def cmp(a, b):
        gmp.gosched()
        return a[0] - b[0]

    cb = CMP(cmp)

    def main():
        other = gmp.Chan(1)
        gmp.go(lambda: other.send("ran"))
        libc.qsort(arr, 20, ctypes.sizeof(ctypes.c_int), cb)
        return other.recv()

    assert gmp.run(main) == "ran"
    assert list(arr) == list(range(1, 21))


DOUBLER_C = r"""
#include <stdint.h>
#include <stddef.h>
typedef struct gmp_chan gmp_chan;
int gmp_chan_recv(gmp_chan *ch, void *elem);
int gmp_chan_send(gmp_chan *ch, const void *elem);
int gmp_chan_close(gmp_chan *ch);

struct pair { gmp_chan *in; gmp_chan *out; };

/* A C goroutine: receives int64s until `in` is closed, sends each doubled to `out`,
   then closes `out`. */
void doubler(void *arg) {
    struct pair *p = arg;
    int64_t v;
    while (gmp_chan_recv(p->in, &v) == 0) {
        int64_t w = 2 * v;
        if (gmp_chan_send(p->out, &w) != 0)
            break;
    }
    gmp_chan_close(p->out);
}

/* Blocks in gmp from C code called by a Python goroutine with the GIL released. */
int64_t c_recv(gmp_chan *ch) {
    int64_t v = -1;
    gmp_chan_recv(ch, &v);
    return v;
}

/* A C goroutine that calls a Python callback (a ctypes CFUNCTYPE pointer). */
typedef void (*callback)(void);
void run_callback(void *arg) {
    ((callback)arg)();
}
"""


@pytest.fixture(scope="module")
def doubler_lib(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("cgo")
    src = d / "doubler.c"
    src.write_text(DOUBLER_C)
    so = d / "libdoubler.so"
    lib = gmp.library_path()
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", str(src), "-o", str(so), lib,
         "-Wl,-rpath," + os.path.dirname(lib)],
        check=True,
    )
    return ctypes.CDLL(str(so))


def test_library_path_is_the_loaded_runtime():
    p = gmp.library_path()
    assert os.path.exists(p)
    with open("/proc/self/maps") as f:
        maps = f.read()
    assert os.path.realpath(p) in maps


class Pair(ctypes.Structure):
    _fields_ = [("inp", ctypes.c_void_p), ("out", ctypes.c_void_p)]


def test_c_goroutine_over_python_channels(doubler_lib):
    rt = ctypes.CDLL(gmp.library_path())
    rt.gmp_go.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    rt.gmp_go.restype = ctypes.c_int
    before = gmp.num_goroutine()

    def main():
        inp = gmp.Chan(raw=True)
        out = gmp.Chan(raw=True)
        pair = Pair(inp.handle, out.handle)
        fn = ctypes.cast(doubler_lib.doubler, ctypes.c_void_p).value
        assert rt.gmp_go(fn, ctypes.addressof(pair)) == 0

        def feeder():
            for i in range(1000):
                inp.send(i)
            inp.close()

        gmp.go(feeder)
        got = list(out)  # ends when the C goroutine closes `out`
        return got, pair

    got, _pair = gmp.run(main)
    assert got == [2 * i for i in range(1000)]
    gmp.sleep(0.01)
    assert gmp.num_goroutine() <= before + 1


def test_c_goroutine_from_main_thread_channel(doubler_lib):
    rt = ctypes.CDLL(gmp.library_path())
    rt.gmp_go.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    inp = gmp.Chan(10, raw=True)
    out = gmp.Chan(10, raw=True)
    pair = Pair(inp.handle, out.handle)
    rt.gmp_go(ctypes.cast(doubler_lib.doubler, ctypes.c_void_p).value, ctypes.addressof(pair))
    for i in range(5):
        inp.send(i)
    assert [out.recv(timeout=5) for _ in range(5)] == [0, 2, 4, 6, 8]
    inp.close()
    with pytest.raises(gmp.ChannelClosed):
        out.recv(timeout=5)


def test_python_callback_blocking_inside_a_c_goroutine(doubler_lib):
    # Python code running in a C goroutine (on a runtime thread, under
    # PyGILState_Ensure) blocks in gmp: it must release the GIL and stay on its thread.
    rt = ctypes.CDLL(gmp.library_path())
    rt.gmp_go.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    inp, out = gmp.Chan(), gmp.Chan()
    CB = ctypes.CFUNCTYPE(None)

    def body():
        for _ in range(20):
            v = inp.recv()
            gmp.sleep(0.001)
            gmp.gosched()
            out.send((v * 3, gmp.self_id() != 0))

    cb = CB(body)

    def main():
        fn = ctypes.cast(doubler_lib.run_callback, ctypes.c_void_p).value
        assert rt.gmp_go(fn, ctypes.cast(cb, ctypes.c_void_p).value) == 0
        res = []
        for i in range(20):
            inp.send(i)
            res.append(out.recv())
        return res

    assert gmp.run(main) == [(3 * i, True) for i in range(20)]


def test_c_code_parks_a_goroutine_with_the_gil_released(doubler_lib):
    # ctypes.CDLL releases the GIL around the call; the C code then parks the goroutine
    # in gmp_chan_recv. The home must take the GIL for its other goroutines meanwhile.
    doubler_lib.c_recv.argtypes = [ctypes.c_void_p]
    doubler_lib.c_recv.restype = ctypes.c_int64

    def main():
        ch = gmp.Chan(raw=True)
        out = gmp.Chan(3)
        for i in range(3):
            gmp.go(lambda: out.send(doubler_lib.c_recv(ch.handle)))
        gmp.sleep(0.01)
        ticks = 0
        for i in range(3):
            gmp.gosched()
            ticks += 1
            ch.send(10 + i)
        return sorted(out.recv() for _ in range(3)), ticks

    assert gmp.run(main) == ([10, 11, 12], 3)
