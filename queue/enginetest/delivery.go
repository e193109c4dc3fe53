package enginetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// The delivery store: claims under a lease, records, releases, renewals,
// and the signal of a change.

func (s *suite) store(t *testing.T) (queue.Backend, queue.DeliveryStore, *Clock) {
	t.Helper()
	q, c := s.queue(t)
	ds, ok := q.(queue.DeliveryStore)
	if !ok {
		t.Fatalf("%T is not a queue.DeliveryStore", q)
	}
	return q, ds, c
}

func enqueue(t *testing.T, q queue.Backend, env queue.Envelope) *queue.Message {
	t.Helper()
	m, err := q.Enqueue(context.Background(), env, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func envTo(sender string, rcpts ...string) queue.Envelope {
	env := queue.Envelope{Sender: sender}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, queue.EnvelopeRecipient{Address: r})
	}
	return env
}

func claim(t *testing.T, ds queue.DeliveryStore, worker string, max int) []queue.Job {
	t.Helper()
	jobs, err := ds.Claim(context.Background(), queue.ClaimRequest{Worker: worker, Max: max, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func record(t *testing.T, ds queue.DeliveryStore, a ...queue.Attempt) []queue.Notice {
	t.Helper()
	n, err := ds.Record(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *suite) claimLease(t *testing.T) {
	ctx := context.Background()
	q, ds, c := s.store(t)
	m := enqueue(t, q, envTo("s@a.example", "x@b.example", "y@b.example", "z@c.example"))
	enqueue(t, q, queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{{Address: "h@b.example"}}, Held: true})
	if _, err := ds.Claim(ctx, queue.ClaimRequest{}); err == nil || !strings.Contains(err.Error(), "worker") {
		t.Errorf("claim without a worker: %v", err)
	}
	if due, ok, err := ds.NextDue(ctx); !ok || err != nil || !due.Equal(Now) {
		t.Errorf("NextDue = %v, %v, %v; want now", due, ok, err)
	}
	jobs := claim(t, ds, "w1", 10)
	if len(jobs) != 2 {
		t.Fatalf("claimed %d domains, want 2 (the held message is skipped): %+v", len(jobs), jobs)
	}
	j := jobs[0]
	if j.Message != m.ID || j.Domain != "b.example" || j.Worker != "w1" || len(j.Recipients) != 2 || string(j.Raw) != "Subject: hi\r\n\r\nhello\r\n" ||
		j.ReturnPath != "s@a.example" || j.Expired || !j.Created.Equal(Now) || j.Size != int64(len(j.Raw)) || !j.Expires.Equal(Now.Add(5*24*time.Hour)) {
		t.Errorf("job %+v", j)
	}
	if got := claim(t, ds, "w2", 10); len(got) != 0 {
		t.Errorf("second worker claimed %d leased domains", len(got))
	}
	if due, ok, _ := ds.NextDue(ctx); ok {
		t.Errorf("NextDue %v with every domain leased, want none", due)
	}
	c.Set(Now.Add(60 * time.Second))
	if got := claim(t, ds, "w2", 10); len(got) != 0 {
		t.Errorf("a lease was taken over in the second it ends")
	}
	c.Set(Now.Add(61 * time.Second))
	if got := claim(t, ds, "w2", 10); len(got) != 2 {
		t.Errorf("after the lease ran out, second worker claimed %d, want 2", len(got))
	}
	if err := ds.Release(ctx, []queue.Lease{jobs[0].Lease}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, ds, "w3", 10); len(got) != 0 {
		t.Errorf("a release by a worker that lost its lease freed the domain: %d claimed", len(got))
	}
	q2, ds2, _ := s.store(t)
	enqueue(t, q2, envTo("s@a.example", "x@b.example"))
	if _, err := q2.SetPaused(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, ds2, "w1", 10); len(got) != 0 {
		t.Errorf("paused queue: claimed %d", len(got))
	}
	q2.SetPaused(ctx, false)
	jobs = claim(t, ds2, "w1", 10)
	if len(jobs) != 1 {
		t.Fatalf("resumed queue: claimed %d, want 1", len(jobs))
	}
	if err := ds2.Release(ctx, []queue.Lease{jobs[0].Lease}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, ds2, "w2", 10); len(got) != 1 {
		t.Errorf("released domain: claimed %d, want 1", len(got))
	}
}

func (s *suite) claimPerDomain(t *testing.T) {
	q, ds, _ := s.store(t)
	for range 5 {
		enqueue(t, q, envTo("s@a.example", "x@b.example"))
	}
	enqueue(t, q, envTo("s@a.example", "x@c.example"))
	jobs, err := ds.Claim(context.Background(), queue.ClaimRequest{Worker: "w", Max: 10, PerDomain: 2, Busy: map[string]int{"b.example": 1}})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, j := range jobs {
		n[j.Domain]++
	}
	if n["b.example"] != 1 || n["c.example"] != 1 {
		t.Errorf("claimed %v, want one of b.example (one busy, cap 2) and one of c.example", n)
	}
	// The domains skipped for the cap are not leased.
	if got := claim(t, ds, "w2", 10); len(got) != 4 {
		t.Errorf("another worker claimed %d, want the 4 left", len(got))
	}
}

func (s *suite) recordDelivered(t *testing.T) {
	q, ds, _ := s.store(t)
	m := enqueue(t, q, queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{
		{Address: "x@b.example", Notify: queue.NotifySuccess}, {Address: "y@b.example"}, {Address: "z@c.example"}}})
	jobs := claim(t, ds, "w", 10)
	notices := record(t, ds, queue.Attempt{Lease: jobs[0].Lease, Host: "mx.b.example[127.0.0.1]:25", Reply: "250 ok", Recipients: []queue.RcptResult{
		{Address: "x@b.example", Status: queue.Completed, Code: 250, Enhanced: "2.0.0", Message: "Ok"},
		{Address: "Y@b.example", Status: queue.Completed, Code: 250, Enhanced: "2.0.0", Message: "Ok"}}})
	if len(notices) != 1 || notices[0].Kind != queue.NoticeSuccess || len(notices[0].Recipients) != 1 || notices[0].Recipients[0].Address != "x@b.example" || notices[0].RemoteMTA != "mx.b.example[127.0.0.1]:25" {
		t.Errorf("notices %+v, want one success notice for x@b.example", notices)
	}
	got := mustGet(t, q, m.ID)
	if d := got.Domains[0]; d.Status != queue.Completed || d.Recipients[0].Status != queue.Completed || d.Recipients[0].Code != 250 {
		t.Errorf("domain after delivery %+v", d)
	}
	if got.Due() != got.Domains[1].Due {
		t.Errorf("message due %v", got.Due())
	}
	checkDue(t, q)
	record(t, ds, queue.Attempt{Lease: jobs[1].Lease, Recipients: []queue.RcptResult{{Address: "z@c.example", Status: queue.Completed, Code: 250}}})
	if _, err := q.Get(context.Background(), m.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("message with nothing pending is still queued: %v", err)
	}
	if n := mustCount(t, q, queue.Filter{Recipient: []string{"@b.example"}}); n != 0 {
		t.Errorf("rows of the delivered message remain: %d", n)
	}
}

func (s *suite) recordTempfail(t *testing.T) {
	q, ds, c := s.store(t)
	m := enqueue(t, q, envTo("s@a.example", "x@b.example", "y@b.example"))
	jobs := claim(t, ds, "w", 10)
	c.Set(Now.Add(10 * time.Second))
	notices := record(t, ds, queue.Attempt{Lease: jobs[0].Lease, Host: "h[127.0.0.1]:25", Recipients: []queue.RcptResult{
		{Address: "x@b.example", Status: queue.TempFail, Code: 451, Enhanced: "4.5.3", Message: "Try again later."},
		{Address: "y@b.example", Status: queue.Completed, Code: 250}}})
	if len(notices) != 0 {
		t.Errorf("notices %+v, want none", notices)
	}
	got := mustGet(t, q, m.ID)
	d := got.Domains[0]
	want := Now.Add(10*time.Second + 2*time.Minute)
	if d.Status != queue.TempFail || d.RetryNum != 1 || !d.Due.Equal(want) || !got.Due().Equal(want) {
		t.Errorf("domain %+v, want tempfail, retry 1, due %v", d, want)
	}
	if d.Details != "Code: 451, Enhanced code: 4.5.3, Message: Try again later." {
		t.Errorf("details %q", d.Details)
	}
	if got := claim(t, ds, "w", 10); len(got) != 0 {
		t.Fatalf("claimed before the retry was due")
	}
	if due, ok, _ := ds.NextDue(context.Background()); !ok || !due.Equal(want) {
		t.Errorf("NextDue %v, %v; want %v", due, ok, want)
	}
	c.Set(want)
	jobs = claim(t, ds, "w", 10)
	if len(jobs) != 1 || len(jobs[0].Recipients) != 1 || jobs[0].RetryNum != 1 {
		t.Fatalf("retry claimed %+v, want the one pending recipient", jobs)
	}
	record(t, ds, queue.Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "connection refused"})
	d = mustGet(t, q, m.ID).Domains[0]
	if d.RetryNum != 2 || !d.Due.Equal(want.Add(5*time.Minute)) || d.Details != "connection refused" || d.Status != queue.TempFail {
		t.Errorf("after a domain failure %+v", d)
	}
	c.Set(d.Due)
	jobs = claim(t, ds, "w", 10)
	record(t, ds, queue.Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "421 busy", RetryAfter: time.Hour})
	if d2 := mustGet(t, q, m.ID).Domains[0]; !d2.Due.Equal(d.Due.Add(time.Hour)) {
		t.Errorf("RetryAfter: due %v, want %v", d2.Due, d.Due.Add(time.Hour))
	}
	// A delay notice at the notify time; the next one moves on.
	c.Set(Now.Add(25 * time.Hour))
	jobs = claim(t, ds, "w", 1)
	notices = record(t, ds, queue.Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "connection refused"})
	if len(notices) != 1 || notices[0].Kind != queue.NoticeDelay || notices[0].Recipients[0].Message != "Try again later." {
		t.Fatalf("notices %+v, want a delay notice", notices)
	}
	if d := mustGet(t, q, m.ID).Domains[0]; !d.NotifyAt.Equal(Now.Add(72 * time.Hour)) {
		t.Errorf("next notify %v, want the second notify time", d.NotifyAt)
	}
	c.Set(Now.Add(26 * time.Hour))
	jobs = claim(t, ds, "w", 1)
	if n := record(t, ds, queue.Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "connection refused"}); len(n) != 0 {
		t.Errorf("a second delay notice before the next notify time: %+v", n)
	}
	c.Set(Now.Add(73 * time.Hour))
	jobs = claim(t, ds, "w", 1)
	if n := record(t, ds, queue.Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "x"}); len(n) != 1 {
		t.Errorf("no delay notice at the second notify time")
	}
	if d := mustGet(t, q, m.ID).Domains[0]; !d.NotifyAt.IsZero() {
		t.Errorf("notify %v after the last notify time, want none", d.NotifyAt)
	}
}

