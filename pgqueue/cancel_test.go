package pgqueue_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
)

// A cancel's per-domain breakdown is counted from the domains it moves to
// the trash in the same statement: it must name every domain of the
// cancelled messages, as many times as they have it, in a dry run, a real
// cancel, and with the trash turned off (deleted for good).
func TestCancelBreakdown(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	for _, ret := range []time.Duration{-1, 0} {
		q := open(t, func() time.Time { return now })
		if ret >= 0 {
			if err := q.SetTrashRetention(ctx, ret); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := q.LoadDemo(ctx, 300, 7); err != nil {
			t.Fatal(err)
		}
		msgs, err := q.List(ctx, queue.Filter{All: true}, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		f := queue.Filter{IDs: []queue.ID{}}
		want := map[string]int{}
		for i, m := range msgs {
			if i%3 != 0 {
				continue
			}
			f.IDs = append(f.IDs, m.ID)
			for _, d := range m.Domains {
				want[d.Name]++
			}
		}
		if len(want) < 5 {
			t.Fatalf("the demo queue gives too few domains: %v", want)
		}
		for _, dry := range []bool{true, false} {
			res, err := q.Cancel(ctx, queue.CancelRequest{Filter: f, DryRun: dry})
			if err != nil {
				t.Fatal(err)
			}
			if res.Count != len(f.IDs) || !maps.Equal(res.Domains, want) {
				t.Errorf("retention %v, dry run %v: cancelled %d of %d, breakdown %v, want %v", ret, dry, res.Count, len(f.IDs), res.Domains, want)
			}
		}
		if n, err := q.Count(ctx, queue.Filter{IDs: f.IDs}); err != nil || n != 0 {
			t.Errorf("retention %v: %d cancelled messages still queued (%v)", ret, n, err)
		}
	}
}

// The audit row of a bulk change holds the ids of every message it
// changed, compressed by the server: with lz4 where the server has it,
// which costs a quarter of pglz's CPU (pglz took about 90 ms of a cancel of
// 100,000). A server without lz4 keeps its own method and the queue works
// as before.
func TestBulkAuditIDsCompressedWithLZ4(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var lz4 bool
	if err := conn.QueryRow(ctx, "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").Scan(&lz4); err != nil || !lz4 {
		t.Skipf("this PostgreSQL has no lz4 (%v)", err)
	}
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.LoadDemo(ctx, 2000, 7); err != nil {
		t.Fatal(err)
	}
	res, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{All: true}})
	if err != nil || res.Count < 2000 {
		t.Fatalf("cancel: %d, %v", res.Count, err)
	}
	var method *string
	var n int
	if err := conn.QueryRow(ctx, "SELECT pg_column_compression(ids), cardinality(ids) FROM audit WHERE verb = 'cancel'").Scan(&method, &n); err != nil {
		t.Fatal(err)
	}
	if method == nil || *method != "lz4" || n != res.Count {
		t.Errorf("the cancel's audit row holds %d ids compressed with %v, want %d with lz4", n, ptrString(method), res.Count)
	}
}

func ptrString(s *string) string {
	if s == nil {
		return "nothing"
	}
	return *s
}
