package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// Tx is one transaction on the queue: a read-only snapshot (RunRead, and
// every mode on a queue opened read-only), or a write transaction that
// commits (RunWrite) or is rolled back (RunDryRun). Each verb that changes
// the queue runs in a savepoint of its own, so a failing verb inside a
// longer unit (a script that carries on) leaves nothing half done. A Tx must
// not be used after its function returns, nor from several goroutines.
type Tx struct {
	q     *Queue
	ctx   context.Context
	tx    pgx.Tx
	write bool // may change the queue
	dry   bool // will be rolled back
	done  bool
	wrote bool  // something changed: other processes are told at commit
	seq   int64 // the audit seq reserved for the change in progress (changeSeq)
	unit  int64 // the seq of the first audit row of the transaction
	// rollingBack counts the savepoints in progress that will be rolled
	// back (dry runs): their audit seqs are not taken from the sequence.
	rollingBack int
}

var (
	_ queue.Txn        = (*Tx)(nil)
	_ queue.TxImporter = (*Tx)(nil)
)

// Context returns the context the transaction runs under.
func (tx *Tx) Context() context.Context { return tx.ctx }

// DryRun reports whether the transaction will be rolled back.
func (tx *Tx) DryRun() bool { return tx.dry }

func (tx *Tx) check() error {
	if tx.done {
		return errors.New("queue transaction used after it ended")
	}
	return tx.ctx.Err()
}

// needWrite says whether verb may change the queue in this transaction.
func (tx *Tx) needWrite(verb string) error {
	if err := tx.check(); err != nil {
		return err
	}
	if !tx.write {
		if tx.q.readOnly {
			return queue.ReadOnlyError(verb, tx.q.loc)
		}
		return fmt.Errorf("%s: not allowed in a read-only transaction", verb)
	}
	return nil
}

// checkChange is the common start of a verb that changes what a filter
// selects.
func (tx *Tx) checkChange(verb string, f queue.Filter) error {
	if err := tx.needWrite(verb); err != nil {
		return err
	}
	return queue.CheckSelection(verb, f)
}

// Run runs fn in one transaction (see queue.Backend.Run). Writes run under
// READ COMMITTED with row locks, so fn runs once: there is nothing to retry.
func (q *Queue) Run(ctx context.Context, mode queue.RunMode, fn func(tx queue.Txn) error) error {
	wrap := func(tx *Tx) error { return fn(tx) }
	if mode == queue.RunRead || q.readOnly {
		return q.view(ctx, wrap)
	}
	return q.update(ctx, mode == queue.RunDryRun, wrap)
}

// view runs fn in a read-only snapshot.
func (q *Queue) view(ctx context.Context, fn func(tx *Tx) error) error {
	ptx, err := q.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return q.dbError("read queue", err)
	}
	t := &Tx{q: q, ctx: ctx, tx: ptx}
	defer func() {
		t.done = true
		ptx.Rollback(context.WithoutCancel(ctx))
	}()
	return fn(t)
}

