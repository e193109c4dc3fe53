package queue

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkOpenGetClose is what `mqsh queue status ID` does with the queue:
// open an existing file, read one message, close. Whole-process figures are
// in BENCHMARKS.md (bench/startup.sh).
func BenchmarkOpenGetClose(b *testing.B) {
	path := filepath.Join(b.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := q.LoadDemo(context.Background(), 1000, 1); err != nil {
		b.Fatal(err)
	}
	q.Close()
	ctx := context.Background()
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			q, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			q.Close()
			b.StartTimer()
		}
	})
	b.Run("open-get-close", func(b *testing.B) {
		for b.Loop() {
			q, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := q.Get(ctx, 0x2B91F716); err != nil {
				b.Fatal(err)
			}
			q.Close()
		}
	})
}
