package pgqueue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/queue"
)

// undoHold (what the PostgreSQL undo verb calls for a hold or a release)
// puts each domain's hold back as it was before, leaves the messages it is
// told to skip, and leaves whole, saying why, a message whose holds a later
// change touched.
func TestUndoHoldRecords(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	q, err := Open(ctx, pgtest.URL(t), Options{Now: clock, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	env := func(rcpts ...string) queue.Envelope {
		e := queue.Envelope{Sender: "s@a.example"}
		for _, r := range rcpts {
			e.Recipients = append(e.Recipients, queue.EnvelopeRecipient{Address: r})
		}
		return e
	}
	m, err := q.Enqueue(ctx, env("x@gmail.example", "y@other.example"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := q.Enqueue(ctx, env("z@gmail.example"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := q.Enqueue(ctx, env("w@gmail.example"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}, Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := q.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"gmail.example"}}, Reason: "second"}); err != nil {
		t.Fatal(err)
	}
	audit, err := q.Audit(ctx, queue.AuditQuery{Verb: "hold"})
	if err != nil {
		t.Fatal(err)
	}
	second, first := audit[0].Seq, audit[1].Seq
	undo := func(seq int64, skip map[queue.ID]bool) (done []queue.ID, skipped []queue.UndoSkip) {
		t.Helper()
		err := q.update(ctx, false, func(tx *Tx) error {
			return tx.savepoint(false, func(db pgx.Tx) (err error) {
				done, skipped, err = tx.undoHold(db, seq, skip)
				return err
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return done, skipped
	}
	holdOf := func(id queue.ID, name string) *queue.Hold {
		t.Helper()
		got, err := q.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got.Domains {
			if d.Name == name {
				return d.Hold
			}
		}
		t.Fatalf("message %s has no domain %s", id, name)
		return nil
	}

	// Undo of the second hold, o skipped: m's gmail.example gets "first"
	// back, n's is not held any more, o keeps "second".
	done, skipped := undo(second, map[queue.ID]bool{o.ID: true})
	if len(done) != 2 || done[0] != m.ID || done[1] != n.ID || len(skipped) != 0 {
		t.Fatalf("undo of the second hold: done %v skipped %v", done, skipped)
	}
	if h := holdOf(m.ID, "gmail.example"); h == nil || h.Reason != "first" || !h.Since.Equal(now.Add(-time.Minute)) {
		t.Errorf("m's gmail.example after undo: %+v, want the first hold", h)
	}
	if h := holdOf(n.ID, "gmail.example"); h != nil {
		t.Errorf("n's gmail.example after undo: %+v, want none", h)
	}
	if h := holdOf(o.ID, "gmail.example"); h == nil || h.Reason != "second" {
		t.Errorf("o (skipped) after undo: %+v, want the second hold kept", h)
	}

	// A later hold of m's other.example: undo of the first leaves m whole,
	// and says why.
	now = now.Add(time.Minute)
	if _, err := q.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"other.example"}}, Reason: "third"}); err != nil {
		t.Fatal(err)
	}
	done, skipped = undo(first, nil)
	if len(done) != 0 || len(skipped) != 1 || skipped[0].ID != m.ID || !strings.Contains(skipped[0].Reason, "other.example was held or released again since") {
		t.Errorf("undo of the first hold: done %v skipped %+v", done, skipped)
	}
	if h := holdOf(m.ID, "other.example"); h == nil || h.Reason != "third" {
		t.Errorf("m's other.example: %+v, want the later hold kept", h)
	}
	if h := holdOf(m.ID, "gmail.example"); h == nil || h.Reason != "first" {
		t.Errorf("m's gmail.example: %+v, want it left as it was", h)
	}

	// Undone back to before the first hold once the third is undone.
	audit, _ = q.Audit(ctx, queue.AuditQuery{Verb: "hold"})
	if done, skipped = undo(audit[0].Seq, nil); len(done) != 1 || len(skipped) != 0 {
		t.Fatalf("undo of the third hold: done %v skipped %+v", done, skipped)
	}
	if done, skipped = undo(first, nil); len(done) != 1 || done[0] != m.ID || len(skipped) != 0 {
		t.Fatalf("undo of the first hold at last: done %v skipped %+v", done, skipped)
	}
	if holdOf(m.ID, "gmail.example") != nil || holdOf(m.ID, "other.example") != nil {
		t.Error("m still held after every hold was undone")
	}
}
