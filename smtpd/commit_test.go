package smtpd

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

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
