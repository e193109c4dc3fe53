package pgqueue_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
)

// The benchmarks run on a PostgreSQL queue of 1,000,000 generated messages,
// imported (COPY) once per test binary into a database of the test cluster
// from the JSON Lines file the SQLite engine's benchmarks use
// ($MQSH_BENCH_DIR/1m.jsonl, written when absent), so that the two engines
// are measured on the same queue:
//
//	go test ./pgqueue/ -run '^$' -bench . -benchtime 20x -timeout 60m
//
// The import itself is reported on stderr (messages/s): the COPY figure.
// With $MQSH_BENCH_PG_URL naming a database (of a server of your own) the
// benchmarks use it instead, importing the queue only when the database
// holds no messages, so that later runs skip the import.
const (
	benchN    = 1_000_000
	benchSeed = 42
)

var (
	benchDir = cmp.Or(os.Getenv("MQSH_BENCH_DIR"), "/tmp/mqsh-bench")
	benchNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

	benchOnce sync.Once
	benchURL  string
	benchErr  error
)

// benchQueue opens the million-message queue, importing it on first use.
func benchQueue(b *testing.B) *pgqueue.Queue {
	b.Helper()
	benchOnce.Do(func() {
		src := filepath.Join(benchDir, "1m.jsonl")
		if st, err := os.Stat(src); err != nil || st.Size() == 0 {
			if err := os.MkdirAll(benchDir, 0o755); err != nil {
				benchErr = err
				return
			}
			if benchErr = queue.WriteDemoJSON(src, benchN, benchSeed, benchNow); benchErr != nil {
				return
			}
		}
		benchURL = os.Getenv("MQSH_BENCH_PG_URL")
		if benchURL == "" {
			benchURL = pgtest.URL(&keep{b})
		}
		ctx := context.Background()
		q, err := pgqueue.Open(ctx, benchURL, pgqueue.Options{Now: func() time.Time { return benchNow }})
		if err != nil {
			benchErr = err
			return
		}
		defer q.Close()
		if n, err := q.Count(ctx, queue.Filter{All: true}); err != nil || n > 0 {
			benchErr = err
			return
		}
		f, err := os.Open(src)
		if err != nil {
			benchErr = err
			return
		}
		defer f.Close()
		start := time.Now()
		res, err := q.ImportJSON(ctx, f)
		if err != nil {
			benchErr = err
			return
		}
		el := time.Since(start)
		fmt.Fprintf(os.Stderr, "imported %d messages into PostgreSQL in %s: %.0f messages/s\n", res.Count, el.Round(time.Millisecond), float64(res.Count)/el.Seconds())
		benchErr = execSQL(benchURL, "VACUUM ANALYZE")
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	q, err := pgqueue.Open(context.Background(), benchURL, pgqueue.Options{Now: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

// keep is the first benchmark's testing.TB with a Cleanup that waits for
// the end of the test binary (the cluster's stop drops the database), so
// that the queue outlives the benchmark that built it.
type keep struct{ testing.TB }

func (keep) Cleanup(func()) {}

func execSQL(url, sql string) error {
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), sql)
	return err
}

func queryString(b *testing.B, sql string) string {
	conn, err := pgx.Connect(context.Background(), benchURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchFilters are the SQLite engine's benchmark filters (queue/bench_test.go).
func benchFilters(b *testing.B) map[string]queue.Filter {
	sender := queryString(b, "SELECT rp_lc FROM messages WHERE rp_lc <> '' GROUP BY rp_lc ORDER BY count(*) DESC LIMIT 1")
	rcpt := queryString(b, "SELECT address_lc FROM recipients WHERE address_lc LIKE '%@gmail.com' GROUP BY address_lc ORDER BY count(*) DESC LIMIT 1")
	_, dom, _ := cutAt(sender)
	return map[string]queue.Filter{
		"sender":          {Sender: []string{sender}},
		"sender-domain":   {Sender: []string{"@" + dom}},
		"bounces":         {Sender: []string{"<>"}},
		"recipient":       {Recipient: []string{rcpt}},
		"rcpt-domain":     {Recipient: []string{"@outlook.com"}},
		"domain":          {Domain: []string{"gmail.com"}},
		"due-wide":        {DueBefore: benchNow.Add(30 * time.Minute)},
		"due-narrow":      {DueAfter: benchNow.Add(time.Hour), DueBefore: benchNow.Add(61 * time.Minute)},
		"created-range":   bulkFilter(),
		"created-quarter": {CreatedBefore: benchNow.Add(-3 * 24 * time.Hour)},
		"sender-glob":     {Sender: []string{"info@*"}},
		"status-tempfail": {Status: []queue.Status{queue.TempFail}},
	}
}

func cutAt(a string) (string, string, bool) {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == '@' {
			return a[:i], a[i+1:], true
		}
	}
	return a, "", false
}

// bulkFilter selects about 100,000 messages, as the SQLite benchmarks'.
func bulkFilter() queue.Filter {
	start := benchNow.Add(-4 * 24 * time.Hour).Add(24 * time.Hour)
	return queue.Filter{CreatedAfter: start, CreatedBefore: start.Add(4 * 24 * time.Hour / 10)}
}

// BenchmarkList reads the first page (20) of each filter, and a page at 90%
// of its matches.
func BenchmarkList(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	for name, f := range benchFilters(b) {
		n, err := q.Count(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		var late queue.ID
		if n > 20 {
			var after queue.ID
			for i := 0; i < 3 && late == 0; i++ { // a page near the end: walk there once
				msgs, _ := q.List(ctx, f, queue.Page{After: after, Limit: max(n*9/10, 1)})
				if len(msgs) > 0 {
					late = msgs[len(msgs)-1].ID
				}
				after = late
			}
		}
		for _, pg := range []struct {
			name  string
			after queue.ID
		}{{"first", 0}, {"late", late}} {
			b.Run(fmt.Sprintf("%s/%s/matches=%d", name, pg.name, n), func(b *testing.B) {
				for b.Loop() {
					ms, err := q.List(ctx, f, queue.Page{After: pg.after, Limit: 20})
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

// BenchmarkCount counts each filter's matches.
func BenchmarkCount(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	for name, f := range benchFilters(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := q.Count(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The bulk verbs on ~100,000 messages run as dry runs: every statement is
// executed, then the savepoint is rolled back, so each run finds the same
// queue (a rollback costs PostgreSQL next to nothing). A rolled-back run
// leaves its row versions behind, which slow the next run's look-ups: each
// run starts after a VACUUM, outside the measure, so that runs compare.

func BenchmarkRetry100k(b *testing.B) {
	benchBulk(b, func(q *pgqueue.Queue) (queue.Result, error) {
		return q.Retry(context.Background(), queue.RetryRequest{Filter: bulkFilter(), At: benchNow.Add(2 * time.Hour), DryRun: true})
	})
}

func BenchmarkCancel100k(b *testing.B) {
	benchBulk(b, func(q *pgqueue.Queue) (queue.Result, error) {
		return q.Cancel(context.Background(), queue.CancelRequest{Filter: bulkFilter(), DryRun: true})
	})
}

func BenchmarkCancelRecipients100k(b *testing.B) {
	benchBulk(b, func(q *pgqueue.Queue) (queue.Result, error) {
		f := bulkFilter()
		f.Recipient = []string{"*"}
		return q.Cancel(context.Background(), queue.CancelRequest{Filter: f, DryRun: true})
	})
}

// benchBulk runs verb as a dry run, once per iteration. A dry run leaves
// dead rows behind (the trash rows a cancel wrote, the row versions a retry
// wrote) until VACUUM, and they would slow the next run's inserts and
// look-ups: each run starts after a VACUUM, outside the measure, so runs
// (and binaries) measured one after another are comparable.
func benchBulk(b *testing.B, verb func(q *pgqueue.Queue) (queue.Result, error)) {
	q := benchQueue(b)
	var n int
	for b.Loop() {
		b.StopTimer()
		if err := execSQL(benchURL, "VACUUM"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := verb(q)
		if err != nil {
			b.Fatal(err)
		}
		n = res.Count
	}
	b.ReportMetric(float64(n), "msgs")
}

// BenchmarkImport100k imports 100,000 generated messages (COPY) into a new
// database per iteration and reports messages/s, and the CPU time an import
// takes in this process (decoding and encoding the rows) and in the
// server's backends (writing them and building the indexes), when the
// server runs on this machine.
func BenchmarkImport100k(b *testing.B) {
	src := filepath.Join(benchDir, "100k.jsonl")
	if st, err := os.Stat(src); err != nil || st.Size() == 0 {
		os.MkdirAll(benchDir, 0o755)
		if err := queue.WriteDemoJSON(src, 100_000, benchSeed, benchNow); err != nil {
			b.Fatal(err)
		}
	}
	var total int
	var el, client, server time.Duration
	for b.Loop() {
		b.StopTimer()
		url := pgtest.URL(b)
		q, err := pgqueue.Open(context.Background(), url, pgqueue.Options{})
		if err != nil {
			b.Fatal(err)
		}
		f, _ := os.Open(src)
		before, cpu0 := backendCPU(b, url), processCPU()
		b.StartTimer()
		start := time.Now()
		res, err := q.ImportJSON(context.Background(), f)
		el += time.Since(start)
		b.StopTimer()
		client += processCPU() - cpu0
		for pid, t := range backendCPU(b, url) {
			server += t - before[pid]
		}
		f.Close()
		q.Close()
		if err != nil {
			b.Fatal(err)
		}
		total += res.Count
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/el.Seconds(), "msgs/s")
	b.ReportMetric(client.Seconds()/float64(b.N), "client-cpu-s/op")
	b.ReportMetric(server.Seconds()/float64(b.N), "server-cpu-s/op")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the CPU time (user and system) each backend serving the
// database of url has used so far, read from /proc (nothing when the server
// is not on this machine); the connection asking is left out.
func backendCPU(b *testing.B, url string) map[int]time.Duration {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command's closing parenthesis: state is
		// the first, utime the 12th and stime the 13th (clock ticks, 100 a
		// second on Linux).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[int(pid)] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}
