package pgqueue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/queue"
)

// A script run that commits while a trim is under way (after the trim has
// chosen its limit, before it deletes: READ COMMITTED shows the delete what
// committed meanwhile) can have rows numbered before the limit and after
// it. The trim takes none of them.
func TestAuditTrimKeepsAUnitCommittedMeanwhileWhole(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	q, err := Open(ctx, url, Options{Now: func() time.Time { return now.Add(time.Hour) }, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	insert := func(seq, unit int64, at time.Duration) {
		t.Helper()
		if _, err := conn.Exec(ctx, `INSERT INTO audit(seq, at, username, source, verb, filter, count, ids, unit)
			VALUES($1, $2, 'tester', 'script', 'hold', '', 0, '{}', $3)`, seq, now.Add(at).UnixMilli(), unit); err != nil {
			t.Fatal(err)
		}
	}
	// C is old; D was recorded after the time the trim asks for. X, a
	// script run that took #2 and #5, commits while the trim runs.
	insert(1, 1, -2*time.Hour) // C
	insert(3, 3, time.Second)  // D
	if _, err := conn.Exec(ctx, "SELECT setval(pg_get_serial_sequence('audit', 'seq'), 5)"); err != nil {
		t.Fatal(err)
	}
	beforeAuditDelete = func() {
		beforeAuditDelete = nil
		insert(2, 2, -time.Minute)  // X
		insert(5, 2, 2*time.Second) // X
	}
	defer func() { beforeAuditDelete = nil }()
	res, err := q.AuditTrim(ctx, queue.AuditTrimRequest{Before: now})
	if err != nil {
		t.Fatal(err)
	}
	if beforeAuditDelete != nil {
		t.Fatal("the hook did not run: the test proves nothing")
	}
	var left []int64
	rows, err := conn.Query(ctx, "SELECT seq FROM audit WHERE seq <= 5 ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		left = append(left, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []int64{2, 3, 5}) || res.Count != 1 || res.Last != 1 {
		t.Errorf("left %v after the trim %+v, want C gone (1 row, #1) and X whole (2 5)", left, res)
	}
}
