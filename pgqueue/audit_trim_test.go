package pgqueue_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
	"mqsh/queue/enginetest"
)

// The audit retention is applied by Housekeep in bounded transactions: one
// call runs at most 20 of them, of 2,000 rows each, and the next call takes
// the rest; the newest row stays.
func TestHousekeepTrimsAuditInChunks(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	c := &enginetest.Clock{}
	c.Set(enginetest.Now)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: c.Now, User: "tester", Notices: enginetest.Notices})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const old = 45_000
	if _, err := conn.Exec(ctx, `INSERT INTO audit(at, username, source, verb, filter, count, ids)
		SELECT $1, 'smtpd', 'smtp', 'enqueue', '', 1, ARRAY[g::bigint] FROM generate_series(1, $2::int) g`, enginetest.Now.UnixMilli(), old); err != nil {
		t.Fatal(err)
	}
	if err := q.SetAuditRetention(ctx, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	c.Set(enginetest.Now.Add(31 * 24 * time.Hour))
	if _, err := q.Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != old+1-20*2000 {
		t.Errorf("after one Housekeep %d audit rows are left, want %d (20 transactions of 2,000)", n, old+1-20*2000)
	}
	if _, err := q.Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	var verb string
	if err := conn.QueryRow(ctx, "SELECT verb FROM audit").Scan(&verb); err != nil || verb != "audit-retention" {
		t.Errorf("after the second Housekeep: %q %v (%d rows), want the retention's row alone", verb, err, count())
	}
}

// Script runs that commit at the same moment on PostgreSQL can have
// interleaved seqs (each takes its seq from the sequence before it
// commits). A trim by hand or by the retention never takes part of a unit:
// a unit with a row the trim must keep keeps all its rows, even those
// numbered before the rows of another unit.
func TestAuditTrimKeepsInterleavedUnitsWhole(t *testing.T) {
	// C is one old change; A and B ran side by side, around the time the
	// trim asks for (enginetest.Now): A took #2, B #3 and #4, A #5.
	type row struct {
		seq, unit int64
		at        time.Duration // from enginetest.Now
	}
	rows := []row{
		{1, 1, -2 * time.Hour},  // C
		{2, 2, -time.Minute},    // A
		{3, 3, -time.Minute},    // B
		{4, 3, time.Second},     // B
		{5, 2, 2 * time.Second}, // A
	}
	for _, tc := range []struct {
		name string
		trim func(t *testing.T, q *pgqueue.Queue)
	}{
		{"by hand", func(t *testing.T, q *pgqueue.Queue) {
			ctx := context.Background()
			r := queue.AuditTrimRequest{Before: enginetest.Now, DryRun: true}
			dry, err := q.AuditTrim(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			r.DryRun = false
			res, err := q.AuditTrim(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if res.Count != 1 || res.Last != 1 || dry.Count != res.Count || dry.Last != res.Last {
				t.Errorf("trim: %+v, dry run %+v; want the one row of C (#1)", res, dry)
			}
		}},
		{"by the retention", func(t *testing.T, q *pgqueue.Queue) {
			ctx := context.Background()
			if err := q.SetAuditRetention(ctx, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Housekeep(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			url := pgtest.URL(t)
			c := &enginetest.Clock{}
			c.Set(enginetest.Now.Add(time.Hour))
			q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: c.Now, User: "tester", Notices: enginetest.Notices})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			for _, r := range rows {
				if _, err := conn.Exec(ctx, `INSERT INTO audit(seq, at, username, source, verb, filter, count, ids, unit)
					VALUES($1, $2, 'tester', 'script', 'hold', '', 0, '{}', $3)`, r.seq, enginetest.Now.Add(r.at).UnixMilli(), r.unit); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := conn.Exec(ctx, "SELECT setval(pg_get_serial_sequence('audit', 'seq'), 5)"); err != nil {
				t.Fatal(err)
			}
			tc.trim(t, q)
			var left []int64
			rs, err := conn.Query(ctx, "SELECT seq FROM audit WHERE seq <= 5 ORDER BY seq")
			if err != nil {
				t.Fatal(err)
			}
			for rs.Next() {
				var s int64
				if err := rs.Scan(&s); err != nil {
					t.Fatal(err)
				}
				left = append(left, s)
			}
			if err := rs.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(left, []int64{2, 3, 4, 5}) {
				t.Errorf("rows left of C, A and B: %v, want A and B whole (2 3 4 5) and C gone", left)
			}
		})
	}
}