// update runs fn in a write transaction and commits when fn returns nil,
// unless dry (then everything is rolled back).
func (q *Queue) update(ctx context.Context, dry bool, fn func(tx *Tx) error) error {
	if q.readOnly {
		return queue.ReadOnlyError("change queue", q.loc)
	}
	q.resolveUser()
	ptx, err := q.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return q.dbError("change queue", err)
	}
	t := &Tx{q: q, ctx: ctx, tx: ptx, write: true, dry: dry}
	committed := false
	defer func() {
		t.done = true
		if !committed {
			ptx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if dry {
		return nil
	}
	if t.wrote {
		if _, err := ptx.Exec(ctx, "SELECT pg_notify($1, '')", changedChannel); err != nil {
			return q.dbError("commit", err)
		}
	}
	if err := ptx.Commit(ctx); err != nil {
		return q.dbError("commit", err)
	}
	committed = true
	return nil
}

// savepoint runs fn in a savepoint; when rollback is set (a dry run) or fn
// fails, its changes are undone and the transaction carries on.
func (tx *Tx) savepoint(rollback bool, fn func(sp pgx.Tx) error) error {
	sp, err := tx.tx.Begin(tx.ctx)
	if err != nil {
		return err
	}
	if rollback {
		tx.rollingBack++
	}
	unit := tx.unit
	err = fn(sp)
	if rollback {
		tx.rollingBack--
	}
	if err != nil || rollback {
		tx.seq, tx.unit = 0, unit // what was filed under them is gone with the savepoint
		if e := sp.Rollback(context.WithoutCancel(tx.ctx)); e != nil && err == nil {
			err = e
		}
		return err
	}
	if err := sp.Commit(tx.ctx); err != nil {
		return err
	}
	tx.wrote = true
	return nil
}

// audit records a change in the current transaction (or savepoint), under
// the seq changeSeq reserved for it when it did. Every row a transaction
// writes carries the seq of its first row as its unit: the changes of one
// script run are one unit, which undo takes back together.
func (tx *Tx) audit(db pgx.Tx, verb, text string, ids []queue.ID) error {
	return tx.auditUndo(db, verb, text, ids, 0)
}

// auditUndo is audit for an undo's row, which names the unit it took back.
func (tx *Tx) auditUndo(db pgx.Tx, verb, text string, ids []queue.ID, undoes int64) error {
	sorted := make([]int64, len(ids))
	for i, id := range ids {
		sorted[i] = int64(id)
	}
	slices.Sort(sorted)
	seq, err := tx.changeSeq(db)
	if err != nil {
		return err
	}
	unit := tx.unit
	if unit == 0 {
		unit = seq
	}
	var und *int64
	if undoes != 0 {
		und = &undoes
	}
	_, err = db.Exec(tx.ctx, "INSERT INTO audit(seq, at, username, source, verb, filter, count, ids, unit, undoes) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		seq, tx.q.now().UnixMilli(), tx.q.user, queue.SourceOf(tx.ctx), verb, text, len(ids), sorted, unit, und)
	if err != nil {
		return err
	}
	tx.seq, tx.unit = 0, unit
	return tx.lazyHousekeep(db) // every audited write purges what has expired
}

// verbError words an error of a verb that changes the queue: a check's
// sentence as it is, the end of the context or the server's complaint with
// "nothing was changed".
func (tx *Tx) verbError(verb string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := tx.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w (nothing was changed)", verb, ctxErr)
	}
	return tx.q.dbError(verb, err)
}

// The Queue verbs run the Tx verb of the same name in a transaction of its
// own: read (a snapshot) or write (dry when the request says so).

func read[T any](q *Queue, ctx context.Context, fn func(tx *Tx) (T, error)) (out T, err error) {
	err = q.view(ctx, func(tx *Tx) error { out, err = fn(tx); return err })
	return out, err
}

func write[T any](q *Queue, ctx context.Context, dry bool, fn func(tx *Tx) (T, error)) (out T, err error) {
	err = q.update(ctx, dry, func(tx *Tx) error { out, err = fn(tx); return err })
	return out, err
}

// List returns one page of the messages matching f, in ascending id order.
func (q *Queue) List(ctx context.Context, f queue.Filter, p queue.Page) ([]queue.Message, error) {
	return read(q, ctx, func(tx *Tx) ([]queue.Message, error) { return tx.List(f, p) })
}

// Count returns how many messages match f.
func (q *Queue) Count(ctx context.Context, f queue.Filter) (int, error) {
	return read(q, ctx, func(tx *Tx) (int, error) { return tx.Count(f) })
}

// Get returns one message; queue.ErrNotFound when no message has that id.
func (q *Queue) Get(ctx context.Context, id queue.ID) (*queue.Message, error) {
	return read(q, ctx, func(tx *Tx) (*queue.Message, error) { return tx.Get(id) })
}

// Raw returns the text of a message, nil when it was not kept.
func (q *Queue) Raw(ctx context.Context, id queue.ID) ([]byte, error) {
	return read(q, ctx, func(tx *Tx) ([]byte, error) { return tx.Raw(id) })
}

// Summary groups the messages matching f by domain, sender, status or age.
func (q *Queue) Summary(ctx context.Context, f queue.Filter, by string) ([]queue.SummaryRow, error) {
	return read(q, ctx, func(tx *Tx) ([]queue.SummaryRow, error) { return tx.Summary(f, by) })
}

// Suggest returns values of a kind starting with prefix, for completion.
func (q *Queue) Suggest(ctx context.Context, kind, prefix string, limit int) ([]string, error) {
	return read(q, ctx, func(tx *Tx) ([]string, error) { return tx.Suggest(kind, prefix, limit) })
}

// Audit returns audit entries, newest first.
func (q *Queue) Audit(ctx context.Context, aq queue.AuditQuery) ([]queue.AuditEntry, error) {
	return read(q, ctx, func(tx *Tx) ([]queue.AuditEntry, error) { return tx.Audit(aq) })
}

// Enqueue queues a new message with the queue's schedule.
func (q *Queue) Enqueue(ctx context.Context, env queue.Envelope, raw []byte) (*queue.Message, error) {
	return write(q, ctx, false, func(tx *Tx) (*queue.Message, error) { return tx.Enqueue(env, raw) })
}

// Retry reschedules the pending domains of the selected messages.
func (q *Queue) Retry(ctx context.Context, r queue.RetryRequest) (queue.Result, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.Result, error) { return tx.Retry(r) })
}

// Cancel removes the selected messages, or cancels some of their recipients.
func (q *Queue) Cancel(ctx context.Context, r queue.CancelRequest) (queue.Result, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.Result, error) { return tx.Cancel(r) })
}

// ImportJSON queues every message of JSON Lines, keeping ids, all or none.
func (q *Queue) ImportJSON(ctx context.Context, r io.Reader) (queue.Result, error) {
	return write(q, ctx, false, func(tx *Tx) (queue.Result, error) { return tx.ImportJSON(r) })
}

// ImportEML queues an RFC 5322 message.
func (q *Queue) ImportEML(ctx context.Context, raw []byte, env *queue.Envelope) (*queue.Message, error) {
	return write(q, ctx, false, func(tx *Tx) (*queue.Message, error) { return tx.ImportEML(raw, env) })
}

// LoadDemo queues the documented messages and n generated ones.
func (q *Queue) LoadDemo(ctx context.Context, n int, seed int64) (queue.Result, error) {
	return write(q, ctx, false, func(tx *Tx) (queue.Result, error) { return tx.LoadDemo(n, seed) })
}
