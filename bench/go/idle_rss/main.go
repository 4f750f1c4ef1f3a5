// idle_rss: how much memory a program keeps after a burst of goroutines ends.
// 1,000,000 goroutines (scaled by GMP_BENCH_SCALE) are all alive at once, parked
// in a receive on one channel; the channel is closed, they all end, and the
// program idles 10 s. RSS (/proc/self/statm) at the peak, right after the last
// one ended, and after 1 s, 5 s and 10 s of idling; the result is the RSS after
// 10 s in MB (10^6 bytes). The C half is bench/c/idle_rss.c. Go's runtime is left
// as it is (default GOGC, its background scavenger): this is what a Go program
// keeps.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

func mb(b int64) float64 { return float64(b) / 1e6 }

func main() {
	n := benchutil.Scaled(1_000_000, 1)
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(int(n))
	finished.Add(int(n))
	base := benchutil.RSS()
	for i := int64(0); i < n; i++ {
		go func() {
			started.Done()
			<-release
			finished.Done()
		}()
	}
	started.Wait()
	peak := benchutil.RSS()
	close(release)
	finished.Wait()
	ended := benchutil.RSS()
	var at [3]int64
	slept := 0
	for i, s := range []int{1, 5, 10} {
		time.Sleep(time.Duration(s-slept) * time.Second)
		slept = s
		at[i] = benchutil.RSS()
	}
	fmt.Fprintf(os.Stderr, "idle_rss: %d goroutines, RSS %.1f MB at start, %.1f MB at the peak, "+
		"%.1f MB when they ended, %.1f / %.1f / %.1f MB after 1 / 5 / 10 s idle\n",
		n, mb(base), mb(peak), mb(ended), mb(at[0]), mb(at[1]), mb(at[2]))
	benchutil.Info("idle_rss", "goroutines", n,
		"start_mb", fmt.Sprintf("%.1f", mb(base)), "peak_mb", fmt.Sprintf("%.1f", mb(peak)),
		"ended_mb", fmt.Sprintf("%.1f", mb(ended)), "idle1_mb", fmt.Sprintf("%.1f", mb(at[0])),
		"idle5_mb", fmt.Sprintf("%.1f", mb(at[1])), "idle10_mb", fmt.Sprintf("%.1f", mb(at[2])))
	benchutil.Result("idle_rss", "mb", mb(at[2]))
}
