// Package benchutil holds the helpers shared by the Go halves of the libgmp
// benchmarks: scale handling, result printing, RSS reading and hard failure.
package benchutil

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Scale returns GMP_BENCH_SCALE (default 1). It scales iteration counts down
// for quick smoke runs; the C programs read the same variable the same way.
func Scale() float64 {
	s := os.Getenv("GMP_BENCH_SCALE")
	if s == "" {
		return 1
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		Fail("bad GMP_BENCH_SCALE %q", s)
	}
	return v
}

// Scaled returns n*scale rounded to nearest, at least min.
func Scaled(n, min int64) int64 {
	v := int64(float64(n)*Scale() + 0.5)
	if v < min {
		v = min
	}
	return v
}

// NumCPU is the "all P's" count: the CPUs of this process's affinity mask
// (the C side uses sched_getaffinity too).
func NumCPU() int { return runtime.NumCPU() }

// Result prints the one machine-readable line on stdout.
func Result(name, metric string, value float64) {
	fmt.Printf("RESULT name=%s metric=%s value=%.4f\n", name, metric, value)
}

// Info prints extra machine-readable facts on stderr:
// INFO name=<workload> key=value ...
func Info(name string, kv ...any) {
	var b strings.Builder
	fmt.Fprintf(&b, "INFO name=%s", name)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	fmt.Fprintln(os.Stderr, b.String())
}

// Fail prints a message on stderr and exits with status 1.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// RSS returns the resident set size in bytes, from /proc/self/statm.
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		Fail("read /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		Fail("bad /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		Fail("bad /proc/self/statm: %q", b)
	}
	return pages * int64(os.Getpagesize())
}

// Mode returns os.Args[1] if it is one of allowed, "" if absent, and fails
// on anything else.
func Mode(allowed ...string) string {
	if len(os.Args) < 2 {
		return ""
	}
	for _, a := range allowed {
		if os.Args[1] == a {
			return a
		}
	}
	Fail("unknown mode %q (want one of %v)", os.Args[1], allowed)
	return ""
}
