package remote

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"mqsh/queue"
)

// fakeStalwart is a Stalwart management API at the edge of the tests: it
// keeps its own queue model and answers the /api/queue routes as the
// reference (shared/reference/stalwart-api.md) says Stalwart v0.12 or v0.15
// does: it parses paths and query strings itself (so `&`-for-`?` paths
// 404), honours page, limit, values, range-start/-end and max-total, treats
// from/to/text as case-sensitive substrings and before/after as future
// timestamps, checks credentials and permissions, and answers errors as
// problem+json. v0.16 answers 404 everywhere under /api/queue.

type shape int

const (
	v012 shape = iota
	v015
	v016
)

func (s shape) String() string { return [...]string{"v0.12", "v0.15", "v0.16"}[s] }

type fakeRcpt struct {
	addr     string // as received
	domain   string // lower case
	status   queue.Status
	details  string
	retryNum int
	due      time.Time
	notify   time.Time
	expires  time.Time
	orcpt    string
}

type fakeDomain struct {
	name     string
	status   queue.Status
	details  string
	retryNum int
	due      time.Time
	notify   time.Time
	expires  time.Time
}

type fakeMsg struct {
	id         uint64
	returnPath string
	created    time.Time
	size       int64
	priority   int
	envID      string
	domains    []fakeDomain // the v0.12 schedule
	rcpts      []fakeRcpt   // the v0.13+ schedule
	json       []byte       // rendered, when the fake caches; nil after a change
}

type fakeUser struct {
	secret string
	perms  map[string]bool
}

var allPerms = map[string]bool{"message-queue-list": true, "message-queue-get": true, "message-queue-update": true, "message-queue-delete": true}

type fakeStalwart struct {
	shape shape
	now   func() time.Time
	// ignoreRange makes the server ignore range-start and range-end, as a
	// version without them would.
	ignoreRange bool
	// cache keeps each message's JSON (benchmarks: the client is measured,
	// not the fake's encoding).
	cache bool

	mu       sync.Mutex
	msgs     []*fakeMsg // ascending id
	running  bool
	users    map[string]fakeUser // Basic
	apiKeys  map[string]fakeUser // name -> key secret
	requests []string            // METHOD REQUEST-URI, in order
}

func newFake(sh shape, now func() time.Time, msgs []queue.Message) *fakeStalwart {
	f := &fakeStalwart{shape: sh, now: now, running: true,
		users: map[string]fakeUser{
			"admin":  {secret: "secret", perms: allPerms},
			"viewer": {secret: "look", perms: map[string]bool{"message-queue-list": true, "message-queue-get": true}},
		},
		apiKeys: map[string]fakeUser{"mqsh": {secret: "k3y", perms: allPerms}},
	}
	for i := range msgs {
		f.msgs = append(f.msgs, fakeFrom(&msgs[i]))
	}
	sort.Slice(f.msgs, func(i, j int) bool { return f.msgs[i].id < f.msgs[j].id })
	return f
}

// fakeFrom turns an engine message into the fake's model: each recipient
// takes its domain's schedule; details are written as each version does.
func fakeFrom(m *queue.Message) *fakeMsg {
	fm := &fakeMsg{id: uint64(m.ID), returnPath: m.ReturnPath, created: m.Created, size: m.Size, priority: m.Priority, envID: m.EnvID}
	for _, d := range m.Domains {
		fm.domains = append(fm.domains, fakeDomain{name: d.Name, status: d.Status, details: d.Details, retryNum: d.RetryNum, due: d.Due, notify: d.NotifyAt, expires: d.Expires})
		for _, r := range d.Recipients {
			fm.rcpts = append(fm.rcpts, fakeRcpt{addr: r.Address, domain: d.Name, status: r.Status, details: replyDetails(r),
				retryNum: d.RetryNum, due: d.Due, notify: d.NotifyAt, expires: d.Expires, orcpt: r.ORCPT})
		}
	}
	return fm
}

func replyDetails(r queue.Recipient) string {
	if r.Status == queue.Scheduled {
		return ""
	}
	enh := r.Enhanced
	if enh == "" {
		enh = "0.0.0"
	}
	return fmt.Sprintf("Code: %d, Enhanced code: %s, Message: %s", r.Code, enh, r.Message)
}

func (f *fakeStalwart) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeStalwart) ids() []queue.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []queue.ID
	for _, m := range f.msgs {
		out = append(out, queue.ID(m.id))
	}
	return out
}

