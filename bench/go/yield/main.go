// yield: two goroutines alternating with runtime.Gosched() on one P,
// 1,000,000 yields each; ns per switch (total time / total yields).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

func main() {
	n := benchutil.Scaled(1_000_000, 1)
	runtime.GOMAXPROCS(1)
	var wg sync.WaitGroup
	wg.Add(2)
	t0 := time.Now()
	for g := 0; g < 2; g++ {
		go func() {
			for i := int64(0); i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	fmt.Fprintf(os.Stderr, "yield: 2 x %d yields in %v\n", n, el)
	benchutil.Result("yield", "ns_per_op", float64(el.Nanoseconds())/float64(2*n))
}
