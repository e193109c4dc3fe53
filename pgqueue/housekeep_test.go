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

// Several nodes share the database, and each keeps house: one looks at the
// attempts history at a time. A node whose transaction holds the
// housekeeping (an audited write purging the history) makes another node's
// Housekeep return at once with nothing done, not wait behind it; once it
// commits, the other node deletes the rest.
func TestHousekeepSharedByNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	c := &enginetest.Clock{}
	c.Set(enginetest.Now)
	var nodes [2]*pgqueue.Queue
	for i := range nodes {
		q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: c.Now, User: "tester", Notices: enginetest.Notices})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		nodes[i] = q
	}
	m, err := nodes[0].Enqueue(ctx, queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{{Address: "x@b.example"}}}, []byte("Subject: hi\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	const gone = 5000
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The history of gone messages, and 100 attempts of the queued one.
	if _, err := conn.Exec(ctx, `INSERT INTO attempts(msg_id, domain, at, host, reply)
		SELECT CASE WHEN g > $3 - 100 THEN $2::bigint ELSE 1000000 + g END, 'b.example', $1, 'mx.b.example[192.0.2.1]:25', '421 4.7.0 try later'
		FROM generate_series(1, $3::int) g`, enginetest.Now.UnixMilli(), int64(m.ID), gone+100); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM attempts").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	c.Set(enginetest.Now.Add(8 * 24 * time.Hour))
	err = nodes[0].Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		if _, err := tx.(*pgqueue.Tx).Retry(queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}}); err != nil {
			return err
		}
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n, err := nodes[1].Housekeep(wait)
		if err != nil || n.Attempts != 0 {
			t.Errorf("another node's housekeeping while the first keeps house: deleted %+v, %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := count(), gone+100-256; got != want {
		t.Errorf("after the audited write %d attempts are left, want %d (the lazy purge looks at 256 rows)", got, want)
	}
	n, err := nodes[1].Housekeep(ctx)
	if err != nil || n.Attempts != gone-256 {
		t.Errorf("the second node deleted %+v (%v), want %d attempts", n, err, gone-256)
	}
	if got := count(); got != 100 {
		t.Errorf("%d attempts are left, want the queued message's 100", got)
	}
}

// The records undo needs (retry's due times, a hold's previous holds) are
// deleted by the first audited write after the retention, not those of
// later changes.
func TestUndoRecordsPurgedWithRetention(t *testing.T) {
	ctx := context.Background()
	c := &enginetest.Clock{}
	c.Set(enginetest.Now)
	q := open(t, c.Now)
	var ids []queue.ID
	for range 3 {
		m, err := q.Enqueue(ctx, queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{{Address: "x@b.example"}}}, []byte("Subject: hi\r\n\r\nhi\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if _, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: ids[:1]}, At: enginetest.Now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: ids[1:2]}}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, q.Location())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(table string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count("undo_domains") != 1 || count("hold_undo") != 1 {
		t.Fatalf("retry and hold kept %d undo_domains and %d hold_undo rows, want 1 each", count("undo_domains"), count("hold_undo"))
	}
	c.Set(enginetest.Now.Add(6 * 24 * time.Hour))
	if _, err := q.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: ids[2:]}}); err != nil {
		t.Fatal(err)
	}
	if count("undo_domains") != 1 || count("hold_undo") != 2 {
		t.Fatalf("undo records purged within the retention: %d undo_domains, %d hold_undo", count("undo_domains"), count("hold_undo"))
	}
	c.Set(enginetest.Now.Add(8 * 24 * time.Hour))
	if _, err := q.ReleaseHold(ctx, queue.ReleaseRequest{Filter: queue.Filter{IDs: ids[1:2]}}); err != nil {
		t.Fatal(err)
	}
	if count("undo_domains") != 0 || count("hold_undo") != 2 { // the hold of six days ago's, and the release's
		t.Errorf("after the retention %d undo_domains and %d hold_undo rows are left, want 0 and 2", count("undo_domains"), count("hold_undo"))
	}
}

// BenchmarkAuditedWrite is one audited write of one message (a retry),
// which also runs the lazy purge: what housekeeping adds to every change
// when nothing has expired.
//
//	go test ./pgqueue/ -run '^$' -bench AuditedWrite -benchtime 2000x -count 5
func BenchmarkAuditedWrite(b *testing.B) {
	ctx := context.Background()
	url := pgtest.URL(b)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: func() time.Time { return enginetest.Now }, User: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	m, err := q.Enqueue(ctx, queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{{Address: "x@b.example"}}}, []byte("Subject: hi\r\n\r\nhi\r\n"))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO attempts(msg_id, domain, at, reply) SELECT 1000000 + g, 'b.example', $1, '250 ok' FROM generate_series(1, 10000) g`, enginetest.Now.UnixMilli()); err != nil {
		b.Fatal(err)
	}
	r := queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}}
	b.ResetTimer()
	for range b.N {
		if _, err := q.Retry(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
