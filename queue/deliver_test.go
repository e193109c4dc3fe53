package queue

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func enqueueTest(t *testing.T, q *Queue, env Envelope) *Message {
	t.Helper()
	m, err := q.Enqueue(t.Context(), env, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func envTo(sender string, rcpts ...string) Envelope {
	env := Envelope{Sender: sender}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, EnvelopeRecipient{Address: r})
	}
	return env
}

func claim(t *testing.T, q *Queue, worker string, max int) []Job {
	t.Helper()
	jobs, err := q.Claim(t.Context(), ClaimRequest{Worker: worker, Max: max, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func record(t *testing.T, q *Queue, a ...Attempt) []Notice {
	t.Helper()
	n, err := q.Record(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A claimed domain is leased: another worker gets nothing until the lease
// runs out; paused queues and held messages are not claimed.
func TestClaimLease(t *testing.T) {
	q, c := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example", "y@b.example", "z@c.example"))
	enqueueTest(t, q, Envelope{Sender: "s@a.example", Recipients: []EnvelopeRecipient{{Address: "h@b.example"}}, Held: true})

	jobs := claim(t, q, "w1", 10)
	if len(jobs) != 2 {
		t.Fatalf("claimed %d domains, want 2 (the held message is skipped): %+v", len(jobs), jobs)
	}
	j := jobs[0]
	if j.Message != m.ID || j.Domain != "b.example" || len(j.Recipients) != 2 || string(j.Raw) != "Subject: hi\r\n\r\nhello\r\n" || j.ReturnPath != "s@a.example" || j.Expired {
		t.Errorf("job %+v", j)
	}
	if got := claim(t, q, "w2", 10); len(got) != 0 {
		t.Errorf("second worker claimed %d leased domains", len(got))
	}
	if due, ok, _ := q.NextDue(t.Context()); ok {
		t.Errorf("NextDue %v with every domain leased, want none", due)
	}
	c.Set(testNow.Add(61 * time.Second))
	if got := claim(t, q, "w2", 10); len(got) != 2 {
		t.Errorf("after the lease ran out, second worker claimed %d, want 2", len(got))
	}
	// Handed back: claimable at once.
	if err := q.Release(t.Context(), []Lease{jobs[0].Lease}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, q, "w3", 10); len(got) != 0 {
		t.Errorf("a release by a worker that lost its lease freed the domain: %d claimed", len(got))
	}

	q2, _ := openTest(t)
	enqueueTest(t, q2, envTo("s@a.example", "x@b.example"))
	if _, err := q2.SetPaused(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, q2, "w1", 10); len(got) != 0 {
		t.Errorf("paused queue: claimed %d", len(got))
	}
	q2.SetPaused(t.Context(), false)
	jobs = claim(t, q2, "w1", 10)
	if len(jobs) != 1 {
		t.Fatalf("resumed queue: claimed %d, want 1", len(jobs))
	}
	if err := q2.Release(t.Context(), []Lease{jobs[0].Lease}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, q2, "w2", 10); len(got) != 1 {
		t.Errorf("released domain: claimed %d, want 1", len(got))
	}
}

// PerDomain caps the domains of one name claimed at once.
func TestClaimPerDomain(t *testing.T) {
	q, _ := openTest(t)
	for i := 0; i < 5; i++ {
		enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	}
	enqueueTest(t, q, envTo("s@a.example", "x@c.example"))
	jobs, err := q.Claim(t.Context(), ClaimRequest{Worker: "w", Max: 10, PerDomain: 2, Busy: map[string]int{"b.example": 1}})
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
}

func TestRecordDeliveredRemovesMessage(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, Envelope{Sender: "s@a.example", Recipients: []EnvelopeRecipient{
		{Address: "x@b.example", Notify: NotifySuccess}, {Address: "y@b.example"}, {Address: "z@c.example"}}})
	jobs := claim(t, q, "w", 10)
	notices := record(t, q, Attempt{Lease: jobs[0].Lease, Host: "mx.b.example[127.0.0.1]:25", Reply: "250 ok", Recipients: []RcptResult{
		{Address: "x@b.example", Status: Completed, Code: 250, Enhanced: "2.0.0", Message: "Ok"},
		{Address: "Y@b.example", Status: Completed, Code: 250, Enhanced: "2.0.0", Message: "Ok"}}})
	if len(notices) != 1 || notices[0].Kind != NoticeSuccess || len(notices[0].Recipients) != 1 || notices[0].Recipients[0].Address != "x@b.example" || notices[0].RemoteMTA != "mx.b.example[127.0.0.1]:25" {
		t.Errorf("notices %+v, want one success notice for x@b.example", notices)
	}
	got := mustGet(t, q, m.ID)
	if d := got.Domains[0]; d.Status != Completed || d.Recipients[0].Status != Completed || d.Recipients[0].Code != 250 {
		t.Errorf("domain after delivery %+v", d)
	}
	if got.Due() != got.Domains[1].Due {
		t.Errorf("message due %v", got.Due())
	}
	record(t, q, Attempt{Lease: jobs[1].Lease, Recipients: []RcptResult{{Address: "z@c.example", Status: Completed, Code: 250}}})
	if _, err := q.Get(t.Context(), m.ID); err == nil {
		t.Errorf("message with nothing pending is still queued")
	}
	var n int
	q.writer.QueryRow("SELECT count(*) FROM attempts WHERE msg_id = ?", int64(m.ID)).Scan(&n)
	if n != 2 {
		t.Errorf("%d attempts rows, want 2 (kept after the message is gone)", n)
	}
	for _, tab := range []string{"domains", "recipients", "bodies"} {
		q.writer.QueryRow("SELECT count(*) FROM "+tab+" WHERE msg_id = ?", int64(m.ID)).Scan(&n)
		if n != 0 {
			t.Errorf("%d rows left in %s", n, tab)
		}
	}
}

func TestRecordTempfailSchedulesRetry(t *testing.T) {
	q, c := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example", "y@b.example"))
	jobs := claim(t, q, "w", 10)
	c.Set(testNow.Add(10 * time.Second))
	notices := record(t, q, Attempt{Lease: jobs[0].Lease, Host: "h[127.0.0.1]:25", Recipients: []RcptResult{
		{Address: "x@b.example", Status: TempFail, Code: 451, Enhanced: "4.5.3", Message: "Try again later."},
		{Address: "y@b.example", Status: Completed, Code: 250}}})
	if len(notices) != 0 {
		t.Errorf("notices %+v, want none", notices)
	}
	got := mustGet(t, q, m.ID)
	d := got.Domains[0]
	want := testNow.Add(10*time.Second + 2*time.Minute)
	if d.Status != TempFail || d.RetryNum != 1 || !d.Due.Equal(want) || !got.Due().Equal(want) {
		t.Errorf("domain %+v, want tempfail, retry 1, due %v", d, want)
	}
	if d.Details != "Code: 451, Enhanced code: 4.5.3, Message: Try again later." {
		t.Errorf("details %q", d.Details)
	}
	if r := d.Recipients[0]; r.Status != TempFail || r.Code != 451 || r.Enhanced != "4.5.3" || r.Message != "Try again later." {
		t.Errorf("recipient %+v", r)
	}
	// Not due before the retry; then the second interval applies.
	if got := claim(t, q, "w", 10); len(got) != 0 {
		t.Fatalf("claimed before the retry was due")
	}
	c.Set(want)
	jobs = claim(t, q, "w", 10)
	if len(jobs) != 1 || len(jobs[0].Recipients) != 1 {
		t.Fatalf("retry claimed %+v, want the one pending recipient", jobs)
	}
	record(t, q, Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "connection refused"})
	d = mustGet(t, q, m.ID).Domains[0]
	if d.RetryNum != 2 || !d.Due.Equal(want.Add(5*time.Minute)) || d.Details != "connection refused" || d.Status != TempFail {
		t.Errorf("after a domain failure %+v", d)
	}
	// A policy's interval wins.
	c.Set(d.Due)
	jobs = claim(t, q, "w", 10)
	record(t, q, Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "421 busy", RetryAfter: time.Hour})
	if d2 := mustGet(t, q, m.ID).Domains[0]; !d2.Due.Equal(d.Due.Add(time.Hour)) {
		t.Errorf("RetryAfter: due %v, want %v", d2.Due, d.Due.Add(time.Hour))
	}
}

func TestRecordPermfailNotices(t *testing.T) {
	q, _ := openTest(t)
	enqueueTest(t, q, Envelope{Sender: "s@a.example", Recipients: []EnvelopeRecipient{
		{Address: "x@b.example"}, {Address: "n@b.example", Notify: NotifyNever}, {Address: "d@b.example", Notify: NotifyDelay}}})
	enqueueTest(t, q, envTo("", "x@c.example"))
	jobs := claim(t, q, "w", 10)
	var as []Attempt
	for _, j := range jobs {
		a := Attempt{Lease: j.Lease, Host: "h[127.0.0.1]:25"}
		for _, r := range j.Recipients {
			a.Recipients = append(a.Recipients, RcptResult{Address: r.Address, Status: PermFail, Code: 550, Enhanced: "5.1.1", Message: "No such user"})
		}
		as = append(as, a)
	}
	notices := record(t, q, as...)
	if len(notices) != 1 || notices[0].Kind != NoticeFailure || len(notices[0].Recipients) != 1 {
		t.Fatalf("notices %+v, want one failure notice (NEVER, DELAY only and a bounce get none)", notices)
	}
	n := notices[0]
	if r := n.Recipients[0]; r.Address != "x@b.example" || r.Code != 550 || r.Enhanced != "5.1.1" || n.ReturnPath != "s@a.example" || n.Created != testNow {
		t.Errorf("notice %+v", n)
	}
	if c, _ := q.Count(t.Context(), Filter{All: true}); c != 0 {
		t.Errorf("%d messages left after every recipient failed", c)
	}
}

func TestRecordExpiry(t *testing.T) {
	q, c := openTest(t)
	never := enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	tried := enqueueTest(t, q, envTo("s@a.example", "y@c.example"))
	jobs := claim(t, q, "w", 10)
	for _, j := range jobs {
		if j.Message == tried.ID {
			record(t, q, Attempt{Lease: j.Lease, Recipients: []RcptResult{{Address: "y@c.example", Status: TempFail, Code: 452, Enhanced: "4.2.2", Message: "Mailbox full"}}})
		} else {
			q.Release(t.Context(), []Lease{j.Lease})
		}
	}
	c.Set(testNow.Add(DefaultSchedule.Expire))
	jobs = claim(t, q, "w", 10)
	if len(jobs) != 2 || !jobs[0].Expired || !jobs[1].Expired {
		t.Fatalf("jobs at expiry %+v, want two expired", jobs)
	}
	var as []Attempt
	for _, j := range jobs {
		as = append(as, Attempt{Lease: j.Lease, Skipped: true})
	}
	notices := record(t, q, as...)
	got := map[ID]Recipient{}
	for _, n := range notices {
		if n.Kind != NoticeFailure {
			t.Errorf("notice kind %v", n.Kind)
		}
		got[n.Message] = n.Recipients[0]
	}
	if r := got[never.ID]; r.Message != "Message expired without any delivery attempts made." || r.Status != PermFail {
		t.Errorf("never-tried recipient %+v", r)
	}
	if r := got[tried.ID]; r.Code != 452 || r.Message != "Mailbox full" || r.Status != PermFail {
		t.Errorf("tried recipient %+v, want its last reply", r)
	}
	if n, _ := q.Count(t.Context(), Filter{All: true}); n != 0 {
		t.Errorf("%d expired messages left", n)
	}
}

// A retry interval reaching past the expiry is cut to the expiry, so the
// domain expires on time.
func TestRecordRetryCappedAtExpiry(t *testing.T) {
	q, c := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	c.Set(testNow.Add(DefaultSchedule.Expire - time.Minute))
	jobs := claim(t, q, "w", 1)
	record(t, q, Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "timeout"})
	if d := mustGet(t, q, m.ID).Domains[0]; !d.Due.Equal(d.Expires) {
		t.Errorf("due %v, want the expiry %v", d.Due, d.Expires)
	}
}

func TestRecordDelayNotice(t *testing.T) {
	q, c := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	c.Set(testNow.Add(25 * time.Hour))
	jobs := claim(t, q, "w", 1)
	notices := record(t, q, Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "connection refused"})
	if len(notices) != 1 || notices[0].Kind != NoticeDelay || notices[0].Recipients[0].Message != "connection refused" {
		t.Fatalf("notices %+v, want a delay notice saying why", notices)
	}
	if d := mustGet(t, q, m.ID).Domains[0]; !d.NotifyAt.Equal(testNow.Add(72 * time.Hour)) {
		t.Errorf("next notify %v, want the second notify time", d.NotifyAt)
	}
	c.Set(testNow.Add(26 * time.Hour))
	jobs = claim(t, q, "w", 1)
	if n := record(t, q, Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "connection refused"}); len(n) != 0 {
		t.Errorf("a second delay notice before the next notify time: %+v", n)
	}
	c.Set(testNow.Add(73 * time.Hour))
	jobs = claim(t, q, "w", 1)
	if n := record(t, q, Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "x"}); len(n) != 1 {
		t.Errorf("no delay notice at the second notify time")
	}
	if d := mustGet(t, q, m.ID).Domains[0]; !d.NotifyAt.IsZero() {
		t.Errorf("notify %v after the last notify time, want none", d.NotifyAt)
	}
}

