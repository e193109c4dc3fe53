package lua

// Every conversion between Lua values and the queue's Go types lives in this
// file: filter tables, selectors, messages, summary rows and times. Times cross
// the boundary as Unix seconds (numbers), so scripts can compare them and do
// arithmetic on them; time.format turns one back into text.

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"

	"mqsh/queue"
)

// toFilter reads a filter table, whose keys are those of queue.FilterKeys
// (their Name or an alias). An unknown key, or a value of the wrong kind, is
// a programming error in the script and raises naming the key. ok is false
// when the filter can match nothing (ids = {}).
func (s *Session) toFilter(L *glua.LState, tb *glua.LTable, what string) (f queue.Filter, ok bool) {
	ok = true
	tb.ForEach(func(k, v glua.LValue) {
		ks, isString := k.(glua.LString)
		if !isString {
			L.RaiseError("%s: unexpected key %s: a filter takes %s", what, k.String(), queue.FilterKeyNames())
		}
		key := queue.FilterKeyNamed(string(ks))
		if key == nil {
			L.RaiseError("%s: unknown filter key %q: use %s", what, string(ks), queue.FilterKeyNames())
		}
		switch field := key.Field.(type) {
		case queue.Field[[]string]:
			*field(&f) = s.filterStrings(L, what, key.Name, v)
		case queue.Field[time.Time]:
			*field(&f) = s.toTime(L, what+": "+key.Name, v)
		case queue.Field[int64]:
			*field(&f) = toSize(L, what+": "+key.Name, v)
		case queue.Field[[]queue.Status]:
			*field(&f) = toStatuses(L, what, v)
		case queue.Field[[]queue.ID]:
			*field(&f) = toIDList(L, what+": "+key.Name, v)
			if len(*field(&f)) == 0 {
				ok = false
			}
		case queue.Field[bool]:
			b, isBool := v.(glua.LBool)
			if !isBool {
				L.RaiseError("%s: %s must be true or false, not %s", what, key.Name, v.Type())
			}
			*field(&f) = bool(b)
		case queue.Field[*bool]:
			b, isBool := v.(glua.LBool)
			if !isBool {
				L.RaiseError("%s: %s must be true or false, not %s", what, key.Name, v.Type())
			}
			set := bool(b)
			*field(&f) = &set
		default:
			L.RaiseError("%s: filter key %s binds a %T, which scripts cannot set", what, key.Name, key.Field)
		}
	})
	return f, ok
}

// filterStrings reads the value of a key of several values: a string, or
// a list of strings (sender = {"a@x", "b@y"}: either).
func (s *Session) filterStrings(L *glua.LState, what, key string, v glua.LValue) []string {
	tb, isList := v.(*glua.LTable)
	if !isList {
		return []string{s.filterString(L, what, key, v)}
	}
	n := tb.Len()
	if n == 0 {
		L.RaiseError("%s: %s is an empty list: leave the key out to match any %s", what, key, key)
	}
	out := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, s.filterString(L, what, fmt.Sprintf("%s[%d]", key, i), tb.RawGetInt(i)))
	}
	return out
}

func (s *Session) filterString(L *glua.LState, what, key string, v glua.LValue) string {
	str, ok := v.(glua.LString)
	if !ok {
		L.RaiseError("%s: %s must be a string, not %s", what, key, v.Type())
	}
	if str == "" {
		L.RaiseError("%s: %s is empty: leave the key out to match any %s", what, key, key)
	}
	return string(str)
}

// toSize reads a size: a number of bytes, or a string as the command line
// takes it ("10k", "1.5M").
func toSize(L *glua.LState, what string, v glua.LValue) int64 {
	switch v := v.(type) {
	case glua.LNumber:
		f := float64(v)
		if f != math.Trunc(f) || f <= 0 || f > 1<<50 {
			L.RaiseError("%s: a size in bytes is a whole number above zero, not %s", what, v.String())
		}
		return int64(f)
	case glua.LString:
		n, err := queue.ParseSize(string(v))
		if err != nil {
			L.RaiseError("%s: %v", what, err)
		}
		return n
	}
	L.RaiseError("%s: want a size in bytes or a string such as \"10k\", not %s", what, v.Type())
	return 0
}

