package queue

import (
	"context"
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

	// Run runs fn as one unit of work (a Lua script): RunWrite commits what fn
	// changed when it returns nil and nothing otherwise; RunDryRun always
	// discards the changes; RunRead refuses changes. A backend that cannot
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

// Run runs fn as Update (RunWrite), Preview (RunDryRun) or View (RunRead).
func (q *Queue) Run(ctx context.Context, mode RunMode, fn func(tx Txn) error) error {
	wrap := func(tx *Tx) error { return fn(tx) }
	switch mode {
	case RunDryRun:
		return q.Preview(ctx, wrap)
	case RunRead:
		return q.View(ctx, wrap)
	default:
		return q.Update(ctx, wrap)
	}
}