func (f *fakeStalwart) find(id uint64) *fakeMsg {
	i := sort.Search(len(f.msgs), func(i int) bool { return f.msgs[i].id >= id })
	if i < len(f.msgs) && f.msgs[i].id == id {
		return f.msgs[i]
	}
	return nil
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "status": status, "title": title, "detail": detail})
}

func notFound(w http.ResponseWriter) {
	problem(w, 404, "Not Found", "The requested resource does not exist on this server.")
}

func data(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"data": v})
}

// auth returns the user's permissions, or answers 401 itself.
func (f *fakeStalwart) auth(w http.ResponseWriter, r *http.Request) map[string]bool {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	var u fakeUser
	ok := false
	switch strings.ToLower(scheme) {
	case "basic":
		if b, err := base64.StdEncoding.DecodeString(cred); err == nil {
			name, secret, _ := strings.Cut(string(b), ":")
			u, ok = f.users[strings.ToLower(strings.TrimSpace(name))]
			ok = ok && u.secret == secret
		}
	case "bearer":
		if key, found := strings.CutPrefix(cred, "api_"); found {
			if b, err := base64.StdEncoding.DecodeString(key); err == nil {
				name, secret, _ := strings.Cut(string(b), ":")
				u, ok = f.apiKeys[name]
				ok = ok && u.secret == secret
			}
		}
	}
	if !ok {
		problem(w, 401, "Unauthorized", "You have to authenticate first.")
		return nil
	}
	return u.perms
}

func (f *fakeStalwart) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.RequestURI)
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		notFound(w)
		return
	}
	perms := f.auth(w, r)
	if perms == nil {
		return
	}
	seg := strings.Split(rest, "/")
	if seg[0] != "queue" || f.shape == v016 || len(seg) < 2 {
		notFound(w)
		return
	}
	// Empty values are dropped, as Stalwart's form parser does.
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	need := func(p string) bool {
		if !perms[p] {
			problem(w, 403, "Forbidden", "You do not have enough permissions to access this resource.")
			return false
		}
		return true
	}
	switch {
	case seg[1] == "messages" && len(seg) == 2:
		switch r.Method {
		case "GET":
			if need("message-queue-list") {
				f.list(w, q)
			}
		case "PATCH", "DELETE":
			p := "message-queue-update"
			if r.Method == "DELETE" {
				p = "message-queue-delete"
			}
			if need(p) {
				f.bulk(w, r.Method, q)
			}
		default:
			notFound(w)
		}
	case seg[1] == "messages" && len(seg) == 3:
		id, _ := strconv.ParseUint(seg[2], 10, 64) // a non-number is 0: not found
		switch r.Method {
		case "GET":
			if !need("message-queue-get") {
				return
			}
			if m := f.find(id); m != nil {
				data(w, f.render(m))
			} else {
				notFound(w)
			}
		case "PATCH":
			if !need("message-queue-update") {
				return
			}
			m := f.find(id)
			if m == nil {
				notFound(w)
				return
			}
			data(w, f.retry(m, q.Get("filter"), f.future(q.Get("at"))))
		case "DELETE":
			if !need("message-queue-delete") {
				return
			}
			m := f.find(id)
			if m == nil {
				notFound(w)
				return
			}
			data(w, f.cancel(m, q.Get("filter")))
		default:
			notFound(w)
		}
	case seg[1] == "status" && len(seg) == 2 && r.Method == "GET":
		if need("message-queue-get") {
			data(w, f.running)
		}
	case seg[1] == "status" && len(seg) == 3 && r.Method == "PATCH":
		if need("message-queue-update") {
			was := f.running
			f.running = seg[2] != "stop"
			data(w, was)
		}
	default:
		notFound(w)
	}
}

// future parses a FutureTimestamp: a time before now is no time at all.
func (f *fakeStalwart) future(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || !t.After(f.now()) {
		return time.Time{}
	}
	return t
}

// rcptKey is the address to= and filter= see: v0.12 the lower-cased
// address; v0.13.2+ the local part as received and the domain lower-cased.
func (f *fakeStalwart) rcptKey(r fakeRcpt) string {
	if f.shape == v012 {
		return strings.ToLower(r.addr)
	}
	at := strings.LastIndexByte(r.addr, '@')
	return r.addr[:at+1] + strings.ToLower(r.addr[at+1:])
}

// nextEvent is the message's next delivery: v0.15 the earliest due of
// pending recipients (none: no event); v0.12 that of pending domains
// (none: now).
func (f *fakeStalwart) nextEvent(m *fakeMsg) (time.Time, bool) {
	var next time.Time
	found := false
	if f.shape == v012 {
		for _, d := range m.domains {
			if d.status.Pending() && (!found || d.due.Before(next)) {
				next, found = d.due, true
			}
		}
		if !found {
			return f.now(), true
		}
		return next, true
	}
	for _, r := range m.rcpts {
		if r.status.Pending() && (!found || r.due.Before(next)) {
			next, found = r.due, true
		}
	}
	return next, found
}

