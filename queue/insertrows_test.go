package queue

import (
	"runtime"
	"testing"
)

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