// toStatuses reads status = "tempfail" or status = {"tempfail", "permfail"};
// a string may also list several words separated by commas.
func toStatuses(L *glua.LState, what string, v glua.LValue) []queue.Status {
	var words []string
	switch v := v.(type) {
	case glua.LString:
		words = strings.Split(string(v), ",")
	case *glua.LTable:
		n := v.Len()
		for i := 1; i <= n; i++ {
			w, ok := v.RawGetInt(i).(glua.LString)
			if !ok {
				L.RaiseError("%s: status[%d] must be a string", what, i)
			}
			words = append(words, string(w))
		}
	default:
		L.RaiseError("%s: status must be a string or a list of strings, not %s", what, v.Type())
	}
	out := make([]queue.Status, 0, len(words))
	for _, w := range words {
		st, err := queue.ParseStatus(w)
		if err != nil {
			L.RaiseError("%s: %v", what, err)
		}
		out = append(out, st)
	}
	return out
}

// toID reads one message id: a hex string or a message table.
func toID(L *glua.LState, what string, v glua.LValue) queue.ID {
	switch v := v.(type) {
	case glua.LString:
		id, err := queue.ParseID(strings.TrimSpace(string(v)))
		if err != nil {
			L.RaiseError("%s: %v", what, err)
		}
		return id
	case *glua.LTable:
		if idv, ok := v.RawGetString("id").(glua.LString); ok {
			return toID(L, what, idv)
		}
		L.RaiseError("%s: a message table has an id field; this table has none", what)
	case glua.LNumber:
		L.RaiseError("%s: ids are hex strings such as \"32B91F716\", not numbers", what)
	}
	L.RaiseError("%s: want a message id (hex string) or a message, not %s", what, v.Type())
	return 0
}

// toIDList reads a list of ids (strings or messages), or a single id.
func toIDList(L *glua.LState, what string, v glua.LValue) []queue.ID {
	tb, ok := v.(*glua.LTable)
	if !ok || isMessage(tb) {
		return []queue.ID{toID(L, what, v)}
	}
	n := tb.Len()
	ids := make([]queue.ID, 0, n)
	for i := 1; i <= n; i++ {
		ids = append(ids, toID(L, fmt.Sprintf("%s[%d]", what, i), tb.RawGetInt(i)))
	}
	return ids
}

// isMessage reports whether a table looks like a message (it has an id).
func isMessage(tb *glua.LTable) bool {
	return tb.RawGetString("id") != glua.LNil
}

// isList reports whether a table is a non-empty array (ids or messages).
func isList(tb *glua.LTable) bool {
	return tb.RawGetInt(1) != glua.LNil
}

// isEmptyTable reports whether a table holds no keys at all.
func isEmptyTable(tb *glua.LTable) bool {
	k, _ := tb.Next(glua.LNil)
	return k == glua.LNil
}

// toSelector reads what a mutating verb applies to: a filter table, an id, a
// list of ids or messages, or a message. ok is false when it selects nothing
// (an empty table or list), in which case the verb changes nothing.
func (s *Session) toSelector(L *glua.LState, what string, v glua.LValue) (f queue.Filter, ok bool) {
	switch v := v.(type) {
	case glua.LString, glua.LNumber:
		return queue.Filter{IDs: []queue.ID{toID(L, what, v)}}, true
	case *glua.LTable:
		switch {
		case isEmptyTable(v):
			return queue.Filter{}, false
		case isMessage(v):
			return queue.Filter{IDs: []queue.ID{toID(L, what, v)}}, true
		case isList(v):
			return queue.Filter{IDs: toIDList(L, what, v)}, true
		}
		return s.toFilter(L, v, what)
	}
	L.RaiseError("%s: want a filter table, an id, a list of ids or a message, not %s", what, v.Type())
	return queue.Filter{}, false
}

// optFilter reads an optional filter argument for a read verb: nil or an
// empty table means every message. ok is false when it matches nothing.
func (s *Session) optFilter(L *glua.LState, n int, what string) (queue.Filter, bool) {
	switch v := L.Get(n).(type) {
	case *glua.LNilType:
		return queue.Filter{}, true
	case *glua.LTable:
		if isMessage(v) || isList(v) {
			return queue.Filter{IDs: toIDList(L, what, v)}, true
		}
		return s.toFilter(L, v, what)
	case glua.LString:
		return queue.Filter{IDs: []queue.ID{toID(L, what, v)}}, true
	default:
		L.RaiseError("%s: want a filter table, not %s", what, v.Type())
	}
	return queue.Filter{}, true
}

