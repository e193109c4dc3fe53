package queue

import (
	"testing"
	"time"
)

// A retry to a time with fractions of a second is stored and audited in
// whole seconds, and the verb's options are named apart from the filter.
func TestRetryAuditWholeSeconds(t *testing.T) {
	q, _ := openTest(t)
	ctx := t.Context()
	if _, err := q.LoadDemo(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 987654321, time.UTC)
	if _, err := q.Retry(ctx, RetryRequest{Filter: Filter{Domain: []string{"example.org"}}, At: at}); err != nil {
		t.Fatal(err)
	}
	entries, err := q.Audit(ctx, AuditQuery{Verb: "retry", Limit: 1})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit: %v, %d entries", err, len(entries))
	}
	if want := "domain=example.org; at=2026-01-02T03:04:05Z"; entries[0].Filter != want {
		t.Errorf("audit filter %q, want %q", entries[0].Filter, want)
	}
	m, err := q.Get(ctx, 0x32B91F716)
	if err != nil {
		t.Fatal(err)
	}
	if due := m.Due(); !due.Equal(at.Truncate(time.Second)) {
		t.Errorf("due %v, want %v", due, at.Truncate(time.Second))
	}
}

// A cancel without a recipient option records its filter alone.
func TestCancelAuditFilterAlone(t *testing.T) {
	q, _ := openTest(t)
	ctx := t.Context()
	if _, err := q.LoadDemo(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, CancelRequest{Filter: Filter{IDs: []ID{0x32B91F716}}}); err != nil {
		t.Fatal(err)
	}
	entries, err := q.Audit(ctx, AuditQuery{Verb: "cancel", Limit: 1})
	if err != nil || len(entries) != 1 || entries[0].Filter != "ids=32B91F716" {
		t.Fatalf("audit: %v, %+v", err, entries)
	}
}
