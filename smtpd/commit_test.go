package smtpd

import (
	"context"
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
