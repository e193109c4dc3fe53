package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
)

// TestServeHousekeepsOnPostgres: mqsh serve on a PostgreSQL queue keeps
// house as on a file: at start (and every minute) it deletes the attempts
// history of messages gone longer than the trash retention, and keeps that
// of a message gone an hour ago; with an audit retention set, it trims the
// audit rows older than that; and it says how many of each.
func TestServeHousekeepsOnPostgres(t *testing.T) {
	db := pgtest.URL(t)
	mqsh(t, db, "queue", "pause") // the schema; and serve delivers nothing
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now()
	old, recent := now.Add(-30*24*time.Hour).UnixMilli(), now.Add(-time.Hour).UnixMilli()
	if _, err := conn.Exec(ctx, `INSERT INTO attempts(msg_id, domain, at, reply) VALUES
		(900001, 'gmail.com', $1, '250 2.0.0 OK'), (900001, 'gmail.com', $1, '250 2.0.0 OK'), (900002, 'gmail.com', $2, '250 2.0.0 OK')`, old, recent); err != nil {
		t.Fatal(err)
	}
	// The audited writes of the minute to come leave the history and the
	// audit log to serve.
	for _, key := range []string{"history_purged_at", "audit_trimmed_at"} {
		if _, err := conn.Exec(ctx, "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, now.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	// The pause was two months ago.
	if _, err := conn.Exec(ctx, "UPDATE audit SET at = $1 WHERE verb = 'pause'", now.Add(-60*24*time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	mqsh(t, db, "queue", "audit", "retention", "30d")
	count := func(id int64) int {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM attempts WHERE msg_id = $1", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	srv := startServe(t, db, "--paused", "--smtp", "127.0.0.1:0")
	waitFor(t, 10*time.Second, "the housekeeping", func() bool { return strings.Contains(srv.output(), "housekeeping: ") })
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve exited with %v:\n%s", err, srv.output())
	}
	if n := count(900001); n != 0 {
		t.Errorf("serve left %d expired attempts rows", n)
	}
	if n := count(900002); n != 1 {
		t.Errorf("serve purged the history of a message gone an hour ago: %d rows left", n)
	}
	var pauses int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit WHERE verb = 'pause'").Scan(&pauses); err != nil || pauses != 0 {
		t.Errorf("serve left %d audit rows older than the retention (%v)", pauses, err)
	}
	if out := srv.output(); !strings.Contains(out, "housekeeping: deleted 2 attempts of messages gone longer than the trash retention and 1 audit row older than the audit retention\n") {
		t.Errorf("serve's output:\n%s", out)
	}
}
