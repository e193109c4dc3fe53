// Package lua runs mqsh's policy scripts: Lua (5.1, by gopher-lua) with a
// `queue` module whose functions are thin adapters over the queue engine's
// verbs. A script runs inside one queue transaction, so it changes everything
// it asked for or nothing; a dry run rolls the transaction back and reports what
// would have changed. Scripts run in a sandbox built by allow-list, under a time
// limit, a memory limit and a bounded call stack.
package lua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"

	"mqsh/queue"
)

// Defaults for Options.
const (
	DefaultTimeout     = 60 * time.Second // Options.Timeout when zero
	DefaultMemoryLimit = 512 << 20        // Options.MemoryLimit when zero: bytes of heap a script may add
	MaxStringSize      = 64 << 20         // the longest string a script may build, in bytes (or a quarter of the memory limit, if less)
)

// Errors a run can end with, for errors.Is. The error returned always says the
// script's name (and line when known) and that nothing changed.
var (
	ErrAborted     = errors.New("aborted")                // the script called abort(msg)
	ErrTimeout     = errors.New("time limit reached")     // Options.Timeout passed
	ErrMemory      = errors.New("memory limit reached")   // the script's heap grew past Options.MemoryLimit
	ErrInterrupted = errors.New("interrupted")            // the caller's context was cancelled (Ctrl-C)
	ErrSyntax      = errors.New("syntax error")           // the chunk does not parse
	ErrNotFound    = errors.New("script not found")       // Find found no such script
	errNoTx        = errors.New("no transaction is open") // a queue function ran after its script ended
)

// Options configure a run. Either Code or Path gives the script.
type Options struct {
	Name        string           // shown in errors, the audit log and the summary ("purge-sender.lua"); "" = the base name of Path, else "lua"
	Path        string           // read the script from this file when Code is empty
	Code        string           // the script's text
	Args        []string         // the script's arguments: arg[1]..arg[n] and ...
	DryRun      bool             // run to the end, then roll back; the Report says what would have changed
	Timeout     time.Duration    // 0 = DefaultTimeout (60 s); negative = no limit
	MemoryLimit int64            // bytes of heap the script may add; 0 = DefaultMemoryLimit (512 MiB)
	Stdout      io.Writer        // print(); nil = discard
	Stderr      io.Writer        // log.info, log.warn; nil = discard
	ScriptDirs  []string         // where require looks for modules, in order; the built-in scripts come last
	Now         func() time.Time // the clock behind time.now() and relative times; nil = time.Now
	Source      string           // the audit log's source; "" = "script NAME ARGS..."
}

// Report says what a run changed (or, in a dry run, would have changed).
type Report struct {
	Script    string         // the script's name
	DryRun    bool           // nothing was changed
	Retried   int            // distinct messages rescheduled by queue.retry
	Cancelled int            // distinct messages cancelled (removed, or some recipients cancelled) by queue.cancel
	Domains   map[string]int // per recipient domain: messages changed there, summed over the calls
}

// Changed reports whether the run changed (or would change) anything.
func (r Report) Changed() bool { return r.Retried > 0 || r.Cancelled > 0 }

// Summary is the line printed on stderr after a run, e.g.
// "script purge-sender.lua: retried 0, cancelled 1234 message(s)" or
// "dry run: would retry 0 and cancel 1234 message(s) (gmail.com 800, ...); nothing changed".
func (r Report) Summary() string {
	doms := r.domainText(5)
	who := "script " + r.Script
	if r.Script == "lua" {
		who = "lua" // a one-liner or the Lua prompt
	}
	if r.DryRun {
		s := fmt.Sprintf("dry run: %s would retry %d and cancel %d message(s)", who, r.Retried, r.Cancelled)
		if doms != "" {
			s += " (" + doms + ")"
		}
		return s + "; nothing changed"
	}
	s := fmt.Sprintf("%s: retried %d, cancelled %d message(s)", who, r.Retried, r.Cancelled)
	if doms != "" {
		s += " (" + doms + ")"
	}
	return s
}

