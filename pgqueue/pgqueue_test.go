package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
	"mqsh/queue/enginetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens a queue on a new database of the test cluster.
func open(t *testing.T, now func() time.Time) *pgqueue.Queue {
	t.Helper()
	url := pgtest.URL(t)
	q, err := pgqueue.Open(context.Background(), url, pgqueue.Options{Now: now, User: "tester", Notices: enginetest.Notices})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// TestEngine runs the shared engine suite on the PostgreSQL engine.
func TestEngine(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, now func() time.Time) queue.Backend { return open(t, now) })
}
