package enginetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"mqsh/queue"
)

// queue explain (queue.Explainer): per domain its state, attempts, next
// retry and lease; holds and pause; what became of a message already gone.

func (s *suite) explainer(t *testing.T) (queue.Backend, queue.Explainer, queue.DeliveryStore, *Clock) {
	t.Helper()
	q, ds, c := s.store(t)
	x, ok := q.(queue.Explainer)
	if !ok {
		t.Fatalf("%T is not a queue.Explainer", q)
	}
	return q, x, ds, c
}

// Explain tells a queued message's domains with their attempts, next retry,
// notice, expiry and lease; once the message is delivered its attempts
// still tell what became of each domain; an id never seen is not found.
func (s *suite) explain(t *testing.T) {
	q, x, ds, c := s.explainer(t)
	ctx := context.Background()
	m := enqueue(t, q, envTo("s@a.example", "x@b.example", "y@c.example"))
	e, err := x.Explain(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Queued || e.Sender != "s@a.example" || len(e.Domains) != 2 || e.Held || e.Paused {
		t.Fatalf("fresh message: %+v", e)
	}
	if d := e.Domains[0]; d.Name != "b.example" || d.Status != "scheduled" || len(d.Attempts) != 0 || !d.Due.Equal(Now) ||
		!d.NotifyAt.Equal(Now.Add(24*time.Hour)) || !d.Expires.Equal(Now.Add(5*24*time.Hour)) {
		t.Errorf("fresh domain: %+v", d)
	}
	jobs := claim(t, ds, "w1", 10)
	if len(jobs) != 2 {
		t.Fatalf("claimed %d", len(jobs))
	}
	if e, _ = x.Explain(ctx, m.ID); e.Domains[0].LeasedBy != "w1" || !e.Domains[0].LeasedTo.Equal(Now.Add(time.Minute)) {
		t.Errorf("claimed domain without its lease: %+v", e.Domains[0])
	}
	record(t, ds,
		queue.Attempt{Lease: jobs[0].Lease, Host: "mx.b.example[192.0.2.1]:25", Reply: "421 4.7.0 Try later", DomainFail: true},
		queue.Attempt{Lease: jobs[1].Lease, Host: "mx.c.example[192.0.2.2]:25", Reply: "250 2.0.0 OK",
			Recipients: []queue.RcptResult{{Address: "y@c.example", Status: queue.Completed, Code: 250, Enhanced: "2.0.0", Message: "OK"}}})
	if e, err = x.Explain(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	b, cd := e.Domains[0], e.Domains[1]
	if b.Status != "tempfail" || b.Details != "421 4.7.0 Try later" || b.RetryNum != 1 || len(b.Attempts) != 1 ||
		b.Attempts[0].Host != "mx.b.example[192.0.2.1]:25" || !b.Attempts[0].At.Equal(Now) || !b.Due.Equal(Now.Add(2*time.Minute)) || b.LeasedBy != "" {
		t.Errorf("deferred domain: %+v", b)
	}
	if cd.Status != "delivered" || len(cd.Attempts) != 1 || !cd.Due.IsZero() || !cd.NotifyAt.IsZero() || cd.Recipients[0].Status != "delivered" {
		t.Errorf("delivered domain: %+v", cd)
	}
	c.Set(Now.Add(3 * time.Minute))
	jobs = claim(t, ds, "w1", 10)
	record(t, ds, queue.Attempt{Lease: jobs[0].Lease, Host: "mx.b.example[192.0.2.1]:25", Reply: "250 2.0.0 OK",
		Recipients: []queue.RcptResult{{Address: "x@b.example", Status: queue.Completed, Code: 250, Enhanced: "2.0.0", Message: "OK"}}})
	if _, err := q.Get(ctx, m.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("delivered message still queued: %v", err)
	}
	if e, err = x.Explain(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if e.Queued || len(e.Domains) != 2 {
		t.Fatalf("gone message: %+v", e)
	}
	if b := e.Domains[0]; b.Name != "b.example" || b.Status != "delivered" || len(b.Attempts) != 2 || !b.Attempts[1].At.Equal(Now.Add(3*time.Minute)) {
		t.Errorf("gone domain: %+v", b)
	}
	if _, err := x.Explain(ctx, m.ID+1000); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("unknown id: %v, want not found", err)
	}
}

// A held message says so, per domain, with who and why; a paused queue
// too; a message cancelled before any attempt names the audited change that
// removed it.
func (s *suite) explainHeldPausedCancelled(t *testing.T) {
	q, x, _, _ := s.explainer(t)
	ctx := context.Background()
	env := queue.Envelope{Sender: "", Recipients: []queue.EnvelopeRecipient{{Address: "h@b.example"}}, Held: true, HoldReason: "spam score 9"}
	m := enqueue(t, q, env)
	if _, err := q.SetPaused(ctx, true); err != nil {
		t.Fatal(err)
	}
	e, err := x.Explain(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Held || len(e.Holds) != 1 || e.Holds[0].By != "policy" || e.Holds[0].Reason != "spam score 9" || !e.Domains[0].Held || !e.Paused || e.Sender != "<>" {
		t.Errorf("held message in a paused queue: %+v", e)
	}
	n := enqueue(t, q, envTo("s@a.example", "x@b.example"))
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{n.ID}}}); err != nil {
		t.Fatal(err)
	}
	if e, err = x.Explain(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if e.Queued || e.Removed == nil || e.Removed.Verb != "cancel" || e.Removed.User != "tester" || len(e.Domains) != 0 {
		t.Errorf("cancelled message: %+v (removed %+v)", e, e.Removed)
	}
}
