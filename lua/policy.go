package lua

// The policy hooks of `mqsh serve --policy FILE.lua`: global functions of a
// Lua file that the server calls to decide about one message or one domain.
// Each call runs in the scripts' sandbox, under a short time limit and the
// memory limit; a hook that fails (an error, a limit, an answer of the wrong
// kind) is logged in one line and the server does what it would do without
// a policy.
//
// The `queue` module is absent from hooks: a hook answers the server's
// question from what it is given, and must not read or change the queue
// behind the server's back (reading it on every arrival would also cost a
// transaction per message). Reading queue.anything raises an error saying so.
//
// gopher-lua states are not safe for concurrent use, and the server calls
// hooks from many goroutines at once, so a Policy keeps a small pool of
// states, each made from the one compiled file. A call takes an idle state,
// or makes one while fewer than the pool's size exist, or waits (at most the
// time limit) for one to come back. A state that hit a limit is thrown away
// and a fresh one made when next needed. A pool rather than one state behind
// a mutex: a call costs about ten microseconds either way (BenchmarkPolicy), but
// with one state a single hook stuck in a loop until its time limit would
// hold up every other session for that long.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	glua "github.com/yuin/gopher-lua"

	"mqsh/queue"
)

// Defaults and bounds of policy hooks.
const (
	DefaultHookTimeout = 200 * time.Millisecond                 // PolicyOptions.Timeout when zero
	DefaultRejectReply = "550 5.7.1 Message rejected by policy" // on_arrival's "reject" without a valid reply
	// MaxRetryDelay is the furthest next_retry may put a retry; an answer
	// beyond it is taken for a mistake, and the schedule is used.
	MaxRetryDelay = 365 * 24 * time.Hour
	// unixTimeFrom splits next_retry's numbers: below it, seconds from now;
	// from it on, a time in Unix seconds (1e9 is 2001-09-09).
	unixTimeFrom = 1e9
	maxReplyLen  = 512 // bytes of a reject reply, as SMTP allows for a reply line
)

// The hooks a policy file may define.
const (
	HookOnArrival = "on_arrival"
	HookNextRetry = "next_retry"
	HookRoute     = "route"
)

var hookNames = []string{HookOnArrival, HookNextRetry, HookRoute}

// errPolicyClosed is what a call on a closed Policy gets (it then answers
// the default without logging).
var errPolicyClosed = errors.New("the policy is closed")

// PolicyOptions configure LoadPolicy.
type PolicyOptions struct {
	Timeout time.Duration    // per call; 0 (or negative) = DefaultHookTimeout (200 ms)
	Memory  int64            // bytes of heap a call may add; 0 (or negative) = DefaultMemoryLimit (512 MiB)
	Log     io.Writer        // failures, one line each (and the hooks' print and log.*); nil = discard
	Now     func() time.Time // the clock of time.now() and of next_retry's times; nil = time.Now
}

// Arrival is what on_arrival is told about a message the server is about to
// queue.
type Arrival struct {
	ID         string              // the queue id, when one is assigned already ("" = none yet)
	Sender     string              // the envelope sender; "" for a bounce (the hook sees "<>")
	Recipients []string            // the envelope recipients
	Size       int64               // bytes of the message
	ClientIP   string              // the client's IP address
	User       string              // the authenticated user; "" when none
	Helo       string              // the name the client gave in HELO/EHLO
	Subject    string              // the Subject header, decoded as far as the server does
	MessageID  string              // the Message-ID header
	Headers    map[string][]string // every header by name (any case; the hook sees lower-case names), values in order
}

// Reply is the last SMTP reply of a failed delivery attempt.
type Reply struct {
	Code     int    // 421; 0 when there was no reply (connection refused, timeout)
	Enhanced string // "4.7.0"; "" when none
	Text     string // the reply's text, or the reason when there was no reply
}

// Policy is a loaded policy file. Its methods are safe for concurrent use.
// A nil *Policy (no --policy) answers every default: accept, the schedule,
// the default route.
type Policy struct {
	path  string
	proto *glua.FunctionProto
	opts  PolicyOptions
	has   map[string]bool

	idle  chan *Session // states not in use
	slots chan struct{} // one token per state that exists

	logMu sync.Mutex // one line at a time on opts.Log

	mu     sync.Mutex // guards closed, and puts states back
	closed bool
}

