package queue

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The trash's benchmarks run on a queue of 100,000 demo messages (with
// their texts), built once under benchDir as trash-100k.db: a cancel of a
// quarter of them, of all of them, and the undo of a cancel of all.

var (
	trashBenchOnce sync.Once
	trashBenchErr  error
)

func trashBenchPath(b *testing.B) string {
	b.Helper()
	path := filepath.Join(benchDir, "trash-100k.db")
	trashBenchOnce.Do(func() {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if trashBenchErr = os.MkdirAll(benchDir, 0o755); trashBenchErr != nil {
			return
		}
		tmp := path + ".tmp"
		os.Remove(tmp)
		q, err := Open(tmp, Options{Now: func() time.Time { return benchNow }})
		if err != nil {
			trashBenchErr = err
			return
		}
		if _, err := q.LoadDemo(context.Background(), 100_000, 1); err != nil {
			q.Close()
			trashBenchErr = err
			return
		}
		q.Close()
		trashBenchErr = os.Rename(tmp, path)
	})
	if trashBenchErr != nil {
		b.Fatal(trashBenchErr)
	}
	return path
}

// benchTrash runs prepare (untimed) and then verb (timed) on a fresh copy of
// the 100k queue per iteration.
func benchTrash(b *testing.B, prepare func(q *Queue) error, verb func(q *Queue) (int, error)) {
	src := trashBenchPath(b)
	work := filepath.Join(benchDir, "trash-work.db")
	var n int
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		os.Remove(work + "-wal")
		os.Remove(work + "-shm")
		in, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(work, in, 0o600)
		}
		if err != nil {
			b.Fatal(err)
		}
		q, err := Open(work, Options{Now: func() time.Time { return benchNow }})
		if err != nil {
			b.Fatal(err)
		}
		if prepare != nil {
			if err := prepare(q); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		c0 := cpuTime()
		n, err = verb(q)
		cpu += cpuTime() - c0
		b.StopTimer()
		q.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	os.Remove(work)
	os.Remove(work + "-wal")
	os.Remove(work + "-shm")
	b.ReportMetric(float64(n), "messages")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// quarterFilter selects about a quarter of the demo messages: those to
// gmail.com.
func quarterFilter() Filter { return Filter{Domain: []string{"gmail.com"}} }

func BenchmarkCancelQuarter100k(b *testing.B) {
	benchTrash(b, nil, func(q *Queue) (int, error) {
		res, err := q.Cancel(context.Background(), CancelRequest{Filter: quarterFilter()})
		return res.Count, err
	})
}

func BenchmarkCancelAllOf100k(b *testing.B) {
	benchTrash(b, nil, func(q *Queue) (int, error) {
		res, err := q.Cancel(context.Background(), CancelRequest{Filter: Filter{All: true}})
		return res.Count, err
	})
}

// BenchmarkUndoCancelAllOf100k times the undo of a cancel of all 100,000
// messages (the cancel is not timed) before anything moved them to the
// trash: they are taken back where they are (removals.go).
func BenchmarkUndoCancelAllOf100k(b *testing.B) {
	benchTrash(b, func(q *Queue) error {
		_, err := q.Cancel(context.Background(), CancelRequest{Filter: Filter{All: true}})
		return err
	}, func(q *Queue) (int, error) {
		res, err := q.Undo(context.Background(), UndoRequest{})
		return res.Count, err
	})
}

// BenchmarkUndoSweptCancelAllOf100k times the same undo once serve's sweep
// has moved the 100,000 to the trash (the cancel and the sweep are not
// timed): each message comes back from the trash.
func BenchmarkUndoSweptCancelAllOf100k(b *testing.B) {
	benchTrash(b, func(q *Queue) error {
		ctx := context.Background()
		if _, err := q.Cancel(ctx, CancelRequest{Filter: Filter{All: true}}); err != nil {
			return err
		}
		_, err := q.SweepRemovals(ctx)
		return err
	}, func(q *Queue) (int, error) {
		res, err := q.Undo(context.Background(), UndoRequest{})
		return res.Count, err
	})
}
