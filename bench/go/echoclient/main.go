// echoclient: the load generator of the echo benchmark (bench/NET.md), the same
// one for the libgmp server (bench/c/echo_server.c) and the Go server
// (bench/go/echo). It opens -conns TCP connections to -addr, then (all at once,
// after every connection is up) each does -rounds round trips of -size bytes:
// write a message, read the whole echo back, check its content. It measures
// requests (round trips) per second over the whole run and the latency of each
// round trip, and prints
//
//	RESULT name=<name> metric=req_per_s value=<v>
//	INFO name=<name> p50_us=... p99_us=... p999_us=... max_us=... (on stderr)
//
// GMP_BENCH_SCALE scales -rounds (at least 1). Every read and write has a
// deadline (-timeout), so a stuck server fails the run instead of hanging it.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

func pattern(buf []byte, c, i int) {
	for k := range buf {
		buf[k] = byte(c*31 ^ i*7 ^ k)
	}
}

func pct(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return float64(sorted[i]) / 1e3
}

func main() {
	addr := flag.String("addr", "", "server address, host:port (required)")
	conns := flag.Int("conns", 1000, "connections")
	rounds := flag.Int64("rounds", 200, "round trips per connection (scaled by GMP_BENCH_SCALE)")
	size := flag.Int("size", 64, "message size in bytes")
	name := flag.String("name", "echo", "workload name in the RESULT line")
	timeout := flag.Duration("timeout", 60*time.Second, "deadline for the whole run on each connection")
	flag.Parse()
	if *addr == "" || *conns < 1 || *size < 1 {
		benchutil.Fail("usage: echoclient -addr host:port [-conns N] [-rounds R] [-size B]")
	}
	r := int(benchutil.Scaled(*rounds, 1))

	// Connect everything first (bounded concurrency, so the dials themselves do not
	// overflow the server's accept queue on a small machine).
	cs := make([]net.Conn, *conns)
	var dialErr error
	var mu sync.Mutex
	var dwg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range cs {
		dwg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer dwg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
			if err != nil {
				mu.Lock()
				dialErr = err
				mu.Unlock()
				return
			}
			cs[i] = c
		}(i)
	}
	dwg.Wait()
	if dialErr != nil {
		benchutil.Fail("dial %s: %v", *addr, dialErr)
	}

	lat := make([][]int64, *conns)
	errs := make(chan error, *conns)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for ci, c := range cs {
		wg.Add(1)
		go func(ci int, c net.Conn) {
			defer wg.Done()
			out := make([]byte, *size)
			in := make([]byte, *size)
			l := make([]int64, 0, r)
			<-start
			if err := c.SetDeadline(time.Now().Add(*timeout)); err != nil {
				errs <- err
				return
			}
			for i := 0; i < r; i++ {
				pattern(out, ci, i)
				t := time.Now()
				if _, err := c.Write(out); err != nil {
					errs <- fmt.Errorf("conn %d round %d: write: %v", ci, i, err)
					return
				}
				if _, err := io.ReadFull(c, in); err != nil {
					errs <- fmt.Errorf("conn %d round %d: read: %v", ci, i, err)
					return
				}
				l = append(l, int64(time.Since(t)))
				for k := range in {
					if in[k] != out[k] {
						errs <- fmt.Errorf("conn %d round %d: echoed byte %d differs", ci, i, k)
						return
					}
				}
			}
			lat[ci] = l
		}(ci, c)
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	el := time.Since(t0)
	close(errs)
	for err := range errs {
		benchutil.Fail("%v", err)
	}
	for _, c := range cs {
		c.Close()
	}

	all := make([]int64, 0, *conns*r)
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	total := float64(*conns) * float64(r)
	rps := total / el.Seconds()
	fmt.Fprintf(os.Stderr, "%s: %d conns x %d round trips of %d B in %v: %.0f req/s, p50 %.1f us, p99 %.1f us\n",
		*name, *conns, r, *size, el.Round(time.Millisecond), rps, pct(all, 0.50), pct(all, 0.99))
	benchutil.Info(*name, "p50_us", fmt.Sprintf("%.1f", pct(all, 0.50)),
		"p99_us", fmt.Sprintf("%.1f", pct(all, 0.99)),
		"p999_us", fmt.Sprintf("%.1f", pct(all, 0.999)),
		"max_us", fmt.Sprintf("%.1f", pct(all, 1.0)),
		"conns", *conns, "rounds", r, "size", *size,
		"elapsed_ms", el.Milliseconds())
	benchutil.Result(*name, "req_per_s", rps)
}
