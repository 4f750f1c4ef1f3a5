// spawn: 1,000,000 goroutines that do nothing but wg.Done(), spawned from the
// main goroutine and joined by a WaitGroup; ns per goroutine.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

func main() {
	n := benchutil.Scaled(1_000_000, 1)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	el := time.Since(t0)
	fmt.Fprintf(os.Stderr, "spawn: %d goroutines in %v\n", n, el)
	benchutil.Result("spawn", "ns_per_op", float64(el.Nanoseconds())/float64(n))
}