// optionTable reads an options table, raising on keys outside allowed.
func optionTable(L *glua.LState, n int, what string, allowed ...string) *glua.LTable {
	v := L.Get(n)
	if v == glua.LNil {
		return nil
	}
	tb, ok := v.(*glua.LTable)
	if !ok {
		L.RaiseError("%s: options must be a table such as {%s=...}, not %s", what, allowed[0], v.Type())
	}
	tb.ForEach(func(k, _ glua.LValue) {
		ks, _ := k.(glua.LString)
		for _, a := range allowed {
			if string(ks) == a {
				return
			}
		}
		L.RaiseError("%s: unknown option %s: use %s", what, k.String(), strings.Join(allowed, ", "))
	})
	return tb
}

// toTime reads a time: Unix seconds, or text in the command line's forms
// (RFC 3339, a date, now, +2h, -3d).
func (s *Session) toTime(L *glua.LState, what string, v glua.LValue) time.Time {
	switch v := v.(type) {
	case glua.LNumber:
		return fromUnix(float64(v))
	case glua.LString:
		t, err := queue.ParseTime(string(v), s.now())
		if err != nil {
			L.RaiseError("%s: %v", what, err)
		}
		return t
	}
	L.RaiseError("%s: want a time (Unix seconds or text such as \"+2h\"), not %s", what, v.Type())
	return time.Time{}
}

// fromUnix turns Unix seconds (possibly fractional) into a UTC time.
func fromUnix(sec float64) time.Time {
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC()
}

// unix turns a time into Unix seconds; the zero time becomes nil.
func unix(t time.Time) glua.LValue {
	if t.IsZero() {
		return glua.LNil
	}
	return glua.LNumber(t.Unix())
}

// The status words, made (and boxed as values) once.
var statusWords = [...]glua.LValue{
	queue.Scheduled: glua.LString(queue.Scheduled.Short()),
	queue.Completed: glua.LString(queue.Completed.Short()),
	queue.TempFail:  glua.LString(queue.TempFail.Short()),
	queue.PermFail:  glua.LString(queue.PermFail.Short()),
}

func statusWord(st queue.Status) glua.LValue {
	if int(st) >= 0 && int(st) < len(statusWords) {
		return statusWords[st]
	}
	return glua.LString(st.Short())
}

// senderText shows a bounce's empty return path as "<>", as the tables do and
// as the sender filter matches it, so m.sender can be fed back into a filter.
func senderText(rp string) string {
	if rp == "" {
		return "<>"
	}
	return rp
}

// messageTable converts a message to the table scripts see. The shape follows
// the JSON output (domains, each with its recipients), with the id as a hex
// string, the sender as "<>" for bounces and times as Unix seconds:
//
//	{ id, sender, created, size, env_id, priority, due,
//	  domains = { { name, status, details, retry_num, due, notify, expires,
//	                held = { by, reason, since, until, rule },
//	                recipients = { { address, status, code, enhanced, message, orcpt } } } } }
//
// env_id, orcpt, notify, held (a domain's hold in force; its reason, until
// and rule when it has them) and the message's due (the earliest due of its
// pending domains) are nil when absent.
func messageTable(L *glua.LState, c *boxer, m *queue.Message) *glua.LTable {
	t := L.CreateTable(0, 8)
	t.RawSetString("id", glua.LString(m.ID.String()))
	t.RawSetString("sender", c.str(senderText(m.ReturnPath)))
	t.RawSetString("created", c.time(m.Created))
	t.RawSetString("size", c.num(m.Size))
	if m.EnvID != "" {
		t.RawSetString("env_id", glua.LString(m.EnvID))
	}
	t.RawSetString("priority", c.num(int64(m.Priority)))
	if due := m.Due(); !due.IsZero() {
		t.RawSetString("due", c.time(due))
	}
	doms := L.CreateTable(len(m.Domains), 0)
	for i := range m.Domains {
		doms.Append(domainTable(L, c, &m.Domains[i]))
	}
	t.RawSetString("domains", doms)
	return t
}