// domainText lists the busiest domains: "gmail.com 800, yahoo.com 434, 3 more".
func (r Report) domainText(max int) string {
	type dc struct {
		d string
		n int
	}
	var all []dc
	for d, n := range r.Domains {
		if n > 0 {
			all = append(all, dc{d, n})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].d < all[j].d
	})
	var parts []string
	for i, x := range all {
		if i == max {
			parts = append(parts, fmt.Sprintf("%d more domain(s)", len(all)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", x.d, x.n))
	}
	return strings.Join(parts, ", ")
}

// Run runs one script in one transaction (a rolled-back one for a dry run, a
// read transaction on a read-only queue) and reports what it changed. On any
// error (a Lua error, abort, the time or memory limit, a cancelled ctx) the
// transaction is rolled back and nothing changes.
func Run(ctx context.Context, q queue.Backend, opts Options) (Report, error) {
	if opts.Code == "" && opts.Path != "" {
		b, err := os.ReadFile(opts.Path)
		if err != nil {
			return Report{Script: opts.scriptName(), DryRun: opts.DryRun}, fmt.Errorf("read script: %w", err)
		}
		opts.Code = string(b)
	}
	s := NewSession(q, opts)
	defer s.Close()
	return s.run(ctx, opts.Code, false)
}

func (o Options) scriptName() string {
	switch {
	case o.Name != "":
		return o.Name
	case o.Path != "":
		return filepath.Base(o.Path)
	}
	return "lua"
}

// Session is one Lua state that runs chunk after chunk, each in its own
// transaction: the `lua>` prompt. Globals survive from one chunk to the next.
// A Session is not safe for concurrent use.
type Session struct {
	L      *glua.LState
	q      queue.Backend
	opts   Options
	name   string
	stdout io.Writer
	stderr io.Writer
	// strLimit is the size of the longest string a script may build: a
	// quarter of its memory limit, and never more than MaxStringSize.
	strLimit int64

	tx      queue.Txn // the open transaction while a chunk runs
	report  *Report
	seen    [2]map[queue.ID]struct{} // distinct messages retried, cancelled
	aborted string                   // abort's message, once called
	require *requirer
	box     boxer      // conversions of repeated values
	ahead   *readAhead // the page queue.each is reading on another goroutine
	// building is the last read ahead, whose goroutine may still be making
	// tables after its read; aheadBox is that goroutine's boxer.
	building *readAhead
	aheadBox boxer
	writes   int                        // changes the script asked for, to tell a stale read ahead
	hidden   map[string]*glua.LFunction // what rewritten code calls: concatName, retName
	mem      *memWatch                  // the memory watch while a chunk runs
}

// NewSession opens a sandboxed Lua state over q. Close it when done.
func NewSession(q queue.Backend, opts Options) *Session {
	// The limits' defaults are filled in here, once.
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MemoryLimit == 0 {
		opts.MemoryLimit = DefaultMemoryLimit
	}
	s := &Session{q: q, opts: opts, name: opts.scriptName(), stdout: opts.Stdout, stderr: opts.Stderr}
	s.strLimit = max(min(opts.MemoryLimit/4, MaxStringSize), 1)
	if s.stdout == nil {
		s.stdout = io.Discard
	}
	if s.stderr == nil {
		s.stderr = io.Discard
	}
	dirs := opts.ScriptDirs
	if opts.Path != "" {
		// A script run by path may require modules next to it.
		dirs = append([]string{filepath.Dir(opts.Path)}, dirs...)
	}
	s.require = newRequirer(dirs)
	s.L = newSandbox(s)
	return s
}

// Close releases the Lua state.
func (s *Session) Close() { s.L.Close() }

// Exec runs one chunk typed at the prompt, in its own transaction. When the
// chunk is an expression, its values are printed to Stdout.
func (s *Session) Exec(ctx context.Context, code string) (Report, error) {
	return s.run(ctx, code, true)
}

func (s *Session) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// source is the audit log's label for this run.
func (s *Session) source(code string) string {
	if s.opts.Source != "" {
		return s.opts.Source
	}
	if s.opts.Code == "" && s.opts.Path == "" || s.name == "lua" {
		// A one-liner or a prompt chunk: record the code itself, shortened.
		c := strings.Join(strings.Fields(code), " ")
		if len(c) > 200 {
			c = c[:197] + "..."
		}
		return "lua " + c
	}
	words := []string{"script", s.name}
	for _, a := range s.opts.Args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

func (s *Session) run(ctx context.Context, code string, prompt bool) (Report, error) {
	rep := Report{Script: s.name, DryRun: s.opts.DryRun, Domains: map[string]int{}}
	fn, printResults, err := s.compile(code, prompt)
	if err != nil {
		return rep, err
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if s.opts.Timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, s.opts.Timeout, ErrTimeout)
		defer stop()
	}
	limit := s.opts.MemoryLimit
	s.mem = watchMemory(runCtx, limit, cancel)
	defer func() { s.mem.stop(); s.mem = nil }()
	runCtx = queue.WithSource(runCtx, s.source(code))

	s.report = &rep
	s.seen = [2]map[queue.ID]struct{}{{}, {}}
	s.aborted = ""
	defer func() { s.report = nil; s.seen = [2]map[queue.ID]struct{}{} }()

	// The backend may run the body again from the start (the SQLite engine
	// does when another writer committed while the script was reading from
	// its snapshot, and then runs it under the write lock).
	attempts := 0
	body := func(tx queue.Txn) error {
		if attempts++; attempts > 1 {
			fmt.Fprintf(s.stderr, "%s: the queue changed while the script was reading it; running it again from the start under the write lock (what it printed may appear twice)\n", s.name)
			rep = Report{Script: s.name, DryRun: s.opts.DryRun, Domains: map[string]int{}}
			s.seen = [2]map[queue.ID]struct{}{{}, {}}
			s.aborted = ""
		}
		s.tx = tx
		defer func() { s.settle(); s.stopBuilding(); s.tx = nil }()
		L := s.L
		L.SetContext(runCtx)
		defer L.RemoveContext()
		top := L.GetTop()
		L.Push(fn)
		nargs := 0
		if !prompt {
			for _, a := range s.opts.Args {
				L.Push(glua.LString(a))
			}
			nargs = len(s.opts.Args)
		}
		perr := L.PCall(nargs, glua.MultRet, nil)
		var results []glua.LValue
		if perr == nil {
			for i := top + 1; i <= L.GetTop(); i++ {
				results = append(results, L.Get(i))
			}
		}
		L.SetTop(top)
		if err := s.failure(runCtx, ctx, perr); err != nil {
			return err
		}
		if printResults && len(results) > 0 {
			parts := make([]string, len(results))
			for i, v := range results {
				parts[i] = inspect(v, 4)
			}
			fmt.Fprintln(s.stdout, strings.Join(parts, "\t"))
		}
		return nil
	}
	// Reads work on a read-only queue; queue.retry and queue.cancel raise.
	mode := queue.RunWrite
	if s.opts.DryRun {
		mode = queue.RunDryRun
	}
	err = s.q.Run(runCtx, mode, body)
	if err != nil {
		// Whatever the verbs did was rolled back.
		rep.Retried, rep.Cancelled, rep.Domains = 0, 0, map[string]int{}
		var se *scriptError
		if errors.As(err, &se) {
			return rep, err
		}
		if cause := s.limitCause(runCtx, ctx); cause != nil {
			return rep, &scriptError{msg: fmt.Sprintf("%s: %s", s.name, s.describe(cause)), kind: cause}
		}
		return rep, fmt.Errorf("%s: %w; nothing changed", s.name, err)
	}
	return rep, nil
}

// scriptError is a failed run: the message names the script (and line) and
// says that nothing changed; kind is one of the Err values, or nil for a
// plain Lua error.
type scriptError struct {
	msg  string
	kind error
}

func (e *scriptError) Error() string { return e.msg }
func (e *scriptError) Unwrap() error { return e.kind }

// limitCause says why runCtx ended, if it did: a limit, or the caller.
func (s *Session) limitCause(runCtx, parent context.Context) error {
	if runCtx.Err() == nil {
		return nil
	}
	if parent.Err() != nil {
		return ErrInterrupted
	}
	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, ErrTimeout), errors.Is(cause, ErrMemory):
		return cause
	}
	return ErrInterrupted
}

