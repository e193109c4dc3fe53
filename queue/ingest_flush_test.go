package queue

import (
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// watchFlush makes q's Ingest flushes call fn before the real flush (or in
// its place, when fn returns an error) and returns the names of the files
// flushed so far.
func watchFlush(q *Queue, fn func(n int) error) func() []string {
	var mu sync.Mutex
	var names []string
	q.ingFlush.sync = func(f *os.File) error {
		mu.Lock()
		names = append(names, f.Name())
		n := len(names)
		mu.Unlock()
		if fn != nil {
			if err := fn(n); err != nil {
				return err
			}
		}
		return datasync(f)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), names...)
	}
}

func oneMessage(rcpt string) []NewMessage {
	return []NewMessage{{Env: Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: rcpt}}}, Raw: []byte("Subject: x\r\n\r\nhi\r\n")}}
}

// With the queue's commits durable, Ingest returns once its batch is
// committed and its wait flushes the WAL: the commit itself flushed
// nothing, one flush covers every batch committed before it began, and a
// batch committed while a flush runs waits for the next one.
func TestIngestFlush(t *testing.T) {
	q, _ := openTest(t)
	ctx := context.Background()
	if err := q.SetDurable(ctx, true); err != nil {
		t.Fatal(err)
	}
	var during func() error // flushed of a batch committed during the first flush
	flushes := watchFlush(q, func(n int) error {
		if n == 1 {
			_, _, fl, err := q.Ingest(ctx, oneMessage("during@d.example"))
			if err != nil {
				t.Error(err)
			}
			during = fl
		}
		return nil
	})
	_, _, a, err := q.Ingest(ctx, oneMessage("a@d.example"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, b, err := q.Ingest(ctx, oneMessage("b@d.example"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(flushes()); n != 0 {
		t.Fatalf("%d flushes before any wait, want none: the commit is not the one to flush", n)
	}
	if err := b(); err != nil {
		t.Fatal(err)
	}
	if err := a(); err != nil {
		t.Fatal(err)
	}
	got := flushes()
	if len(got) != 1 || got[0] != q.abs+"-wal" {
		t.Fatalf("flushes %q, want one of %s-wal for both batches", got, q.abs)
	}
	if during == nil {
		t.Fatal("no batch committed during the flush")
	}
	if err := during(); err != nil {
		t.Fatal(err)
	}
	if n := len(flushes()); n != 2 {
		t.Errorf("a batch committed during a flush was answered after %d flushes, want 2 (a flush of its own)", n)
	}
	if n := mustCount(t, q, Filter{}); n != 3 {
		t.Errorf("%d messages queued, want 3", n)
	}

	// Not durable: nothing to wait for.
	if err := q.SetDurable(ctx, false); err != nil {
		t.Fatal(err)
	}
	_, _, c, err := q.Ingest(ctx, oneMessage("c@d.example"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c(); err != nil || len(flushes()) != 2 {
		t.Errorf("without durable commits: wait %v, %d flushes, want nil and no more than 2", err, len(flushes()))
	}
}

// A flush that fails fails every batch it was to cover, with a sentence
// that says the messages may be queued but are not known to be on disk;
// the failure sticks: later waits and later batches fail with it, and a
// batch refused writes nothing.
func TestIngestFlushFails(t *testing.T) {
	q, _ := openTest(t)
	ctx := context.Background()
	if err := q.SetDurable(ctx, true); err != nil {
		t.Fatal(err)
	}
	watchFlush(q, func(int) error { return syscall.EIO })
	_, _, a, err := q.Ingest(ctx, oneMessage("a@d.example"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, b, err := q.Ingest(ctx, oneMessage("b@d.example"))
	if err != nil {
		t.Fatal(err)
	}
	errA := a()
	if errA == nil || !strings.Contains(errA.Error(), "input/output error") || !strings.Contains(errA.Error(), "not known to be on disk") ||
		!strings.Contains(errA.Error(), q.abs+"-wal") {
		t.Fatalf("wait after a failed flush: %v", errA)
	}
	if errB := b(); errB == nil || errB.Error() != errA.Error() {
		t.Errorf("second batch's wait: %v, want the same failure", errB)
	}
	before := mustCount(t, q, Filter{})
	if _, _, _, err := q.Ingest(ctx, oneMessage("c@d.example")); err == nil || err.Error() != errA.Error() {
		t.Errorf("Ingest after a failed flush: %v, want the failure", err)
	}
	if n := mustCount(t, q, Filter{}); n != before {
		t.Errorf("%d messages after a refused batch, want %d", n, before)
	}
}

// A WAL that is not there (checkpointed and removed when the last
// connection closed) holds nothing the flushed file does not: the wait
// succeeds.
func TestIngestFlushWithoutWAL(t *testing.T) {
	q, _ := openTest(t)
	q.ingFlush.wal = q.abs + "-no-such-wal"
	if err := q.flushWAL(); err != nil {
		t.Errorf("flush of a WAL that is not there: %v", err)
	}
}
