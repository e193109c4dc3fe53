package lua

// The functions scripts call. Each queue function is an adapter: check the
// arguments, call one verb of the open transaction, convert the result.
// Programming errors (a wrong argument, an unknown filter key, a filter that
// would change every message) raise; operational failures (no such message, a
// time or duration that does not parse) return nil and a message. A database
// error raises, since the transaction cannot go on.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	glua "github.com/yuin/gopher-lua"

	"mqsh/queue"
)

// eachPage is how many messages queue.each reads at once (it holds two pages
// at most: the one the script is in and the next). A var for the tests.
var eachPage = 4000

func (s *Session) openModules(L *glua.LState) {
	g := L.G.Global
	q := L.CreateTable(0, 8)
	L.SetFuncs(q, map[string]glua.LGFunction{
		"list":    s.qList,
		"each":    s.qEach,
		"get":     s.qGet,
		"count":   s.qCount,
		"retry":   s.qRetry,
		"cancel":  s.qCancel,
		"bounce":  s.qBounce,
		"summary": s.qSummary,
		"hold":    s.qHold,
		"release": s.qRelease,
		"rules":   s.qRules,
		"explain": s.qExplain,
	})
	q.RawSetString("dry_run", glua.LBool(s.opts.DryRun))
	g.RawSetString("queue", q)

	t := L.CreateTable(0, 4)
	L.SetFuncs(t, map[string]glua.LGFunction{
		"now":      s.timeNow,
		"parse":    s.timeParse,
		"format":   timeFormat,
		"duration": timeDuration,
	})
	g.RawSetString("time", t)

	a := L.CreateTable(0, 2)
	L.SetFuncs(a, map[string]glua.LGFunction{
		"domain":    addrDomain,
		"localpart": addrLocalpart,
	})
	g.RawSetString("addr", a)

	lg := L.CreateTable(0, 2)
	L.SetFuncs(lg, map[string]glua.LGFunction{
		"info": s.logInfo,
		"warn": s.logWarn,
	})
	g.RawSetString("log", lg)

	g.RawSetString("print", L.NewFunction(s.print))
	g.RawSetString("abort", L.NewFunction(s.abort))
	g.RawSetString("arg", stringList(L, s.name, s.opts.Args))
}

// raiseDB raises a database failure from a verb.
func raiseDB(L *glua.LState, verb string, err error) {
	L.RaiseError("%s: %v", verb, err)
}

// queue.list(filter [, {limit=, after=}]) -> array of messages, ascending id.
func (s *Session) qList(L *glua.LState) int {
	f, ok := s.optFilter(L, 1, "queue.list")
	var p queue.Page
	if o := optionTable(L, 2, "queue.list", "limit", "after"); o != nil {
		switch v := o.RawGetString("limit").(type) {
		case glua.LNumber:
			if v < 0 {
				L.RaiseError("queue.list: limit must not be negative")
			}
			p.Limit = int(v)
		case *glua.LNilType:
		default:
			L.RaiseError("queue.list: limit must be a number, not %s", v.Type())
		}
		if v := o.RawGetString("after"); v != glua.LNil {
			p.After = toID(L, "queue.list: after", v)
		}
	}
	if !ok {
		L.Push(L.NewTable())
		return 1
	}
	msgs, err := s.currentTx(L).List(f, p)
	if err != nil {
		raiseDB(L, "queue.list", err)
	}
	out := L.CreateTable(len(msgs), 0)
	for i := range msgs {
		out.Append(messageTable(L, &s.box, &msgs[i]))
	}
	L.Push(out)
	return 1
}