// listQuery is a list request's filters, parsed once.
type listQuery struct {
	text, from, to string
	before, after  time.Time
	lo, hi         uint64
}

func (f *fakeStalwart) parseList(q url.Values) listQuery {
	lq := listQuery{text: q.Get("text"), from: q.Get("from"), to: q.Get("to"),
		before: f.future(q.Get("before")), after: f.future(q.Get("after")), hi: ^uint64(0)}
	if !f.ignoreRange {
		if v, err := strconv.ParseUint(q.Get("range-start"), 10, 64); err == nil {
			lq.lo = v
		}
		if v, err := strconv.ParseUint(q.Get("range-end"), 10, 64); err == nil {
			lq.hi = v
		}
	}
	return lq
}

func (f *fakeStalwart) matches(m *fakeMsg, q *listQuery) bool {
	anyRcpt := func(s string) bool {
		for _, r := range m.rcpts {
			if strings.Contains(f.rcptKey(r), s) {
				return true
			}
		}
		return false
	}
	if q.text != "" {
		if !strings.Contains(m.returnPath, q.text) && !anyRcpt(q.text) {
			return false
		}
	} else {
		if q.from != "" && !strings.Contains(m.returnPath, q.from) {
			return false
		}
		if q.to != "" && !anyRcpt(q.to) {
			return false
		}
	}
	if !q.before.IsZero() || !q.after.IsZero() {
		next, ok := f.nextEvent(m)
		if !ok || !q.before.IsZero() && !next.Before(q.before) || !q.after.IsZero() && !next.After(q.after) {
			return false
		}
	}
	return true
}

// each calls fn for every message the list filters select, in id order,
// until fn returns false.
func (f *fakeStalwart) each(q url.Values, fn func(m *fakeMsg) bool) {
	lq := f.parseList(q)
	start := sort.Search(len(f.msgs), func(i int) bool { return f.msgs[i].id >= lq.lo })
	for _, m := range f.msgs[start:] {
		if m.id > lq.hi {
			return
		}
		if f.matches(m, &lq) && !fn(m) {
			return
		}
	}
}

func (f *fakeStalwart) selection(q url.Values) []*fakeMsg {
	var out []*fakeMsg
	f.each(q, func(m *fakeMsg) bool { out = append(out, m); return true })
	return out
}

