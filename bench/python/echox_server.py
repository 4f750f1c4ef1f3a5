"""The echox benchmark's server alone, for counting what one request costs it: prints
its port, serves NCONN connections (workloads.py's echo handler, gmp or gevent), then
prints the requests served and the server's CPU time per request to stderr.

    python bench/python/echox_server.py gmp 500      # then, elsewhere:
    python bench/python/workloads.py echox gmp --client PORT,500,200

`bench/python/percall.sh` runs both and attaches `perf stat` to this process only, for
syscalls, context switches, futex and epoll calls per request.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads as W  # noqa: E402


def main():
    impl, nconn = sys.argv[1], int(sys.argv[2])
    W._raise_fd_limit()
    ls = W._listener()
    print(ls.getsockname()[1], flush=True)
    count = [0]
    if impl == "gmp":
        import gmp

        def serve():
            lsock = gmp.socket(ls)
            wg = gmp.WaitGroup()
            wg.add(nconn)

            def handle(conn):
                W._echo_handle(conn, count)
                wg.done()

            for i in range(nconn):
                conn, _ = lsock.accept()
                if i == 0:
                    t0, c0 = time.perf_counter(), W._cpu()
                gmp.go(handle, conn)
            wg.wait()
            return time.perf_counter() - t0, W._cpu() - c0

        wall, cpu = gmp.run(serve)
    elif impl == "gevent":
        import gevent
        import gevent.socket as gsocket

        def serve():
            lsock = gsocket.socket(fileno=ls.detach())
            gs = []
            for i in range(nconn):
                conn, _ = lsock.accept()
                if i == 0:
                    t0, c0 = time.perf_counter(), W._cpu()
                gs.append(gevent.spawn(W._echo_handle, conn, count))
            gevent.joinall(gs)
            return time.perf_counter() - t0, W._cpu() - c0

        wall, cpu = gevent.spawn(serve).get()
    else:
        raise SystemExit("impl: gmp or gevent")
    n = count[0] // len(W.MSG)
    print("requests %d wall %.3f s cpu %.3f s = %.2f us per request" % (n, wall, cpu, cpu / n * 1e6),
          file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
