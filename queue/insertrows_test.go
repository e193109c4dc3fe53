package queue

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// errBenchRollback ends a benchmark's transaction without a commit.
var errBenchRollback = errors.New("rolled back")

// TestInsertRowsBindsWithoutCopies: writing an encoded batch hands its
// values to SQLite without database/sql copying them into a new argument
// slice at every statement (40 bytes a value, some 2,400 bytes a message of
// the demo's shape); what a batch's statements allocate is small beside
// that.
func TestInsertRowsBindsWithoutCopies(t *testing.T) {
	q, _ := openTest(t)
	msgs := demoMessages(t, 8*insertBatch, 17)
	for _, m := range msgs {
		if err := normalizeMessage(m, q.clock, q.sched.Expire, true); err != nil {
			t.Fatal(err)
		}
	}
	var perMsg float64
	err := q.Update(t.Context(), func(tx *Tx) error {
		ins, err := tx.newInserter()
		if err != nil {
			return err
		}
		batches := make([]*rowBatch, 0, len(msgs)/insertBatch)
		for i := 0; i < len(msgs); i += insertBatch {
			b := &rowBatch{}
			for _, m := range msgs[i : i+insertBatch] {
				if err := ins.enc.encode(b, m, 0, msgHeaders{}); err != nil {
					return err
				}
			}
			batches = append(batches, b)
		}
		if err := ins.write(batches[0]); err != nil { // statements prepared, buffers grown
			return err
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for _, b := range batches[1:] {
			if err := ins.write(b); err != nil {
				return err
			}
		}
		runtime.ReadMemStats(&m1)
		perMsg = float64(m1.TotalAlloc-m0.TotalAlloc) / float64((len(batches)-1)*insertBatch)
		return ins.finish()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.0f bytes allocated a message written", perMsg)
	if perMsg > 400 {
		t.Errorf("writing a batch allocates %.0f bytes a message: its values are copied on their way to SQLite", perMsg)
	}
	if n := mustCount(t, q, Filter{All: true}); n != len(msgs) {
		t.Errorf("queued %d, want %d", n, len(msgs))
	}
}

// BenchmarkInsertWrite measures the inserting goroutine's part of an
// import: encoded batches written by ins.write (the statements, the
// arguments' way to SQLite), in one transaction, with the indexes dropped
// as a bulk load drops them. It reports CPU per message written.
func BenchmarkInsertWrite(b *testing.B) {
	const n = 64 * insertBatch
	var msgs []*Message
	if err := generateDemo(n, 3, testNow, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		c := *m
		if err := normalizeMessage(&c, func() time.Time { return testNow }, DefaultSchedule.Expire, false); err != nil {
			return err
		}
		msgs = append(msgs, &c)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		q, _ := openTest(b)
		b.StartTimer()
		err := q.Update(b.Context(), func(tx *Tx) error {
			ins, err := tx.newInserter()
			if err != nil {
				return err
			}
			ins.bulk = true
			batches := make([]*rowBatch, 0, n/insertBatch)
			for i := 0; i < n; i += insertBatch {
				rb := &rowBatch{}
				for _, m := range msgs[i : i+insertBatch] {
					if err := ins.enc.encode(rb, m, 0, msgHeaders{}); err != nil {
						return err
					}
				}
				batches = append(batches, rb)
			}
			c0 := cpuTime()
			for _, rb := range batches {
				if err := ins.write(rb); err != nil {
					return err
				}
			}
			cpu += cpuTime() - c0
			return errBenchRollback
		})
		if !errors.Is(err, errBenchRollback) {
			b.Fatal(err)
		}
		b.StopTimer()
		q.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/msg")
}
