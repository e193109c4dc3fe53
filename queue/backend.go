package queue

import (
	"context"
	"errors"
	"io"
	"time"
)

// Backend is the queue as the command line, the shell, Lua and the HTTP API
// see it. The SQLite engine (*Queue) implements it; so does the client of a
// remote Stalwart server (package remote), and a PostgreSQL engine can follow.
// Whatever is particular to one store (files, locks, SQL) stays behind it.
type Backend interface {
	// Location names the queue for people: a file path or a URL without secrets.
	Location() string
	// ReadOnly reports whether write verbs will be refused.
	ReadOnly() bool
	// Now is the backend's clock (injected in tests).
	Now() time.Time

	List(ctx context.Context, f Filter, p Page) ([]Message, error)
	Count(ctx context.Context, f Filter) (int, error)
	Get(ctx context.Context, id ID) (*Message, error)
	Raw(ctx context.Context, id ID) ([]byte, error)
	Summary(ctx context.Context, f Filter, by string) ([]SummaryRow, error)
	Suggest(ctx context.Context, kind, prefix string, limit int) ([]string, error)
	Audit(ctx context.Context, aq AuditQuery) ([]AuditEntry, error)

	Enqueue(ctx context.Context, env Envelope, raw []byte) (*Message, error)
	Retry(ctx context.Context, r RetryRequest) (Result, error)
	Cancel(ctx context.Context, r CancelRequest) (Result, error)
	ImportJSON(ctx context.Context, r io.Reader) (Result, error)
	ImportEML(ctx context.Context, raw []byte, env *Envelope) (*Message, error)
	LoadDemo(ctx context.Context, n int, seed int64) (Result, error)

	// Paused reports whether delivery is paused; SetPaused switches it and
	// reports whether that changed anything.
	Paused(ctx context.Context) (bool, error)
	SetPaused(ctx context.Context, paused bool) (changed bool, err error)

	// Run runs fn as one unit of work (a Lua script, an import): RunWrite
	// commits what fn changed when it returns nil and nothing otherwise;
	// RunDryRun always discards the changes; RunRead refuses changes. On a
	// read-only backend every mode is RunRead. Run may call fn again from the
	// start when what fn read was changed by another writer before fn's first
	// change could be made (the SQLite engine reads from a snapshot and takes
	// the write lock at the first change, so a unit that mostly reads holds up
	// no writer): fn must start afresh on each call. A backend that cannot
	// make one transaction of it (a remote server) says so in its
	// documentation and applies the changes only once fn has returned nil.
	Run(ctx context.Context, mode RunMode, fn func(tx Txn) error) error

	Close() error
}

// RunMode says what Backend.Run may do with the changes of its function.
type RunMode int

// Run modes.
const (
	RunWrite  RunMode = iota // changes are committed when the function succeeds
	RunDryRun                // changes are made, reported, and rolled back
	RunRead                  // changes are refused
)

// Txn is one unit of work given to the function of Backend.Run: the verbs of
// Backend without the context, which the unit carries.
type Txn interface {
	Context() context.Context
	DryRun() bool

	List(f Filter, p Page) ([]Message, error)
	Each(f Filter, fn func(m *Message) error) error
	Count(f Filter) (int, error)
	Get(id ID) (*Message, error)
	Raw(id ID) ([]byte, error)
	Summary(f Filter, by string) ([]SummaryRow, error)
	Audit(aq AuditQuery) ([]AuditEntry, error)

	Enqueue(env Envelope, raw []byte) (*Message, error)
	Retry(r RetryRequest) (Result, error)
	Cancel(r CancelRequest) (Result, error)
}

var (
	_ Backend = (*Queue)(nil)
	_ Txn     = (*Tx)(nil)
)

// Location returns the file name the queue was opened with.
func (q *Queue) Location() string { return q.path }

// TxImporter is implemented by the Txn of a backend that can import messages
// inside a unit of work (the SQLite engine's), so that `queue import` of
// several files adds all of them or none.
type TxImporter interface {
	ImportEML(raw []byte, env *Envelope) (*Message, error)
	ImportJSON(r io.Reader) (Result, error)
}

var (
	_ TxImporter = (*Tx)(nil)
	_ Batcher    = (*Queue)(nil)
)

// Run runs fn in one transaction. RunWrite and RunDryRun begin from a read
// snapshot and take the write lock at fn's first change (UpdateDeferred);
// when another writer committed meanwhile, fn runs again from the start
// under the write lock (Update, or Preview for RunDryRun). RunRead, and any
// mode on a queue opened read-only, is View: reads work, changes fail with
// ErrReadOnly.
func (q *Queue) Run(ctx context.Context, mode RunMode, fn func(tx Txn) error) error {
	wrap := func(tx *Tx) error { return fn(tx) }
	if mode == RunRead || q.readOnly {
		return q.View(ctx, wrap)
	}
	dry := mode == RunDryRun
	err := q.UpdateDeferred(ctx, dry, wrap)
	if !errors.Is(err, ErrConflict) {
		return err
	}
	if dry {
		return q.Preview(ctx, wrap)
	}
	return q.Update(ctx, wrap)
}

// Batcher is implemented by a backend that can hand over a whole selection
// faster than page by page (the SQLite engine reads it from one snapshot,
// the next batch while the caller handles this one).
type Batcher interface {
	Batches(ctx context.Context, f Filter, fn func(msgs []Message) error) error
}

// eachBatchPage is how many messages EachBatch asks List for at a time.
const eachBatchPage = 1000

// EachBatch calls fn with every message f selects, in ascending id order, a
// batch at a time: through Batches where b has it, else with List, page by
// page. An error from fn stops the walk and is returned.
func EachBatch(ctx context.Context, b Backend, f Filter, fn func(msgs []Message) error) error {
	if bb, ok := b.(Batcher); ok {
		return bb.Batches(ctx, f, fn)
	}
	var after ID
	for {
		msgs, err := b.List(ctx, f, Page{After: after, Limit: eachBatchPage})
		if err != nil || len(msgs) == 0 {
			return err
		}
		if err := fn(msgs); err != nil {
			return err
		}
		if len(msgs) < eachBatchPage {
			return nil
		}
		after = msgs[len(msgs)-1].ID
	}
}
