// buffered: 4 producers, 4 consumers, one channel of capacity 1024,
// 10,000,000 int64 messages in total; the consumers sum them and the sum is
// checked; producers done -> close -> consumers see the close; msgs per second.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"gmpbench/internal/benchutil"
)

const producers, consumers = 4, 4

func main() {
	per := benchutil.Scaled(10_000_000, producers) / producers
	total := per * producers
	ch := make(chan int64, 1024)
	var sums, counts [consumers]int64
	var pwg, cwg sync.WaitGroup
	t0 := time.Now()
	cwg.Add(consumers)
	for k := 0; k < consumers; k++ {
		go func(k int) {
			defer cwg.Done()
			var s, n int64
			for v := range ch {
				s += v
				n++
			}
			sums[k], counts[k] = s, n
		}(k)
	}
	pwg.Add(producers)
	for k := int64(0); k < producers; k++ {
		go func(k int64) {
			defer pwg.Done()
			for j := int64(0); j < per; j++ {
				ch <- k*per + j
			}
		}(k)
	}
	pwg.Wait()
	close(ch)
	cwg.Wait()
	el := time.Since(t0)
	var sum, count int64
	for k := 0; k < consumers; k++ {
		sum += sums[k]
		count += counts[k]
	}
	if want := total * (total - 1) / 2; sum != want || count != total {
		benchutil.Fail("buffered: sum %d count %d, want %d and %d", sum, count, want, total)
	}
	rate := float64(total) / el.Seconds()
	fmt.Fprintf(os.Stderr, "buffered: %d messages in %v, %.0f msgs/s, sum %d\n", total, el, rate, sum)
	benchutil.Result("buffered", "msgs_per_s", rate)
}
