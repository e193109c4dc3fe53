package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mattn/go-sqlite3"
)

type sourceKey struct{}

// WithSource labels the changes made under ctx in the audit log ("cli",
// "shell", "script purge-sender.lua bad@example.com"). Without it the source is "cli".
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

// SourceOf returns the audit source carried by ctx, "cli" when none.
func SourceOf(ctx context.Context) string {
	if s, ok := ctx.Value(sourceKey{}).(string); ok && s != "" {
		return s
	}
	return "cli"
}

// Tx is one transaction on the queue, handed to the function given to Update,
// Preview or View. Its verbs use the context the transaction was started with;
// when that context ends (Ctrl-C, a script's time limit), the running verb stops
// between batches and the whole transaction rolls back. A Tx must not be used
// after its function returns, nor from several goroutines at once.
type Tx struct {
	q       *Queue
	ctx     context.Context
	tx      *sql.Tx
	write   bool // a write transaction (Update or Preview)
	preview bool // everything will be rolled back
	sp      int  // savepoints taken, for unique names
	alone   bool // runs one verb by itself (writeVerb): its failure rolls back the transaction, so it takes no savepoint
	done    bool
	stmts   map[string]*sql.Stmt // prepared in this transaction (closed with it)

	raw      *sql.Conn              // the connection of a walk's read transaction, read below database/sql (see Batches)
	rawStmts map[string]driver.Stmt // prepared on raw (closed with it)

	deferred bool       // began as a read snapshot (UpdateDeferred)
	locked   bool       // holds the write lock
	conflict bool       // a deferred transaction could not take the write lock
	verbSet  bool       // its first change is in the holder record
	ann      *announcer // publishes the holder record while the lock is held

	seq  int64 // the audit seq reserved for the change in progress (changeSeq); 0 = none
	unit int64 // the seq of the transaction's first audit row; 0 = none yet

	noHousekeep  bool // Ingest's batch: its audit row runs no lazy purge (see audit)
	filed        bool // filed messages for removal and left them for the sweep (removals.go): readers must skip them
	alteredTrash bool // added a column to a trash table (trashColumns)
}

// Queue returns the queue the transaction belongs to.
func (tx *Tx) Queue() *Queue { return tx.q }

// Context returns the context the transaction runs under.
func (tx *Tx) Context() context.Context { return tx.ctx }

// DryRun reports whether the transaction will be rolled back (Preview).
func (tx *Tx) DryRun() bool { return tx.preview }

func (tx *Tx) check() error {
	if tx.done {
		return errors.New("queue transaction used after it ended")
	}
	return tx.ctx.Err()
}

// checkChange is the common start of a verb that changes the messages a
// filter selects: the transaction may write, and CheckSelection.
func (tx *Tx) checkChange(verb string, f Filter) error {
	if err := tx.needWrite(verb); err != nil {
		return err
	}
	return CheckSelection(verb, f)
}

// CheckSelection is what every backend checks of a change's filter before
// anything else: it is valid, and selects something in particular or says All.
func CheckSelection(verb string, f Filter) error {
	if f.IsEmpty() && !f.All {
		return fmt.Errorf("%s: %w", verb, ErrEmptyFilter)
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	return nil
}

func (tx *Tx) needWrite(verb string) error {
	if err := tx.check(); err != nil {
		return err
	}
	if !tx.write {
		if tx.q.readOnly {
			return tx.q.readOnlyError(verb)
		}
		return fmt.Errorf("%s: not allowed in a read-only transaction", verb)
	}
	if !tx.locked {
		return tx.upgrade(verb)
	}
	if !tx.verbSet {
		tx.verbSet = true
		tx.ann.setVerb(verb)
	}
	return nil
}

// upgrade takes the write lock for a transaction that began as a read. A
// statement that writes nothing takes it; it fails at once when another
// writer holds the lock or has committed since this transaction's snapshot,
// which no wait can mend: the transaction is marked, and its caller reruns it
// under the write lock from the start.
func (tx *Tx) upgrade(verb string) error {
	if tx.conflict {
		return fmt.Errorf("%s: %w", verb, ErrConflict)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE meta SET value = value WHERE 0"); err != nil {
		if isBusy(err) {
			tx.conflict = true
			return fmt.Errorf("%s: %w", verb, ErrConflict)
		}
		return tx.q.fileError(verb, err)
	}
	tx.locked = true
	tx.q.wrote.Store(true)
	tx.ann = tx.q.announce(tx.ctx, verb)
	tx.verbSet = true
	return nil
}

// Update runs fn in one immediate write transaction and commits when fn returns
// nil; any error (or a panic, or the end of ctx) rolls everything back.
func (q *Queue) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return q.runWrite(ctx, false, fn)
}

