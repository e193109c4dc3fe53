package pgqueue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
)

// TestClaimConcurrently: workers in several processes' place (a pool each)
// claim at the same moment; SKIP LOCKED hands every due domain to exactly
// one of them, and none waits for another.
func TestClaimConcurrently(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	url := pgtest.URL(t)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	const n = 300
	for i := range n {
		env := queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{{Address: fmt.Sprintf("x%d@b%d.example", i, i%7)}, {Address: "y@c.example"}}}
		if _, err := q.Enqueue(ctx, env, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Each worker has its own handle on the database, as a node would.
	var workers []*pgqueue.Queue
	for range 4 {
		w, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		workers = append(workers, w)
	}
	var mu sync.Mutex
	seen := map[queue.Lease]string{}
	var wg sync.WaitGroup
	var errs []error // under mu
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%d", i)
			for {
				jobs, err := w.Claim(ctx, queue.ClaimRequest{Worker: name, Max: 7, Lease: time.Minute})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					k := queue.Lease{Message: j.Message, DomainIdx: j.DomainIdx, Domain: j.Domain}
					if prev, dup := seen[k]; dup {
						errs = append(errs, fmt.Errorf("%s domain %s claimed by %s and %s", j.Message, j.Domain, prev, name))
					}
					seen[k] = name
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			t.Errorf("and %d more", len(errs)-5)
			break
		}
		t.Error(err)
	}
	if len(seen) != 2*n {
		t.Errorf("%d domains claimed, want %d", len(seen), 2*n)
	}
	by := map[string]int{}
	for _, w := range seen {
		by[w]++
	}
	if len(by) < 2 {
		t.Errorf("one worker claimed everything (%v): the others waited rather than skipped", by)
	}
}