func domainTable(L *glua.LState, c *boxer, d *queue.Domain) *glua.LTable {
	t := L.CreateTable(0, 8)
	t.RawSetString("name", c.str(d.Name))
	t.RawSetString("status", statusWord(d.Status))
	t.RawSetString("details", c.str(d.Details))
	t.RawSetString("retry_num", c.num(int64(d.RetryNum)))
	t.RawSetString("due", c.time(d.Due))
	if !d.NotifyAt.IsZero() {
		t.RawSetString("notify", c.time(d.NotifyAt))
	}
	t.RawSetString("expires", c.time(d.Expires))
	if h := d.Hold; h != nil {
		ht := L.CreateTable(0, 5)
		ht.RawSetString("by", glua.LString(h.By))
		if h.Reason != "" {
			ht.RawSetString("reason", glua.LString(h.Reason))
		}
		ht.RawSetString("since", c.time(h.Since))
		if !h.Until.IsZero() {
			ht.RawSetString("until", c.time(h.Until))
		}
		if h.Rule != 0 {
			ht.RawSetString("rule", c.num(h.Rule))
		}
		t.RawSetString("held", ht)
	}
	rs := L.CreateTable(len(d.Recipients), 0)
	for i := range d.Recipients {
		rs.Append(recipientTable(L, c, &d.Recipients[i]))
	}
	t.RawSetString("recipients", rs)
	return t
}

func recipientTable(L *glua.LState, c *boxer, r *queue.Recipient) *glua.LTable {
	t := L.CreateTable(0, 6)
	t.RawSetString("address", glua.LString(r.Address))
	t.RawSetString("status", statusWord(r.Status))
	t.RawSetString("code", c.num(int64(r.Code)))
	t.RawSetString("enhanced", c.str(r.Enhanced))
	t.RawSetString("message", c.str(r.Message))
	if r.ORCPT != "" {
		t.RawSetString("orcpt", glua.LString(r.ORCPT))
	}
	return t
}

// boxer turns Go strings and integers into Lua values, reusing the values of
// the strings that repeat from message to message (domain names, senders,
// replies) and of small numbers (reply codes, retry counts), which saves an
// allocation per field on long walks.
type boxer struct {
	strs  map[string]glua.LValue
	times [1024]struct { // recent times, by their low bits
		sec int64
		v   glua.LValue
	}
}

// time boxes a time as Unix seconds (nil for the zero time), reusing the
// value of a recent equal time: due, notify and expiry times repeat a lot.
func (c *boxer) time(t time.Time) glua.LValue {
	if t.IsZero() {
		return glua.LNil
	}
	sec := t.Unix()
	e := &c.times[uint64(sec)%uint64(len(c.times))]
	if e.v == nil || e.sec != sec {
		e.sec, e.v = sec, glua.LNumber(sec)
	}
	return e.v
}

// maxInterned bounds the strings a boxer keeps; past it, it starts afresh.
const maxInterned = 4096

// smallNums are the numbers 0-599, boxed once.
var smallNums = func() (out [600]glua.LValue) {
	for i := range out {
		out[i] = glua.LNumber(i)
	}
	return out
}()

func (c *boxer) num(n int64) glua.LValue {
	if n >= 0 && n < int64(len(smallNums)) {
		return smallNums[n]
	}
	return glua.LNumber(n)
}

func (c *boxer) str(s string) glua.LValue {
	if v, ok := c.strs[s]; ok {
		return v
	}
	if c.strs == nil || len(c.strs) >= maxInterned {
		c.strs = make(map[string]glua.LValue, 256)
	}
	v := glua.LValue(glua.LString(s))
	c.strs[s] = v
	return v
}

// summaryTable converts Summary rows to { {key, count, size, oldest, newest}, ... }.
func summaryTable(L *glua.LState, rows []queue.SummaryRow) *glua.LTable {
	out := L.CreateTable(len(rows), 0)
	for _, r := range rows {
		t := L.CreateTable(0, 5)
		t.RawSetString("key", glua.LString(r.Key))
		t.RawSetString("count", glua.LNumber(r.Count))
		t.RawSetString("size", glua.LNumber(r.Size))
		t.RawSetString("oldest", unix(r.Oldest))
		t.RawSetString("newest", unix(r.Newest))
		out.Append(t)
	}
	return out
}

