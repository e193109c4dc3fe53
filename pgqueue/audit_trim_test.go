package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
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
