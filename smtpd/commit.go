package smtpd

// Group commit. Each session hands its message to the committer and waits;
// the committer takes every message waiting (up to BatchMax) and writes them
// in one write transaction, so that one fsync serves them all. While one
// batch is being committed the next one gathers, so batches grow with the
// load by themselves; besides, the committer waits up to gatherWait (1 ms)
// for the sessions that have a transaction open but have not handed in
// their message yet, since a commit costs about as many pages for one
// message as for several (BENCHMARKS.md). Each message is
// checked on its own (queue.Tx.EnqueueBatch), so a message the queue refuses
// fails alone and the others are still committed; when writing the batch
// fails, it is written again one message at a time, each in a savepoint of
// its own (queue.Tx.Enqueue), so that only the message at fault fails; when
// the commit itself fails, every message of the batch fails and none is
// stored.
//
// With the queue's own group commit (queue.Ingester) the flush to disk is
// off the committer's path: the committer hands each committed batch to the
// answerer and goes on with the next; the answerer waits for the flush that
// covers the batch (one flush covers every batch committed before it began)
// and only then answers its sessions, so no 250 goes out for a message not
// yet on disk. When the flush fails, every session waiting is answered with
// the error (a 451) and the queue takes no more batches that way: the
// committer writes through Run, as for a queue without a group commit.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"mqsh/queue"
)

type commitReq struct {
	env  queue.Envelope
	raw  []byte
	done chan commitRes
}

type commitRes struct {
	m   *queue.Message
	err error
}

// refusedError is a message the queue refused for what it is (an address it
// does not take, say): sending it again would not help.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

type committer struct {
	q       queue.Backend
	max     int
	reqs    chan *commitReq
	answers chan committed // batches committed, for the answerer
	mu      sync.RWMutex   // held for reading while a request is sent; close takes it to write
	shut    bool
	wg      sync.WaitGroup

	// inTx counts the sessions with a transaction open (MAIL taken, not yet
	// reset): the committer waits up to gatherWait for those still sending
	// their message, so that one commit takes them all. Those whose message
	// waits for its flush count too, so the committer mostly waits the whole
	// gatherWait: not counting them made batches a third smaller and cost
	// more CPU a message on a busy machine (BENCHMARKS.md, fifth session).
	inTx atomic.Int32
}

// committed is a batch committed and not yet answered: res are its
// sessions' answers once flushed says the batch is on disk.
type committed struct {
	batch   []*commitReq
	res     []commitRes
	flushed func() error
}

// gatherWait is the longest the committer waits for sessions still sending
// before it commits what it has.
var gatherWait = time.Millisecond

func newCommitter(q queue.Backend, max int) *committer {
	c := &committer{q: q, max: max, reqs: make(chan *commitReq, max), answers: make(chan committed, 64)}
	c.wg.Add(2)
	go c.run()
	go c.answer()
	return c
}

// errShutdown answers a message that arrives after the committer stopped.
var errShutdown = fmt.Errorf("the server is shutting down")

// enqueue queues one message durably, sharing the commit with whatever
// other sessions are queueing at the same time.
func (c *committer) enqueue(ctx context.Context, env queue.Envelope, raw []byte) (*queue.Message, error) {
	r := &commitReq{env: env, raw: raw, done: make(chan commitRes, 1)}
	c.mu.RLock()
	if c.shut {
		c.mu.RUnlock()
		return nil, errShutdown
	}
	c.reqs <- r
	c.mu.RUnlock()
	res := <-r.done // always answered: the committer drains the channel before it stops
	return res.m, res.err
}

// close stops the committer once the messages already handed to it are
// committed, flushed and answered.
func (c *committer) close() {
	c.mu.Lock()
	if !c.shut {
		c.shut = true
		close(c.reqs)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *committer) run() {
	defer c.wg.Done()
	defer close(c.answers) // after the last batch: the answerer then stops
	ctx := queue.WithSource(context.Background(), "smtp")
	var timer *time.Timer
	for r := range c.reqs {
		batch := make([]*commitReq, 1, min(c.max, 64)) // the answerer may still hold the last one
		batch[0] = r
		var expired <-chan time.Time
	more:
		for len(batch) < c.max {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
				continue
			default:
			}
			if int(c.inTx.Load()) <= len(batch) {
				break
			}
			if expired == nil {
				if timer == nil {
					timer = time.NewTimer(gatherWait)
				} else {
					timer.Reset(gatherWait)
				}
				expired = timer.C
			}
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			case <-expired:
				break more
			}
		}
		if timer != nil {
			timer.Stop()
		}
		c.commit(ctx, batch)
	}
}

// batcher is a unit of work that queues many messages at once (the SQLite
// queue's Tx); another backend's messages are queued one by one.
type batcher interface {
	EnqueueBatch(msgs []queue.NewMessage) ([]*queue.Message, []error, error)
}

// commit writes one batch and answers its sessions. (Commits are durable
// because New made the queue so: the setting stays with the queue's write
// connection, so a batch need not set it again.)
func (c *committer) commit(ctx context.Context, batch []*commitReq) {
	res := make([]commitRes, len(batch))
	if in, ok := c.q.(queue.Ingester); ok && c.ingest(ctx, in, batch, res) {
		return
	}
	err := c.q.Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		if b, ok := tx.(batcher); ok {
			out, errs, err := b.EnqueueBatch(newMessages(batch))
			if err == nil {
				batchResults(res, out, errs)
				return nil
			}
			// Nothing of the batch was kept: one message at a time, so
			// that only the one at fault fails.
		}
		for i, r := range batch {
			res[i].m, res[i].err = tx.Enqueue(r.env, r.raw)
		}
		return nil
	})
	for i, r := range batch {
		if err != nil {
			res[i] = commitRes{err: err}
		}
		r.done <- res[i]
	}
}

// ingest writes a batch through the queue's own group commit
// (queue.Ingester) and hands it to the answerer; it reports false, having
// answered no one, when writing failed, so that the batch is written again
// one message at a time.
func (c *committer) ingest(ctx context.Context, in queue.Ingester, batch []*commitReq, res []commitRes) bool {
	out, errs, flushed, err := in.Ingest(ctx, newMessages(batch))
	if err != nil {
		return false
	}
	batchResults(res, out, errs)
	c.answers <- committed{batch, res, flushed}
	return true
}

// newMessages is a batch's messages as the queue takes them in one go.
func newMessages(batch []*commitReq) []queue.NewMessage {
	msgs := make([]queue.NewMessage, len(batch))
	for i, r := range batch {
		msgs[i] = queue.NewMessage{Env: r.env, Raw: r.raw}
	}
	return msgs
}

// batchResults fills res from what queuing a batch in one go gave: each
// message stored, or refused on its own.
func batchResults(res []commitRes, out []*queue.Message, errs []error) {
	for i := range res {
		res[i] = commitRes{m: out[i]}
		if errs[i] != nil {
			res[i].err = &refusedError{errs[i]}
		}
	}
}

// answer answers the sessions of each batch committed through the queue's
// group commit once the batch is on disk, or with the reason it is not
// known to be.
func (c *committer) answer() {
	defer c.wg.Done()
	for b := range c.answers {
		err := b.flushed()
		for i, r := range b.batch {
			if err != nil && b.res[i].err == nil { // a refused message stays refused
				b.res[i] = commitRes{err: err}
			}
			r.done <- b.res[i]
		}
	}
}