func (s *suite) recordPermfail(t *testing.T) {
	q, ds, _ := s.store(t)
	enqueue(t, q, queue.Envelope{Sender: "s@a.example", EnvID: "e1", Ret: "HDRS", Recipients: []queue.EnvelopeRecipient{
		{Address: "x@b.example"}, {Address: "n@b.example", Notify: queue.NotifyNever}, {Address: "d@b.example", Notify: queue.NotifyDelay}}})
	enqueue(t, q, envTo("", "x@c.example"))
	jobs := claim(t, ds, "w", 10)
	var as []queue.Attempt
	for _, j := range jobs {
		a := queue.Attempt{Lease: j.Lease, Host: "h[127.0.0.1]:25"}
		for _, r := range j.Recipients {
			a.Recipients = append(a.Recipients, queue.RcptResult{Address: r.Address, Status: queue.PermFail, Code: 550, Enhanced: "5.1.1", Message: "No such user"})
		}
		as = append(as, a)
	}
	notices := record(t, ds, as...)
	if len(notices) != 1 || notices[0].Kind != queue.NoticeFailure || len(notices[0].Recipients) != 1 {
		t.Fatalf("notices %+v, want one failure notice (NEVER, DELAY only and a bounce get none)", notices)
	}
	n := notices[0]
	if r := n.Recipients[0]; r.Address != "x@b.example" || r.Code != 550 || r.Enhanced != "5.1.1" || n.ReturnPath != "s@a.example" || !n.Created.Equal(Now) || n.EnvID != "e1" || n.Ret != "HDRS" {
		t.Errorf("notice %+v", n)
	}
	if c := mustCount(t, q, queue.Filter{All: true}); c != 0 {
		t.Errorf("%d messages left after every recipient failed", c)
	}
}

