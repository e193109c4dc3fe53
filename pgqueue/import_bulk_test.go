package pgqueue_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
)

// indexes returns the queue's secondary indexes of messages, domains and
// recipients, each as its definition and its oid (which a rebuild changes).
func indexes(t *testing.T, url string) map[string]uint32 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT i.indexdef, c.oid FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname
		WHERE i.schemaname = current_schema() AND i.tablename IN ('messages', 'domains', 'recipients')
		AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint32{}
	for rows.Next() {
		var def string
		var oid uint32
		if err := rows.Scan(&def, &oid); err != nil {
			t.Fatal(err)
		}
		out[def] = oid
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// An import of thousands of messages into an empty queue builds the
// secondary indexes once at the end (sorted) instead of growing them row by
// row from its first message; into a queue that holds more than it brings,
// the indexes are kept.
func TestImportIntoEmptyQueueBuildsIndexesAtTheEnd(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	big, small := filepath.Join(dir, "big.jsonl"), filepath.Join(dir, "small.jsonl")
	if err := queue.WriteDemoJSON(big, 6000, 1, now); err != nil {
		t.Fatal(err)
	}
	if err := queue.WriteDemoJSON(small, 6000, 2, now.Add(240*time.Hour)); err != nil {
		t.Fatal(err)
	}
	url := pgtest.URL(t)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	importFile := func(path string) queue.Result {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		res, err := q.ImportJSON(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	before := indexes(t, url)
	if len(before) < 10 {
		t.Fatalf("found %d secondary indexes, want the schema's", len(before))
	}
	if res := importFile(big); res.Count != 6000 {
		t.Fatalf("imported %d, want 6000", res.Count)
	}
	after := indexes(t, url)
	if !slices.Equal(sortedKeys(before), sortedKeys(after)) {
		t.Fatalf("the indexes changed:\nbefore %q\nafter  %q", sortedKeys(before), sortedKeys(after))
	}
	for def, oid := range after {
		if before[def] == oid {
			t.Errorf("into an empty queue, index was grown row by row, not built at the end: %s", def)
		}
	}
	// A second import no bigger than the queue keeps the indexes as they
	// are, and finds through them what it added.
	importFile(small)
	again := indexes(t, url)
	for def, oid := range after {
		if again[def] != oid {
			t.Errorf("into a queue as big as the import, index was rebuilt: %s", def)
		}
	}
	n, err := q.Count(ctx, queue.Filter{CreatedAfter: now.Add(time.Hour)})
	if err != nil || n != 6000 {
		t.Fatalf("the second import's messages by created: %d, %v; want 6000", n, err)
	}
}

func sortedKeys(m map[string]uint32) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
