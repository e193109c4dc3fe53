package pgqueue

import (
	"context"
	"testing"
	"time"

	"mqsh/internal/pgtest"
	"mqsh/queue"
)

// A retry finds its messages, keeps their domains' previous state for undo
// and rewrites them in one statement, which reserves the change's audit seq
// only when it retries something: a retry of nothing leaves no gap in the
// audit's numbering, and the next change's undo record is filed under the
// seq of its own audit row.
func TestRetrySeqAndUndo(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	q, err := Open(ctx, pgtest.URL(t), Options{Now: func() time.Time { return now }, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	env := queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{{Address: "x@gmail.example"}, {Address: "y@other.example"}}}
	m, err := q.Enqueue(ctx, env, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Sender: []string{"nobody@nowhere.example"}}, At: now.Add(time.Hour)})
	if err != nil || res.Count != 0 || res.IDs != nil {
		t.Fatalf("retry of nothing: %+v, %v", res, err)
	}
	at := now.Add(2 * time.Hour)
	res, err = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}, At: at})
	if err != nil || res.Count != 1 || len(res.IDs) != 1 || res.IDs[0] != m.ID || res.Domains["gmail.example"] != 1 || !res.First.Equal(at) {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	audit, err := q.Audit(ctx, queue.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[0].Verb != "retry" || audit[0].Seq != audit[1].Seq+1 {
		t.Fatalf("audit after an empty retry and a retry: want consecutive seqs, got %+v", audit)
	}
	got, err := q.Get(ctx, m.ID)
	if err != nil || !got.Due().Equal(at) {
		t.Fatalf("due after retry: %v, %v", got.Due(), err)
	}
	u, err := q.Undo(ctx, queue.UndoRequest{Seq: audit[0].Seq})
	if err != nil || u.Count != 1 {
		t.Fatalf("undo of the retry: %+v, %v", u, err)
	}
	got, err = q.Get(ctx, m.ID)
	if err != nil || !got.Due().Equal(now) {
		t.Fatalf("due after undo: %v, want %v (%v)", got.Due(), now, err)
	}
}