// LoadPolicy compiles the file at path and runs its top level once (in the
// first state of the pool; every later state runs it too, so the top level
// should only define functions and constants). It fails, with the file and
// line, when the file does not compile, its top level raises an error or
// passes a limit, a hook's name holds something other than a function, or it
// defines none of the hooks.
func LoadPolicy(path string, opts PolicyOptions) (*Policy, error) {
	return loadPolicy(path, opts, poolSize())
}

// poolSize is the number of Lua states a policy keeps: enough for every core
// to run a hook while as many are stuck until their time limit.
func poolSize() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

func loadPolicy(path string, opts PolicyOptions, size int) (*Policy, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultHookTimeout
	}
	if opts.Memory <= 0 {
		opts.Memory = DefaultMemoryLimit
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	code, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	proto, err := compileProto(stripShebang(string(code)), path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	p := &Policy{
		path: path, proto: proto, opts: opts, has: map[string]bool{},
		idle: make(chan *Session, size), slots: make(chan struct{}, size),
	}
	p.slots <- struct{}{}
	s, err := p.newState(context.Background())
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	g := s.L.G.Global
	for _, name := range hookNames {
		switch v := g.RawGetString(name).(type) {
		case *glua.LFunction:
			p.has[name] = true
		case *glua.LNilType:
		default:
			s.Close()
			return nil, fmt.Errorf("load policy: %s: %s is a %s, not a function; define it as `function %s(...) ... end`", path, name, v.Type(), name)
		}
	}
	if len(p.has) == 0 {
		s.Close()
		return nil, fmt.Errorf("load policy: %s defines none of the hooks %s (a misspelt name, or a local function?)", path, strings.Join(hookNames, ", "))
	}
	p.idle <- s
	return p, nil
}

// Has reports whether the file defines the hook name (on_arrival,
// next_retry or route).
func (p *Policy) Has(name string) bool { return p != nil && p.has[name] }

// Close releases the Lua states. Calls after Close answer the default.
func (p *Policy) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for {
		select {
		case s := <-p.idle:
			s.Close()
		default:
			return
		}
	}
}

// newState makes a state (its slot already taken) and runs the file's top
// level in it. On failure the slot is given back.
func (p *Policy) newState(ctx context.Context) (*Session, error) {
	out := &hookLog{p: p}
	s := NewSession(nil, Options{
		Name: p.path, Path: p.path, Timeout: p.opts.Timeout, MemoryLimit: p.opts.Memory,
		Stdout: out, Stderr: out, Now: p.opts.Now,
	})
	hideQueue(s.L)
	fn, err := s.instantiate(p.proto, p.path)
	if err == nil {
		_, err = p.call(ctx, s, fn, nil, func([]glua.LValue) error { return nil })
		var le *limitError
		if errors.As(err, &le) {
			err = fmt.Errorf("%w (in the top level, which should only define functions and constants)", err)
		}
	}
	if err != nil {
		s.Close()
		<-p.slots
		return nil, err
	}
	return s, nil
}

// hideQueue replaces the queue module by a table that raises on every use.
func hideQueue(L *glua.LState) {
	q := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *glua.LState) int {
		L.RaiseError("queue.%s is not available in policy hooks: a hook answers from what it is given and must not read or change the queue behind the server's back", L.Get(2).String())
		return 0
	}))
	L.SetMetatable(q, mt)
	L.SetGlobal("queue", q)
}

// acquire takes an idle state, or makes one while the pool has room, or
// waits for one (at most the time limit).
func (p *Policy) acquire(ctx context.Context) (*Session, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errPolicyClosed
	}
	select {
	case s := <-p.idle:
		return s, nil
	default:
	}
	wait, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	select {
	case s := <-p.idle:
		return s, nil
	case p.slots <- struct{}{}:
		return p.newState(ctx)
	case <-wait.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted while waiting for a free Lua state: %w", ctx.Err())
		}
		return nil, fmt.Errorf("no Lua state came free within the time limit of %s (every one is busy with a slow hook)", p.opts.Timeout)
	}
}

// release puts a state back, or throws it away when it broke (hit a limit)
// or the policy is closed.
func (p *Policy) release(s *Session, broken bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if broken || p.closed {
		s.Close()
		<-p.slots
		return
	}
	p.idle <- s // never blocks: no more states exist than idle holds
}