// shapeTable converts qshape's grid: { by, buckets = {"5m", ..., "1280m+"},
// total = {key = "TOTAL", count, size, counts = {...}}, rows = { {key, count,
// size, counts}, ... } }, rows most messages first.
func shapeTable(L *glua.LState, s *queue.Shape) *glua.LTable {
	row := func(r queue.ShapeRow) *glua.LTable {
		t := L.CreateTable(0, 4)
		t.RawSetString("key", glua.LString(r.Key))
		t.RawSetString("count", glua.LNumber(r.Count))
		t.RawSetString("size", glua.LNumber(r.Size))
		c := L.CreateTable(len(r.Counts), 0)
		for _, n := range r.Counts {
			c.Append(glua.LNumber(n))
		}
		t.RawSetString("counts", c)
		return t
	}
	t := L.CreateTable(0, 4)
	t.RawSetString("by", glua.LString(s.By))
	buckets := L.CreateTable(len(s.Buckets), 0)
	for _, b := range s.Buckets {
		buckets.Append(glua.LString(b))
	}
	t.RawSetString("buckets", buckets)
	t.RawSetString("total", row(s.Total))
	rows := L.CreateTable(len(s.Rows), 0)
	for _, r := range s.Rows {
		rows.Append(row(r))
	}
	t.RawSetString("rows", rows)
	return t
}

// explainTable converts an explanation: { id, queued, sender, created, size,
// held, paused, holds = { {domain, rule, by, reason, at, until}, ... },
// removed = {seq, at, user, source, verb} or nil, domains = { {name, status,
// details, retry_num, next_retry, next_notify, expires, leased_by,
// attempts = { {at, host, reply}, ... }, recipients = { {address, status,
// details}, ... } }, ... } }. Times are Unix seconds (attempts' with
// milliseconds as a fraction); absent ones are nil.
func explainTable(L *glua.LState, e *queue.Explanation) *glua.LTable {
	str := func(s string) glua.LValue {
		if s == "" {
			return glua.LNil
		}
		return glua.LString(s)
	}
	holds := func(hs []queue.HoldNote) *glua.LTable {
		out := L.CreateTable(len(hs), 0)
		for _, h := range hs {
			t := L.CreateTable(0, 6)
			t.RawSetString("domain", str(h.Domain))
			t.RawSetString("rule", glua.LNumber(h.Rule))
			t.RawSetString("by", str(h.By))
			t.RawSetString("reason", str(h.Reason))
			t.RawSetString("at", unix(h.At))
			t.RawSetString("until", unix(h.Until))
			out.Append(t)
		}
		return out
	}
	t := L.CreateTable(0, 11)
	t.RawSetString("id", glua.LString(e.ID.String()))
	t.RawSetString("queued", glua.LBool(e.Queued))
	t.RawSetString("sender", str(e.Sender))
	t.RawSetString("created", unix(e.Created))
	t.RawSetString("size", glua.LNumber(e.Size))
	t.RawSetString("held", glua.LBool(e.Held))
	t.RawSetString("paused", glua.LBool(e.Paused))
	t.RawSetString("holds", holds(e.Holds))
	if r := e.Removed; r != nil {
		rt := L.CreateTable(0, 5)
		rt.RawSetString("seq", glua.LNumber(r.Seq))
		rt.RawSetString("at", unix(r.At))
		rt.RawSetString("user", glua.LString(r.User))
		rt.RawSetString("source", glua.LString(r.Source))
		rt.RawSetString("verb", glua.LString(r.Verb))
		t.RawSetString("removed", rt)
	}
	doms := L.CreateTable(len(e.Domains), 0)
	for _, d := range e.Domains {
		dt := L.CreateTable(0, 11)
		dt.RawSetString("name", glua.LString(d.Name))
		dt.RawSetString("status", glua.LString(d.Status))
		dt.RawSetString("details", str(d.Details))
		dt.RawSetString("retry_num", glua.LNumber(d.RetryNum))
		dt.RawSetString("next_retry", unix(d.Due))
		dt.RawSetString("next_notify", unix(d.NotifyAt))
		dt.RawSetString("expires", unix(d.Expires))
		dt.RawSetString("leased_by", str(d.LeasedBy))
		dt.RawSetString("held", glua.LBool(d.Held))
		dt.RawSetString("holds", holds(d.HoldNotes))
		as := L.CreateTable(len(d.Attempts), 0)
		for _, a := range d.Attempts {
			at := L.CreateTable(0, 3)
			at.RawSetString("at", glua.LNumber(float64(a.At.UnixMilli())/1000))
			at.RawSetString("host", str(a.Host))
			at.RawSetString("reply", str(a.Reply))
			as.Append(at)
		}
		dt.RawSetString("attempts", as)
		rs := L.CreateTable(len(d.Recipients), 0)
		for _, r := range d.Recipients {
			rt := L.CreateTable(0, 3)
			rt.RawSetString("address", glua.LString(r.Address))
			rt.RawSetString("status", glua.LString(r.Status))
			rt.RawSetString("details", str(r.Details))
			rs.Append(rt)
		}
		dt.RawSetString("recipients", rs)
		doms.Append(dt)
	}
	t.RawSetString("domains", doms)
	return t
}

