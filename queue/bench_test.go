package queue

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The benchmarks run on a queue of 1,000,000 generated messages, built once
// under benchDir through the JSON import path and reused by later runs (delete
// the directory to rebuild it). Normal `go test` never builds it: only the
// benchmarks call benchQueue.
//
//	go test -run '^$' -bench . -benchtime 20x ./queue/
//
// MQSH_BENCH_DIR moves the directory (several checkouts benchmarking on one
// machine at once should not share one).
const (
	benchN    = 1_000_000
	benchSeed = 42
)

var benchDir = cmp.Or(os.Getenv("MQSH_BENCH_DIR"), "/tmp/mqsh-bench")

// benchNow is the fixed clock of the benchmark queue, so the data and the
// filters below are the same on every run.
var benchNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

var (
	benchOnce sync.Once
	benchErr  error
	benchPath = filepath.Join(benchDir, "queue-1m.db")
)

// benchJSONL writes the generated messages as JSON Lines (once).
func benchJSONL(n int, name string) (string, error) {
	path := filepath.Join(benchDir, name)
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	if err := os.MkdirAll(benchDir, 0o755); err != nil {
		return "", err
	}
	return path, WriteDemoJSON(path, n, benchSeed, benchNow)
}

// benchQueue opens the million-message queue, building it when absent.
func benchQueue(b *testing.B) *Queue {
	b.Helper()
	benchOnce.Do(func() {
		if _, err := os.Stat(benchPath); err == nil {
			return
		}
		src, err := benchJSONL(benchN, "1m.jsonl")
		if err != nil {
			benchErr = err
			return
		}
		tmp := benchPath + ".tmp"
		os.Remove(tmp)
		q, err := Open(tmp, Options{Now: func() time.Time { return benchNow }})
		if err != nil {
			benchErr = err
			return
		}
		f, err := os.Open(src)
		if err != nil {
			benchErr = err
			return
		}
		start, c0 := time.Now(), cpuTime()
		res, err := q.ImportJSON(context.Background(), f)
		f.Close()
		if err != nil {
			q.Close()
			benchErr = err
			return
		}
		el := time.Since(start)
		cpu := cpuTime() - c0
		fmt.Fprintf(os.Stderr, "built %s: %d messages imported in %s (%.0f messages/s; %s CPU, %.0f messages/CPU-second)\n",
			benchPath, res.Count, el.Round(time.Millisecond), float64(res.Count)/el.Seconds(), cpu.Round(time.Millisecond), float64(res.Count)/cpu.Seconds())
		if _, err := q.writer.Exec("ANALYZE"); err != nil {
			benchErr = err
		}
		q.Close()
		if benchErr == nil {
			benchErr = os.Rename(tmp, benchPath)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	q, err := Open(benchPath, Options{Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

// BenchmarkImport imports 100,000 generated messages into a new queue per
// iteration and reports messages/s.
func BenchmarkImport(b *testing.B) {
	src, err := benchJSONL(100_000, "100k.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var total int
	var el, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		q, err := Open(filepath.Join(dir, "q.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		f, _ := os.Open(src)
		b.StartTimer()
		start, c0 := time.Now(), cpuTime()
		res, err := q.ImportJSON(context.Background(), f)
		el += time.Since(start)
		cpu += cpuTime() - c0
		b.StopTimer()
		f.Close()
		q.Close()
		if err != nil {
			b.Fatal(err)
		}
		total += res.Count
	}
	b.ReportMetric(float64(total)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(total)/cpu.Seconds(), "msgs/cpu-s")
}

// cpuTime is the CPU time (user and system) used by this process so far: on a
// busy machine, wall-clock rates understate what the code does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchFilters are the list filters of the performance targets. The comments
// give their sizes on the benchmark queue.
func benchFilters(b *testing.B, q *Queue) map[string]Filter {
	var sender, rcpt string
	row := q.reader.QueryRow("SELECT rp_lc FROM messages WHERE rp_lc <> '' GROUP BY rp_lc ORDER BY count(*) DESC LIMIT 1")
	if err := row.Scan(&sender); err != nil {
		b.Fatal(err)
	}
	row = q.reader.QueryRow("SELECT address_lc FROM recipients WHERE address_lc LIKE '%@gmail.com' GROUP BY address_lc ORDER BY count(*) DESC LIMIT 1")
	if err := row.Scan(&rcpt); err != nil {
		b.Fatal(err)
	}
	return map[string]Filter{
		"sender":          {Sender: []string{sender}},                                                     // the busiest sender
		"sender-domain":   {Sender: []string{"@" + domainOf(sender)}},                                     //
		"bounces":         {Sender: []string{"<>"}},                                                       // ~5%
		"recipient":       {Recipient: []string{rcpt}},                                                    // one address
		"rcpt-domain":     {Recipient: []string{"@outlook.com"}},                                          // ~9%
		"domain":          {Domain: []string{"gmail.com"}},                                                // ~25%
		"due-wide":        {DueBefore: benchNow.Add(30 * time.Minute)},                                    // most
		"due-narrow":      {DueAfter: benchNow.Add(time.Hour), DueBefore: benchNow.Add(61 * time.Minute)}, // a minute's worth
		"created-range":   bulkFilter(),                                                                   // ~100,000 in a tenth of the id range
		"created-quarter": {CreatedBefore: benchNow.Add(-3 * 24 * time.Hour)},                             // the first of the four days: ~250,000
	}
}

// lateAfter returns the id after which the page at position pos (of the
// matching messages in id order) starts: the cost of a late page.
func lateAfter(b *testing.B, q *Queue, f Filter, frac float64) ID {
	n, err := q.Count(context.Background(), f)
	if err != nil {
		b.Fatal(err)
	}
	pos := max(int(float64(n)*frac)-1, 0)
	var after ID
	err = q.View(context.Background(), func(tx *Tx) error {
		s, err := tx.compile(f, true)
		if err != nil {
			return err
		}
		qs, args := s.pageSQL("m.id", 0, 0)
		return tx.tx.QueryRowContext(tx.ctx, qs+" LIMIT 1 OFFSET ?", append(args, pos)...).Scan(&after)
	})
	if err != nil && err != sql.ErrNoRows {
		b.Fatal(err)
	}
	return after
}

func BenchmarkList(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	for name, f := range benchFilters(b, q) {
		n, _ := q.Count(ctx, f)
		for _, pg := range []struct {
			name string
			frac float64
		}{{"first", 0}, {"late", 0.9}} {
			after := ID(0)
			if pg.frac > 0 {
				after = lateAfter(b, q, f, pg.frac)
			}
			b.Run(fmt.Sprintf("%s/%s/matches=%d", name, pg.name, n), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					ms, err := q.List(ctx, f, Page{After: after, Limit: 20})
					if err != nil {
						b.Fatal(err)
					}
					if len(ms) == 0 && n > 0 {
						b.Fatal("empty page")
					}
				}
			})
		}
	}
}

func BenchmarkCount(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	for name, f := range benchFilters(b, q) {
		b.Run(name, func(b *testing.B) {
			var n int
			for i := 0; i < b.N; i++ {
				var err error
				if n, err = q.Count(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "matches")
		})
	}
}

// bulkFilter selects about 100,000 messages: those created in a window of a
// tenth of the four days the generated messages span.
func bulkFilter() Filter {
	start := benchNow.Add(-4 * 24 * time.Hour).Add(24 * time.Hour)
	return Filter{CreatedAfter: start, CreatedBefore: start.Add(4 * 24 * time.Hour / 10)}
}

// copyQueue copies the benchmark queue so a bulk verb can commit on it.
func copyQueue(b *testing.B, dst string) {
	b.Helper()
	in, err := os.Open(benchPath)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	out.Close()
	os.Remove(dst + "-wal")
	os.Remove(dst + "-shm")
}

// benchBulk runs a committed bulk verb on a fresh copy of the benchmark queue
// per iteration; only the verb is timed.
func benchBulk(b *testing.B, verb func(q *Queue) (Result, error)) {
	benchQueue(b)
	work := filepath.Join(benchDir, "work.db")
	var n int
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		copyQueue(b, work)
		q, err := Open(work, Options{Now: func() time.Time { return benchNow }})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := cpuTime()
		res, err := verb(q)
		cpu += cpuTime() - c0
		b.StopTimer()
		q.Close()
		if err != nil {
			b.Fatal(err)
		}
		n = res.Count
	}
	os.Remove(work)
	os.Remove(work + "-wal")
	os.Remove(work + "-shm")
	b.ReportMetric(float64(n), "messages")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

func BenchmarkRetry100k(b *testing.B) {
	benchBulk(b, func(q *Queue) (Result, error) {
		return q.Retry(context.Background(), RetryRequest{Filter: bulkFilter(), At: benchNow.Add(2 * time.Hour)})
	})
}

func BenchmarkCancel100k(b *testing.B) {
	benchBulk(b, func(q *Queue) (Result, error) {
		return q.Cancel(context.Background(), CancelRequest{Filter: bulkFilter()})
	})
}

func BenchmarkCancelRecipients100k(b *testing.B) {
	benchBulk(b, func(q *Queue) (Result, error) {
		f := bulkFilter()
		f.Recipient = []string{"*"}
		return q.Cancel(context.Background(), CancelRequest{Filter: f})
	})
}

func BenchmarkSuggest(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	var anyID ID
	q.reader.QueryRow("SELECT id FROM messages LIMIT 1 OFFSET 500000").Scan(&anyID)
	for _, c := range []struct{ kind, prefix string }{
		{SuggestID, ""}, {SuggestID, anyID.String()[:6]},
		{SuggestSender, ""}, {SuggestSender, "j"}, {SuggestSender, "<"},
		{SuggestRecipient, ""}, {SuggestRecipient, "mary"}, {SuggestRecipient, "@g"},
		{SuggestDomain, ""}, {SuggestDomain, "g"},
	} {
		b.Run(c.kind+"/"+c.prefix, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := q.Suggest(ctx, c.kind, c.prefix, 20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEach(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		n := 0
		start := time.Now()
		err := q.View(ctx, func(tx *Tx) error {
			return tx.Each(Filter{}, func(m *Message) error { n++; return nil })
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	}
}

// BenchmarkSize reports the database bytes per message. The benchmark queue
// was imported from JSON, which carries no message bodies, so this is the size
// without bodies (indexes and the import's audit row included).
func BenchmarkSize(b *testing.B) {
	q := benchQueue(b)
	var pages, size, n int64
	q.reader.QueryRow("PRAGMA page_count").Scan(&pages)
	q.reader.QueryRow("PRAGMA page_size").Scan(&size)
	q.reader.QueryRow("SELECT count(*) FROM messages").Scan(&n)
	for i := 0; i < b.N; i++ {
	}
	b.ReportMetric(float64(pages*size)/float64(n), "bytes/msg")
	b.ReportMetric(float64(pages*size)/1e6, "MB")
}

// BenchmarkDecode measures decoding alone (JSON line to Message).
func BenchmarkDecode(b *testing.B) {
	var lines [][]byte
	generateDemo(1000, 1, benchNow, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		j, _ := m.MarshalJSON()
		lines = append(lines, j)
		return nil
	})
	q := &Queue{sched: DefaultSchedule, now: time.Now}
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := q.decodeLine(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkMarshalJSON measures writing one generated message as JSON (the
// work of `queue list -o json` besides reading).
func BenchmarkMarshalJSON(b *testing.B) {
	var msgs []Message
	generateDemo(1000, 1, benchNow, DefaultSchedule, func(i int, m *Message, raw []byte) error {
		msgs = append(msgs, *m)
		return nil
	})
	var buf []byte
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = msgs[i%len(msgs)].AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkHold100k holds the pending domains of the same 100,000 messages
// (created in a window of the benchmark queue) until released, committed.
func BenchmarkHold100k(b *testing.B) {
	benchBulk(b, func(q *Queue) (Result, error) {
		res, err := q.Hold(context.Background(), HoldRequest{Filter: bulkFilter(), Reason: "benchmark"})
		return res.Result, err
	})
}