func (s *suite) recordExpiry(t *testing.T) {
	q, ds, c := s.store(t)
	never := enqueue(t, q, envTo("s@a.example", "x@b.example"))
	tried := enqueue(t, q, envTo("s@a.example", "y@c.example"))
	jobs := claim(t, ds, "w", 10)
	for _, j := range jobs {
		if j.Message == tried.ID {
			record(t, ds, queue.Attempt{Lease: j.Lease, Recipients: []queue.RcptResult{{Address: "y@c.example", Status: queue.TempFail, Code: 452, Enhanced: "4.2.2", Message: "Mailbox full"}}})
		} else {
			ds.Release(context.Background(), []queue.Lease{j.Lease})
		}
	}
	c.Set(Now.Add(queue.DefaultSchedule.Expire))
	jobs = claim(t, ds, "w", 10)
	if len(jobs) != 2 || !jobs[0].Expired || !jobs[1].Expired {
		t.Fatalf("jobs at expiry %+v, want two expired", jobs)
	}
	var as []queue.Attempt
	for _, j := range jobs {
		as = append(as, queue.Attempt{Lease: j.Lease, Skipped: true})
	}
	got := map[queue.ID]queue.Recipient{}
	for _, n := range record(t, ds, as...) {
		if n.Kind != queue.NoticeFailure {
			t.Errorf("notice kind %v", n.Kind)
		}
		got[n.Message] = n.Recipients[0]
	}
	if r := got[never.ID]; r.Message != "Message expired without any delivery attempts made." || r.Status != queue.PermFail {
		t.Errorf("never-tried recipient %+v", r)
	}
	if r := got[tried.ID]; r.Code != 452 || r.Message != "Mailbox full" || r.Status != queue.PermFail {
		t.Errorf("tried recipient %+v, want its last reply", r)
	}
	if n := mustCount(t, q, queue.Filter{All: true}); n != 0 {
		t.Errorf("%d expired messages left", n)
	}
	// A retry reaching past the expiry is cut to it.
	q2, ds2, c2 := s.store(t)
	m := enqueue(t, q2, envTo("s@a.example", "x@b.example"))
	c2.Set(Now.Add(queue.DefaultSchedule.Expire - time.Minute))
	jobs = claim(t, ds2, "w", 1)
	record(t, ds2, queue.Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "timeout"})
	if d := mustGet(t, q2, m.ID).Domains[0]; !d.Due.Equal(d.Expires) {
		t.Errorf("due %v, want the expiry %v", d.Due, d.Expires)
	}
}