func (f *fakeStalwart) list(w http.ResponseWriter, q url.Values) {
	page, _ := strconv.Atoi(q.Get("page"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	maxTotal, _ := strconv.Atoi(q.Get("max-total"))
	offset := 0
	if page > 1 {
		offset = (page - 1) * limit
	}
	values := q.Get("values") != ""
	var items [][]byte
	total := 0
	f.each(q, func(m *fakeMsg) bool {
		if maxTotal > 0 && total >= maxTotal {
			return false
		}
		if total >= offset && (limit == 0 || len(items) < limit) {
			if values {
				items = append(items, f.renderJSON(m))
			} else {
				items = append(items, strconv.AppendUint(nil, m.id, 10))
			}
		}
		total++
		return true
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	var b bytes.Buffer
	b.WriteString(`{"data":{"items":[`)
	b.Write(bytes.Join(items, []byte(",")))
	fmt.Fprintf(&b, `],"total":%d,"status":%t}}`, total, f.running)
	w.Write(b.Bytes())
}

// renderJSON is render as JSON, kept while the message is unchanged when
// the fake caches (benchmarks).
func (f *fakeStalwart) renderJSON(m *fakeMsg) []byte {
	if m.json != nil {
		return m.json
	}
	b, _ := json.Marshal(f.render(m))
	if f.cache {
		m.json = b
	}
	return b
}

// bulk is PATCH/DELETE /api/queue/messages?FILTERS (done at once here).
func (f *fakeStalwart) bulk(w http.ResponseWriter, method string, q url.Values) {
	sel := f.selection(q)
	for _, m := range sel {
		if method == "PATCH" {
			f.retry(m, "", f.future(q.Get("at")))
		} else {
			f.remove(m.id)
		}
	}
	data(w, len(sel) > 0)
}

func (f *fakeStalwart) remove(id uint64) {
	for i, m := range f.msgs {
		if m.id == id {
			f.msgs = append(f.msgs[:i], f.msgs[i+1:]...)
			return
		}
	}
}

// retry reschedules pending units whose address (v0.15) or domain name
// (v0.12) contains filter; v0.12 also sets expiry to at+10s when later.
func (f *fakeStalwart) retry(m *fakeMsg, filter string, at time.Time) bool {
	m.json = nil
	if at.IsZero() {
		at = f.now()
	}
	at = at.UTC().Truncate(time.Second)
	found := false
	if f.shape == v012 {
		for i := range m.domains {
			d := &m.domains[i]
			if d.status.Pending() && strings.Contains(d.name, filter) {
				d.due, found = at, true
				if d.expires.After(at) {
					d.expires = at.Add(10 * time.Second)
				}
				for j := range m.rcpts {
					if m.rcpts[j].domain == d.name {
						m.rcpts[j].due, m.rcpts[j].expires = d.due, d.expires
					}
				}
			}
		}
		return found
	}
	for i := range m.rcpts {
		r := &m.rcpts[i]
		if r.status.Pending() && strings.Contains(f.rcptKey(*r), filter) {
			r.due, found = at, true
		}
	}
	return found
}

// cancel removes the message, or with filter fails its matching pending
// recipients ("Delivery canceled.") and removes it when nothing is pending.
func (f *fakeStalwart) cancel(m *fakeMsg, filter string) bool {
	m.json = nil
	if filter == "" {
		f.remove(m.id)
		return true
	}
	found := false
	text := "Error for localhost: Queue error: Delivery canceled."
	if f.shape == v012 {
		text = "Code: 0, Enhanced code: 0.0.0, Message: Delivery canceled."
	}
	for i := range m.rcpts {
		r := &m.rcpts[i]
		if r.status.Pending() && strings.Contains(f.rcptKey(*r), filter) {
			r.status, r.details, found = queue.PermFail, text, true
		}
	}
	pending := false
	for i := range m.domains {
		d := &m.domains[i]
		live, done := false, false
		for _, r := range m.rcpts {
			if r.domain == d.name {
				live = live || r.status.Pending()
				done = done || r.status == queue.Completed
			}
		}
		if d.status.Pending() && !live {
			d.status = queue.PermFail
			if done {
				d.status = queue.Completed
			}
		}
		pending = pending || d.status.Pending() && f.shape == v012 || live && f.shape != v012
	}
	if !pending {
		f.remove(m.id)
	}
	return found
}

func jtime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func jstatus(s queue.Status, details string) any {
	if s == queue.Scheduled {
		return "scheduled"
	}
	return map[string]string{s.JSONKey(): details}
}

// render writes the message as the server's version does.
func (f *fakeStalwart) render(m *fakeMsg) map[string]any {
	out := map[string]any{"id": m.id, "return_path": m.returnPath, "created": jtime(m.created), "size": m.size,
		"blob_hash": base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", m.id)))}
	if m.priority != 0 {
		out["priority"] = m.priority
	}
	if m.envID != "" {
		out["env_id"] = m.envID
	}
	if f.shape == v012 {
		var doms []any
		for _, d := range m.domains {
			var rcpts []any
			for _, r := range m.rcpts {
				if r.domain != d.name {
					continue
				}
				jr := map[string]any{"address": r.addr, "status": jstatus(r.status, r.details)}
				if r.orcpt != "" {
					jr["orcpt"] = r.orcpt
				}
				rcpts = append(rcpts, jr)
			}
			jd := map[string]any{"name": d.name, "status": jstatus(d.status, d.details), "recipients": rcpts,
				"retry_num": d.retryNum, "next_retry": nil, "next_notify": nil, "expires": jtime(d.expires)}
			if !d.due.IsZero() {
				jd["next_retry"] = jtime(d.due)
			}
			if !d.notify.IsZero() {
				jd["next_notify"] = jtime(d.notify)
			}
			doms = append(doms, jd)
		}
		out["domains"] = doms
		return out
	}
	var rcpts []any
	for _, r := range m.rcpts {
		details := r.details
		if r.status == queue.TempFail || r.status == queue.PermFail {
			if !strings.HasPrefix(details, "Error for ") {
				details = "Error for mx." + r.domain + ": " + details
			}
		}
		jr := map[string]any{"address": r.addr, "queue": "remote", "status": jstatus(r.status, details),
			"retry_num": r.retryNum, "next_retry": jtime(r.due), "expires": jtime(r.expires)}
		if r.notify.After(f.now()) {
			jr["next_notify"] = jtime(r.notify)
		}
		if r.orcpt != "" {
			jr["orcpt"] = r.orcpt
		}
		rcpts = append(rcpts, jr)
	}
	out["recipients"] = rcpts
	return out
}
