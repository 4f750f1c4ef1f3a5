// scale: the Go half of the scaling table (bench/scale, BENCHMARKS.md). The libgmp
// half is bench/c/scale.c; both do the same steps and print the same lines.
//
// Usage: scale MODE [N]     (N: os.Args[2], else GMP_SCALE_N, else 100,000 x GMP_BENCH_SCALE)
//
//	spawn  N goroutines that only call wg.Done, spawned from main and joined:
//	       ns per goroutine (RESULT name=spawn).
//	park   N goroutines that call started.Done and block at once in a receive on
//	       one chan struct{}: ns per goroutine from the first spawn to the last
//	       Done (RESULT name=park); the RSS they add (INFO name=park). Then they
//	       are released (close) and joined, untimed.
//	wake   park as above, a 50 ms pause (the last ones reach the receive), then
//	       close the channel: ns per goroutine from the close to the last of them
//	       ended (RESULT name=wake; the park line is printed too).
//
// INFO lines give the CPU time (user + system, every thread) of each timed part.
// Every mode is one cold round in a fresh process. GMP_SCALE_STACK (the libgmp
// side's stack size) has no Go counterpart: Go's stacks start small and grow.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"gmpbench/internal/benchutil"
)

func count() int64 {
	s := ""
	if len(os.Args) > 2 {
		s = os.Args[2]
	} else if s = os.Getenv("GMP_SCALE_N"); s == "" {
		return benchutil.Scaled(100_000, 1)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		benchutil.Fail("bad N %q (os.Args[2] or GMP_SCALE_N)", s)
	}
	return n
}

// cpuNs is the CPU time of the whole process (every thread), user + system.
func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		benchutil.Fail("getrusage: %v", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// spawnAll starts n goroutines running fn and returns the time until until's
// count reaches zero (as spawn_all in bench/c/scale.c).
func spawnAll(n int64, fn func(), until *sync.WaitGroup) time.Duration {
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go fn()
	}
	until.Wait()
	return time.Since(t0)
}

func main() {
	mode := benchutil.Mode("spawn", "park", "wake")
	if mode == "" {
		benchutil.Fail("usage: scale spawn|park|wake [N]")
	}
	n := count()
	var started, finished sync.WaitGroup
	finished.Add(int(n))
	cpu := cpuNs()
	if mode == "spawn" {
		el := spawnAll(n, finished.Done, &finished)
		fmt.Fprintf(os.Stderr, "scale spawn: %d goroutines in %v\n", n, el)
		benchutil.Info("spawn", "cpu_ns", cpuNs()-cpu)
		benchutil.Result("spawn", "ns_per_op", float64(el.Nanoseconds())/float64(n))
		return
	}
	release := make(chan struct{})
	started.Add(int(n))
	before := benchutil.RSS()
	el := spawnAll(n, func() { started.Done(); <-release; finished.Done() }, &started)
	cpu = cpuNs() - cpu
	time.Sleep(50 * time.Millisecond)
	after := benchutil.RSS()
	fmt.Fprintf(os.Stderr, "scale park: %d goroutines in %v, RSS +%.1f bytes each\n", n, el,
		float64(after-before)/float64(n))
	benchutil.Info("park", "n", n, "rss_before", before, "rss_after", after, "stack", 0, "cpu_ns", cpu)
	benchutil.Result("park", "ns_per_op", float64(el.Nanoseconds())/float64(n))
	cpu = cpuNs()
	t0 := time.Now()
	close(release)
	finished.Wait()
	el = time.Since(t0)
	cpu = cpuNs() - cpu
	if mode == "wake" {
		fmt.Fprintf(os.Stderr, "scale wake: %d goroutines in %v\n", n, el)
		benchutil.Info("wake", "cpu_ns", cpu)
		benchutil.Result("wake", "ns_per_op", float64(el.Nanoseconds())/float64(n))
	}
}
