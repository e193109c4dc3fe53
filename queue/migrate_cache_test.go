package queue

import (
	"path/filepath"
	"testing"
)

// TestMigrationRunsUnderSmallCache: a schema step runs with the writer's page
// cache at migrationCacheKiB (so that a server opening an older queue does
// not hold a big cache of every page the step rewrote), and the writer has
// its own cache again afterwards.
func TestMigrationRunsUnderSmallCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.LoadDemo(t.Context(), 0, 1)
	q.Close()

	old := migrations
	defer func() { migrations = old }()
	migrations = append(migrations[:len(old):len(old)], "CREATE TABLE seen_cache AS SELECT cache_size AS kib FROM pragma_cache_size;")
	q, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var during, after int64
	if err := q.writer.QueryRow("SELECT kib FROM seen_cache").Scan(&during); err != nil {
		t.Fatal(err)
	}
	if during != -migrationCacheKiB {
		t.Errorf("cache_size during the migration: %d, want %d", during, -migrationCacheKiB)
	}
	if err := q.writer.QueryRow("PRAGMA cache_size").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != -defaultCacheKiB || q.cacheKiB != 0 {
		t.Errorf("cache_size after the migration: %d (limit %d KiB), want %d", after, q.cacheKiB, -defaultCacheKiB)
	}
	if n := mustCount(t, q, Filter{}); n != 6 {
		t.Errorf("%d messages after the migration, want 6", n)
	}
}
