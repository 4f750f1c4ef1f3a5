// mainpingpong: the main goroutine drives an unbuffered ping-pong with one
// goroutine over a pair of int64 channels, on all P's (GOMAXPROCS=NumCPU);
// ns per round trip. Argument "unlocked" (default; name pingpong_main:
// 1,000,000 round trips) or "locked" (name pingpong_main_locked:
// runtime.LockOSThread in init, so main.main stays on the main thread and
// every park is a thread hand-off; 20,000 round trips).
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"gmpbench/internal/benchutil"
)

var locked = len(os.Args) > 1 && os.Args[1] == "locked"

func init() {
	if locked {
		runtime.LockOSThread() // Go's idiom: main.main runs on the main thread
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] != "locked" && os.Args[1] != "unlocked" {
		benchutil.Fail("unknown mode %q (want unlocked or locked)", os.Args[1])
	}
	name := "pingpong_main"
	n := benchutil.Scaled(1_000_000, 1)
	if locked {
		name = "pingpong_main_locked"
		n = benchutil.Scaled(20_000, 1)
	}
	runtime.GOMAXPROCS(benchutil.NumCPU())
	ping := make(chan int64)
	pong := make(chan int64)
	done := make(chan struct{})
	go func() { // ponger: echoes until ping is closed
		for v := range ping {
			pong <- v
		}
		close(done)
	}()
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		ping <- i
		if v := <-pong; v != i {
			benchutil.Fail("%s: got %d, want %d", name, v, i)
		}
	}
	el := time.Since(t0)
	close(ping)
	<-done
	fmt.Fprintf(os.Stderr, "%s: %d round trips from the main goroutine on %d P in %v\n",
		name, n, runtime.GOMAXPROCS(0), el)
	benchutil.Result(name, "ns_per_roundtrip", float64(el.Nanoseconds())/float64(n))
}