func (s *suite) recordAfterCancel(t *testing.T) {
	ctx := context.Background()
	q, ds, _ := s.store(t)
	m := enqueue(t, q, envTo("s@a.example", "x@b.example"))
	m2 := enqueue(t, q, envTo("s@a.example", "x@c.example", "y@c.example"))
	jobs := claim(t, ds, "w", 10)
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{m2.ID}, Recipient: []string{"y@c.example"}}}); err != nil {
		t.Fatal(err)
	}
	var as []queue.Attempt
	for _, j := range jobs {
		as = append(as, queue.Attempt{Lease: j.Lease, Recipients: []queue.RcptResult{
			{Address: "x@" + j.Domain, Status: queue.TempFail, Code: 451}, {Address: "y@c.example", Status: queue.Completed, Code: 250}}})
	}
	record(t, ds, as...)
	if _, err := q.Get(ctx, m.ID); err == nil {
		t.Errorf("cancelled message resurrected")
	}
	got := mustGet(t, q, m2.ID)
	if r := got.Domains[0].Recipients[1]; r.Status != queue.PermFail || r.Message != "Delivery canceled." {
		t.Errorf("cancelled recipient became %+v", r)
	}
}

func (s *suite) renewRelease(t *testing.T) {
	q, ds, c := s.store(t)
	enqueue(t, q, envTo("s@a.example", "x@b.example"))
	claim(t, ds, "w1", 1)
	c.Set(Now.Add(50 * time.Second))
	if err := ds.Renew(context.Background(), "w1", time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Set(Now.Add(100 * time.Second))
	if got := claim(t, ds, "w2", 1); len(got) != 0 {
		t.Errorf("a renewed lease was taken over")
	}
	c.Set(Now.Add(111 * time.Second))
	if got := claim(t, ds, "w2", 1); len(got) != 1 {
		t.Errorf("after the renewed lease ran out: claimed %d, want 1", len(got))
	}
}

// changed: a change signals within a second; no change, no signal.
func (s *suite) changed(t *testing.T) {
	q, ds, _ := s.store(t)
	enqueue(t, q, envTo("s@a.example", "x@b.example"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := ds.Changed(ctx, 20*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	select { // a signal of the connection's start is allowed: drain it
	case <-ch:
	default:
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("signal without a change")
	default:
	}
	if _, err := q.Retry(context.Background(), queue.RetryRequest{Filter: queue.Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("no signal within a second of a retry")
	}
	cancel()
	for range ch { // closed when ctx ends
	}
}