// stringList converts script arguments to a Lua array, with the script's name
// at index 0, as standalone Lua's arg table has it.
// rulesTable converts hold rules: { {id, filter, reason, by, created, until,
// hits, ended}, ... }, filter in the audit text's words, reason and until nil
// when absent.
func rulesTable(L *glua.LState, rules []queue.HoldRule, now time.Time) *glua.LTable {
	out := L.CreateTable(len(rules), 0)
	for i := range rules {
		r := &rules[i]
		t := L.CreateTable(0, 8)
		t.RawSetString("id", glua.LNumber(r.ID))
		t.RawSetString("filter", glua.LString(r.Filter.String()))
		if r.Reason != "" {
			t.RawSetString("reason", glua.LString(r.Reason))
		}
		t.RawSetString("by", glua.LString(r.By))
		t.RawSetString("created", unix(r.Created))
		t.RawSetString("until", unix(r.Until))
		t.RawSetString("hits", glua.LNumber(r.Hits))
		t.RawSetString("ended", glua.LBool(r.Ended(now)))
		out.Append(t)
	}
	return out
}

func stringList(L *glua.LState, name string, args []string) *glua.LTable {
	t := L.CreateTable(len(args), 1)
	t.RawSetInt(0, glua.LString(name))
	for _, a := range args {
		t.Append(glua.LString(a))
	}
	return t
}

// inspect renders a value for the Lua prompt: scalars as Lua literals, tables
// as constructors (keys sorted, nested up to a depth), so a message can be read.
func inspect(v glua.LValue, depth int) string {
	var b strings.Builder
	writeValue(&b, v, depth, "")
	return b.String()
}

func writeValue(b *strings.Builder, v glua.LValue, depth int, indent string) {
	switch v := v.(type) {
	case glua.LString:
		fmt.Fprintf(b, "%q", string(v))
	case *glua.LTable:
		if depth <= 0 {
			b.WriteString("{...}")
			return
		}
		n := v.Len()
		var keys []string
		hash := map[string]glua.LValue{}
		v.ForEach(func(k, val glua.LValue) {
			if num, ok := k.(glua.LNumber); ok && float64(num) == math.Trunc(float64(num)) && int(num) >= 1 && int(num) <= n {
				return
			}
			ks := k.String()
			if s, ok := k.(glua.LString); ok {
				ks = string(s)
				if !isIdent(ks) {
					ks = fmt.Sprintf("[%q]", ks)
				}
			} else {
				ks = "[" + ks + "]"
			}
			keys = append(keys, ks)
			hash[ks] = val
		})
		sort.Strings(keys)
		if n == 0 && len(keys) == 0 {
			b.WriteString("{}")
			return
		}
		inner := indent + "  "
		b.WriteString("{\n")
		for i := 1; i <= n; i++ {
			b.WriteString(inner)
			writeValue(b, v.RawGetInt(i), depth-1, inner)
			b.WriteString(",\n")
		}
		for _, k := range keys {
			b.WriteString(inner + k + " = ")
			writeValue(b, hash[k], depth-1, inner)
			b.WriteString(",\n")
		}
		b.WriteString(indent + "}")
	default:
		b.WriteString(v.String())
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// toDuration reads a duration: seconds, or text as the command line takes
// it ("90m", "2h", "1d"); it must be positive.
func toDuration(L *glua.LState, what string, v glua.LValue) time.Duration {
	var d time.Duration
	switch v := v.(type) {
	case glua.LNumber:
		f := float64(v)
		if f != f || f <= 0 || f > 10*365*24*3600 {
			L.RaiseError("%s: want a positive number of seconds (at most ten years), not %v", what, v)
		}
		d = time.Duration(f * float64(time.Second))
	case glua.LString:
		var err error
		if d, err = queue.ParseDuration(string(v)); err != nil {
			L.RaiseError("%s: %v", what, err)
		}
		if d <= 0 {
			L.RaiseError("%s: want a positive duration such as \"2h\", not %q", what, string(v))
		}
	default:
		L.RaiseError("%s: want a duration such as \"2h\" or a number of seconds, not %s", what, v.Type())
	}
	return d
}
