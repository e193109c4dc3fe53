package queue

import (
	"context"
	"path/filepath"
	"testing"
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