// queue.each(filter) -> iterator over messages in ascending id order. It
// reads a page at a time (by id, after the last one seen), so it runs in
// constant memory over any number of messages, and the loop's body may change
// the queue.
//
// While the script works through one page, the next is read on another
// goroutine, which then turns the messages at the end of that page into
// tables until the script asks for the page (the engine's reads and the Lua
// work share the machine's cores). Nothing else touches the transaction
// meanwhile: every queue function waits for the read to finish first
// (Session.currentTx), and a page read before the script last changed the
// queue is thrown away and read again, so the script sees exactly what a read
// at that point would return.
func (s *Session) qEach(L *glua.LState) int {
	f, ok := s.optFilter(L, 1, "queue.each")
	s.currentTx(L)
	var (
		page  []queue.Message
		built []*glua.LTable // tables made ahead: page[i] is built[i-(len(page)-len(built))]
		next  int
		last  queue.ID
		done  = !ok
		ahead *readAhead
	)
	L.Push(L.NewFunction(func(L *glua.LState) int {
		if next >= len(page) && !done {
			var err error
			built = nil
			if ahead != nil && s.take(ahead) {
				page, built, err = ahead.page, ahead.tables(), ahead.err
			} else {
				if ahead != nil {
					ahead.tables() // stop it
				}
				page, err = s.currentTx(L).List(f, queue.Page{After: last, Limit: eachPage})
			}
			ahead = nil
			if err != nil {
				raiseDB(L, "queue.each", err)
			}
			next = 0
			done = len(page) < eachPage
			if !done {
				ahead = s.readAhead(L, f, page[len(page)-1].ID)
			}
		}
		if next >= len(page) {
			page, built = nil, nil
			return 0
		}
		m := &page[next]
		next++
		last = m.ID
		if i := next - 1 - (len(page) - len(built)); i >= 0 {
			L.Push(built[i])
			built[i] = nil
		} else {
			L.Push(messageTable(L, &s.box, m))
		}
		return 1
	}))
	return 1
}

// readAhead is a page of queue.each being read on another goroutine.
type readAhead struct {
	read   chan struct{} // closed when page and err are set
	tx     queue.Txn     // the transaction read
	writes int           // Session.writes when the read started
	page   []queue.Message
	err    error

	stop  atomic.Bool   // set when the script wants the page
	made  chan struct{} // closed when the goroutine stops building tables
	built []*glua.LTable
}

// readAhead starts reading the page after the id `after`, then building the
// tables of its last messages, last first, until the script takes the page.
func (s *Session) readAhead(L *glua.LState, f queue.Filter, after queue.ID) *readAhead {
	tx := s.currentTx(L) // waits for any other read ahead
	s.stopBuilding()     // and for its tables (another walk's), which share aheadBox
	r := &readAhead{read: make(chan struct{}), made: make(chan struct{}), tx: tx, writes: s.writes}
	s.ahead, s.building = r, r
	go func() {
		defer close(r.made)
		func() {
			defer close(r.read)
			defer func() {
				if p := recover(); p != nil {
					r.err = fmt.Errorf("read ahead: %v", p)
				}
			}()
			r.page, r.err = tx.List(f, queue.Page{After: after, Limit: eachPage})
		}()
		if r.err != nil {
			return
		}
		// Tables only: CreateTable allocates and touches no state of L, and
		// this goroutine interns strings in a boxer of its own (one builder
		// runs at a time: readAhead stops the last before starting).
		box := &s.aheadBox
		tables := make([]*glua.LTable, len(r.page))
		i := len(tables)
		for i > 0 && !r.stop.Load() {
			i--
			tables[i] = messageTable(L, box, &r.page[i])
		}
		r.built = tables[i:]
	}()
	return r
}

// tables stops the building and returns the tables built, for the messages
// at the end of the page.
func (r *readAhead) tables() []*glua.LTable {
	r.stop.Store(true)
	<-r.made
	return r.built
}

// take waits for r's read and reports whether its page is still what a read
// now would return (the script changed nothing since the read started).
func (s *Session) take(r *readAhead) bool {
	<-r.read
	if s.ahead == r {
		s.ahead = nil
	}
	return r.tx == s.tx && r.writes == s.writes
}

// stopBuilding stops the table making of the last read ahead, at the end of
// a chunk: after a break out of queue.each its tables would only be garbage.
func (s *Session) stopBuilding() {
	if r := s.building; r != nil {
		r.tables()
		s.building = nil
	}
}

// settle waits for the read ahead in flight, if any, so that the transaction
// has one user again.
func (s *Session) settle() {
	if r := s.ahead; r != nil {
		<-r.read
		s.ahead = nil
	}
}

