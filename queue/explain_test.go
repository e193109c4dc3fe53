package queue

import (
	"errors"
	"testing"
	"time"
)

// Explain tells a queued message's domains with their attempts, next retry,
// notice and expiry; once the message is gone its attempts still tell what
// became of each domain; an id never seen is not found.
func TestExplain(t *testing.T) {
	q, c := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example", "y@c.example"))

	e, err := q.Explain(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Queued || e.Sender != "s@a.example" || len(e.Domains) != 2 || e.Held || e.Paused {
		t.Fatalf("fresh message: %+v", e)
	}
	if d := e.Domains[0]; d.Name != "b.example" || d.Status != "scheduled" || len(d.Attempts) != 0 || !d.Due.Equal(testNow) ||
		!d.NotifyAt.Equal(testNow.Add(24*time.Hour)) || !d.Expires.Equal(testNow.Add(5*24*time.Hour)) {
		t.Errorf("fresh domain: %+v", d)
	}

	jobs := claim(t, q, "w1", 10)
	if len(jobs) != 2 {
		t.Fatalf("claimed %d", len(jobs))
	}
	// While claimed, the lease shows.
	if e, _ = q.Explain(t.Context(), m.ID); e.Domains[0].LeasedBy != "w1" {
		t.Errorf("claimed domain without its lease: %+v", e.Domains[0])
	}
	record(t, q,
		Attempt{Lease: jobs[0].Lease, Host: "mx.b.example[192.0.2.1]:25", Reply: "421 4.7.0 Try later", DomainFail: true},
		Attempt{Lease: jobs[1].Lease, Host: "mx.c.example[192.0.2.2]:25", Reply: "250 2.0.0 OK",
			Recipients: []RcptResult{{Address: "y@c.example", Status: Completed, Code: 250, Enhanced: "2.0.0", Message: "OK"}}})
	e, err = q.Explain(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, cd := e.Domains[0], e.Domains[1]
	if b.Status != "tempfail" || b.Details != "421 4.7.0 Try later" || b.RetryNum != 1 || len(b.Attempts) != 1 ||
		b.Attempts[0].Host != "mx.b.example[192.0.2.1]:25" || !b.Attempts[0].At.Equal(testNow) || !b.Due.Equal(testNow.Add(2*time.Minute)) || b.LeasedBy != "" {
		t.Errorf("deferred domain: %+v", b)
	}
	if cd.Status != "delivered" || len(cd.Attempts) != 1 || !cd.Due.IsZero() || !cd.NotifyAt.IsZero() || cd.Recipients[0].Status != "delivered" {
		t.Errorf("delivered domain: %+v", cd)
	}

	c.Set(testNow.Add(3 * time.Minute))
	jobs = claim(t, q, "w1", 10)
	record(t, q, Attempt{Lease: jobs[0].Lease, Host: "mx.b.example[192.0.2.1]:25", Reply: "250 2.0.0 OK",
		Recipients: []RcptResult{{Address: "x@b.example", Status: Completed, Code: 250, Enhanced: "2.0.0", Message: "OK"}}})
	if _, err := q.Get(t.Context(), m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delivered message still queued: %v", err)
	}
	e, err = q.Explain(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Queued || len(e.Domains) != 2 {
		t.Fatalf("gone message: %+v", e)
	}
	if b := e.Domains[0]; b.Name != "b.example" || b.Status != "delivered" || len(b.Attempts) != 2 || !b.Attempts[1].At.Equal(testNow.Add(3*time.Minute)) {
		t.Errorf("gone domain: %+v", b)
	}

	if _, err := q.Explain(t.Context(), m.ID+1000); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v, want not found", err)
	}
}

// A held message says so, in the one place holds are told; a paused queue too.
func TestExplainHeldPaused(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, Envelope{Sender: "", Recipients: []EnvelopeRecipient{{Address: "h@b.example"}}, Held: true})
	if _, err := q.SetPaused(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	e, err := q.Explain(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Held || len(e.Holds) != 1 || !e.Paused || e.Sender != "<>" {
		t.Errorf("held message in a paused queue: %+v", e)
	}
}

// A message cancelled before any attempt is still explained: the audit entry
// that removed it is named.
func TestExplainCancelled(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{m.ID}}}); err != nil {
		t.Fatal(err)
	}
	e, err := q.Explain(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Queued || e.Removed == nil || e.Removed.Verb != "cancel" || e.Removed.User != "tester" || len(e.Domains) != 0 {
		t.Errorf("cancelled message: %+v (removed %+v)", e, e.Removed)
	}
}
