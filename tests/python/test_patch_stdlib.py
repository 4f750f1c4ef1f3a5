"""gmp.patch() and the standard library's own blocking calls: the threading types
(RLock held by two goroutines, Lock held across a park, Condition, Event, Semaphore,
Timer, local, current_thread), queue (get with a timeout, join, every queue class),
time.sleep, sockets (makefile, timeouts, accept/connect, resolver), select and
selectors, subprocess and os.waitpid. Each case runs in a fresh interpreter that
patches itself first; overlap is shown by ordering (a goroutine that blocked its home
thread would deadlock the case), not by the clock."""

from servers import run_child

PRELUDE = """
import gmp
gmp.patch()
import os, queue, select, selectors, socket, subprocess, sys, threading, time
"""


def _run(body):
    r = run_child(PRELUDE + body)
    assert r.returncode == 0, "child failed (%d)\nstdout:\n%s\nstderr:\n%s" % (
        r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip().endswith("ok"), r.stdout
    return r


def test_rlock_held_by_two_goroutines_excludes():
    _run("""
rl = threading.RLock()
log = []
def user(n):
    with rl:
        with rl:
            log.append(("in", n))
            time.sleep(0.005)          # parks holding the RLock
            log.append(("out", n))
def main():
    with gmp.Group() as g:
        for n in range(3):
            g.go(user, n)
gmp.run(main)
for i in range(0, 6, 2):
    assert log[i][0] == "in" and log[i + 1] == ("out", log[i][1]), log
print("ok")
""")


def test_lock_across_a_park_and_from_threads():
    _run("""
lk = threading.Lock()
order = []
def holder():
    with lk:
        order.append("holder in")
        time.sleep(0.01)
        order.append("holder out")
def other():
    time.sleep(0.001)
    with lk:                            # parks; before the patch this blocked the home
        order.append("other in")
def main():
    with gmp.Group() as g:
        g.go(holder)
        g.go(other)
gmp.run(main)
assert order == ["holder in", "holder out", "other in"], order
# The same lock type works between plain threads.
t = threading.Thread(target=lambda: lk.acquire() and (time.sleep(0.01), lk.release()))
t.start(); time.sleep(0.001)
assert lk.acquire(timeout=30); lk.release(); t.join()
print("ok")
""")


def test_queue_get_timeout_join_and_every_queue_class():
    _run("""
def main():
    q = queue.Queue()
    try:
        q.get(timeout=0.01)
    except queue.Empty:
        pass
    else:
        raise AssertionError("no Empty")
    done = []
    def worker():
        while True:
            item = q.get()
            if item is None:
                q.task_done()
                return
            time.sleep(0.001)
            done.append(item)
            q.task_done()
    ws = [gmp.go(worker) for _ in range(4)]
    for i in range(20):
        q.put(i)
    q.join()                            # parks until every task_done
    assert sorted(done) == list(range(20))
    for _ in ws:
        q.put(None)
    for w in ws:
        w.join()
    lq, pq, sq = queue.LifoQueue(), queue.PriorityQueue(), queue.SimpleQueue()
    for v in (3, 1, 2):
        lq.put(v); pq.put(v); sq.put(v)
    assert [lq.get() for _ in range(3)] == [2, 1, 3]
    assert [pq.get() for _ in range(3)] == [1, 2, 3]
    assert [sq.get() for _ in range(3)] == [3, 1, 2]
    # A consumer parked in get() on an empty queue wakes on a put from another goroutine.
    bq = queue.Queue(maxsize=1)
    got = gmp.go(bq.get, timeout=30)
    gmp.go(bq.put, "x")
    assert got.result() == "x"
    try:
        sq.get(timeout=0.01)
    except queue.Empty:
        pass
    else:
        raise AssertionError("no Empty")
gmp.run(main)
# From a plain thread too.
q = queue.Queue()
t = threading.Thread(target=lambda: (time.sleep(0.01), q.put("t")))
t.start(); assert q.get(timeout=30) == "t"; t.join()
print("ok")
""")


def test_condition_event_semaphore_timer():
    _run("""
def main():
    cv = threading.Condition()
    box = []
    def producer():
        time.sleep(0.002)
        with cv:
            box.append(1)
            cv.notify_all()
    gmp.go(producer)
    with cv:
        assert cv.wait_for(lambda: box, timeout=30)
    ev = threading.Event()
    waiters = [gmp.go(ev.wait, 30) for _ in range(5)]
    gmp.go(lambda: (time.sleep(0.002), ev.set()))
    assert [w.result() for w in waiters] == [True] * 5
    sem = threading.BoundedSemaphore(2)
    running = [0]; peak = [0]
    def limited():
        with sem:
            running[0] += 1; peak[0] = max(peak[0], running[0])
            time.sleep(0.002)
            running[0] -= 1
    with gmp.Group() as g:
        for _ in range(6):
            g.go(limited)
    assert peak[0] == 2
    fired = gmp.Chan(1)
    t = threading.Timer(0.005, fired.send, args=("fired",))
    t.start()
    assert fired.recv(timeout=30) == "fired"
    t2 = threading.Timer(30, fired.send, args=("never",))
    t2.start(); t2.cancel(); t2.join(30)
    assert not t2.is_alive() and fired.try_recv() == (None, False)
gmp.run(main)
print("ok")
""")


def test_current_thread_and_local_are_per_goroutine():
    _run("""
loc = threading.local()
main_thread = threading.current_thread()
def body(n, out):
    me = threading.current_thread()
    assert me is threading.current_thread()       # stable identity
    assert me is not main_thread and me.name.startswith("goroutine-")
    loc.value = n
    time.sleep(0.002)                             # others set theirs meanwhile
    out.append((n, loc.value, me.ident, threading.get_ident() == me.ident, me.is_alive()))
def main():
    out = []
    with gmp.Group() as g:
        for n in range(5):
            g.go(body, n, out)
    assert sorted(o[:2] for o in out) == [(n, n) for n in range(5)], out
    assert len({o[2] for o in out}) == 5 and all(o[3] and o[4] for o in out)
    assert not hasattr(loc, "value")   # main's goroutine never set it
gmp.run(main)
loc.value = "thread"
assert threading.current_thread() is main_thread and loc.value == "thread"
print("ok")
""")


def test_sockets_makefile_timeouts_resolver_and_server_on_goroutines():
    _run("""
def serve(srv):
    conn, _ = srv.accept()
    with conn, conn.makefile("rwb") as f:
        for line in f:
            if line == b"quit\\n":
                break
            f.write(line.upper()); f.flush()
def main():
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    gmp.go(serve, srv)
    host = socket.getaddrinfo("localhost", port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    c = socket.create_connection((host, port), timeout=30)
    f = c.makefile("rwb")
    for w in (b"one", b"two"):
        f.write(w + b"\\n"); f.flush()
        assert f.readline() == w.upper() + b"\\n"
    c.settimeout(0.01)
    try:
        c.recv(10)
    except socket.timeout:
        pass
    else:
        raise AssertionError("no timeout")
    assert c.gettimeout() == 0.01
    c.setblocking(False)
    try:
        c.recv(10)
    except BlockingIOError:
        pass
    else:
        raise AssertionError("non-blocking recv did not raise")
    c.setblocking(True)
    f.write(b"quit\\n"); f.flush()
    assert c.recv(10) == b""            # server closed
    f.close(); c.close(); srv.close()
    assert isinstance(c, socket.socket)
    assert socket.gethostbyname("localhost").startswith("127.")
gmp.run(main)
print("ok")
""")


def test_select_and_selectors_park():
    _run("""
def main():
    a, b = socket.socketpair()
    def later():
        time.sleep(0.005)
        b.send(b"x")
    gmp.go(later)
    r, w, x = select.select([a], [], [], 30)     # parks; `later` runs meanwhile
    assert r == [a] and a.recv(1) == b"x"
    assert select.select([a], [], [], 0.001) == ([], [], [])
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, "a")
    gmp.go(later)
    events = sel.select(30)
    assert [k.data for k, _ in events] == ["a"] and a.recv(1) == b"x"
    assert sel.select(0.001) == []
    sel.close()
    p = select.poll()
    p.register(a, select.POLLIN)
    gmp.go(later)
    assert p.poll(30000) == [(a.fileno(), select.POLLIN)]
    a.close(); b.close()
gmp.run(main)
print("ok")
""")


def test_subprocess_and_waitpid_park():
    _run("""
def main():
    # The child exits only when another goroutine writes to its stdin: a wait() that
    # blocked the home thread would never let that goroutine run.
    p = subprocess.Popen(["sh", "-c", "read x; exit 3"], stdin=subprocess.PIPE)
    def feed():
        time.sleep(0.005)
        p.stdin.write(b"go\\n"); p.stdin.close()
    gmp.go(feed)
    assert p.wait() == 3
    r = subprocess.run(["sh", "-c", "cat; echo done"], input=b"in ", capture_output=True,
                       timeout=60)
    assert r.stdout == b"in done\\n", r
    q = subprocess.Popen(["sh", "-c", "read x; exit 4"], stdin=subprocess.PIPE)
    gmp.go(lambda: (time.sleep(0.005), q.stdin.write(b"\\n"), q.stdin.close()))
    pid, status = os.waitpid(q.pid, 0)
    assert pid == q.pid and os.waitstatus_to_exitcode(status) == 4
    q.returncode = 4
    outs = [gmp.go(subprocess.check_output, ["echo", str(i)]) for i in range(5)]
    assert [o.result() for o in outs] == [b"%d\\n" % i for i in range(5)]
gmp.run(main)
print("ok")
""")


def test_time_sleep_parks_goroutines_and_threads_keep_original():
    _run("""
order = []
def sleeper(n, d):
    time.sleep(d)
    order.append(n)
def main():
    with gmp.Group() as g:
        g.go(sleeper, "slow", 0.2)
        g.go(sleeper, "fast", 0.001)
    with gmp.timeout(0.005):
        try:
            time.sleep(30)
        except TimeoutError:
            order.append("bounded")
gmp.run(main)
assert order == ["fast", "slow", "bounded"], order
time.sleep(0.001)                     # the main thread: the original sleep
try:
    time.sleep(-1)
except ValueError:
    pass
print("ok")
""")


def test_patched_sockets_serve_from_plain_threads():
    # A threaded HTTP server running on plain threads over the patched socket class,
    # queried from goroutines and from a plain thread.
    _run("""
import http.server, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = threading.current_thread().name.encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b)))
        self.end_headers(); self.wfile.write(b)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
t = threading.Thread(target=srv.serve_forever, daemon=True)
t.start()
url = "http://127.0.0.1:%d/" % srv.server_address[1]
def get():
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()
def main():
    hs = [gmp.go(get) for _ in range(10)]
    return [h.result() for h in hs]
names = gmp.run(main)
assert len(names) == 10 and all(not n.startswith(b"goroutine-") for n in names), names
assert get()                                   # from the main thread
srv.shutdown(); srv.server_close(); t.join()
print("ok")
""")


def test_concurrent_imports_of_a_module_that_parks_while_importing():
    # importlib's module locks come from _thread.allocate_lock (patched): the second
    # goroutine importing the module parks until the first has finished it, instead of
    # seeing it half-initialised (or blocking the home thread).
    _run("""
import tempfile
d = tempfile.mkdtemp()
with open(os.path.join(d, "slowmod.py"), "w") as f:
    f.write("import time\\ntime.sleep(0.01)\\nVALUE = 42\\n")
sys.path.insert(0, d)
def imp():
    import slowmod
    return slowmod.VALUE
def main():
    hs = [gmp.go(imp) for _ in range(3)]
    return [h.result() for h in hs]
assert gmp.run(main) == [42, 42, 42]
print("ok")
""")


def test_tls_server_and_client_both_on_goroutines(tmp_path):
    # Handshakes, reads and writes of both ends park: with one home thread, a blocking
    # handshake on either side would deadlock the other.
    from servers import self_signed_cert

    cert, key = self_signed_cert(str(tmp_path))
    _run("""
import ssl
CERT, KEY = %r, %r
def serve(srv, n):
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(CERT, KEY)
    with sctx.wrap_socket(srv, server_side=True) as tls:
        def one(c):
            with c:
                while True:
                    data = c.recv(100)
                    if not data:
                        return
                    c.sendall(data[::-1])
        for _ in range(n):
            c, _ = tls.accept()
            gmp.go(one, c)
def client(port, i):
    cctx = ssl.create_default_context(cafile=CERT)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        with cctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            out = []
            for j in range(3):
                t.sendall(b"%%d-%%d" %% (i, j))
                out.append(t.recv(100))
            return out
def main():
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    gmp.go(serve, srv, 10)
    hs = [gmp.go(client, port, i) for i in range(10)]
    res = [h.result() for h in hs]
    assert res == [[(b"%%d-%%d" %% (i, j))[::-1] for j in range(3)] for i in range(10)], res
gmp.run(main)
print("ok")
""" % (cert, key))


def test_thread_join_from_a_goroutine_parks():
    # The thread waits for a value that only another goroutine of this home sends: a
    # join that blocked the home thread would deadlock.
    _run("""
ch = gmp.Chan()
got = []
t = threading.Thread(target=lambda: got.append(ch.recv()))
def main():
    t.start()
    sender = gmp.go(lambda: (time.sleep(0.005), ch.send("v")))
    t.join()
    sender.join()
gmp.run(main)
assert got == ["v"]
print("ok")
""")


def test_ctrl_c_in_patched_waits_on_the_main_thread():
    # The main thread waits in patched queue/semaphore/condition calls; SIGINT raises
    # KeyboardInterrupt there, and the objects keep working afterwards (an interrupted
    # waiter leaves the queue; nothing it was granted is lost).
    _run("""
import signal
def interrupt_soon():
    threading.Thread(target=lambda: (time.sleep(0.05), os.kill(os.getpid(), signal.SIGINT)),
                     daemon=True).start()
q = queue.Queue()
interrupt_soon()
try:
    q.get()
except KeyboardInterrupt:
    pass
else:
    raise AssertionError("no KeyboardInterrupt")
t = threading.Thread(target=lambda: (time.sleep(0.01), q.put("after")))
t.start(); assert q.get(timeout=30) == "after"; t.join()
sem = threading.Semaphore(0)
interrupt_soon()
try:
    sem.acquire()
except KeyboardInterrupt:
    pass
sem.release()
assert sem.acquire(timeout=30) and not sem.acquire(timeout=0.01)
ev = threading.Event()
interrupt_soon()
try:
    ev.wait()
except KeyboardInterrupt:
    pass
assert not ev._waiters
print("ok")
""")


def test_logging_handlers_made_before_the_patch_exclude_per_goroutine():
    # A handler whose emit parks (here: time.sleep) while holding its lock: the other
    # goroutine's record must wait for it, not interleave (the pre-patch lock was a
    # C RLock, reentrant for every goroutine of the home thread).
    r = run_child('''
import logging
class Slow(logging.Handler):
    def __init__(self):
        super().__init__()
        self.log = []
    def emit(self, record):
        self.log.append(("begin", record.getMessage()))
        time.sleep(0.005)
        self.log.append(("end", record.getMessage()))
h = Slow()
logger = logging.getLogger("t")
logger.addHandler(h)
logger.setLevel(logging.INFO)
import gmp
gmp.patch()
import time
def main():
    with gmp.Group() as g:
        g.go(logger.info, "a")
        g.go(logger.info, "b")
gmp.run(main)
kinds = [k for k, _ in h.log]
assert kinds == ["begin", "end", "begin", "end"], h.log
print("ok")
''')
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr
