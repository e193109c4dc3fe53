package smtpd

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
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

func (c *countIngest) Ingest(ctx context.Context, msgs []queue.NewMessage) ([]*queue.Message, []error, func() error, error) {
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

// heldFlush is a queue whose group commit's flushes wait until the test
// lets them go (release), then flush for real or fail with fail; flushing
// counts the flushes under way or done, msgs the messages handed in.
type heldFlush struct {
	*queue.Queue
	release  chan struct{}
	fail     error
	batches  atomic.Int32
	msgs     atomic.Int32
	flushing atomic.Int32
}

func (h *heldFlush) Ingest(ctx context.Context, msgs []queue.NewMessage) ([]*queue.Message, []error, func() error, error) {
	out, errs, flushed, err := h.Queue.Ingest(ctx, msgs)
	if err != nil {
		return nil, nil, nil, err
	}
	h.batches.Add(1)
	h.msgs.Add(int32(len(msgs)))
	return out, errs, func() error {
		h.flushing.Add(1)
		<-h.release
		if h.fail != nil {
			return h.fail
		}
		return flushed()
	}, nil
}

func newHeldFlush(t *testing.T) *heldFlush {
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if err := q.SetDurable(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	return &heldFlush{Queue: q, release: make(chan struct{})}
}

// waitUntil waits up to 10 seconds for cond.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// No session is answered before the flush that covers its message is over,
// and the committer writes the next batch while a flush is under way.
func TestCommitterAnswersAfterFlush(t *testing.T) {
	h := newHeldFlush(t)
	c := newCommitter(h, 64)
	env := queue.Envelope{Sender: "a@b.example", Recipients: []queue.EnvelopeRecipient{{Address: "c@d.example"}}}
	answered := make(chan error, 2)
	send := func() {
		_, err := c.enqueue(context.Background(), env, []byte("Subject: x\r\n\r\n"))
		answered <- err
	}
	go send()
	waitUntil(t, "the first batch's flush", func() bool { return h.flushing.Load() == 1 })
	go send()
	waitUntil(t, "the second batch committed during the first flush", func() bool { return h.batches.Load() == 2 })
	select {
	case err := <-answered:
		t.Fatalf("a session was answered (%v) before its flush was over", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(h.release)
	for range 2 {
		if err := <-answered; err != nil {
			t.Error(err)
		}
	}
	c.close()
	if n, _ := h.Count(context.Background(), queue.Filter{}); n != 2 {
		t.Errorf("%d messages stored, want 2", n)
	}
}

// When the flush fails, every session of the batches it was to cover gets
// the error, which says why (the session answers it with a 451), and a
// message the queue refused stays refused; close waits for the answers.
func TestCommitterFlushFails(t *testing.T) {
	h := newHeldFlush(t)
	h.fail = errors.New("flush of queue.db-wal to disk failed (input/output error): ... not known to be on disk")
	c := newCommitter(h, 64)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, rcpt := range []string{"c@d.example", "bad address"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := queue.Envelope{Sender: "a@b.example", Recipients: []queue.EnvelopeRecipient{{Address: rcpt}}}
			_, errs[i] = c.enqueue(context.Background(), env, []byte("Subject: x\r\n\r\n"))
		}()
	}
	// Both messages are in a batch (one or two) before the committer
	// closes: the second, sent later, would otherwise meet a closed server.
	waitUntil(t, "a flush", func() bool { return h.flushing.Load() >= 1 && h.msgs.Load() == 2 })
	closed := make(chan struct{})
	go func() { c.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned with a flush under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(h.release)
	<-closed
	wg.Wait()
	var refused *refusedError
	if errs[0] == nil || errors.As(errs[0], &refused) || errs[0].Error() != h.fail.Error() {
		t.Errorf("message of a failed flush: %v, want the flush's error", errs[0])
	}
	if !errors.As(errs[1], &refused) {
		t.Errorf("refused message of a failed flush: %v, want it refused", errs[1])
	}
}

// A session answered 451 when the flush fails, and the log says why.
func TestFlushFailureAnswered451(t *testing.T) {
	h := newHeldFlush(t)
	h.fail = errors.New("flush of queue.db-wal to disk failed (input/output error)")
	close(h.release)
	log := &syncBuffer{}
	s, err := New(h, Config{Hostname: "mx.test", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	defer func() {
		s.Shutdown(context.Background())
		<-done
	}()
	cl := dialRaw(t, ln.Addr().String())
	cl.expect("EHLO a.example", "250-")
	cl.expect("MAIL FROM:<a@b.example>", "250 ")
	cl.expect("RCPT TO:<c@d.example>", "250 ")
	cl.expect("DATA", "354 ")
	cl.expect("Subject: x\r\n\r\nhi\r\n.", "451 ")
	log.waitFor(t, "input/output error")
}