// queue.get(id) -> message, or nil and a message when there is none.
func (s *Session) qGet(L *glua.LState) int {
	id := toID(L, "queue.get", L.CheckAny(1))
	m, err := s.currentTx(L).Get(id)
	if errors.Is(err, queue.ErrNotFound) {
		L.Push(glua.LNil)
		L.Push(glua.LString(fmt.Sprintf("message %s not found", id)))
		return 2
	}
	if err != nil {
		raiseDB(L, "queue.get", err)
	}
	L.Push(messageTable(L, &s.box, m))
	return 1
}

// queue.count(filter) -> number of matching messages.
func (s *Session) qCount(L *glua.LState) int {
	f, ok := s.optFilter(L, 1, "queue.count")
	if !ok {
		L.Push(glua.LNumber(0))
		return 1
	}
	n, err := s.currentTx(L).Count(f)
	if err != nil {
		raiseDB(L, "queue.count", err)
	}
	L.Push(glua.LNumber(n))
	return 1
}

// queue.retry(selector [, {at=, domain=, spread=, extend_expiry=}]) ->
// messages rescheduled. A recipient or domain in the selector (or domain=
// in the options, the same as in the selector) retries only the domains of
// those recipients. spread and extend_expiry are durations ("2h", or
// seconds), as retry's --spread and --extend-expiry.
func (s *Session) qRetry(L *glua.LState) int {
	f, ok := s.toSelector(L, "queue.retry", L.CheckAny(1))
	req := queue.RetryRequest{}
	if o := optionTable(L, 2, "queue.retry", "at", "domain", "spread", "extend_expiry"); o != nil {
		if v := o.RawGetString("at"); v != glua.LNil {
			req.At = s.toTime(L, "queue.retry: at", v)
		}
		if v := o.RawGetString("spread"); v != glua.LNil {
			req.Spread = toDuration(L, "queue.retry: spread", v)
		}
		if v := o.RawGetString("extend_expiry"); v != glua.LNil {
			req.ExtendExpiry = toDuration(L, "queue.retry: extend_expiry", v)
		}
		s.scopeOption(L, o, "queue.retry", queue.KeyDomain, &f)
	}
	req.Filter = f
	return s.change(L, ok, "queue.retry", verbRetry, func(tx queue.Txn) (queue.Result, error) { return tx.Retry(req) })
}

// queue.cancel(selector [, {rcpt=}]) -> messages changed. A recipient or
// domain in the selector (or rcpt= in the options, the same as in the
// selector) cancels those recipients only; the message goes when nothing
// in it is left pending.
func (s *Session) qCancel(L *glua.LState) int {
	f, ok := s.toSelector(L, "queue.cancel", L.CheckAny(1))
	if o := optionTable(L, 2, "queue.cancel", "rcpt"); o != nil {
		s.scopeOption(L, o, "queue.cancel", queue.KeyRcpt, &f)
	}
	req := queue.CancelRequest{Filter: f}
	return s.change(L, ok, "queue.cancel", verbCancel, func(tx queue.Txn) (queue.Result, error) { return tx.Cancel(req) })
}

// queue.bounce(selector, {reason=}) -> messages changed. As queue.cancel,
// and each sender gets a failure notice giving the reason (none for a
// message from <>). The run's report counts them as cancelled.
func (s *Session) qBounce(L *glua.LState) int {
	f, ok := s.toSelector(L, "queue.bounce", L.CheckAny(1))
	o := optionTable(L, 2, "queue.bounce", "reason")
	var reason string
	if o != nil {
		if v, isStr := o.RawGetString("reason").(glua.LString); isStr {
			reason = string(v)
		}
	}
	if strings.TrimSpace(reason) == "" {
		L.RaiseError("queue.bounce: give {reason = \"...\"}: it is what the senders are told (queue.cancel removes mail without telling them)")
	}
	req := queue.BounceRequest{Filter: f, Reason: reason}
	return s.change(L, ok, "queue.bounce", verbCancel, func(tx queue.Txn) (queue.Result, error) {
		b, can := tx.(queue.TxBouncer)
		if !can {
			return queue.Result{}, fmt.Errorf("bounce is not available on %s: queue.cancel removes messages there without a notice", s.q.Location())
		}
		res, err := b.Bounce(req)
		return res.Result, err
	})
}

