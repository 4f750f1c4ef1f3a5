// idle_mem: 100,000 goroutines parked in a receive on a channel that is only
// closed at the end; RSS (/proc/self/statm) before and after creating them;
// bytes per parked goroutine. Then close the channel and join them.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

func main() {
	n := benchutil.Scaled(100_000, 1)
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(int(n))
	finished.Add(int(n))
	time.Sleep(50 * time.Millisecond) // let the runtime settle
	before := benchutil.RSS()
	for i := int64(0); i < n; i++ {
		go func() {
			started.Done()
			<-release
			finished.Done()
		}()
	}
	started.Wait()
	time.Sleep(100 * time.Millisecond) // let the last ones reach the receive
	after := benchutil.RSS()
	close(release)
	finished.Wait()
	per := float64(after-before) / float64(n)
	fmt.Fprintf(os.Stderr, "idle_mem: %d goroutines, RSS %d -> %d bytes, %.1f bytes each\n",
		n, before, after, per)
	benchutil.Info("idle_mem", "goroutines", n, "rss_before", before, "rss_after", after)
	benchutil.Result("idle_mem", "bytes_per_g", per)
}
