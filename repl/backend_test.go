package repl

import (
	"context"
	"io"
	"sort"
	"sync"
	"time"

	"mqsh/queue"
)

// countingBackend is a queue.Backend that is not the SQLite engine: it counts
// every call of a verb and hands it to the real engine underneath. Driving
// commands and scripts through it shows that they reach the queue only
// through the interface: a type assertion to *queue.Queue or *queue.Tx
// anywhere on their way would fail, and a verb called some other way would
// not be counted.
type countingBackend struct {
	q        queue.Backend
	location string // what Location says; "" = the engine's
	mu       sync.Mutex
	calls    map[string]int
	closed   bool
}

func newCountingBackend(q queue.Backend) *countingBackend {
	return &countingBackend{q: q, calls: map[string]int{}}
}

func (b *countingBackend) count(verb string) {
	b.mu.Lock()
	b.calls[verb]++
	b.mu.Unlock()
}

// verbs returns the names of the verbs called, sorted.
func (b *countingBackend) verbs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for v := range b.calls {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func (b *countingBackend) Location() string {
	b.count("Location")
	if b.location != "" {
		return b.location
	}
	return b.q.Location()
}
func (b *countingBackend) ReadOnly() bool { b.count("ReadOnly"); return b.q.ReadOnly() }
func (b *countingBackend) Now() time.Time { b.count("Now"); return b.q.Now() }
func (b *countingBackend) Close() error   { b.count("Close"); b.closed = true; return nil }
func (b *countingBackend) List(ctx context.Context, f queue.Filter, p queue.Page) ([]queue.Message, error) {
	b.count("List")
	return b.q.List(ctx, f, p)
}
func (b *countingBackend) Count(ctx context.Context, f queue.Filter) (int, error) {
	b.count("Count")
	return b.q.Count(ctx, f)
}
func (b *countingBackend) Get(ctx context.Context, id queue.ID) (*queue.Message, error) {
	b.count("Get")
	return b.q.Get(ctx, id)
}
func (b *countingBackend) Raw(ctx context.Context, id queue.ID) ([]byte, error) {
	b.count("Raw")
	return b.q.Raw(ctx, id)
}
func (b *countingBackend) Summary(ctx context.Context, f queue.Filter, by string) ([]queue.SummaryRow, error) {
	b.count("Summary")
	return b.q.Summary(ctx, f, by)
}
func (b *countingBackend) Suggest(ctx context.Context, kind, prefix string, limit int) ([]string, error) {
	b.count("Suggest")
	return b.q.Suggest(ctx, kind, prefix, limit)
}
func (b *countingBackend) Audit(ctx context.Context, aq queue.AuditQuery) ([]queue.AuditEntry, error) {
	b.count("Audit")
	return b.q.Audit(ctx, aq)
}
func (b *countingBackend) Enqueue(ctx context.Context, env queue.Envelope, raw []byte) (*queue.Message, error) {
	b.count("Enqueue")
	return b.q.Enqueue(ctx, env, raw)
}
func (b *countingBackend) Retry(ctx context.Context, r queue.RetryRequest) (queue.Result, error) {
	b.count("Retry")
	return b.q.Retry(ctx, r)
}
func (b *countingBackend) Cancel(ctx context.Context, r queue.CancelRequest) (queue.Result, error) {
	b.count("Cancel")
	return b.q.Cancel(ctx, r)
}
func (b *countingBackend) ImportJSON(ctx context.Context, r io.Reader) (queue.Result, error) {
	b.count("ImportJSON")
	return b.q.ImportJSON(ctx, r)
}
func (b *countingBackend) ImportEML(ctx context.Context, raw []byte, env *queue.Envelope) (*queue.Message, error) {
	b.count("ImportEML")
	return b.q.ImportEML(ctx, raw, env)
}
func (b *countingBackend) LoadDemo(ctx context.Context, n int, seed int64) (queue.Result, error) {
	b.count("LoadDemo")
	return b.q.LoadDemo(ctx, n, seed)
}
func (b *countingBackend) Paused(ctx context.Context) (bool, error) {
	b.count("Paused")
	return b.q.Paused(ctx)
}
func (b *countingBackend) SetPaused(ctx context.Context, paused bool) (bool, error) {
	b.count("SetPaused")
	return b.q.SetPaused(ctx, paused)
}
func (b *countingBackend) Run(ctx context.Context, mode queue.RunMode, fn func(tx queue.Txn) error) error {
	b.count("Run")
	return b.q.Run(ctx, mode, func(tx queue.Txn) error { return fn(countingTxn{b, tx}) })
}

// countingTxn counts the verbs of a unit of work as "Txn.Verb".
type countingTxn struct {
	b  *countingBackend
	tx queue.Txn
}

func (t countingTxn) Context() context.Context { t.b.count("Txn.Context"); return t.tx.Context() }
func (t countingTxn) DryRun() bool             { t.b.count("Txn.DryRun"); return t.tx.DryRun() }
func (t countingTxn) List(f queue.Filter, p queue.Page) ([]queue.Message, error) {
	t.b.count("Txn.List")
	return t.tx.List(f, p)
}
func (t countingTxn) Each(f queue.Filter, fn func(m *queue.Message) error) error {
	t.b.count("Txn.Each")
	return t.tx.Each(f, fn)
}
func (t countingTxn) Count(f queue.Filter) (int, error) { t.b.count("Txn.Count"); return t.tx.Count(f) }
func (t countingTxn) Get(id queue.ID) (*queue.Message, error) {
	t.b.count("Txn.Get")
	return t.tx.Get(id)
}
func (t countingTxn) Raw(id queue.ID) ([]byte, error) { t.b.count("Txn.Raw"); return t.tx.Raw(id) }
func (t countingTxn) Summary(f queue.Filter, by string) ([]queue.SummaryRow, error) {
	t.b.count("Txn.Summary")
	return t.tx.Summary(f, by)
}
func (t countingTxn) Audit(aq queue.AuditQuery) ([]queue.AuditEntry, error) {
	t.b.count("Txn.Audit")
	return t.tx.Audit(aq)
}
func (t countingTxn) Enqueue(env queue.Envelope, raw []byte) (*queue.Message, error) {
	t.b.count("Txn.Enqueue")
	return t.tx.Enqueue(env, raw)
}
func (t countingTxn) Retry(r queue.RetryRequest) (queue.Result, error) {
	t.b.count("Txn.Retry")
	return t.tx.Retry(r)
}
func (t countingTxn) Cancel(r queue.CancelRequest) (queue.Result, error) {
	t.b.count("Txn.Cancel")
	return t.tx.Cancel(r)
}

// The engine's unit of work imports; so does its counting stand-in.
func (t countingTxn) ImportEML(raw []byte, env *queue.Envelope) (*queue.Message, error) {
	t.b.count("Txn.ImportEML")
	return t.tx.(queue.TxImporter).ImportEML(raw, env)
}
func (t countingTxn) ImportJSON(r io.Reader) (queue.Result, error) {
	t.b.count("Txn.ImportJSON")
	return t.tx.(queue.TxImporter).ImportJSON(r)
}

var (
	_ queue.Backend    = (*countingBackend)(nil)
	_ queue.Txn        = countingTxn{}
	_ queue.TxImporter = countingTxn{}
)
