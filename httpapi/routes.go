package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"mqsh/queue"
)

// The routes of Stalwart's queue API (v0.12-v0.15), and /metrics:
//
//	GET    /api/queue/messages          list (ids, or whole messages with values=1)
//	PATCH  /api/queue/messages          reschedule every match
//	DELETE /api/queue/messages          remove every match
//	GET    /api/queue/messages/{id}     one message
//	PATCH  /api/queue/messages/{id}     reschedule its pending recipients (filter=, at=)
//	DELETE /api/queue/messages/{id}     remove it, or cancel its matching recipients (filter=)
//	GET    /api/queue/status            delivery running?
//	PATCH  /api/queue/status/stop|start pause or resume delivery
//	GET    /metrics                     Prometheus
//
// and mqsh's extension routes of holds (hold.go).
//
// Anything else is 404 with Stalwart's problem body, a wrong method too.

// handler answers one route for an authenticated principal.
type handler func(w http.ResponseWriter, r *http.Request, p *Principal)

// route is what a request asks for.
type route struct {
	name   string // label for metrics: the path pattern
	change bool   // needs the admin role
	h      handler
}

// match finds the route of a request; ok is false for a 404.
func (s *Server) match(r *http.Request) (rt route, ok bool) {
	if rt, ok := s.holdRoute(r); ok {
		return rt, true // mqsh's extension (hold.go)
	}
	if rt, ok := s.toolboxRoute(r); ok {
		return rt, true // mqsh's extension (toolbox.go)
	}
	path := r.URL.Path
	switch {
	case path == "/metrics":
		if r.Method == http.MethodGet {
			return route{name: "/metrics", h: s.serveMetrics}, true
		}
	case path == "/api/queue/messages":
		switch r.Method {
		case http.MethodGet:
			return route{name: path, h: s.list}, true
		case http.MethodPatch:
			return route{name: path, change: true, h: s.retryAll}, true
		case http.MethodDelete:
			return route{name: path, change: true, h: s.cancelAll}, true
		}
	case strings.HasPrefix(path, "/api/queue/messages/"):
		id, err := parseDecimalID(path[len("/api/queue/messages/"):])
		if err != nil {
			return route{}, false
		}
		const name = "/api/queue/messages/{id}"
		switch r.Method {
		case http.MethodGet:
			return route{name: name, h: func(w http.ResponseWriter, r *http.Request, p *Principal) { s.get(w, r, id) }}, true
		case http.MethodPatch:
			return route{name: name, change: true, h: func(w http.ResponseWriter, r *http.Request, p *Principal) { s.retryOne(w, r, p, id) }}, true
		case http.MethodDelete:
			return route{name: name, change: true, h: func(w http.ResponseWriter, r *http.Request, p *Principal) { s.cancelOne(w, r, p, id) }}, true
		}
	case path == "/api/queue/bounce" && r.Method == http.MethodPost:
		return route{name: path, change: true, h: s.bounceAll}, true
	case path == "/api/queue/status":
		if r.Method == http.MethodGet {
			return route{name: path, h: s.status}, true
		}
	case path == "/api/queue/status/stop" || path == "/api/queue/status/start":
		if r.Method == http.MethodPatch {
			stop := strings.HasSuffix(path, "/stop")
			return route{name: path, change: true, h: func(w http.ResponseWriter, r *http.Request, p *Principal) { s.setRunning(w, r, p, !stop) }}, true
		}
	}
	return route{}, false
}

// routes is the server's handler: limits, authentication, routing, roles
// and metrics, around the route's own handler.
func (s *Server) routes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		name := "other"
		defer func() { s.metrics.observe(name, r.Method, rec.code, time.Since(start)) }()
		if r.ContentLength > s.maxBody {
			tooLarge(s.maxBody).write(rec)
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, s.maxBody)
		p, err := s.auth.authenticate(r)
		if err != nil {
			errUnauthorized.write(rec)
			return
		}
		rt, ok := s.match(r)
		if !ok {
			errNotFound.write(rec)
			return
		}
		name = rt.name
		if rt.change && p.Role != RoleAdmin {
			errForbidden.write(rec)
			return
		}
		rt.h(rec, r, p)
	})
}

// recorder remembers the status code, for the metrics.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// auditContext labels the changes of a request in the audit log with the
// principal, the client's address and the node (when named).
func (s *Server) auditContext(r *http.Request, p *Principal) *http.Request {
	source := fmt.Sprintf("http %s from %s", p.Name, r.RemoteAddr)
	if s.node != "" {
		source += " on " + s.node
	}
	return r.WithContext(queue.WithSource(r.Context(), source))
}

