// handoff: the Go half of the syscall hand-off latency benchmark (bench/NET.md).
//
// Each iteration, every P's goroutine enters a 10 ms blocking system call
// (syscall.Select with a 10 ms timeout and no fds: a real syscall through
// entersyscall, unlike time.Sleep). The last of the GOMAXPROCS goroutines to
// arrive, with all the others already in their calls, sends the time on an
// unbuffered channel to a parked "measurer" and at once enters its own call.
// The measurer is runnable (in that P's runnext) but every P is in a syscall:
// it runs once sysmon retakes a P (about one 20 us sysmon tick) and hands it to
// another thread.
// It records the time from the send to its running: the hand-off latency.
//
// Prints RESULT name=handoff metric=us value=<median>, and INFO with p10/p90/max.
// GMP_BENCH_SCALE scales the 200 iterations. stdlib only, no cgo.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gmpbench/internal/benchutil"
)

var (
	inside  atomic.Int32 // goroutines in (or about to enter) their call now
	arrived atomic.Int32 // goroutines of this iteration that have started
	epoch   = time.Now()
)

// What the last arrival sends: when, and whether every other goroutine was still
// in its call then (else a P may have been free, and the iteration is not counted).
type msg struct {
	sent    int64
	overlap bool
}

func now() int64 { return int64(time.Since(epoch)) } // monotonic

func block10ms() {
	tv := syscall.Timeval{Sec: 0, Usec: 10000}
	for {
		_, err := syscall.Select(0, nil, nil, nil, &tv)
		if err != syscall.EINTR {
			return
		}
	}
}

func main() {
	n := int(benchutil.Scaled(200, 5))
	// The pause between iterations: long enough (> sysmon's longest back-off, 10 ms)
	// for sysmon to see every P idle and go to its deep sleep, from which entering a
	// syscall wakes it with its shortest tick. With a short pause the latency depends
	// on where sysmon's back-off happens to be (up to 10 ms), on both runtimes.
	gap := 20 * time.Millisecond
	if v := os.Getenv("HANDOFF_GAP_US"); v != "" {
		us, err := strconv.Atoi(v)
		if err != nil {
			benchutil.Fail("bad HANDOFF_GAP_US %q", v)
		}
		gap = time.Duration(us) * time.Microsecond
	}
	procs := runtime.GOMAXPROCS(0)
	ch := make(chan msg)
	lat := make([]int64, 0, n)
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { // the measurer
		defer mwg.Done()
		for i := 0; i < n; i++ {
			m := <-ch
			if d := now() - m.sent; m.overlap {
				lat = append(lat, d)
			}
		}
	}()
	time.Sleep(time.Millisecond)
	for i := 0; i < n; i++ {
		var wg sync.WaitGroup
		wg.Add(procs)
		arrived.Store(0)
		for k := 0; k < procs; k++ {
			go func() {
				defer wg.Done()
				// The last to arrive, with every other P's goroutine already in its
				// call, readies the measurer and enters its own call at once.
				in := inside.Add(1)
				if arrived.Add(1) == int32(procs) {
					ch <- msg{now(), in == int32(procs)}
				}
				block10ms()
				inside.Add(-1)
			}()
		}
		wg.Wait()
		time.Sleep(gap)
	}
	mwg.Wait()
	if len(lat) < n/2 {
		benchutil.Fail("only %d of %d iterations had every P in its call at once", len(lat), n)
	}
	counted := len(lat)
	n = counted
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	us := func(v int64) float64 { return float64(v) / 1e3 }
	med, p10, p90, max := us(lat[n/2]), us(lat[n/10]), us(lat[n*9/10]), us(lat[n-1])
	fmt.Fprintf(os.Stderr, "handoff: %d P's, %d iterations counted: median %.1f us, p10 %.1f, p90 %.1f, max %.1f\n",
		procs, n, med, p10, p90, max)
	benchutil.Info("handoff", "procs", procs, "iterations", n, "gap_us", gap.Microseconds(),
		"p10_us", fmt.Sprintf("%.1f", p10), "p90_us", fmt.Sprintf("%.1f", p90),
		"max_us", fmt.Sprintf("%.1f", max))
	benchutil.Result("handoff", "us", med)
}
