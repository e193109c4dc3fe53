package repl

import (
	"context"

	"mqsh/queue"
)

// wakeOnWrite is the queue as the SMTP server sees it: after each write
// that commits (a group of messages queued) it wakes the delivery engine of
// the same process, so that new mail goes out at once rather than at the
// engine's next look at the queue. Its changes are audited as made on the
// node ("smtp on mx1").
type wakeOnWrite struct {
	queue.Backend
	wake func()
	node string
}

// Run runs fn as the queue does and wakes delivery after a write commits.
func (w wakeOnWrite) Run(ctx context.Context, mode queue.RunMode, fn func(queue.Txn) error) error {
	ctx = queue.WithSource(ctx, queue.SourceOf(ctx)+" on "+w.node)
	err := w.Backend.Run(ctx, mode, fn)
	if err == nil && mode == queue.RunWrite {
		w.wake()
	}
	return err
}

// SetDurable passes the SMTP server's demand for synchronous commits on to
// the queue, when it has such a switch.
func (w wakeOnWrite) SetDurable(ctx context.Context, on bool) error {
	if d, ok := w.Backend.(interface {
		SetDurable(context.Context, bool) error
	}); ok {
		return d.SetDurable(ctx, on)
	}
	return nil
}

// wakeQueue is q as the SMTP server sees it: wakeOnWrite, with the queue's
// own group commit (queue.Ingester) when it has one.
func wakeQueue(q queue.Backend, wake func(), node string) queue.Backend {
	w := wakeOnWrite{q, wake, node}
	if in, ok := q.(queue.Ingester); ok {
		return wakeIngester{w, in}
	}
	return w
}

// wakeIngester is wakeOnWrite over a queue with a group commit of its own.
type wakeIngester struct {
	wakeOnWrite
	in queue.Ingester
}

// Ingest queues a group commit as the queue does, audited and waking
// delivery as Run does.
func (w wakeIngester) Ingest(ctx context.Context, msgs []queue.NewMessage) ([]*queue.Message, []error, func() error, error) {
	ctx = queue.WithSource(ctx, queue.SourceOf(ctx)+" on "+w.node)
	out, errs, flushed, err := w.in.Ingest(ctx, msgs)
	if err == nil {
		w.wake()
	}
	return out, errs, flushed, err
}
