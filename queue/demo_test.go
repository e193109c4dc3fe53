package queue

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Loading the demo again adds the generated messages but leaves the
// documented ones as they are: what an admin did to them is not undone.
func TestLoadDemoKeepsQueuedDocumentedMessages(t *testing.T) {
	q, _ := openTest(t)
	ctx := t.Context()
	if _, err := q.LoadDemo(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	at := testNow.Add(3 * time.Hour)
	if _, err := q.Retry(ctx, RetryRequest{Filter: Filter{IDs: []ID{0x32B91F716}}, At: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, CancelRequest{Filter: Filter{IDs: []ID{0x42B91F716}}}); err != nil {
		t.Fatal(err)
	}
	res, err := q.LoadDemo(ctx, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 42B91F716 was cancelled (removed), so it is documented but not queued:
	// it comes back; the five still queued are kept.
	if res.Count != 11 {
		t.Errorf("second load added %d messages, want 10 generated + 1 documented", res.Count)
	}
	m, err := q.Get(ctx, 0x32B91F716)
	if err != nil {
		t.Fatal(err)
	}
	if due := m.Due(); !due.Equal(at) {
		t.Errorf("32B91F716 is due %v after the second load, want the retried %v", due, at)
	}
	if n, err := q.Count(ctx, Filter{}); err != nil || n != 16 {
		t.Errorf("%d messages (%v), want 16", n, err)
	}
}

// WriteDemoJSON writes what ImportJSON reads back, message for message.
func TestWriteDemoJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.jsonl")
	if err := WriteDemoJSON(path, 50, 7, testNow); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q, _ := openTest(t)
	res, err := q.ImportJSON(t.Context(), f)
	if err != nil || res.Count != 50 {
		t.Fatalf("import: %v, %d messages", err, res.Count)
	}
	var want []ID
	generateDemo(50, 7, testNow, DefaultSchedule, func(_ int, m *Message, _ []byte) error {
		want = append(want, m.ID)
		return nil
	})
	if !slices.Equal(res.IDs, want) {
		t.Errorf("imported ids %v, want the generated %v", res.IDs, want)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary file is left behind: %v", err)
	}
}