// A message cancelled while its delivery was under way stays gone; a
// recipient cancelled meanwhile stays cancelled.
func TestRecordAfterCancel(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	m2 := enqueueTest(t, q, envTo("s@a.example", "x@c.example", "y@c.example"))
	jobs := claim(t, q, "w", 10)
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{m.ID}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{m2.ID}, Recipient: []string{"y@c.example"}}}); err != nil {
		t.Fatal(err)
	}
	var as []Attempt
	for _, j := range jobs {
		as = append(as, Attempt{Lease: j.Lease, Recipients: []RcptResult{
			{Address: "x@" + j.Domain, Status: TempFail, Code: 451}, {Address: "y@c.example", Status: Completed, Code: 250}}})
	}
	record(t, q, as...)
	if _, err := q.Get(t.Context(), m.ID); err == nil {
		t.Errorf("cancelled message resurrected")
	}
	var n int
	q.writer.QueryRow("SELECT count(*) FROM recipients WHERE msg_id = ?", int64(m.ID)).Scan(&n)
	if n != 0 {
		t.Errorf("%d recipient rows of the cancelled message", n)
	}
	got := mustGet(t, q, m2.ID)
	if r := got.Domains[0].Recipients[1]; r.Status != PermFail || r.Message != "Delivery canceled." {
		t.Errorf("cancelled recipient became %+v", r)
	}
}

// Changed signals a change made through another handle within the interval.
func TestChangedSeesOtherHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	ch := q.Changed(t.Context(), 20*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("signal without a change")
	default:
	}
	q2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	if _, err := q2.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("no signal within a second of a retry from another handle")
	}
}

func TestClaimNeedsWorker(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.Claim(t.Context(), ClaimRequest{}); err == nil || !strings.Contains(err.Error(), "worker") {
		t.Errorf("claim without a worker: %v", err)
	}
}

// Renew keeps a worker's leases from running out.
func TestRenewLease(t *testing.T) {
	q, c := openTest(t)
	enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	claim(t, q, "w1", 1)
	c.Set(testNow.Add(50 * time.Second))
	if err := q.Renew(t.Context(), "w1", time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Set(testNow.Add(100 * time.Second))
	if got := claim(t, q, "w2", 1); len(got) != 0 {
		t.Errorf("a renewed lease was taken over")
	}
	c.Set(testNow.Add(111 * time.Second))
	if got := claim(t, q, "w2", 1); len(got) != 1 {
		t.Errorf("after the renewed lease ran out: claimed %d, want 1", len(got))
	}
}