// scopeOption folds an option that names recipients (retry's domain=,
// cancel's rcpt=) into the filter, where it means the same; the selector
// may not give another value for it.
func (s *Session) scopeOption(L *glua.LState, o *glua.LTable, what string, k *queue.FilterKey, f *queue.Filter) {
	v := o.RawGetString(k.Name)
	if v == glua.LNil {
		return
	}
	val := s.filterString(L, what, k.Name, v)
	field := k.Field.(queue.Field[[]string])(f)
	if len(*field) > 0 && !slices.Equal(*field, []string{val}) {
		L.RaiseError("%s: %s is given in the selector (%q) and in the options (%q): give it once, in the selector", what, k.Name, strings.Join(*field, ", "), val)
	}
	*field = []string{val}
}

// change runs one write verb for queue.retry or queue.cancel, records it in
// the report and pushes the count of messages changed. A selector that
// selects nothing (ok false) changes nothing.
func (s *Session) change(L *glua.LState, ok bool, name string, verb int, do func(tx queue.Txn) (queue.Result, error)) int {
	if !ok {
		L.Push(glua.LNumber(0))
		return 1
	}
	tx := s.currentTx(L)
	s.writes++
	res, err := do(tx)
	if err != nil {
		s.raiseVerb(L, name, err)
	}
	s.record(verb, res)
	L.Push(glua.LNumber(res.Count))
	return 1
}

func (s *Session) raiseVerb(L *glua.LState, verb string, err error) {
	if errors.Is(err, queue.ErrEmptyFilter) {
		L.RaiseError("%s: %v (in a script: {all=true})", verb, err)
	}
	if errors.Is(err, queue.ErrReadOnly) {
		// "retry: q.db was opened read-only: ..." without the engine's verb.
		msg := err.Error()
		if i := strings.Index(msg, ": "); i >= 0 && !strings.Contains(msg[:i], " ") {
			msg = msg[i+2:]
		}
		L.RaiseError("%s: %s", verb, msg)
	}
	raiseDB(L, verb, err)
}

// queue.summary(filter, by) -> { {key, count, size, oldest, newest}, ... }
// grouped by "domain" (the default), "sender", "status" or "age".
func (s *Session) qSummary(L *glua.LState) int {
	f, ok := s.optFilter(L, 1, "queue.summary")
	by := L.OptString(2, "domain")
	switch by {
	case "domain", "sender", "status", "age":
	case "shape":
		return s.qShape(L, f, ok)
	default:
		L.ArgError(2, fmt.Sprintf("queue.summary groups by domain, sender, status or age, or draws qshape's grid with \"shape\"; not %q", by))
	}
	if !ok {
		L.Push(L.NewTable())
		return 1
	}
	rows, err := s.currentTx(L).Summary(f, by)
	if err != nil {
		raiseDB(L, "queue.summary", err)
	}
	L.Push(summaryTable(L, rows))
	return 1
}

// queue.explain(id) -> the explanation of a message (see explainTable), or
// nil and a message when the queue neither holds it nor remembers trying it,
// or cannot explain.
func (s *Session) qExplain(L *glua.LState) int {
	id := toID(L, "queue.explain", L.CheckAny(1))
	ex, ok := s.currentTx(L).(queue.TxExplainer)
	if !ok {
		L.Push(glua.LNil)
		L.Push(glua.LString("queue.explain is not available on this queue: it is a verb of mqsh's own queue files"))
		return 2
	}
	e, err := ex.Explain(id)
	if errors.Is(err, queue.ErrNotFound) {
		L.Push(glua.LNil)
		L.Push(glua.LString(fmt.Sprintf("message %s is not queued and no delivery attempt of it is recorded", id)))
		return 2
	}
	if err != nil {
		raiseDB(L, "queue.explain", err)
	}
	L.Push(explainTable(L, e))
	return 1
}