// writeData answers {"data": raw}.
func writeData(w http.ResponseWriter, raw []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(raw)+len(`{"data":}`)))
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"data":`))
	w.Write(raw)
	w.Write([]byte(`}`))
}

func writeBool(w http.ResponseWriter, v bool) { writeData(w, strconv.AppendBool(nil, v)) }

// fail answers an error of the queue.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		errNotFound.write(w)
	case errors.Is(err, queue.ErrEmptyFilter):
		badParams(err.Error()).write(w)
	default:
		s.log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
		internal(err).write(w)
	}
}

// list answers GET /api/queue/messages: {"data":{"items":[...],"total":N,"status":BOOL}}.
func (s *Server) list(w http.ResponseWriter, r *http.Request, _ *Principal) {
	q := r.URL.Query()
	sel, err := parseSelection(q, s.b.Now())
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	pg := parsePage(q)
	paused, err := s.b.Paused(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	buf := &spill{w: w}
	buf.WriteString(`{"data":{"items":[`)
	total, n := 0, 0
	var last queue.ID
	key := cursorQuery(q)
	var from *resume
	if after, ok := s.cursors.get(key, pg.offset); ok && pg.offset > 0 {
		from = &resume{after: after, skipped: pg.offset}
	}
	exact := false
	var enc []byte // one message's JSON, the same memory for every message
	err = s.b.Run(r.Context(), queue.RunRead, func(tx queue.Txn) error {
		var err error
		total, exact, err = listPage(tx, &sel, pg, from, func(m *queue.Message) error {
			last = m.ID
			if n > 0 {
				buf.WriteByte(',')
			}
			n++
			if !pg.values {
				buf.WriteString(strconv.FormatUint(uint64(m.ID), 10))
				return nil
			}
			var err error
			if pg.noHash {
				enc, err = m.AppendJSON(enc[:0])
			} else {
				enc, err = appendMessageJSON(enc[:0], tx, m)
			}
			buf.Write(enc)
			return err
		})
		return err
	})
	if err != nil {
		if buf.started {
			// Part of the answer is out: all that can be said is that
			// it is cut short.
			s.log.Printf("%s %s: %v (answer cut short)", r.Method, r.URL, err)
			panic(http.ErrAbortHandler)
		}
		s.fail(w, r, err)
		return
	}
	if exact && pg.limit > 0 && n == pg.limit {
		s.cursors.put(key, pg.offset+pg.limit, last)
	}
	if pg.limit > 0 && n == pg.limit {
		// A full page names its last id before its body, so that a client
		// paging by range-start can ask for the next page while it reads
		// this one (sent only when the answer was held whole).
		w.Header().Set(LastIDHeader, strconv.FormatUint(uint64(last), 10))
	}
	fmt.Fprintf(buf, `],"total":%d,"status":%t}}`, total, !paused)
	buf.finish()
}

// spill holds an answer in memory up to spillAt bytes, then sends it as it
// comes: a listing of the whole queue (limit=0, values=1) does not sit in
// memory, and a short one still answers an error with a problem body. A
// page of 1,000 whole messages (1.3 MB) is held, and sent with its length
// in one write. The buffers are reused from one answer to the next.
type spill struct {
	w       http.ResponseWriter
	buf     *bytes.Buffer
	started bool
}

const spillAt = 4 << 20

var spillBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *spill) Write(p []byte) (int, error) {
	if s.started {
		return s.w.Write(p)
	}
	if s.buf == nil {
		s.buf = spillBuffers.Get().(*bytes.Buffer)
	}
	s.buf.Write(p)
	if s.buf.Len() >= spillAt {
		s.start()
	}
	return len(p), nil
}

func (s *spill) WriteString(p string) { s.Write([]byte(p)) }

func (s *spill) WriteByte(c byte) error { _, err := s.Write([]byte{c}); return err }

func (s *spill) start() {
	s.w.Header().Set("Content-Type", "application/json")
	s.w.WriteHeader(http.StatusOK)
	s.w.Write(s.buf.Bytes())
	s.release()
	s.started = true
}

// release gives the buffer back for another answer, unless it grew well
// past spillAt.
func (s *spill) release() {
	if s.buf.Cap() <= 2*spillAt {
		s.buf.Reset()
		spillBuffers.Put(s.buf)
	}
	s.buf = nil
}

// finish sends what is held, with its length when it was all held.
func (s *spill) finish() {
	if s.started {
		return
	}
	if s.buf == nil {
		s.buf = spillBuffers.Get().(*bytes.Buffer)
	}
	h := s.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(s.buf.Len()))
	s.w.WriteHeader(http.StatusOK)
	s.w.Write(s.buf.Bytes())
	s.release()
}

// chunk is how many messages a walk reads at a time.
const chunk = 1000

// resume is where a page starts when a cursor knows it: after the id
// after, skipped messages into the selection.
type resume struct {
	after   queue.ID
	skipped int
}

// listPage calls emit with the messages of the page, in id order, and
// returns the total of the selection (up to its max-total). exact says the
// engine selected and counted alone (so a cursor may resume the listing);
// from, when set and exact, is where the page starts.
func listPage(tx queue.Txn, sel *selection, pg page, from *resume, emit func(m *queue.Message) error) (total int, exact bool, err error) {
	// When the engine selects exactly, it counts, and the walk stops at
	// the end of the page; otherwise the walk counts to the end.
	exact = sel.exact()
	if exact {
		if total, err = tx.Count(sel.filter); err != nil {
			return 0, exact, err
		}
		if sel.maxTotal > 0 {
			total = min(total, sel.maxTotal)
		}
	}
	end := pg.offset + pg.limit
	matched := 0
	var after queue.ID
	if exact && from != nil {
		matched, after = from.skipped, from.after
	}
	size := func() int {
		if exact && pg.limit > 0 {
			return max(1, min(end-matched, chunk))
		}
		return chunk
	}
	err = walk(tx, sel, after, size, func(m *queue.Message) (bool, error) {
		i := matched
		matched++
		if i >= pg.offset && (pg.limit == 0 || i < end) {
			if err := emit(m); err != nil {
				return false, err
			}
		}
		if sel.maxTotal > 0 && matched >= sel.maxTotal {
			return false, nil
		}
		return !(exact && pg.limit > 0 && matched >= end), nil
	})
	if !exact {
		total = matched
	}
	return total, exact, err
}

// walk calls fn with each message of the selection with an id above after
// in id order, reading size() messages at a time, until fn returns false.
func walk(tx queue.Txn, sel *selection, after queue.ID, size func() int, fn func(m *queue.Message) (bool, error)) error {
	if sel.noQueue {
		return nil
	}
	if sel.rangeStart > 0 {
		after = max(after, sel.rangeStart-1)
	}
	for {
		n := size()
		msgs, err := tx.List(sel.filter, queue.Page{After: after, Limit: n})
		if err != nil {
			return err
		}
		for i := range msgs {
			m := &msgs[i]
			if sel.rangeEnd != 0 && m.ID > sel.rangeEnd {
				return nil
			}
			if !sel.match(m) {
				continue
			}
			more, err := fn(m)
			if err != nil || !more {
				return err
			}
		}
		if len(msgs) < n {
			return nil
		}
		after = msgs[len(msgs)-1].ID
	}
}

// get answers GET /api/queue/messages/{id}.
func (s *Server) get(w http.ResponseWriter, r *http.Request, id queue.ID) {
	var b []byte
	err := s.b.Run(r.Context(), queue.RunRead, func(tx queue.Txn) error {
		m, err := tx.Get(id)
		if err != nil {
			return err
		}
		b, err = appendMessageJSON(nil, tx, m)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeData(w, b)
}

// retryOne answers PATCH /api/queue/messages/{id}?filter=&at=: the pending
// recipients whose address contains filter (all without one) are
// rescheduled to at (a future RFC 3339 time; now without one). mqsh keeps
// schedules per recipient domain, so a domain with a matching recipient is
// rescheduled whole. true when something was.
func (s *Server) retryOne(w http.ResponseWriter, r *http.Request, p *Principal, id queue.ID) {
	r = s.auditContext(r, p)
	q := r.URL.Query()
	filter := q.Get("filter")
	at, _ := futureTime(q.Get("at"), s.b.Now())
	found := false
	err := s.b.Run(r.Context(), queue.RunWrite, func(tx queue.Txn) error {
		m, err := tx.Get(id)
		if err != nil {
			return err
		}
		byID := queue.Filter{IDs: []queue.ID{id}}
		if filter == "" {
			// Every pending domain: one change, one audit row.
			res, err := tx.Retry(queue.RetryRequest{Filter: byID, At: at})
			found = res.Count > 0
			return err
		}
		for _, d := range m.Domains {
			if len(pendingMatching(d, filter)) == 0 {
				continue
			}
			res, err := tx.Retry(queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{id}, Domain: []string{d.Name}}, At: at})
			if err != nil {
				return err
			}
			found = found || res.Count > 0
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBool(w, found)
}

// pendingMatching returns the pending recipients of d whose address
// contains sub (every pending one for "").
func pendingMatching(d queue.Domain, sub string) []string {
	var out []string
	for _, rc := range d.Recipients {
		if rc.Status.Pending() && strings.Contains(rc.Address, sub) {
			out = append(out, rc.Address)
		}
	}
	return out
}

// cancelOne answers DELETE /api/queue/messages/{id}?filter=: without filter
// the message is removed; with one, its pending recipients whose address
// contains it fail permanently ("Delivery canceled."), and the message goes
// once nothing in it is pending. true when something changed.
func (s *Server) cancelOne(w http.ResponseWriter, r *http.Request, p *Principal, id queue.ID) {
	r = s.auditContext(r, p)
	filter := r.URL.Query().Get("filter")
	found := false
	err := s.b.Run(r.Context(), queue.RunWrite, func(tx queue.Txn) error {
		m, err := tx.Get(id)
		if err != nil {
			return err
		}
		if filter == "" {
			res, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{id}}})
			found = res.Count > 0
			return err
		}
		for _, d := range m.Domains {
			for _, addr := range pendingMatching(d, filter) {
				res, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{id}, Recipient: []string{addr}}})
				if err != nil {
					return err
				}
				found = found || res.Count > 0
			}
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBool(w, found)
}

// bulkFilter is the engine filter of a bulk change: the selection's own
// when the engine selects exactly (every message when it is empty, as in
// Stalwart), else the ids the walk matched (nil when none did). So mqsh's
// rcpt= and domain= scope the change to those recipients, as on the
// command line, while Stalwart's to= and text= select whole messages, as
// Stalwart's bulk routes do.
func bulkFilter(tx queue.Txn, sel *selection, query string) (*queue.Filter, error) {
	if sel.exact() {
		f := sel.filter
		f.All = f.IsEmpty()
		return &f, nil
	}
	var ids []queue.ID
	err := walk(tx, sel, 0, func() int { return chunk }, func(m *queue.Message) (bool, error) {
		ids = append(ids, m.ID)
		return true, nil
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return &queue.Filter{IDs: ids, IDsFrom: "http query " + query}, nil
}

// retryAll answers PATCH /api/queue/messages?FILTERS(&at=): every match is
// rescheduled, in one transaction, before the answer; true when at least
// one message was.
func (s *Server) retryAll(w http.ResponseWriter, r *http.Request, p *Principal) {
	s.bulk(w, s.auditContext(r, p), func(tx queue.Txn, f queue.Filter) (queue.Result, error) {
		at, _ := futureTime(r.URL.Query().Get("at"), s.b.Now())
		return tx.Retry(queue.RetryRequest{Filter: f, At: at})
	})
}

// cancelAll answers DELETE /api/queue/messages?FILTERS: every match is
// removed, in one transaction, before the answer; true when at least one
// message was.
func (s *Server) cancelAll(w http.ResponseWriter, r *http.Request, p *Principal) {
	s.bulk(w, s.auditContext(r, p), func(tx queue.Txn, f queue.Filter) (queue.Result, error) {
		return tx.Cancel(queue.CancelRequest{Filter: f})
	})
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, verb func(tx queue.Txn, f queue.Filter) (queue.Result, error)) {
	sel, err := parseSelection(r.URL.Query(), s.b.Now())
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	found := false
	err = s.b.Run(r.Context(), queue.RunWrite, func(tx queue.Txn) error {
		f, err := bulkFilter(tx, &sel, r.URL.RawQuery)
		if err != nil || f == nil {
			return err
		}
		res, err := verb(tx, *f)
		found = res.Count > 0
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBool(w, found)
}

// status answers GET /api/queue/status: true while delivery runs.
func (s *Server) status(w http.ResponseWriter, r *http.Request, _ *Principal) {
	paused, err := s.b.Paused(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBool(w, !paused)
}

// setRunning answers PATCH /api/queue/status/stop and /start: delivery is
// paused or resumed (kept in the queue, audited); the answer is whether it
// was running before, as Stalwart's.
func (s *Server) setRunning(w http.ResponseWriter, r *http.Request, p *Principal, run bool) {
	r = s.auditContext(r, p)
	changed, err := s.b.SetPaused(r.Context(), !run)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wasRunning := !changed
	if !run {
		wasRunning = changed
	}
	writeBool(w, wasRunning)
}

// serveMetrics answers GET /metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *Principal) {
	promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: s.log}).ServeHTTP(w, r)
}
