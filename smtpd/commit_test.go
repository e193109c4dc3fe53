package smtpd

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mqsh/queue"
)

// Messages handed to the committer at once share commits; one the queue
// refuses fails alone, as refused (a permanent reply), and the others are
// stored.
func TestCommitterIsolatesARefusedMessage(t *testing.T) {
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c := newCommitter(q, 64)
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := queue.Envelope{Sender: "a@b.example", Recipients: []queue.EnvelopeRecipient{{Address: "c@d.example"}}}
			if i == 7 {
				env.Ret = "BODY" // refused by the queue
			}
			_, errs[i] = c.enqueue(context.Background(), env, []byte("Subject: x\r\n\r\n"))
		}()
	}
	wg.Wait()
	c.close()
	for i, err := range errs {
		var refused *refusedError
		if i == 7 && !errors.As(err, &refused) || i != 7 && err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if n, _ := q.Count(context.Background(), queue.Filter{}); n != 39 {
		t.Errorf("%d messages stored, want 39", n)
	}
	if _, err := c.enqueue(context.Background(), queue.Envelope{}, nil); !errors.Is(err, errShutdown) {
		t.Errorf("after close: %v", err)
	}
}

// countDurable counts SetDurable calls on a real queue.
type countDurable struct {
	*queue.Queue
	mu sync.Mutex
	on int
}

func (c *countDurable) SetDurable(ctx context.Context, on bool) error {
	c.mu.Lock()
	if on {
		c.on++
	}
	c.mu.Unlock()
	return c.Queue.SetDurable(ctx, on)
}

// New makes the queue's commits synchronous, once: the setting stays with
// the queue's write connection (queue.TestSetDurable), so the committer does
// not set it again before every batch.
func TestServerMakesCommitsDurableOnce(t *testing.T) {
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	cd := &countDurable{Queue: q}
	s, err := New(cd, Config{Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for i := range 3 {
		env := queue.Envelope{Sender: "a@b.example", Recipients: []queue.EnvelopeRecipient{{Address: "c@d.example"}}}
		if _, err := s.com.enqueue(context.Background(), env, nil); err != nil {
			t.Fatal(err)
		}
		cd.mu.Lock()
		on := cd.on
		cd.mu.Unlock()
		if on != 1 {
			t.Errorf("after %d one-message batches: SetDurable called %d times, want once (by New)", i+1, on)
		}
	}
}

// countIngest counts the batches a real queue's Ingest writes.
type countIngest struct {
	*queue.Queue
	mu      sync.Mutex
	batches int
}

func (c *countIngest) Ingest(ctx context.Context, msgs []queue.NewMessage) ([]*queue.Message, []error, error) {
	c.mu.Lock()
	c.batches++
	c.mu.Unlock()
	return c.Queue.Ingest(ctx, msgs)
}

// The committer writes its batches through the queue's own group commit
// when it has one; when a batch fails there, it is written again one
// message at a time, so that only the message at fault fails.
func TestCommitterUsesIngest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := queue.Open(path, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TRIGGER boom BEFORE INSERT ON recipients WHEN NEW.address_lc = 'boom@d.example'
		BEGIN SELECT RAISE(ABORT, 'no room'); END`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ci := &countIngest{Queue: q}
	c := newCommitter(ci, 64)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rcpt := "c@d.example"
			if i == 5 {
				rcpt = "boom@d.example"
			}
			env := queue.Envelope{Sender: "a@b.example", Recipients: []queue.EnvelopeRecipient{{Address: rcpt}}}
			_, errs[i] = c.enqueue(context.Background(), env, []byte("Subject: x\r\n\r\n"))
		}()
	}
	wg.Wait()
	c.close()
	for i, err := range errs {
		var refused *refusedError
		if i == 5 && (err == nil || errors.As(err, &refused)) || i != 5 && err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if n, _ := q.Count(context.Background(), queue.Filter{}); n != 19 {
		t.Errorf("%d messages stored, want 19", n)
	}
	if ci.batches == 0 {
		t.Error("the committer never used the queue's Ingest")
	}
}

// The committer waits a little for the sessions still sending their message
// (a transaction open, nothing handed in yet), so that one commit takes them
// all; a session that sends nothing more holds the batch no longer than
// gatherWait.
func TestCommitterWaitsForOpenTransactions(t *testing.T) {
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	old := gatherWait
	gatherWait = 100 * time.Millisecond // room for a busy machine's sleeps
	defer func() { gatherWait = old }()
	ci := &countIngest{Queue: q}
	c := newCommitter(ci, 64)
	defer c.close()
	env := queue.Envelope{Sender: "a@b.example", Recipients: []queue.EnvelopeRecipient{{Address: "c@d.example"}}}
	send := func(n int, gap time.Duration) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * gap)
				if _, err := c.enqueue(context.Background(), env, []byte("Subject: x\r\n\r\n")); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	c.inTx.Store(4)
	send(4, time.Millisecond)
	if ci.batches != 1 {
		t.Errorf("4 open transactions sent 1 ms apart took %d commits, want 1", ci.batches)
	}
	// Five open, four send: the batch waits gatherWait for the fifth, no more.
	c.inTx.Store(5)
	t0 := time.Now()
	send(4, 0)
	if el := time.Since(t0); el < gatherWait || el > gatherWait+time.Second {
		t.Errorf("with a transaction that sends nothing the batch took %v, want about %v", el, gatherWait)
	}
	if ci.batches != 2 {
		t.Errorf("%d commits in all, want 2", ci.batches)
	}
}

// A session counts as having a transaction open from MAIL until the
// transaction ends (its message answered, RSET, a refused MAIL, QUIT or a
// dropped connection), so that the committer never waits for one that
// will send nothing.
func TestOpenTransactionsCounted(t *testing.T) {
	ts := start(t, Config{}, nil)
	open := func(want int32, when string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for ts.s.com.inTx.Load() != want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := ts.s.com.inTx.Load(); n != want {
			t.Errorf("%s: %d transactions open, want %d", when, n, want)
		}
	}
	a, b := dialRaw(t, ts.addr()), dialRaw(t, ts.addr())
	a.expect("EHLO a.example", "250-")
	b.expect("EHLO b.example", "250-")
	a.expect("MAIL FROM:<a@b.example>", "250 ")
	b.expect("MAIL FROM:<a@b.example>", "250 ")
	open(2, "two MAILs")
	a.expect("MAIL FROM:<a@b.example>", "250 ") // a new transaction in place of the first
	open(2, "a second MAIL on one session")
	a.expect("RSET", "250 ")
	open(1, "after RSET")
	a.expect("MAIL FROM:<bad>", "501 ")
	open(1, "after a refused MAIL")
	b.expect("RCPT TO:<c@d.example>", "250 ")
	b.expect("DATA", "354 ")
	b.expect("Subject: x\r\n\r\nhi\r\n.", "250 ")
	open(0, "after the message")
	a.expect("MAIL FROM:<a@b.example>", "250 ")
	open(1, "a MAIL again")
	a.c.Close()
	open(0, "after a dropped connection")
}
