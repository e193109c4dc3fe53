package queue

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The benchmarks of the filters on the message itself run on a queue of
// 1,000,000 demo messages with their texts (LoadDemo: ten subjects, a
// Message-ID each), built once under benchDir and reused:
//
//	MQSH_BENCH_DIR=/tmp/mqsh-bench-filters go test -run '^$' -bench 'Subject|MessageID|Header|Backfill' -benchtime 20x ./queue/

var (
	textOnce sync.Once
	textErr  error
	textPath = filepath.Join(benchDir, "demo-1m.db")
)

// benchTextQueue opens the million-message queue with texts, building it
// when absent.
func benchTextQueue(b *testing.B) *Queue {
	b.Helper()
	textOnce.Do(func() {
		if _, err := os.Stat(textPath); err == nil {
			return
		}
		if textErr = os.MkdirAll(benchDir, 0o755); textErr != nil {
			return
		}
		tmp := textPath + ".tmp"
		os.Remove(tmp)
		q, err := Open(tmp, Options{Now: func() time.Time { return benchNow }})
		if err != nil {
			textErr = err
			return
		}
		start := time.Now()
		res, err := q.LoadDemo(context.Background(), benchN, benchSeed)
		if err != nil {
			q.Close()
			textErr = err
			return
		}
		fmt.Fprintf(os.Stderr, "built %s: %d demo messages with texts in %s\n", textPath, res.Count, time.Since(start).Round(time.Millisecond))
		if _, err := q.writer.Exec("ANALYZE"); err != nil {
			textErr = err
		}
		q.Close()
		if textErr == nil {
			textErr = os.Rename(tmp, textPath)
		}
	})
	if textErr != nil {
		b.Fatal(textErr)
	}
	q, err := Open(textPath, Options{Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

// benchFirstPage lists the first page (50, as the shell's pager asks) of
// each filter.
func benchFirstPage(b *testing.B, filters map[string]Filter) {
	q := benchTextQueue(b)
	ctx := context.Background()
	for name, f := range filters {
		n, err := q.Count(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%s/matches=%d", name, n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ms, err := q.List(ctx, f, Page{Limit: 50})
				if err != nil {
					b.Fatal(err)
				}
				if len(ms) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
}

// BenchmarkListSubject: the first page of list --subject.
func BenchmarkListSubject(b *testing.B) {
	benchFirstPage(b, map[string]Filter{
		"prefix":          {Subject: []string{"Invoice*"}},               // a third of the queue
		"anywhere":        {Subject: []string{"*shipped*"}},              // no literal start: an id walk
		"one-message":     {Subject: []string{"re: re: quick question"}}, // the index drives
		"fwd-last-day":    {Subject: []string{"fwd: contract*"}, CreatedAfter: benchNow.Add(-24 * time.Hour)},
		"and-rare-sender": {Subject: []string{"Invoice*"}, Sender: []string{"<>"}},          // the sender drives
		"two":             {Subject: []string{"Password reset", "Fwd: contract draft"}},     // either
		"and-domain":      {Subject: []string{"Invoice*"}, Domain: []string{"hotmail.com"}}, // the domain drives
	})
}

// BenchmarkListMessageID: the first page of list --message-id (one
// message, through its index).
func BenchmarkListMessageID(b *testing.B) {
	q := benchTextQueue(b)
	ms, err := q.List(context.Background(), Filter{}, Page{After: 0x7FFFFFFFF, Limit: 1})
	if err != nil || len(ms) == 0 {
		b.Fatal("no message", err)
	}
	mid := fmt.Sprintf("<%s@mx.example.org>", lowerHex(ms[0].ID))
	benchFirstPage(b, map[string]Filter{
		"one":    {MessageID: []string{mid}},
		"either": {MessageID: []string{mid, "nothing@nowhere.example"}},
	})
}

func lowerHex(id ID) string { return fmt.Sprintf("%x", uint64(id)) }

// BenchmarkHeaderScan counts the messages with a header that none has, so
// every text is read: the throughput of the header filter.
func BenchmarkHeaderScan(b *testing.B) {
	q := benchTextQueue(b)
	ctx := context.Background()
	total, err := q.Count(ctx, Filter{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, err := q.Count(ctx, Filter{Header: []string{"X-Mailer:*bulk*"}})
		if err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "messages/s")
}

// BenchmarkBackfill opens a copy of the queue made to look as schema step
// 3 left it (no subject or Message-ID columns): the time schema step 4
// takes to fill them from 1,000,000 texts.
func BenchmarkBackfill(b *testing.B) {
	q := benchTextQueue(b)
	q.Close()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dst := filepath.Join(benchDir, "backfill.db")
		if err := copyFile(textPath, dst); err != nil {
			b.Fatal(err)
		}
		old, err := Open(dst, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, stmt := range []string{
			"DROP INDEX messages_subject", "DROP INDEX messages_msgid", "DROP INDEX messages_client_ip", "DROP INDEX messages_client_user",
			"ALTER TABLE messages DROP COLUMN subject_lc", "ALTER TABLE messages DROP COLUMN msgid", "PRAGMA user_version = 4",
		} {
			if _, err := old.writer.Exec(stmt); err != nil {
				b.Fatal(stmt, err)
			}
		}
		old.Close()
		b.StartTimer()
		start := time.Now()
		nq, err := Open(dst, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		el := time.Since(start)
		n, _ := nq.Count(context.Background(), Filter{Subject: []string{"*"}})
		nq.Close()
		if n != benchN+len(DocumentedIDs) {
			b.Fatalf("%d subjects after the backfill", n)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "messages/s")
		os.Remove(dst)
		os.Remove(dst + "-wal")
		os.Remove(dst + "-shm")
		b.StartTimer()
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// BenchmarkReadHeaders: what storing a message now adds, reading its
// Subject and Message-ID for their columns (a demo text of 330 bytes).
func BenchmarkReadHeaders(b *testing.B) {
	m := msg(0x2B91F716, "bill@example.net", benchNow, "a@gmail.com", "b@gmx.de")
	raw := syntheticRaw(&m, benchNow, 0)
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if h := readHeaders(raw); h.msgID == "" {
			b.Fatal("no Message-ID")
		}
	}
}
