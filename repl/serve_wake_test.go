package repl

import (
	"context"
	"path/filepath"
	"testing"

	"mqsh/queue"
)

// The SMTP server sees the SQLite queue with its own group commit
// (queue.Ingester): a batch queued through it wakes delivery and is audited
// as made on the node, as a batch through Run is.
func TestWakeQueueIngests(t *testing.T) {
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	woken := 0
	b := wakeQueue(q, func() { woken++ }, "mx1")
	in, ok := b.(queue.Ingester)
	if !ok {
		t.Fatalf("%T has no group commit of its own", b)
	}
	if _, ok := b.(interface {
		SetDurable(context.Context, bool) error
	}); !ok {
		t.Fatalf("%T cannot make the queue's commits durable", b)
	}
	msgs := []queue.NewMessage{{Env: queue.Envelope{Sender: "a@b.example", Recipients: []queue.EnvelopeRecipient{{Address: "c@d.example"}}}}}
	out, errs, flushed, err := in.Ingest(queue.WithSource(t.Context(), "smtp"), msgs)
	if err != nil || out[0] == nil || errs[0] != nil {
		t.Fatalf("ingest: %v %v %v", out, errs, err)
	}
	if err := flushed(); err != nil {
		t.Fatal(err)
	}
	if woken != 1 {
		t.Errorf("delivery woken %d times, want once", woken)
	}
	es, err := q.Audit(t.Context(), queue.AuditQuery{})
	if err != nil || len(es) == 0 || es[len(es)-1].Source != "smtp on mx1" {
		t.Errorf("audit %+v (%v), want the batch from smtp on mx1", es, err)
	}
	// A backend without one is seen through Run alone.
	if _, ok := wakeQueue(noIngest{q}, func() {}, "mx1").(queue.Ingester); ok {
		t.Error("a queue without a group commit of its own got one")
	}
}

// noIngest is a backend without Ingest.
type noIngest struct{ queue.Backend }
