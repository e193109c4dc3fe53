package queue

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

func TestPauseIsSharedAndAudited(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	a, err := Open(path, Options{User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path, Options{User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	if p, err := a.Paused(ctx); err != nil || p {
		t.Fatalf("a new queue: paused=%v err=%v, want running", p, err)
	}
	if changed, err := a.SetPaused(WithSource(ctx, "http admin@127.0.0.1"), true); err != nil || !changed {
		t.Fatalf("pause: changed=%v err=%v", changed, err)
	}
	if p, err := b.Paused(ctx); err != nil || !p {
		t.Fatalf("the other handle sees paused=%v err=%v, want paused", p, err)
	}
	if changed, err := b.SetPaused(ctx, true); err != nil || changed {
		t.Fatalf("pausing a paused queue: changed=%v err=%v, want no change", changed, err)
	}
	if changed, err := b.SetPaused(ctx, false); err != nil || !changed {
		t.Fatalf("resume: changed=%v err=%v", changed, err)
	}
	if p, _ := a.Paused(ctx); p {
		t.Fatal("still paused after resume")
	}
	entries, err := a.Audit(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var verbs []string
	for _, e := range entries {
		verbs = append(verbs, e.Verb+" by "+e.Source)
	}
	want := []string{"resume by cli", "pause by http admin@127.0.0.1"}
	if len(verbs) != 2 || verbs[0] != want[0] || verbs[1] != want[1] {
		t.Fatalf("audit = %q, want %q", verbs, want)
	}
}

func TestPauseOnReadOnlyQueueIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.SetPaused(context.Background(), true); err == nil {
		t.Fatal("a read-only queue was paused")
	}
}

// TestClaimWithNothingToDoTakesNoWriteLock: delivery asks for work after
// every change to the queue; a paused queue, or one with nothing due, must
// answer from a read, not by taking the write lock that an SMTP ingest's
// group commits need. Another connection holds the write lock here, so a
// claim that took it would fail with the queue busy.
func TestClaimWithNothingToDoTakesNoWriteLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	enqueueTest(t, q, envTo("a@example.org", "b@example.net"))
	if _, err := q.SetPaused(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	quick := func() ([]Job, error) { // a claim that may not wait for the lock
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		return q.Claim(ctx, ClaimRequest{Worker: "w", Max: 10, Lease: time.Minute})
	}
	if jobs, err := quick(); err != nil || len(jobs) != 0 {
		t.Fatalf("a paused queue: %d jobs, %v; want none and no wait for the lock", len(jobs), err)
	}
	// Resumed, but with the only domain leased to another worker: nothing
	// is due, so again no write lock.
	if _, err := conn.ExecContext(t.Context(), "UPDATE meta SET value = 0 WHERE key = 'paused'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "UPDATE domains SET locked_until = ?, locked_by = 'other'", time.Now().Add(time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if jobs, err := quick(); err != nil || len(jobs) != 0 {
		t.Fatalf("nothing due: %d jobs, %v; want none and no wait for the lock", len(jobs), err)
	}
	// Something due: the claim needs the write lock and says it is busy
	// while the other connection keeps it.
	if _, err := conn.ExecContext(t.Context(), "UPDATE domains SET locked_until = NULL, locked_by = NULL"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if jobs, err := quick(); err == nil {
		t.Fatalf("claim with the write lock held elsewhere: %d jobs and no error", len(jobs))
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if jobs := claim(t, q, "w", 10); len(jobs) != 1 {
		t.Fatalf("after the lock is let go: %d jobs, want 1", len(jobs))
	}
}
