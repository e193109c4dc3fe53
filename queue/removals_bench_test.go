package queue

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSweep times moving the 25,000 messages a bulk cancel filed (one
// sender's, every fourth message of bench/bulk.sh's queue of 100,000) to the
// trash: in one transaction (a trash command), and in serve's transactions
// of sweepChunk and of other sizes. Needs the queue bench/bulk.sh builds:
//
//	sh bench/bulk.sh && go test ./queue -run '^$' -bench Sweep -benchtime 3x
func BenchmarkSweep(b *testing.B) {
	base := filepath.Join(benchDir, "bulk", "base.db")
	if _, err := os.Stat(base); err != nil {
		b.Skipf("%s: run sh bench/bulk.sh first", base)
	}
	for _, chunk := range []int{0, 500, sweepChunk, 10000} {
		name := "one-transaction"
		if chunk > 0 {
			name = "chunks-of-" + strconv.Itoa(chunk)
		}
		b.Run(name, func(b *testing.B) {
			old := sweepChunk
			defer func() { sweepChunk = old }()
			if chunk > 0 {
				sweepChunk = chunk
			}
			var total time.Duration
			for range b.N {
				b.StopTimer()
				path := filepath.Join(b.TempDir(), "queue.db")
				if err := copyFile(base, path); err != nil {
					b.Fatal(err)
				}
				q, err := Open(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				res, err := q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@sender.example"}}})
				if err != nil || res.Count != 25000 {
					b.Fatalf("cancel: %d %v", res.Count, err)
				}
				b.StartTimer()
				start := time.Now()
				if chunk == 0 {
					err = q.sweepAll(ctx)
				} else {
					_, err = q.SweepRemovals(ctx)
				}
				total += time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				q.Close()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/sweep")
		})
	}
}