// Preview runs fn in a write transaction and always rolls it back: a dry run of
// everything fn does. The verbs' results are marked DryRun.
func (q *Queue) Preview(ctx context.Context, fn func(tx *Tx) error) error {
	return q.runWrite(ctx, true, fn)
}

// View runs fn in one read transaction: every read sees the same snapshot.
func (q *Queue) View(ctx context.Context, fn func(tx *Tx) error) error {
	sqltx, err := q.reader.BeginTx(ctx, nil)
	if err != nil {
		return q.fileError("read queue", err)
	}
	t := &Tx{q: q, ctx: ctx, tx: sqltx}
	defer func() {
		t.done = true
		sqltx.Rollback()
	}()
	return fn(t)
}

// UpdateDeferred runs fn like Update (or Preview, when preview is set), but
// the transaction begins as a read snapshot and takes the write lock only at
// fn's first change, so that a script that only reads never holds up other
// writers. When the lock cannot be had then, because another writer is at
// work or has committed since the snapshot, everything is rolled back and
// UpdateDeferred returns ErrConflict (even when fn went on and returned nil):
// run fn again with Update or Preview, which take the lock from the start.
func (q *Queue) UpdateDeferred(ctx context.Context, preview bool, fn func(tx *Tx) error) error {
	if q.readOnly {
		return q.readOnlyError("change queue")
	}
	q.resolveUser()
	db, err := q.deferredDB()
	if err != nil {
		return err
	}
	sqltx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return q.fileError("change queue", err)
	}
	t := &Tx{q: q, ctx: ctx, tx: sqltx, write: true, preview: preview, deferred: true}
	err = q.finish(t, fn)
	if t.conflict || err != nil && !t.locked && isBusy(err) {
		return ErrConflict
	}
	return err
}

func (q *Queue) runWrite(ctx context.Context, preview bool, fn func(tx *Tx) error) error {
	return q.runWriteOn(ctx, q.writer, preview, fn)
}

// txBeginner is what a write transaction begins on: the writer's pool, or
// one connection of it held for more than the transaction (import_direct.go).
type txBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// runWriteOn is runWrite on db.
func (q *Queue) runWriteOn(ctx context.Context, db txBeginner, preview bool, fn func(tx *Tx) error) error {
	if q.readOnly {
		return q.readOnlyError("change queue")
	}
	q.resolveUser()
	q.wrote.Store(true)
	sqltx, err := q.beginWrite(ctx, db)
	if err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) {
			return q.fileError("change queue", err)
		}
		return err // waitLock's sentence
	}
	t := &Tx{q: q, ctx: ctx, tx: sqltx, write: true, preview: preview, locked: true}
	t.ann = q.announce(ctx, "")
	return q.finish(t, fn)
}

// finish runs fn in the write transaction t and commits it, unless fn
// fails, ctx ends or t is a preview.
func (q *Queue) finish(t *Tx, fn func(tx *Tx) error) error {
	committed := false
	defer func() {
		t.done = true
		if !committed {
			t.tx.Rollback()
		}
		t.ann.end()
	}()
	if err := fn(t); err != nil {
		return err
	}
	if err := t.ctx.Err(); err != nil {
		return err
	}
	if t.preview || t.conflict {
		return nil
	}
	if err := q.whileWriting(t.tx.Commit); err != nil {
		return q.fileError("commit", err)
	}
	committed = true
	return nil
}

// savepoint runs fn inside a savepoint; when rollback is true (a dry run) or fn
// fails, the savepoint's changes are undone and the transaction carries on.
//
// A verb alone in its transaction (writeVerb) needs none: its failure, and
// its dry run (a Preview), roll the whole transaction back. Skipping it
// spares SQLite a copy of every page the verb changes into the savepoint's
// sub-journal (a temporary file), about a tenth of the CPU of a bulk cancel.
func (tx *Tx) savepoint(rollback bool, fn func() error) error {
	if tx.alone && (!rollback || tx.preview) {
		tx.alone = false // a verb inside fn (undo's restore) is no longer alone
		return fn()
	}
	tx.sp++
	name := fmt.Sprintf("sp%d", tx.sp)
	if _, err := tx.tx.ExecContext(tx.ctx, "SAVEPOINT "+name); err != nil {
		return err
	}
	err := fn()
	if err != nil || rollback {
		if _, e := tx.tx.ExecContext(context.WithoutCancel(tx.ctx), "ROLLBACK TO "+name); e != nil && err == nil {
			err = e
		}
	}
	if _, e := tx.tx.ExecContext(context.WithoutCancel(tx.ctx), "RELEASE "+name); e != nil && err == nil {
		err = e
	}
	return err
}