// limitError is a call that passed a limit (or was interrupted): its state
// is thrown away, since the call stopped at an arbitrary instruction.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// call runs fn(args...) in s under the time and memory limits and hands its
// results to read while the state is still held.
func (p *Policy) call(ctx context.Context, s *Session, fn glua.LValue, args []glua.LValue, read func([]glua.LValue) error) ([]glua.LValue, error) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	runCtx, stop := context.WithTimeoutCause(runCtx, p.opts.Timeout, ErrTimeout)
	defer stop()
	s.mem = startWatch(runCtx, p.opts.Memory, cancel, false)
	defer func() { s.mem.stop(); s.mem = nil }()
	s.aborted = ""

	L := s.L
	L.SetContext(runCtx)
	defer L.RemoveContext()
	top := L.GetTop()
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	perr := L.PCall(len(args), glua.MultRet, nil)
	if cause := s.limitCause(runCtx, ctx); cause != nil {
		where := p.path // the line where it stopped, when the error says
		if perr != nil {
			if w := luaWhere(perr); w != "" {
				where = w
			}
		}
		switch {
		case errors.Is(cause, ErrTimeout):
			return nil, &limitError{fmt.Sprintf("%s: stopped: time limit of %s reached", where, p.opts.Timeout)}
		case errors.Is(cause, ErrMemory):
			return nil, &limitError{fmt.Sprintf("%s: stopped: memory limit of %s reached", where, byteSize(p.opts.Memory))}
		}
		return nil, &limitError{where + ": interrupted: the server's request ended"}
	}
	if perr != nil {
		L.SetTop(top)
		return nil, errors.New(luaMessage(perr))
	}
	results := make([]glua.LValue, 0, L.GetTop()-top)
	for i := top + 1; i <= L.GetTop(); i++ {
		results = append(results, L.Get(i))
	}
	L.SetTop(top)
	return results, read(results)
}

// run calls the hook in a state of the pool: args builds its arguments in
// that state, read converts its results before the state goes back.
func (p *Policy) run(ctx context.Context, hook string, args func(L *glua.LState) []glua.LValue, read func([]glua.LValue) error) error {
	s, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	fn, ok := s.L.G.Global.RawGetString(hook).(*glua.LFunction)
	if !ok {
		p.release(s, false)
		return fmt.Errorf("%s is no longer a function (the policy assigned to it)", hook)
	}
	_, err = p.call(ctx, s, fn, args(s.L), read)
	var le *limitError
	p.release(s, errors.As(err, &le))
	return err
}

// fail logs a failed call in one line: what failed, why, and what the server
// does instead.
func (p *Policy) fail(hook, about string, err error, fallback string) {
	if errors.Is(err, errPolicyClosed) {
		return
	}
	p.logf("%s(%s) failed: %s; %s", hook, about, err, fallback)
}

func (p *Policy) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	line = strings.Join(strings.Fields(strings.ReplaceAll(line, "\n", " ")), " ")
	p.logMu.Lock()
	defer p.logMu.Unlock()
	fmt.Fprintf(p.opts.Log, "policy %s: %s\n", p.path, line)
}

// hookLog is where a hook's print and log.* go: the policy's log, one line
// per call, prefixed like the failures.
type hookLog struct{ p *Policy }

