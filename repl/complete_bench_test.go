package repl

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"mqsh/queue"
)

// benchQueueSize is the size of the queue the completion benchmark runs on.
const benchQueueSize = 1_000_000

// benchQueuePath is the million-message queue of the benchmark, outside the
// repository: $MQSH_BENCH_DB, else the queue the engine's benchmarks build
// (/tmp/mqsh-bench/queue-1m.db) when it exists, else one of its own built
// beside it.
func benchQueuePath() string {
	if p := os.Getenv("MQSH_BENCH_DB"); p != "" {
		return p
	}
	dir := filepath.Join(os.TempDir(), "mqsh-bench")
	if p := filepath.Join(dir, "queue-1m.db"); fileExists(p) {
		return p
	}
	return filepath.Join(dir, "complete-1m.db")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// openBenchQueue opens the benchmark queue, building it on first use when
// there is none (the documented six messages plus a million generated ones,
// seed 1: about a minute). Plain `go test` runs no benchmark, so it never
// builds it.
func openBenchQueue(b *testing.B) *queue.Queue {
	b.Helper()
	if testing.Short() {
		b.Skip("needs a queue of a million messages")
	}
	path := benchQueuePath()
	ctx := context.Background()
	if !fileExists(path) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		tmp := path + ".building"
		os.Remove(tmp)
		q, err := queue.Open(tmp, queue.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("building %s with %d messages", path, benchQueueSize)
		if _, err := q.LoadDemo(ctx, benchQueueSize, 1); err != nil {
			b.Fatal(err)
		}
		if err := q.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		os.Remove(tmp + "-wal")
		os.Remove(tmp + "-shm")
	}
	q, err := queue.Open(path, queue.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	if n, err := q.Count(ctx, queue.Filter{}); err != nil || n < benchQueueSize {
		b.Fatalf("%s holds %d messages (%v), want at least %d: remove it to rebuild", path, n, err, benchQueueSize)
	}
	return q
}

// BenchmarkCompleteValue measures one Tab press that completes a value from a
// queue of a million messages: the whole completer (parsing the line, finding
// the command and flag, the indexed queue lookup, at most 50 suggestions).
//
//	go test ./repl -run '^$' -bench CompleteValue -benchtime 200x
func BenchmarkCompleteValue(b *testing.B) {
	q := openBenchQueue(b)
	c := NewCompleter(Commands(), &Env{Session: Session{Queue: q}})
	cases := []struct{ name, line string }{
		{"id/empty", "status "},
		{"sender/empty", "list -s "},
		{"sender/prefix", "list -s mar"},
		{"sender/domain", "retry --sender=info@"},
		{"recipient/prefix", "list -r jam"},
		{"recipient/@domain", "cancel -r @gm"},
		{"domain/empty", "retry -d "},
		{"domain/prefix", "retry -d g"},
		{"command", "queue li"},
		{"time", "retry -t +"},
	}
	ctx := context.Background()
	// A prefix shared by many generated ids: the first three digits of one.
	ms, err := q.List(ctx, queue.Filter{}, queue.Page{After: 0x52B91F716, Limit: 1})
	if err != nil || len(ms) == 0 {
		b.Fatalf("find a generated message: %v", err)
	}
	id := ms[0].ID.String()
	cases = append(cases,
		struct{ name, line string }{"id/shared-prefix", "retry " + id[:3]},
		struct{ name, line string }{"id/all-but-last-digit", "status " + id[:len(id)-1]})
	// The first Tab after the shell opens the queue: a fresh connection, with
	// SQLite's page cache empty (the operating system's is warm).
	b.Run("sender/first-after-open", func(b *testing.B) {
		path := q.Path()
		for b.Loop() {
			b.StopTimer()
			q2, err := queue.Open(path, queue.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			c2 := NewCompleter(Commands(), &Env{Session: Session{Queue: q2}})
			b.StartTimer()
			if len(c2.Complete(ctx, "list -s mar").Items) == 0 {
				b.Fatal("no sender offered")
			}
			b.StopTimer()
			q2.Close()
			b.StartTimer()
		}
	})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				n = len(c.Complete(ctx, tc.line).Items)
			}
			if n == 0 {
				b.Fatalf("Complete(%q) offers nothing", tc.line)
			}
			b.ReportMetric(float64(n), "items")
		})
	}
}