// The Queue verbs: thin wrappers running the Tx verb of the same name in its own
// transaction.

// List returns one page of the messages matching f, in ascending id order.
func (q *Queue) List(ctx context.Context, f Filter, p Page) ([]Message, error) {
	var out []Message
	err := q.View(ctx, func(tx *Tx) (err error) { out, err = tx.List(f, p); return })
	return out, err
}

// Count returns how many messages match f.
func (q *Queue) Count(ctx context.Context, f Filter) (int, error) {
	var n int
	err := q.View(ctx, func(tx *Tx) (err error) { n, err = tx.Count(f); return })
	return n, err
}

// Get returns one message; ErrNotFound when no message has that id.
func (q *Queue) Get(ctx context.Context, id ID) (*Message, error) {
	var m *Message
	err := q.View(ctx, func(tx *Tx) (err error) { m, err = tx.Get(id); return })
	return m, err
}

// Raw returns the RFC 5322 text of a message, nil when it was not kept (imported
// from JSON); ErrNotFound when no message has that id.
func (q *Queue) Raw(ctx context.Context, id ID) ([]byte, error) {
	var b []byte
	err := q.View(ctx, func(tx *Tx) (err error) { b, err = tx.Raw(id); return })
	return b, err
}

// Summary groups the messages matching f by "domain", "sender", "status" or "age".
func (q *Queue) Summary(ctx context.Context, f Filter, by string) ([]SummaryRow, error) {
	var rows []SummaryRow
	err := q.View(ctx, func(tx *Tx) (err error) { rows, err = tx.Summary(f, by); return })
	return rows, err
}

// Suggest returns up to limit distinct values of a kind (SuggestID, SuggestSender,
// SuggestRecipient, SuggestDomain) starting with prefix, sorted, for tab completion.
func (q *Queue) Suggest(ctx context.Context, kind, prefix string, limit int) ([]string, error) {
	var out []string
	err := q.View(ctx, func(tx *Tx) (err error) { out, err = tx.Suggest(kind, prefix, limit); return })
	return out, err
}

// Audit returns audit entries, newest first.
func (q *Queue) Audit(ctx context.Context, aq AuditQuery) ([]AuditEntry, error) {
	var out []AuditEntry
	err := q.View(ctx, func(tx *Tx) (err error) { out, err = tx.Audit(aq); return })
	return out, err
}

// Enqueue queues a new message with the queue's schedule: recipients are grouped
// by domain, the size is computed from raw, and the id is new.
func (q *Queue) Enqueue(ctx context.Context, env Envelope, raw []byte) (*Message, error) {
	var m *Message
	err := q.Update(ctx, func(tx *Tx) (err error) { m, err = tx.Enqueue(env, raw); return })
	return m, err
}

// Retry reschedules the pending domains of the selected messages (see RetryRequest).
func (q *Queue) Retry(ctx context.Context, r RetryRequest) (Result, error) {
	var res Result
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.Retry(r); return })
	return res, err
}

// Cancel removes the selected messages, or cancels some of their recipients
// (see CancelRequest).
func (q *Queue) Cancel(ctx context.Context, r CancelRequest) (Result, error) {
	var res Result
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.Cancel(r); return })
	return res, err
}

// ImportJSON reads JSON Lines in either Stalwart message shape and queues every
// message, keeping its id, in one transaction: a bad line (named by its number)
// leaves the queue unchanged.
func (q *Queue) ImportJSON(ctx context.Context, r io.Reader) (Result, error) {
	var res Result
	err := q.updateImport(ctx, func(tx *Tx) (err error) { res, err = tx.ImportJSON(r); return })
	return res, err
}

// ImportEML queues an RFC 5322 message. With env nil the envelope comes from the
// headers (see Tx.ImportEML).
func (q *Queue) ImportEML(ctx context.Context, raw []byte, env *Envelope) (*Message, error) {
	var m *Message
	err := q.Update(ctx, func(tx *Tx) (err error) { m, err = tx.ImportEML(raw, env); return })
	return m, err
}