func (w *hookLog) Write(b []byte) (int, error) {
	w.p.logf("%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// OnArrival asks on_arrival(msg) about a message. The verdict is "accept",
// "hold" or "reject"; for "reject" reply is an SMTP reply ("550 5.7.1 text";
// DefaultRejectReply when the hook gave none or an invalid one), for "hold"
// the reason the hook gave as its second value (one printable line, at most
// 512 bytes; else ""), and otherwise "". Without the hook, or when it fails, the message is
// accepted.
func (p *Policy) OnArrival(ctx context.Context, a Arrival) (verdict string, reply string) {
	if !p.Has(HookOnArrival) {
		return "accept", ""
	}
	verdict = "accept"
	var bad string // an invalid reply of a clear "reject"
	err := p.run(ctx, HookOnArrival,
		func(L *glua.LState) []glua.LValue { return []glua.LValue{arrivalTable(L, &a)} },
		func(res []glua.LValue) error {
			switch v := first(res).(type) {
			case *glua.LNilType:
				return nil
			case glua.LString:
				switch v {
				case "accept":
					return nil
				case "hold":
					verdict = "hold"
					if len(res) > 1 {
						if why, ok := res[1].(glua.LString); ok && len(why) <= maxReplyLen && !strings.ContainsFunc(string(why), unicode.IsControl) {
							reply = string(why)
						}
					}
					return nil
				case "reject":
					verdict, reply = "reject", DefaultRejectReply
					if len(res) < 2 || res[1] == glua.LNil {
						return nil
					}
					text, ok := res[1].(glua.LString)
					if !ok {
						bad = fmt.Sprintf("the reply is a %s, not a string", res[1].Type())
						return nil
					}
					if why := checkReply(string(text)); why != "" {
						bad = fmt.Sprintf("the reply %q %s", truncate(string(text), 80), why)
						return nil
					}
					reply = string(text)
					return nil
				}
				return fmt.Errorf("returned %q; want nothing (accept), \"hold\", or \"reject\" and a reply", truncate(string(v), 40))
			default:
				return fmt.Errorf("returned a %s; want nothing (accept), \"hold\", or \"reject\" and a reply", v.Type())
			}
		})
	about := a.ID
	if about == "" {
		about = "from " + senderText(a.Sender)
	}
	if err != nil {
		p.fail(HookOnArrival, about, err, "accepting the message as without a policy")
		return "accept", ""
	}
	if bad != "" {
		p.logf("%s(%s): %s; rejecting with %q", HookOnArrival, about, bad, DefaultRejectReply)
	}
	return verdict, reply
}

// checkReply says what is wrong with a reject reply, or "" when it is a
// 4xx or 5xx SMTP reply on one line.
func checkReply(r string) string {
	switch {
	case strings.ContainsAny(r, "\r\n"):
		return "spans lines; want one line"
	case len(r) > maxReplyLen:
		return fmt.Sprintf("is longer than %d bytes", maxReplyLen)
	case len(r) < 3 || (r[0] != '4' && r[0] != '5') || r[1] < '0' || r[1] > '9' || r[2] < '0' || r[2] > '9' || (len(r) > 3 && r[3] != ' '):
		return "does not start with a 4xx or 5xx code (want \"550 5.7.1 text\")"
	}
	return ""
}

// NextRetry asks next_retry(domain, reply, attempt) when to try the domain
// again after a temporary failure. ok is false when the hook is not defined,
// answers nothing (the schedule applies) or fails. d is how long from now:
// 0 for a time already past.
func (p *Policy) NextRetry(ctx context.Context, domain string, r Reply, attempt int) (d time.Duration, ok bool) {
	if !p.Has(HookNextRetry) {
		return 0, false
	}
	err := p.run(ctx, HookNextRetry,
		func(L *glua.LState) []glua.LValue {
			return []glua.LValue{glua.LString(domain), replyTable(L, r), glua.LNumber(attempt)}
		},
		func(res []glua.LValue) error {
			var err error
			d, ok, err = p.retryAnswer(first(res))
			return err
		})
	if err != nil {
		p.fail(HookNextRetry, domain, err, "retrying on the schedule")
		return 0, false
	}
	return d, ok
}

// retryAnswer reads next_retry's answer: nothing, seconds from now, a time
// in Unix seconds, or text (a duration "1h", or a time "+1h", RFC 3339).
func (p *Policy) retryAnswer(v glua.LValue) (time.Duration, bool, error) {
	now := p.opts.Now()
	var d time.Duration
	switch v := v.(type) {
	case *glua.LNilType:
		return 0, false, nil
	case glua.LNumber:
		n := float64(v)
		switch {
		case math.IsNaN(n) || math.IsInf(n, 0):
			return 0, false, fmt.Errorf("returned %v; want seconds or a time", n)
		case n < 0:
			return 0, false, fmt.Errorf("returned %v seconds; want a delay of 0 or more, or a time", n)
		case n < unixTimeFrom:
			if n > MaxRetryDelay.Seconds() {
				return 0, false, fmt.Errorf("returned %v seconds, more than %s away", n, MaxRetryDelay)
			}
			d = time.Duration(n * float64(time.Second))
		default:
			d = fromUnix(n).Sub(now)
		}
	case glua.LString:
		if dd, err := queue.ParseDuration(string(v)); err == nil {
			if dd < 0 {
				return 0, false, fmt.Errorf("returned %q; want a delay of 0 or more, or a time", string(v))
			}
			d = dd
		} else if t, err := queue.ParseTime(string(v), now); err == nil {
			d = t.Sub(now)
		} else {
			return 0, false, fmt.Errorf("returned %q, which is neither a duration (\"1h\") nor a time (\"+1h\", RFC 3339)", truncate(string(v), 40))
		}
	default:
		return 0, false, fmt.Errorf("returned a %s; want seconds, a time, or nothing", v.Type())
	}
	if d > MaxRetryDelay {
		return 0, false, fmt.Errorf("asked for a retry more than %s away", MaxRetryDelay)
	}
	return max(d, 0), true, nil
}

// Route asks route(domain) for the relay ("host:port") to send the domain's
// mail through. ok is false when the hook is not defined, answers nothing or
// "", or fails: the server then uses its relay or the MX hosts. A host
// without a port gets port 25.
func (p *Policy) Route(ctx context.Context, domain string) (hostport string, ok bool) {
	if !p.Has(HookRoute) {
		return "", false
	}
	err := p.run(ctx, HookRoute,
		func(L *glua.LState) []glua.LValue { return []glua.LValue{glua.LString(domain)} },
		func(res []glua.LValue) error {
			switch v := first(res).(type) {
			case *glua.LNilType:
				return nil
			case glua.LString:
				if v == "" {
					return nil
				}
				hp, err := checkHostPort(string(v))
				if err != nil {
					return err
				}
				hostport, ok = hp, true
				return nil
			default:
				return fmt.Errorf("returned a %s; want \"host:port\" or nothing", v.Type())
			}
		})
	if err != nil {
		p.fail(HookRoute, domain, err, "using the default route")
		return "", false
	}
	return hostport, ok
}

// checkHostPort checks a route's "host:port" ("host" alone means port 25).
func checkHostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") && !strings.HasPrefix(s, "[") {
			return "", fmt.Errorf("returned %q; want \"host:port\" (an IPv6 address in brackets: \"[::1]:25\")", truncate(s, 80))
		}
		host, port = strings.Trim(s, "[]"), "25"
	}
	n, perr := strconv.Atoi(port)
	switch {
	case host == "" || strings.ContainsAny(host, " \t\r\n/@"):
		return "", fmt.Errorf("returned %q, whose host is not a host name or address", truncate(s, 80))
	case perr != nil || n < 1 || n > 65535:
		return "", fmt.Errorf("returned %q, whose port is not a number from 1 to 65535", truncate(s, 80))
	}
	return net.JoinHostPort(host, port), nil
}