// queue.summary(filter, "shape" [, "domain" | "sender-domain"]) -> qshape's
// grid (see shapeTable), or nil and a message when the queue cannot draw it.
func (s *Session) qShape(L *glua.LState, f queue.Filter, selects bool) int {
	by := L.OptString(3, queue.ShapeDomain)
	if by != queue.ShapeDomain && by != queue.ShapeSenderDomain {
		L.ArgError(3, fmt.Sprintf("queue.summary's shape groups by domain or sender-domain, not %q", by))
	}
	sh, ok := s.currentTx(L).(queue.TxShaper)
	if !ok {
		L.Push(glua.LNil)
		L.Push(glua.LString("queue.summary's shape is not available on this queue: it is a verb of mqsh's own queue files"))
		return 2
	}
	if !selects { // a filter that selects nothing (no ids)
		f = queue.Filter{IDs: []queue.ID{math.MaxUint64}}
	}
	shape, err := sh.Shape(f, by)
	if err != nil {
		raiseDB(L, "queue.summary", err)
	}
	L.Push(shapeTable(L, shape))
	return 1
}

// time.now() -> Unix seconds.
func (s *Session) timeNow(L *glua.LState) int {
	L.Push(glua.LNumber(s.now().Unix()))
	return 1
}

// time.parse(text) -> Unix seconds, or nil and a message. Text takes the
// command line's forms: RFC 3339, a date, now, +2h, -3d.
func (s *Session) timeParse(L *glua.LState) int {
	t, err := queue.ParseTime(L.CheckString(1), s.now())
	if err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString(err.Error()))
		return 2
	}
	L.Push(glua.LNumber(t.Unix()))
	return 1
}

// time.format(t) -> RFC 3339 text in UTC: "2024-05-01T10:00:00Z".
func timeFormat(L *glua.LState) int {
	t := fromUnix(float64(L.CheckNumber(1)))
	L.Push(glua.LString(t.Format(time.RFC3339)))
	return 1
}

// time.duration("2h") -> seconds, or nil and a message. A number is taken as
// seconds already.
func timeDuration(L *glua.LState) int {
	if n, ok := L.Get(1).(glua.LNumber); ok {
		L.Push(n)
		return 1
	}
	d, err := queue.ParseDuration(L.CheckString(1))
	if err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString(err.Error()))
		return 2
	}
	L.Push(glua.LNumber(d.Seconds()))
	return 1
}

// splitAddr splits an address at its last @; "<>" and text without an @ are
// not addresses.
func splitAddr(a string) (local, domain string, ok bool) {
	a = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">"))
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return "", "", false
	}
	return a[:i], strings.ToLower(a[i+1:]), true
}

// addr.domain(a) -> the domain, lower case; nil and a message for "<>" or
// text that is not an address.
func addrDomain(L *glua.LState) int {
	a := L.CheckString(1)
	if _, d, ok := splitAddr(a); ok {
		L.Push(glua.LString(d))
		return 1
	}
	L.Push(glua.LNil)
	L.Push(glua.LString(fmt.Sprintf("%q is not an address", a)))
	return 2
}

// addr.localpart(a) -> the part before the @, as written.
func addrLocalpart(L *glua.LState) int {
	a := L.CheckString(1)
	if lp, _, ok := splitAddr(a); ok {
		L.Push(glua.LString(lp))
		return 1
	}
	L.Push(glua.LNil)
	L.Push(glua.LString(fmt.Sprintf("%q is not an address", a)))
	return 2
}

// joinArgs renders arguments as print does: tostring of each, tab-separated.
func joinArgs(L *glua.LState) string {
	n := L.GetTop()
	parts := make([]string, n)
	for i := 1; i <= n; i++ {
		parts[i-1] = L.ToStringMeta(L.Get(i)).String()
	}
	return strings.Join(parts, "\t")
}

// print(...) writes to the run's standard output.
func (s *Session) print(L *glua.LState) int {
	fmt.Fprintln(s.stdout, joinArgs(L))
	return 0
}

// log.info(...) writes a line to standard error.
func (s *Session) logInfo(L *glua.LState) int {
	fmt.Fprintln(s.stderr, joinArgs(L))
	return 0
}

// log.warn(...) writes "warning: ..." to standard error.
func (s *Session) logWarn(L *glua.LState) int {
	fmt.Fprintln(s.stderr, "warning: "+joinArgs(L))
	return 0
}

// abort(msg) stops the script; everything it changed is rolled back. Even a
// pcall that catches it cannot keep the changes.
func (s *Session) abort(L *glua.LState) int {
	msg := L.OptString(1, "aborted by the script")
	s.aborted = msg
	L.RaiseError("%s", msg)
	return 0
}
