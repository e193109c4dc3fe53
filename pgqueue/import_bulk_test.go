package pgqueue_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// An import of thousands of messages into an empty queue empties its tables
// anew in its transaction and writes their rows frozen (COPY FREEZE: no WAL
// for them with wal_level minimal, no later pass to mark them committed);
// a table holding any row, even a domain without its message, is left as
// it is, and so is the row.
func TestImportIntoEmptyQueueWritesFrozenRows(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	src := filepath.Join(t.TempDir(), "q.jsonl")
	if err := queue.WriteDemoJSON(src, 6000, 1, now); err != nil {
		t.Fatal(err)
	}
	for _, orphan := range []bool{false, true} {
		url := pgtest.URL(t)
		q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if orphan {
			if _, err := conn.Exec(ctx, "INSERT INTO domains(msg_id, idx, name, status, due, expires, msg_created, msg_size) VALUES (1, 0, 'orphan.example', 0, 0, 0, 0, 0)"); err != nil {
				t.Fatal(err)
			}
		}
		filenode := func() (n uint32) {
			if err := conn.QueryRow(ctx, "SELECT pg_relation_filenode('messages')").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := filenode()
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		res, err := q.ImportJSON(ctx, f)
		f.Close()
		if err != nil || res.Count != 6000 {
			t.Fatalf("import: %d, %v", res.Count, err)
		}
		var orphans, frozen, pages int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM domains WHERE name = 'orphan.example'").Scan(&orphans); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_visibility"); err != nil {
			t.Fatalf("pg_visibility (contrib) is needed to see frozen pages: %v", err)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE all_frozen), count(*) FROM pg_visibility_map('messages')").Scan(&frozen, &pages); err != nil {
			t.Fatal(err)
		}
		switch {
		case orphan && (orphans != 1 || filenode() != before || frozen != 0):
			t.Errorf("with a row in domains: %d orphan rows (want 1), messages emptied anew %v (want not), %d of %d pages frozen (want none)", orphans, filenode() != before, frozen, pages)
		case !orphan && (filenode() == before || pages == 0 || frozen != pages):
			t.Errorf("into an empty queue: messages emptied anew %v (want so), %d of %d pages frozen (want all)", filenode() != before, frozen, pages)
		}
		if n, err := q.Count(ctx, queue.Filter{All: true}); err != nil || n != 6000 {
			t.Errorf("queued after the import: %d, %v; want 6000", n, err)
		}
	}
}

// A big import into an empty queue that fails on its last line (after its
// tables were emptied anew and its indexes dropped) leaves the queue as it
// was: empty, with every index, and ready for the next import.
func TestImportIntoEmptyQueueFailingLeavesItAsItWas(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	src := filepath.Join(t.TempDir(), "q.jsonl")
	if err := queue.WriteDemoJSON(src, 12000, 1, now); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	url := pgtest.URL(t)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	before := indexes(t, url)
	_, err = q.ImportJSON(ctx, strings.NewReader(string(good)+"{\"id\": \"not a number\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 12001") || !strings.HasSuffix(err.Error(), "(nothing was imported)") {
		t.Fatalf("err = %v, want line 12001 named and nothing imported", err)
	}
	if n, err := q.Count(ctx, queue.Filter{All: true}); err != nil || n != 0 {
		t.Fatalf("queued after the failed import: %d, %v; want 0", n, err)
	}
	if after := indexes(t, url); !maps.Equal(before, after) {
		t.Fatalf("the indexes changed:\nbefore %v\nafter  %v", before, after)
	}
	res, err := q.ImportJSON(ctx, strings.NewReader(string(good)))
	if err != nil || res.Count != 12000 {
		t.Fatalf("import again: %d, %v", res.Count, err)
	}
}

// `mqsh copy` of thousands of messages into an empty PostgreSQL queue loads
// it as the JSON import does: indexes built at the end, rows frozen.
func TestCopyIntoEmptyQueueLoadsInBulk(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	var msgs []*queue.Message
	dec := queue.LineDecoder[*[]*queue.Message]{Clock: func() time.Time { return now }, Expire: 72 * time.Hour, Lines: 256, Bytes: 1 << 20,
		New:   func() *[]*queue.Message { return new([]*queue.Message) },
		Reset: func(b *[]*queue.Message) { *b = (*b)[:0] },
		Add:   func(b *[]*queue.Message, _ int, m *queue.Message) error { *b = append(*b, m); return nil },
	}
	if _, err := dec.Run(strings.NewReader(demoLines(t, 6000, now)), func(b *[]*queue.Message, _ bool, err error) error {
		msgs = append(msgs, *b...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	url := pgtest.URL(t)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	before := indexes(t, url)
	var res queue.Result
	err = q.Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		res, err = tx.(queue.MessageImporter).ImportMessages("test.db", func() (*queue.Message, []byte, error) {
			if len(msgs) == 0 {
				return nil, nil, nil
			}
			m := msgs[0]
			msgs = msgs[1:]
			return m, nil, nil
		})
		return err
	})
	if err != nil || res.Count != 6000 {
		t.Fatalf("copy: %d, %v", res.Count, err)
	}
	for def, oid := range indexes(t, url) {
		if before[def] == oid {
			t.Errorf("into an empty queue, index was grown row by row, not built at the end: %s", def)
		}
	}
	var frozen, pages int
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_visibility"); err != nil {
		t.Fatalf("pg_visibility (contrib) is needed to see frozen pages: %v", err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE all_frozen), count(*) FROM pg_visibility_map('messages')").Scan(&frozen, &pages); err != nil {
		t.Fatal(err)
	}
	if pages == 0 || frozen != pages {
		t.Errorf("%d of %d pages of messages frozen, want all", frozen, pages)
	}
}

// demoLines is n generated messages as JSON Lines.
func demoLines(t *testing.T, n int, now time.Time) string {
	src := filepath.Join(t.TempDir(), "demo.jsonl")
	if err := queue.WriteDemoJSON(src, n, 1, now); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
