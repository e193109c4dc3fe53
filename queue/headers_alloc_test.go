package queue

import (
	"runtime"
	"testing"
)

// Reading a message's header for its columns (the SMTP server's group
// commit does it for every message) borrows its 4 KiB read buffer rather
// than allocating one each time.
func TestReadHeadersBorrowsItsBuffer(t *testing.T) {
	raw := []byte("Received: from x\r\n\tby y;\r\n\tMon, 1 Jan 2026 00:00:00 +0000\r\nFrom: <s@a.test>\r\nSubject: Bench\r\n\r\nhello\r\n")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	readHeaders(raw) // the pool's first reader
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 100
	for range n {
		if h := readHeaders(raw); h.subject != "bench" {
			t.Fatalf("subject %q", h.subject)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per >= 2048 {
		t.Errorf("reading a header allocated %d bytes, want well under the 4 KiB of a read buffer", per)
	}
}
