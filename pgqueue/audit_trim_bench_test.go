package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
	"mqsh/queue/enginetest"
)

// The audit trim on a log of 400,000 rows past the retention, one unit
// each:
//
//	go test ./pgqueue/ -run '^$' -bench AuditTrim -benchtime 3x
//
// housekeep: one Housekeep call (20 transactions of 2,000 rows, on a log
// the earlier calls left with dead rows, as serve's minutes do); by-hand:
// `queue audit trim` of them all (each time on a new 400,000), and its dry
// run (of the same 400,000).
func BenchmarkAuditTrim(b *testing.B) {
	const rows = 400_000
	ctx := context.Background()
	setup := func(b *testing.B) (*pgqueue.Queue, *pgx.Conn, *enginetest.Clock) {
		url := pgtest.URL(b)
		c := &enginetest.Clock{}
		c.Set(enginetest.Now)
		q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: c.Now, User: "bench", Notices: enginetest.Notices})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { q.Close() })
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(ctx) })
		return q, conn, c
	}
	fill := func(b *testing.B, conn *pgx.Conn) {
		b.Helper()
		if _, err := conn.Exec(ctx, `WITH s AS (SELECT nextval(pg_get_serial_sequence('audit', 'seq')) AS seq FROM generate_series(1, $2::int))
			INSERT INTO audit(seq, at, username, source, verb, filter, count, ids, unit)
			SELECT seq, $1, 'smtpd', 'smtp', 'enqueue', '', 1, ARRAY[seq], seq FROM s`, enginetest.Now.UnixMilli(), rows); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "ANALYZE audit"); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("housekeep", func(b *testing.B) {
		q, conn, c := setup(b)
		fill(b, conn)
		if err := q.SetAuditRetention(ctx, 30*24*time.Hour); err != nil {
			b.Fatal(err)
		}
		c.Set(enginetest.Now.Add(31 * 24 * time.Hour))
		n := 0
		for b.Loop() {
			res, err := q.Housekeep(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if res.AuditRows == 0 {
				b.Fatal("nothing left to trim: run fewer iterations (-benchtime 3x)")
			}
			n += res.AuditRows
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
	})
	for _, dry := range []bool{true, false} {
		name := "by-hand"
		if dry {
			name = "by-hand-dry-run"
		}
		b.Run(name, func(b *testing.B) {
			q, conn, _ := setup(b)
			if dry {
				fill(b, conn)
			}
			for b.Loop() {
				if !dry {
					b.StopTimer()
					fill(b, conn)
					b.StartTimer()
				}
				res, err := q.AuditTrim(ctx, queue.AuditTrimRequest{Before: enginetest.Now.Add(time.Hour), DryRun: dry})
				if err != nil || res.Count < rows {
					b.Fatalf("trim: %+v %v", res, err)
				}
			}
		})
	}
}