func (s *Session) describe(cause error) string {
	switch {
	case errors.Is(cause, ErrTimeout):
		return fmt.Sprintf("stopped: time limit of %s reached (raise it with --timeout); nothing changed", s.opts.Timeout)
	case errors.Is(cause, ErrMemory):
		return fmt.Sprintf("stopped: memory limit of %d MiB reached (use queue.each rather than queue.list, and keep less in tables); nothing changed", s.opts.MemoryLimit>>20)
	}
	return "interrupted; nothing changed"
}

// failure turns the outcome of the chunk into the error that rolls back the
// transaction, or nil to commit.
func (s *Session) failure(runCtx, parent context.Context, perr error) error {
	if cause := s.limitCause(runCtx, parent); cause != nil {
		where := ""
		if perr != nil {
			where = luaWhere(perr)
		}
		return &scriptError{msg: joinWhere(s.name, where, s.describe(cause)), kind: cause}
	}
	if s.aborted != "" {
		where := ""
		if perr != nil {
			where = luaWhere(perr)
		}
		return &scriptError{msg: joinWhere(s.name, where, "aborted: "+s.aborted+"; nothing changed"), kind: ErrAborted}
	}
	if perr == nil {
		return nil
	}
	msg := luaMessage(perr)
	if !strings.HasPrefix(msg, s.name+":") {
		msg = s.name + ": " + msg
	}
	return &scriptError{msg: msg + "; nothing changed"}
}

