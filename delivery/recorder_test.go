package delivery

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"mqsh/queue"
)

// countingStore is a queue that notes the size of every Record call.
type countingStore struct {
	*queue.Queue
	mu    sync.Mutex
	sizes []int
}

func (s *countingStore) Record(ctx context.Context, a []queue.Attempt) ([]queue.Notice, error) {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(a))
	s.mu.Unlock()
	return s.Queue.Record(ctx, a)
}

// Outcomes that come in one after another, closer together than the
// linger, are recorded in one transaction rather than one each; the last
// ones are recorded at once when the workers stop.
func TestRecorderBatchesOutcomes(t *testing.T) {
	q := openQueue(t, "", queue.Schedule{})
	for i := 0; i < 9; i++ {
		enqueue(t, q, "s@a.test", fmt.Sprintf("u%d@d.test", i))
	}
	jobs, err := q.Claim(t.Context(), queue.ClaimRequest{Worker: "w", Max: 9, Lease: time.Minute})
	if err != nil || len(jobs) != 9 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	st := &countingStore{Queue: q}
	d, err := New(st, Config{Relay: "127.0.0.1:1", Concurrency: 16, Linger: 5 * time.Second, Node: "w"})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := make(chan outcome)
	finished := make(chan []string, 16)
	done := make(chan error, 1)
	go func() { done <- d.recorder(t.Context(), outcomes, finished) }()
	t0 := time.Now()
	for _, j := range jobs {
		a := queue.Attempt{Lease: j.Lease, Host: "relay[127.0.0.1]:25", Reply: "250 ok",
			Recipients: []queue.RcptResult{{Address: j.Recipients[0].Address, Status: queue.Completed, Code: 250, Message: "ok"}}}
		outcomes <- outcome{attempt: &a}
		time.Sleep(20 * time.Millisecond)
	}
	close(outcomes)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > 4*time.Second {
		t.Errorf("the last outcome waited for the linger after the workers stopped (%v)", el)
	}
	st.mu.Lock()
	sizes := append([]int(nil), st.sizes...)
	st.mu.Unlock()
	// Half the workers (8) make a batch; the ninth is recorded on close.
	if len(sizes) != 2 || sizes[0] != 8 || sizes[1] != 1 {
		t.Errorf("record calls of sizes %v, want [8 1]", sizes)
	}
	if n := queued(t, q); n != 0 {
		t.Errorf("%d messages still queued after every outcome was recorded", n)
	}
	close(finished)
	got := 0
	for doms := range finished {
		got += len(doms)
	}
	if got != 9 {
		t.Errorf("%d domains reported finished, want 9", got)
	}
}
