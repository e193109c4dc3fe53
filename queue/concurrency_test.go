package queue

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// writeLoad enqueues n messages (recipients at dom) and, in between, retries
// and cancels some of its own messages, on q.
func writeLoad(ctx context.Context, q *Queue, tag string, n int) (kept int, err error) {
	for i := 0; i < n; i++ {
		env := Envelope{Sender: tag + "@sender.test", Recipients: []EnvelopeRecipient{{Address: fmt.Sprintf("r%d@%s.test", i, tag)}, {Address: fmt.Sprintf("s%d@other.test", i)}}}
		m, err := q.Enqueue(ctx, env, []byte("x"))
		if err != nil {
			return kept, fmt.Errorf("enqueue %d: %w", i, err)
		}
		kept++
		switch i % 5 {
		case 1:
			if _, err := q.Retry(ctx, RetryRequest{Filter: Filter{Sender: []string{tag + "@sender.test"}}}); err != nil {
				return kept, fmt.Errorf("retry: %w", err)
			}
		case 3:
			res, err := q.Cancel(ctx, CancelRequest{Filter: Filter{IDs: []ID{m.ID}}})
			if err != nil {
				return kept, fmt.Errorf("cancel: %w", err)
			}
			kept -= res.Count
		case 4:
			if _, err := q.Cancel(ctx, CancelRequest{Filter: Filter{IDs: []ID{m.ID}, Recipient: []string{"@other.test"}}}); err != nil {
				return kept, fmt.Errorf("cancel recipient: %w", err)
			}
		}
		if _, err := q.List(ctx, Filter{Domain: []string{"other.test"}}, Page{Limit: 20}); err != nil {
			return kept, fmt.Errorf("list: %w", err)
		}
	}
	return kept, nil
}

func TestTwoQueuesWriteAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	var qs []*Queue
	for i := 0; i < 2; i++ {
		q, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		qs = append(qs, q)
	}
	const n = 150
	var wg sync.WaitGroup
	kept := make([]int, 4)
	errs := make([]error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kept[g], errs[g] = writeLoad(t.Context(), qs[g%2], fmt.Sprintf("g%d", g), n)
		}()
	}
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", g, err)
		}
	}
	for g := 0; g < 4; g++ {
		if got := mustCount(t, qs[0], Filter{Sender: []string{fmt.Sprintf("g%d@sender.test", g)}}); got != kept[g] {
			t.Errorf("writer %d: %d messages, want %d", g, got, kept[g])
		}
	}
	a, _ := qs[1].Audit(t.Context(), AuditQuery{Verb: "enqueue"})
	if len(a) != 4*n {
		t.Errorf("%d enqueues audited, want %d", len(a), 4*n)
	}
	checkDue(t, qs[0])
}

// TestTwoProcessesWriteAtOnce runs writers in two separate processes (this test
// binary, re-executed) on one file.
func TestTwoProcessesWriteAtOnce(t *testing.T) {
	if path := os.Getenv("MQSH_TEST_CHILD_QUEUE"); path != "" {
		q, err := Open(path, Options{})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		kept, err := writeLoad(context.Background(), q, os.Getenv("MQSH_TEST_CHILD_TAG"), 150)
		q.Close()
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("KEPT", kept)
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var wg sync.WaitGroup
	out := make([]string, 2)
	errs := make([]error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessesWriteAtOnce$")
			cmd.Env = append(os.Environ(), "MQSH_TEST_CHILD_QUEUE="+path, fmt.Sprintf("MQSH_TEST_CHILD_TAG=p%d", i))
			b, err := cmd.CombinedOutput()
			out[i], errs[i] = string(b), err
		}()
	}
	// This process writes too.
	keptHere, err := writeLoad(t.Context(), q, "parent", 100)
	if err != nil {
		t.Error(err)
	}
	wg.Wait()
	for i := 0; i < 2; i++ {
		if errs[i] != nil || !strings.Contains(out[i], "KEPT ") {
			t.Fatalf("child %d: %v\n%s", i, errs[i], out[i])
		}
		f := strings.Fields(out[i][strings.Index(out[i], "KEPT "):])
		kept, _ := strconv.Atoi(f[1])
		if got := mustCount(t, q, Filter{Sender: []string{fmt.Sprintf("p%d@sender.test", i)}}); got != kept || kept == 0 {
			t.Errorf("child %d: %d messages, want %d", i, got, kept)
		}
	}
	if got := mustCount(t, q, Filter{Sender: []string{"parent@sender.test"}}); got != keptHere {
		t.Errorf("parent: %d messages, want %d", got, keptHere)
	}
	checkDue(t, q)
}
