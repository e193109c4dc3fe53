package repl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
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

// refusingBackend stands for a backend that cannot do some verbs (a remote
// server has no audit log, raw text, import or demo): they fail with its
// own error, and its unit of work cannot import.
type refusingBackend struct{ *countingBackend }

var errRefused = errors.New("the server at https://mx.example.org does not offer this")

func (b refusingBackend) Raw(context.Context, queue.ID) ([]byte, error) { return nil, errRefused }
func (b refusingBackend) Audit(context.Context, queue.AuditQuery) ([]queue.AuditEntry, error) {
	return nil, errRefused
}
func (b refusingBackend) LoadDemo(context.Context, int, int64) (queue.Result, error) {
	return queue.Result{}, errRefused
}
func (b refusingBackend) ImportJSON(context.Context, io.Reader) (queue.Result, error) {
	return queue.Result{}, errRefused
}
func (b refusingBackend) ImportEML(context.Context, []byte, *queue.Envelope) (*queue.Message, error) {
	return nil, errRefused
}
func (b refusingBackend) Run(ctx context.Context, mode queue.RunMode, fn func(tx queue.Txn) error) error {
	// Only the verbs of queue.Txn: no import in a unit of work.
	return b.countingBackend.Run(ctx, mode, func(tx queue.Txn) error { return fn(struct{ queue.Txn }{tx}) })
}

// wiringBatch is a batch of every kind of command the shell and the command
// line run on a queue, Lua included.
const wiringBatch = `queue list
queue list -o json -s <>
queue status 52B91F716 2B91F716
queue summary --by status
queue summary -o csv -d gmail.com --created-after 2023-01-01
queue retry -s <> -t +1h
queue cancel --dry-run -d example.org --status tempfail
queue add -s sender@example.net -r rcpt@example.com MSG.eml
queue import MSG.eml MSG.jsonl
queue demo 3 --seed 2 --force
queue list -o ids --after -1d
queue audit -n 20 -o csv
lua return queue.count{sender = "<>"}, queue.count{status = {"tempfail"}}
lua for m in queue.each{rcpt = "@gmail.com"} do print(m.id) end
lua --dry-run return queue.cancel{status = "permfail"}
lua return queue.retry({domain = "gmail.com"}, {at = "+3h"})
run domain-report
run --dry-run purge-bounces 1h
`

// runWiring runs wiringBatch on q and returns everything it printed.
func runWiring(t *testing.T, q queue.Backend, dir string) string {
	t.Helper()
	var out bytes.Buffer
	env := &Env{
		Streams: Streams{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out},
		Session: Session{Queue: q, Now: func() time.Time { return cliNow }, ScriptDirs: []string{}},
	}
	batch := strings.ReplaceAll(wiringBatch, "MSG.", filepath.Join(dir, "msg."))
	if err := Loop(context.Background(), env, NewBatchReader(strings.NewReader(batch), "batch"), LoopOptions{}); err != nil {
		t.Fatalf("batch: %v\n%s", err, out.String())
	}
	// The message queue add made has its text.
	added, err := q.List(context.Background(), queue.Filter{Sender: []string{"sender@example.net"}}, queue.Page{Limit: 1})
	if err != nil || len(added) != 1 {
		t.Fatalf("the added message: %v, %v", added, err)
	}
	if err := Run(context.Background(), env, []string{"queue", "raw", added[0].ID.String()}); err != nil {
		t.Fatal(err)
	}
	// The shell's banner counts the messages.
	banner := *env
	banner.Stderr = io.Discard
	printBanner(context.Background(), &banner, "q", "")
	// Completion asks the queue for values.
	c := NewCompleter(Commands(), env)
	comp := c.Complete(context.Background(), "queue list -s bill")
	fmt.Fprintf(&out, "completion: %v\n", comp.Items)
	return out.String()
}

// TestBackendWiring: the commands, the scripts and completion reach the queue
// only through queue.Backend and queue.Txn. The same batch runs once on the
// SQLite engine and once on a stand-in that is not it and holds the only
// reference to an identical engine: it prints the same, and the stand-in saw
// every verb the commands and scripts need.
func TestBackendWiring(t *testing.T) {
	dir := t.TempDir()
	eml := "From: Sender <sender@example.net>\r\nTo: rcpt@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
	jsonl := `{"id": 77777, "return_path": "json@example.net", "created": "2023-03-01T11:00:00Z", "size": 10, "domains": [{"name": "example.com", "status": "scheduled", "recipients": [{"address": "j@example.com", "status": "scheduled"}], "retry_num": 0, "next_retry": null, "next_notify": null, "expires": "2023-03-06T11:00:00Z"}]}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "msg.eml"), []byte(eml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "msg.jsonl"), []byte(jsonl), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() *queue.Queue {
		q, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{Now: func() time.Time { return cliNow }, User: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		if _, err := q.LoadDemo(context.Background(), 30, 1); err != nil {
			t.Fatal(err)
		}
		return q
	}
	direct := runWiring(t, open(), dir)
	counting := newCountingBackend(open())
	through := runWiring(t, counting, dir)
	if through != direct {
		t.Errorf("through the interface the batch printed\n%s\nand on the engine itself\n%s", through, direct)
	}
	for _, want := range []string{"Imported 2 message(s).", "Loaded 3 demo message(s).", "Successfully rescheduled ", "Dry run: would cancel ", "\ncompletion: [bill"} {
		if !strings.Contains(through, want) {
			t.Errorf("the batch did not print %q:\n%s", want, through)
		}
	}
	for _, verb := range []string{
		"List", "Count", "Get", "Raw", "Summary", "Suggest", "Audit", "Enqueue", "Retry", "Cancel", "LoadDemo", "Run",
		"Txn.List", "Txn.Count", "Txn.Retry", "Txn.Cancel", "Txn.ImportEML", "Txn.ImportJSON",
	} {
		if counting.calls[verb] == 0 {
			t.Errorf("%s was not called through the interface (calls: %v)", verb, counting.verbs())
		}
	}
}

// TestBackendRefuses: what a backend cannot do comes back as its error, and
// is reported as any other failure (exit 1).
func TestBackendRefuses(t *testing.T) {
	c := newCLI(t, 0)
	b := refusingBackend{newCountingBackend(c.env.Queue)}
	b.location = "https://mx.example.org"
	c.env.Queue = b
	dir := t.TempDir()
	eml := filepath.Join(dir, "m.eml")
	if err := os.WriteFile(eml, []byte("From: a@b.example\r\nTo: c@d.example\r\n\r\nx\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"queue audit", "queue raw 52B91F716", "queue demo 2", "queue import " + eml} {
		err := c.run(t, line)
		var buf bytes.Buffer
		ReportError(&buf, "", err, false)
		if ExitCode(err) != 1 || !strings.Contains(buf.String(), "https://mx.example.org") {
			t.Errorf("%s: %v (exit %d), reported %q", line, err, ExitCode(err), buf.String())
		}
	}
	// Reads still work.
	c.mustRun(t, "queue list -o ids -s <>")
	if c.stdout.String() != "52B91F716\n" {
		t.Errorf("list: %q", c.stdout.String())
	}
}
