// fanout: 10,000 CPU tasks of uneven size over all P's with goroutines and a
// WaitGroup, timed with GOMAXPROCS=1 and GOMAXPROCS=NumCPU;
// speedup = t(1P) / t(all P).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

// task spins a xorshift64 loop of 1000 + (i*7919 % 50000) iterations. The C
// version (bench/c/fanout.c) computes exactly the same values.
func task(i int64) uint64 {
	iters := 1000 + (i*7919)%50000
	x := uint64(i+1) * 0x9E3779B97F4A7C15
	for k := int64(0); k < iters; k++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func round(n int64, results []uint64) (time.Duration, uint64) {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func(i int64) {
			results[i] = task(i)
			wg.Done()
		}(i)
	}
	wg.Wait()
	el := time.Since(t0)
	var sum uint64
	for _, r := range results {
		sum += r
	}
	return el, sum
}

func main() {
	n := benchutil.Scaled(10_000, 1)
	ncpu := benchutil.NumCPU()
	results := make([]uint64, n)

	runtime.GOMAXPROCS(1)
	t1, sum1 := round(n, results)
	runtime.GOMAXPROCS(ncpu)
	tall, sumAll := round(n, results)
	if sum1 != sumAll {
		benchutil.Fail("fanout: sums differ: %d (1P) vs %d (%dP)", sum1, sumAll, ncpu)
	}
	speedup := float64(t1) / float64(tall)
	fmt.Fprintf(os.Stderr, "fanout: %d tasks, 1P %v, %dP %v, speedup %.3f, sum %d\n",
		n, t1, ncpu, tall, speedup, sum1)
	benchutil.Info("fanout", "tasks", n, "procs", ncpu,
		"t1_ms", fmt.Sprintf("%.3f", float64(t1.Nanoseconds())/1e6),
		"tall_ms", fmt.Sprintf("%.3f", float64(tall.Nanoseconds())/1e6),
		"sum", sum1)
	benchutil.Result("fanout", "speedup", speedup)
}
