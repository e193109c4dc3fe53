package pgqueue

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"mqsh/internal/pgtest"
	"mqsh/queue"
)

// Changed tells a change committed at once after it returns, even when its
// LISTEN could not start at once (here: every connection of the pool is
// busy): an idle server that starts watching as another process queues a
// message does not sleep through it until its next idle look.
func TestChangedSeesAChangeRightAfterItReturns(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	q, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q2, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	var held []*pgxpool.Conn
	release := func() {
		for _, c := range held {
			c.Release()
		}
		held = nil
	}
	defer release()
	for range q.pool.Config().MaxConns {
		c, err := q.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	watch, stop := context.WithCancel(ctx)
	defer stop()
	returned := make(chan (<-chan struct{}), 1)
	go func() { returned <- q.Changed(watch, time.Hour) }()
	var ch <-chan struct{}
	select {
	case ch = <-returned: // returned without its LISTEN
	case <-time.After(200 * time.Millisecond): // waits for a connection to LISTEN on
		release()
		ch = <-returned
	}
	env := queue.Envelope{Sender: "a@example.org", Recipients: []queue.EnvelopeRecipient{{Address: "b@example.com"}}}
	if _, err := q2.Enqueue(ctx, env, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	release()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal of a message queued right after Changed returned")
	}
}
