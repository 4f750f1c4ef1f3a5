// skynet: the classic. Each node spawns div=10 children that report over a
// channel (capacity div) made by the node, sums them and sends the sum up;
// 1,000,000 leaves; the sum must be 499999500000; ms total.
package main

import (
	"fmt"
	"math"
	"os"
	"time"

	"gmpbench/internal/benchutil"
)

func skynet(c chan<- int64, num, size, div int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64, div)
	for i := int64(0); i < div; i++ {
		go skynet(rc, num+i*(size/div), size/div, div)
	}
	var sum int64
	for i := int64(0); i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func main() {
	// leaves: a power of ten near 1e6*scale (1e6 at scale 1)
	exp := int(math.Round(6 + math.Log10(benchutil.Scale())))
	if exp < 1 {
		exp = 1
	}
	leaves := int64(1)
	for i := 0; i < exp; i++ {
		leaves *= 10
	}
	want := leaves * (leaves - 1) / 2
	c := make(chan int64, 1)
	t0 := time.Now()
	go skynet(c, 0, leaves, 10)
	sum := <-c
	el := time.Since(t0)
	if sum != want {
		benchutil.Fail("skynet: sum %d, want %d", sum, want)
	}
	fmt.Fprintf(os.Stderr, "skynet: %d leaves, sum %d, %v\n", leaves, sum, el)
	benchutil.Result("skynet", "ms", float64(el.Nanoseconds())/1e6)
}
