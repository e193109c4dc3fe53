package remote

import (
	"context"
	"errors"
	"fmt"

	"mqsh/queue"
)

// Run runs fn (a Lua script) against the server. It cannot be one
// transaction: the Txn reads from the server as the script goes, and
// collects the retries and cancels it asks for, answering each with what
// it would change. With RunWrite the collected changes are sent once fn
// has returned nil, in the order asked, and Run's error says how far the
// sending got if it fails; fn's error sends nothing. RunDryRun never sends;
// RunRead refuses changes.
func (c *Client) Run(ctx context.Context, mode queue.RunMode, fn func(tx queue.Txn) error) error {
	t := &txn{c: c, ctx: ctx, mode: mode}
	err := fn(t)
	t.done = true
	if err != nil || mode != queue.RunWrite {
		return err
	}
	sent := 0
	for _, p := range t.plans {
		if _, err := c.apply(ctx, p); err != nil {
			return fmt.Errorf("script: %d of %d collected changes were sent before this one failed: %w", sent, len(t.plans), err)
		}
		sent++
	}
	return nil
}

// txn is the Txn of a remote Run: reads go to the server, changes are
// planned and collected.
type txn struct {
	c     *Client
	ctx   context.Context
	mode  queue.RunMode
	plans []*plan
	done  bool
}

var _ queue.Txn = (*txn)(nil)

// errTxnDone is returned by a txn used after Run returned.
var errTxnDone = errors.New("queue transaction used after it ended")

func (t *txn) check() error {
	if t.done {
		return errTxnDone
	}
	return t.ctx.Err()
}

func (t *txn) Context() context.Context { return t.ctx }

// DryRun reports whether nothing will be sent (RunDryRun).
func (t *txn) DryRun() bool { return t.mode == queue.RunDryRun }

func (t *txn) List(f queue.Filter, p queue.Page) ([]queue.Message, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return t.c.List(t.ctx, f, p)
}

func (t *txn) Each(f queue.Filter, fn func(m *queue.Message) error) error {
	if err := t.check(); err != nil {
		return err
	}
	return t.c.Each(t.ctx, f, fn)
}

func (t *txn) Count(f queue.Filter) (int, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	return t.c.Count(t.ctx, f)
}

func (t *txn) Get(id queue.ID) (*queue.Message, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return t.c.Get(t.ctx, id)
}

func (t *txn) Raw(id queue.ID) ([]byte, error) { return t.c.Raw(t.ctx, id) }

func (t *txn) Summary(f queue.Filter, by string) ([]queue.SummaryRow, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return t.c.Summary(t.ctx, f, by)
}

func (t *txn) Audit(aq queue.AuditQuery) ([]queue.AuditEntry, error) { return t.c.Audit(t.ctx, aq) }

func (t *txn) Enqueue(env queue.Envelope, raw []byte) (*queue.Message, error) {
	return t.c.Enqueue(t.ctx, env, raw)
}

func (t *txn) needWrite(verb string) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.mode == queue.RunRead {
		return fmt.Errorf("%s: not allowed in a read-only transaction", verb)
	}
	return nil
}

// Retry plans the retry and collects it; the Result is what it will change
// (DryRun set in a dry run, or when r.DryRun, which collects nothing).
func (t *txn) Retry(r queue.RetryRequest) (queue.Result, error) {
	if err := t.needWrite("retry"); err != nil {
		return queue.Result{}, err
	}
	p, err := t.c.planRetry(t.ctx, r)
	if err != nil {
		return queue.Result{DryRun: r.DryRun || t.DryRun()}, err
	}
	return t.collect(p, r.DryRun), nil
}

// Cancel plans the cancel and collects it, as Retry.
func (t *txn) Cancel(r queue.CancelRequest) (queue.Result, error) {
	if err := t.needWrite("cancel"); err != nil {
		return queue.Result{}, err
	}
	p, err := t.c.planCancel(t.ctx, r)
	if err != nil {
		return queue.Result{DryRun: r.DryRun || t.DryRun()}, err
	}
	return t.collect(p, r.DryRun), nil
}

func (t *txn) collect(p *plan, dryRun bool) queue.Result {
	dry := dryRun || t.DryRun()
	if !dry && len(p.msgs) > 0 {
		t.plans = append(t.plans, p)
	}
	return p.result(dry)
}
