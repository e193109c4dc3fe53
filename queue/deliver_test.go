package queue

import (
	"database/sql"
	"path/filepath"
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

// A message cancelled while its delivery was under way stays gone; a
// recipient cancelled meanwhile stays cancelled.
func TestRecordAfterCancel(t *testing.T) {
	needsImmediateRemoval(t)
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

// Changed tells a change committed at once after it returns, even when its
// watch could not start at once (here: every read connection is busy): an
// idle server that starts watching as another process queues a message
// does not sleep through it.
func TestChangedSeesAChangeRightAfterItReturns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	q2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	var held []*sql.Conn
	release := func() {
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
	defer release()
	for range 8 { // the read pool's size (openReader)
		c, err := q.reader.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	returned := make(chan (<-chan struct{}), 1)
	go func() { returned <- q.Changed(t.Context(), 20*time.Millisecond) }()
	var ch <-chan struct{}
	select {
	case ch = <-returned: // returned without its first reading
	case <-time.After(200 * time.Millisecond): // waits for a connection to read it
		release()
		ch = <-returned
	}
	if _, err := q2.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	release()
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no signal of a retry committed right after Changed returned")
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
