// ring: 10,000 goroutines in a ring, each with an unbuffered channel to the
// next, passing a token 1,000,000 hops in total; ns per hop. GMP_RING_SIZE sets
// the number of goroutines as is (bench/scale's ring sizes; GMP_BENCH_SCALE then
// scales only the hops).
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

func main() {
	size := benchutil.Scaled(10_000, 2)
	if s := os.Getenv("GMP_RING_SIZE"); s != "" {
		size, _ = strconv.ParseInt(s, 10, 64)
		if size < 2 {
			benchutil.Fail("GMP_RING_SIZE must be at least 2, not %q", s)
		}
	}
	hops := benchutil.Scaled(1_000_000, 1)
	chans := make([]chan int64, size)
	for i := range chans {
		chans[i] = make(chan int64)
	}
	done := make(chan int64, 1)
	var started, finished sync.WaitGroup
	started.Add(int(size))
	finished.Add(int(size))
	for i := int64(0); i < size; i++ {
		in, out := chans[i], chans[(i+1)%size]
		go func() {
			defer finished.Done()
			started.Done()
			for v := range in { // until closed
				if v == 0 {
					done <- v
					continue
				}
				out <- v - 1
			}
		}()
	}
	started.Wait()
	t0 := time.Now()
	chans[0] <- hops // the token: hops left to make
	<-done
	el := time.Since(t0)
	for _, c := range chans {
		close(c)
	}
	finished.Wait()
	fmt.Fprintf(os.Stderr, "ring: %d goroutines, %d hops in %v\n", size, hops, el)
	benchutil.Result("ring", "ns_per_op", float64(el.Nanoseconds())/float64(hops))
}
