package queue

import (
	"strings"
	"testing"
)

// cacheOf reads the page cache setting of the connection fn's transaction runs on.
func cacheOf(t *testing.T, run func(fn func(tx *Tx) error) error) int64 {
	t.Helper()
	var kib int64
	if err := run(func(tx *Tx) error {
		return tx.tx.QueryRowContext(tx.ctx, "PRAGMA cache_size").Scan(&kib)
	}); err != nil {
		t.Fatal(err)
	}
	return kib
}

// TestLimitCache: a limited cache holds on the write connection and on the
// deferred ones (opened before or after), the queue keeps working, and a
// limit under 1 MiB is refused.
func TestLimitCache(t *testing.T) {
	q, _ := openTest(t)
	update := func(fn func(tx *Tx) error) error { return q.Update(t.Context(), fn) }
	deferred := func(fn func(tx *Tx) error) error { return q.UpdateDeferred(t.Context(), false, fn) }
	if got := cacheOf(t, update); got != -defaultCacheKiB {
		t.Fatalf("default cache %d, want %d", got, -defaultCacheKiB)
	}
	if got := cacheOf(t, deferred); got != -defaultCacheKiB {
		t.Fatalf("default cache of a deferred transaction %d", got)
	}
	if err := q.LimitCache(t.Context(), 16<<20); err != nil {
		t.Fatal(err)
	}
	if got := cacheOf(t, update); got != -16384 {
		t.Errorf("cache after LimitCache(16M): %d KiB, want -16384", got)
	}
	if got := cacheOf(t, deferred); got != -16384 {
		t.Errorf("cache of a deferred transaction after LimitCache(16M): %d, want -16384", got)
	}
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	if got := mustGet(t, q, m.ID); len(got.Domains) != 1 {
		t.Errorf("queued after LimitCache: %+v", got)
	}
	if err := q.LimitCache(t.Context(), 1000); err == nil || !strings.Contains(err.Error(), "want 1M or more") {
		t.Errorf("LimitCache(1000): %v", err)
	}
}
