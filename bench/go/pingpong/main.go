// pingpong: two goroutines over a pair of unbuffered int64 channels,
// 1,000,000 round trips; ns per round trip. Argument "1p" (GOMAXPROCS=1,
// name pingpong_1p) or "allp" (GOMAXPROCS=NumCPU, name pingpong_allp);
// without one, both are run.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

func run(name string, procs int, n int64) {
	runtime.GOMAXPROCS(procs)
	ping := make(chan int64)
	pong := make(chan int64)
	var wg sync.WaitGroup
	var el time.Duration
	wg.Add(2)
	go func() { // ponger: echoes until ping is closed
		defer wg.Done()
		for v := range ping {
			pong <- v
		}
	}()
	go func() { // pinger
		defer wg.Done()
		t0 := time.Now()
		for i := int64(0); i < n; i++ {
			ping <- i
			if v := <-pong; v != i {
				benchutil.Fail("%s: got %d, want %d", name, v, i)
			}
		}
		el = time.Since(t0)
		close(ping)
	}()
	wg.Wait()
	fmt.Fprintf(os.Stderr, "%s: %d round trips on %d P in %v\n", name, n, procs, el)
	benchutil.Result(name, "ns_per_roundtrip", float64(el.Nanoseconds())/float64(n))
}

func main() {
	n := benchutil.Scaled(1_000_000, 1)
	mode := benchutil.Mode("1p", "allp")
	if mode == "" || mode == "1p" {
		run("pingpong_1p", 1, n)
	}
	if mode == "" || mode == "allp" {
		run("pingpong_allp", benchutil.NumCPU(), n)
	}
}