// luaMessage is the message of a Lua error without gopher-lua's traceback.
func luaMessage(err error) string {
	var ae *glua.ApiError
	if errors.As(err, &ae) {
		if str, ok := ae.Object.(glua.LString); ok {
			return strings.TrimSpace(string(str))
		}
		return ae.Object.String()
	}
	return err.Error()
}

// luaWhere extracts "name:12" from a Lua error message "name:12: ...".
func luaWhere(err error) string {
	msg := luaMessage(err)
	i := strings.Index(msg, ": ")
	if i < 0 {
		return ""
	}
	head := msg[:i]
	j := strings.LastIndexByte(head, ':')
	if j < 0 {
		return ""
	}
	for _, c := range head[j+1:] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	if j+1 == len(head) {
		return ""
	}
	return head
}

func joinWhere(name, where, msg string) string {
	if where != "" {
		return where + ": " + msg
	}
	return name + ": " + msg
}

// currentTx returns the open transaction or raises. It first waits for a
// page queue.each is reading ahead, so the transaction has one user at a time.
func (s *Session) currentTx(L *glua.LState) queue.Txn {
	s.settle()
	if s.tx == nil {
		L.RaiseError("queue: %v (a queue function or iterator was used after its script or chunk ended)", errNoTx)
	}
	return s.tx
}

// The write verbs a report counts (indexes into Session.seen).
const (
	verbRetry = iota
	verbCancel
)

// record adds what a verb did to the report.
// Messages are counted once per verb however often the script touched them.
func (s *Session) record(verb int, res queue.Result) {
	seen := s.seen[verb]
	for _, id := range res.IDs {
		seen[id] = struct{}{}
	}
	if verb == verbRetry {
		s.report.Retried = len(seen)
	} else {
		s.report.Cancelled = len(seen)
	}
	for d, n := range res.Domains {
		s.report.Domains[d] += n
	}
}
