package queue

import (
	"errors"
	"testing"
	"time"
)

// TestRunModes: the SQLite engine's Run commits, rolls back or refuses
// changes as its mode says, and on a queue opened read-only only reads.
func TestRunModes(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	bounces := Filter{Sender: []string{"<>"}}
	cancel := func(tx Txn) error {
		res, err := tx.Cancel(CancelRequest{Filter: bounces})
		if err == nil && res.Count != 1 {
			t.Errorf("cancel changed %d message(s), want 1", res.Count)
		}
		return err
	}
	count := func() int {
		n, err := q.Count(t.Context(), bounces)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := q.Run(t.Context(), RunDryRun, func(tx Txn) error {
		if !tx.DryRun() {
			t.Error("a dry run's unit says it is not one")
		}
		return cancel(tx)
	}); err != nil || count() != 1 {
		t.Fatalf("dry run: %v, %d bounce(s) left, want 1", err, count())
	}
	if err := q.Run(t.Context(), RunRead, cancel); err == nil || count() != 1 {
		t.Fatalf("read: cancel allowed (%v), %d bounce(s) left", err, count())
	}
	failed := errors.New("the script failed")
	if err := q.Run(t.Context(), RunWrite, func(tx Txn) error { cancel(tx); return failed }); !errors.Is(err, failed) || count() != 1 {
		t.Fatalf("failed write: %v, %d bounce(s) left, want 1", err, count())
	}
	if err := q.Run(t.Context(), RunWrite, cancel); err != nil || count() != 0 {
		t.Fatalf("write: %v, %d bounce(s) left, want 0", err, count())
	}

	ro, err := Open(q.Location(), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var n int
	err = ro.Run(t.Context(), RunWrite, func(tx Txn) error {
		if n, err = tx.Count(Filter{}); err != nil {
			return err
		}
		_, err := tx.Retry(RetryRequest{Filter: Filter{All: true}})
		return err
	})
	if n != 5 || !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only queue: counted %d, then %v; want 5 and ErrReadOnly", n, err)
	}
}

// TestRunReruns: a unit of work that read before another writer committed
// runs again from the start, under the write lock, and its change is made
// once.
func TestRunReruns(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	// (Were the lock taken from the start, the other writer would give up.)
	other, err := Open(q.Location(), Options{LockWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	calls := 0
	var res Result
	err = q.Run(t.Context(), RunWrite, func(tx Txn) error {
		calls++
		if _, err := tx.Count(Filter{}); err != nil {
			return err
		}
		if calls == 1 {
			// Another process changes the queue after this unit's read.
			if _, err := other.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"<>"}}}); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		res, err = tx.Retry(RetryRequest{Filter: Filter{All: true}})
		return err
	})
	if err != nil || calls != 2 || res.Count != 5 {
		t.Errorf("Run: %v after %d call(s), retried %d; want no error after 2 calls, 5 retried", err, calls, res.Count)
	}
}
