package queue

import (
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkListWalk walks a whole queue the way `queue list -o json` does
// (Batches, one read snapshot, the next batch read while one is handled):
// "read" only reads, "json" also writes every message as JSON. It runs on
// the queue file named by MQSH_LIST_DB (bench/bulk.sh builds one of 100,000
// at $MQSH_BENCH_DIR/bulk/base.db) and is skipped without it.
//
//	MQSH_LIST_DB=/tmp/mqsh-bench/bulk/base.db go test -run '^$' -bench ListWalk -benchtime 3x ./queue/
func BenchmarkListWalk(b *testing.B) {
	path := os.Getenv("MQSH_LIST_DB")
	if path == "" {
		b.Skip("MQSH_LIST_DB names no queue file")
	}
	// Opened as the command opens it (not read-only): the walk then reads
	// on two connections (walkReaders).
	q, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	// Cancellable, as the command's is (Ctrl-C).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, encode := range []bool{false, true} {
		name := "read"
		if encode {
			name = "json"
		}
		b.Run(name, func(b *testing.B) {
			var buf []byte
			n := 0
			c0, t0 := cpuTime(), time.Now()
			for i := 0; i < b.N; i++ {
				err := q.Batches(ctx, Filter{}, func(msgs []Message) error {
					n += len(msgs)
					if encode {
						buf = buf[:0]
						for j := range msgs {
							buf, _ = msgs[j].AppendJSON(buf)
							buf = append(buf, '\n')
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(n), "cpu-ns/msg")
			b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(n), "wall-ns/msg")
		})
	}
}