// first is the first result, or nil when there is none.
func first(res []glua.LValue) glua.LValue {
	if len(res) == 0 {
		return glua.LNil
	}
	return res[0]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// arrivalTable is the msg table on_arrival receives:
//
//	{ id, sender, recipients = { "a@x", ... }, size, client_ip, user, helo,
//	  subject, message_id, headers = { ["list-id"] = { "..." }, ... } }
//
// id and user are nil when empty; sender is "<>" for a bounce; header names
// are lower case, each with its values in order.
func arrivalTable(L *glua.LState, a *Arrival) *glua.LTable {
	t := L.CreateTable(0, 10)
	if a.ID != "" {
		t.RawSetString("id", glua.LString(a.ID))
	}
	t.RawSetString("sender", glua.LString(senderText(a.Sender)))
	rc := L.CreateTable(len(a.Recipients), 0)
	for _, r := range a.Recipients {
		rc.Append(glua.LString(r))
	}
	t.RawSetString("recipients", rc)
	t.RawSetString("size", glua.LNumber(a.Size))
	t.RawSetString("client_ip", glua.LString(a.ClientIP))
	if a.User != "" {
		t.RawSetString("user", glua.LString(a.User))
	}
	t.RawSetString("helo", glua.LString(a.Helo))
	t.RawSetString("subject", glua.LString(a.Subject))
	t.RawSetString("message_id", glua.LString(a.MessageID))
	h := L.CreateTable(0, len(a.Headers))
	for name, vals := range a.Headers {
		key := strings.ToLower(name)
		list, ok := h.RawGetString(key).(*glua.LTable)
		if !ok {
			list = L.CreateTable(len(vals), 0)
			h.RawSetString(key, list)
		}
		for _, v := range vals {
			list.Append(glua.LString(v))
		}
	}
	t.RawSetString("headers", h)
	return t
}

// replyTable is the reply table next_retry receives: { code, enhanced, text },
// code and enhanced nil when absent.
func replyTable(L *glua.LState, r Reply) *glua.LTable {
	t := L.CreateTable(0, 3)
	if r.Code != 0 {
		t.RawSetString("code", glua.LNumber(r.Code))
	}
	if r.Enhanced != "" {
		t.RawSetString("enhanced", glua.LString(r.Enhanced))
	}
	t.RawSetString("text", glua.LString(r.Text))
	return t
}