// LoadDemo queues the six messages of stalwart-cli's documented session (those
// already queued are left as they are) and n generated messages,
// deterministic for a seed.
func (q *Queue) LoadDemo(ctx context.Context, n int, seed int64) (Result, error) {
	var res Result
	err := q.Update(ctx, func(tx *Tx) (err error) { res, err = tx.LoadDemo(n, seed); return })
	return res, err
}

// The adding verbs run in a savepoint, so that a failure inside a longer
// transaction (a script that carries on after an error) leaves nothing half
// done, not even the indexes an import drops to load faster.

// Enqueue queues a new message with the queue's schedule: the first attempt is
// due now, the first delay notice after Schedule.Notify[0], expiry after
// Schedule.Expire. Recipients are grouped by domain in the order first seen (a
// repeated address is kept once), the size is len(raw), raw is kept.
func (tx *Tx) Enqueue(env Envelope, raw []byte) (m *Message, err error) {
	if err := tx.needWrite("enqueue"); err != nil {
		return nil, err
	}
	err = tx.savepoint(false, func() error {
		if m, err = tx.addNew("enqueue", "", env, raw); err != nil {
			return err
		}
		if err = tx.applyRules([]*Message{m}); err != nil {
			m = nil
			return tx.q.fileError("enqueue", err)
		}
		return nil
	})
	return m, err
}

// ImportEML queues an RFC 5322 message as a new message (new id, created now,
// the queue's schedule), keeping raw and computing its size. The envelope is
// env when given; with env nil it is read from the headers: the sender from
// Return-Path, else Sender, else From ("<>" in Return-Path is a bounce); the
// recipients from X-Original-To or Delivered-To when present (they record the
// envelope), else from To, Cc and Bcc.
func (tx *Tx) ImportEML(raw []byte, env *Envelope) (m *Message, err error) {
	if err := tx.needWrite("import"); err != nil {
		return nil, err
	}
	err = tx.savepoint(false, func() error {
		if m, err = tx.importEML(raw, env); err != nil {
			return err
		}
		if err = tx.applyRules([]*Message{m}); err != nil {
			m = nil
			return tx.q.fileError("import", err)
		}
		return nil
	})
	return m, err
}

// ImportJSON reads JSON Lines, one message per line, in either Stalwart shape:
// domains[] (v0.7-v0.12) or recipients[] (v0.13+, per-recipient schedules
// folded into per-domain ones); with both (as MarshalJSON writes), domains[]. A status may be a bare
// string or a single-key object; null or absent times take defaults (created:
// now; next_retry: created; expires: created plus the schedule's expiry). Ids
// are decimal and kept. A line holding an API response ({"data": message} or
// {"data": {"items": [...]}}) is unwrapped. Blank lines are skipped. Everything
// is imported in one transaction: a bad line, or an id already queued, is
// reported with its line number and nothing is imported.
func (tx *Tx) ImportJSON(r io.Reader) (res Result, err error) {
	if err := tx.needWrite("import"); err != nil {
		return Result{DryRun: tx.preview}, err
	}
	err = tx.savepoint(false, func() error { res, err = tx.importJSON(r); return err })
	if err != nil {
		return Result{DryRun: tx.preview}, err
	}
	return res, nil
}

// LoadDemo queues the six messages of the documented stalwart-cli session, with
// their documented ids, senders, recipients, sizes, times and 52B91F716's status
// details (those already queued are left as they are), then n generated
// messages, deterministic for a seed and the clock (see generateDemo).
func (tx *Tx) LoadDemo(n int, seed int64) (res Result, err error) {
	if err := tx.needWrite("demo"); err != nil {
		return Result{DryRun: tx.preview}, err
	}
	err = tx.savepoint(false, func() error { res, err = tx.loadDemo(n, seed); return err })
	if err != nil {
		return Result{DryRun: tx.preview}, err
	}
	return res, nil
}

// writeVerb runs fn, one Tx verb, alone in a write transaction that is
// rolled back when dryRun (or when fn fails).
func (q *Queue) writeVerb(ctx context.Context, dryRun bool, fn func(tx *Tx) error) error {
	alone := func(tx *Tx) error {
		tx.alone = true
		return fn(tx)
	}
	if dryRun {
		return q.Preview(ctx, alone)
	}
	return q.Update(ctx, alone)
}

// clock returns the current time in whole seconds, UTC.
func (q *Queue) clock() time.Time { return q.now().UTC().Truncate(time.Second) }
