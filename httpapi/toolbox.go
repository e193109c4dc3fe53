package httpapi

// mqsh's extension routes of the incident toolbox (issue 10), beside those
// of holds (hold.go) and bounce (bounce.go):
//
//	GET    /api/queue/messages/{id}/explain  why a message is where it is
//	GET    /api/queue/summary?shape=1(&by=&top=)+FILTERS  qshape's grid
//	GET    /api/queue/trash?FILTERS(&page=&limit=&values=1)  the trash, paged as the message list
//	PATCH  /api/queue/trash/restore?FILTERS(&all=true&dry-run=1)  back into the queue
//	DELETE /api/queue/trash?FILTERS(&all=true&dry-run=1)  purge for good (the expired ones without a filter)
//	POST   /api/queue/undo?seq=N(&dry-run=1)  take back a change of the audit log
//	GET    /api/queue/export?FILTERS  JSON Lines of queue export, texts included (admins)
//
// A backend without the verb (a remote Stalwart server) answers 501 with a
// sentence saying so.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// toolboxRoute finds an extension route of the toolbox; ok is false when
// the path is none of them.
func (s *Server) toolboxRoute(r *http.Request) (rt route, ok bool) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/api/queue/messages/") && strings.HasSuffix(path, "/explain") && r.Method == http.MethodGet:
		id, err := parseDecimalID(strings.TrimSuffix(path[len("/api/queue/messages/"):], "/explain"))
		if err != nil {
			return route{}, false
		}
		return route{name: "/api/queue/messages/{id}/explain", h: func(w http.ResponseWriter, r *http.Request, _ *Principal) { s.explain(w, r, id) }}, true
	case path == "/api/queue/summary" && r.Method == http.MethodGet:
		return route{name: path, h: s.summary}, true
	case path == "/api/queue/trash" && r.Method == http.MethodGet:
		return route{name: path, h: s.trashList}, true
	case path == "/api/queue/trash" && r.Method == http.MethodDelete:
		return route{name: path, change: true, h: s.trashPurge}, true
	case path == "/api/queue/trash/restore" && r.Method == http.MethodPatch:
		return route{name: path, change: true, h: s.trashRestore}, true
	case path == "/api/queue/undo" && r.Method == http.MethodPost:
		return route{name: path, change: true, h: s.undo}, true
	case path == "/api/queue/export" && r.Method == http.MethodGet:
		// Admins only, though it changes nothing: it carries the texts.
		return route{name: path, change: true, h: s.export}, true
	}
	return route{}, false
}

// notAvailable is the 501 of a verb the queue's backend does not have.
func notAvailable(err error) problem {
	return problem{Type: "about:blank", Status: http.StatusNotImplemented, Title: "Not Implemented", Detail: err.Error()}
}

// noVerb is the error of a verb the backend lacks, as the command line words it.
func (s *Server) noVerb(verb string) error {
	return fmt.Errorf("%s is not available on the queue at %s: it is a verb of mqsh's own queue files", verb, s.b.Location())
}

// writeJSONData answers {"data": v}.
func (s *Server) writeJSONData(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.fail(w, r, fmt.Errorf("encode the answer: %w", err))
		return
	}
	writeData(w, b)
}

// explain answers GET /api/queue/messages/{id}/explain: the explanation as
// `queue explain -o json` prints it; 404 when the queue neither holds the
// message nor remembers an attempt to deliver it.
func (s *Server) explain(w http.ResponseWriter, r *http.Request, id queue.ID) {
	ex, ok := s.b.(queue.Explainer)
	if !ok {
		notAvailable(s.noVerb("explain")).write(w)
		return
	}
	e, err := ex.Explain(r.Context(), id)
	if err != nil {
		if !errors.Is(err, queue.ErrNotFound) {
			err = fmt.Errorf("explain message %d: %w", id, err)
		}
		s.fail(w, r, err)
		return
	}
	s.writeJSONData(w, r, e)
}

// summary answers GET /api/queue/summary?shape=1&by=domain|sender-domain&top=N
// and the filters of the list route: qshape's grid of the matching messages
// as `queue summary --shape -o json` prints it (by domain unless by= says
// otherwise; with top=N the N largest rows and one row "other").
func (s *Server) summary(w http.ResponseWriter, r *http.Request, _ *Principal) {
	q := r.URL.Query()
	if shape, err := strconv.ParseBool(first(q, "shape")); err != nil || !shape {
		badParams("shape: give shape=1: the summary route answers qshape's grid (messages per domain by age); the other views are those of queue summary --by").write(w)
		return
	}
	by := first(q, "by")
	if by == "" {
		by = queue.ShapeDomain
	}
	if by != queue.ShapeDomain && by != queue.ShapeSenderDomain {
		badParams(fmt.Sprintf("by: the grid groups by %s or %s, not %q", queue.ShapeDomain, queue.ShapeSenderDomain, by)).write(w)
		return
	}
	top := 0
	if v := first(q, "top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			badParams(fmt.Sprintf("top: %q is not a number of rows: give a whole number of 1 or more, such as top=10", v)).write(w)
			return
		}
		top = n
	}
	if _, ok := s.b.(queue.Shaper); !ok {
		notAvailable(s.noVerb("summary --shape")).write(w)
		return
	}
	sel, err := parseSelection(q, s.b.Now())
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	sh := emptyShape(by)
	err = s.b.Run(r.Context(), queue.RunRead, func(tx queue.Txn) error {
		t, ok := tx.(queue.TxShaper)
		if !ok {
			return s.noVerb("summary --shape")
		}
		f, err := bulkFilter(tx, &sel, r.URL.RawQuery)
		if err != nil || f == nil { // nothing matched: the empty grid
			return err
		}
		got, err := t.Shape(*f, by)
		if err == nil {
			sh = got
		}
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sh.Fold(top)
	if sh.Rows == nil {
		sh.Rows = []queue.ShapeRow{}
	}
	s.writeJSONData(w, r, sh)
}

// emptyShape is the grid of no message.
func emptyShape(by string) *queue.Shape {
	s := &queue.Shape{By: by, Rows: []queue.ShapeRow{}, Total: queue.ShapeRow{Key: "TOTAL", Counts: make([]int, len(queue.AgeBuckets)+1)}}
	for i := range s.Total.Counts {
		s.Buckets = append(s.Buckets, queue.AgeLabel(i))
	}
	return s
}

// boolParam reads a true/false parameter (1, true, 0, false ...); absent is
// false.
func boolParam(q map[string][]string, key string) (bool, error) {
	v := first(q, key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not true or false: give %s=1 or leave it out", key, v, key)
	}
	return b, nil
}

// trashed finds the trashed messages a selection matches, in ascending id
// order: the engine's filter, finished in Go for Stalwart's substring and
// range parameters.
func (s *Server) trashed(r *http.Request, t queue.Trasher, sel *selection) ([]queue.TrashedMessage, error) {
	if sel.noQueue {
		return nil, nil
	}
	msgs, err := t.TrashList(r.Context(), sel.filter, queue.Page{})
	if err != nil || sel.exact() {
		return msgs, err
	}
	out := msgs[:0]
	for i := range msgs {
		if msgs[i].ID >= sel.rangeStart && sel.match(&msgs[i].Message) {
			out = append(out, msgs[i])
		}
	}
	return out, nil
}

// trashItem is one trashed message as the trash listing answers it with
// values=1: when it was removed, by which change (its audit seq) and verb,
// and the message as the message list writes it.
type trashItem struct {
	ID      queue.ID        `json:"id"`
	Trashed string          `json:"trashed"`
	Seq     int64           `json:"seq"`
	Verb    string          `json:"verb"`
	Message json.RawMessage `json:"message"`
}

// trashList answers GET /api/queue/trash: {"data":{"items":[...],"total":N}},
// the ids of the page, or whole entries with values=1 (trashItem).
func (s *Server) trashList(w http.ResponseWriter, r *http.Request, _ *Principal) {
	t, ok := s.b.(queue.Trasher)
	if !ok {
		notAvailable(queue.NoTrash(s.b)).write(w)
		return
	}
	q := r.URL.Query()
	sel, err := parseSelection(q, s.b.Now())
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	pg := parsePage(q)
	msgs, err := s.trashed(r, t, &sel)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	total := len(msgs)
	if sel.maxTotal > 0 {
		total = min(total, sel.maxTotal)
	}
	msgs = msgs[min(pg.offset, total):total]
	if pg.limit > 0 && len(msgs) > pg.limit {
		msgs = msgs[:pg.limit]
	}
	items := make([]any, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if !pg.values {
			items = append(items, m.ID)
			continue
		}
		b, err := m.AppendJSON(nil)
		if err != nil {
			s.fail(w, r, fmt.Errorf("encode trashed message %d: %w", m.ID, err))
			return
		}
		items = append(items, trashItem{ID: m.ID, Trashed: m.TrashedAt.UTC().Format(time.RFC3339Nano), Seq: m.Seq, Verb: m.Verb, Message: b})
	}
	s.writeJSONData(w, r, struct {
		Items []any `json:"items"`
		Total int   `json:"total"`
	}{items, total})
}

// changeJSON is the answer of a change of the toolbox: how many messages,
// which, per recipient domain, and whether it was a dry run.
type changeJSON struct {
	Count   int            `json:"count"`
	IDs     []queue.ID     `json:"ids"`
	Domains map[string]int `json:"domains"`
	DryRun  bool           `json:"dry_run"`
}

func changeOf(res queue.Result) changeJSON {
	c := changeJSON{Count: res.Count, IDs: res.IDs, Domains: res.Domains, DryRun: res.DryRun}
	if c.IDs == nil {
		c.IDs = []queue.ID{}
	}
	if c.Domains == nil {
		c.Domains = map[string]int{}
	}
	return c
}

// trashRequest reads the selection, all= and dry-run= of a restore or
// purge. A selection of Stalwart's substring or range parameters becomes
// the ids it matches; none is nil. empty says nothing was selected in
// particular (nor all=true).
func (s *Server) trashRequest(r *http.Request, t queue.Trasher) (req *queue.TrashRequest, empty bool, err error) {
	q := r.URL.Query()
	all, err := boolParam(q, "all")
	if err != nil {
		return nil, false, err
	}
	dry, err := boolParam(q, "dry-run")
	if err != nil {
		return nil, false, err
	}
	sel, err := parseSelection(q, s.b.Now())
	if err != nil {
		return nil, false, err
	}
	if all && !(sel.exact() && sel.filter.IsEmpty()) {
		return nil, false, errors.New("all: all=true means every message in the trash: give it alone, or a filter without it")
	}
	req = &queue.TrashRequest{Filter: sel.filter, DryRun: dry}
	if sel.exact() {
		req.Filter.All = all
		return req, sel.filter.IsEmpty() && !all, nil
	}
	msgs, err := s.trashed(r, t, &sel)
	if err != nil || len(msgs) == 0 {
		return nil, false, err
	}
	ids := make([]queue.ID, len(msgs))
	for i := range msgs {
		ids[i] = msgs[i].ID
	}
	req.Filter = queue.Filter{IDs: ids, IDsFrom: "http query " + r.URL.RawQuery}
	return req, false, nil
}

// trashRestore answers PATCH /api/queue/trash/restore: the matching trashed
// messages go back into the queue (every one with all=true), as `queue
// trash restore` does; {"data": changeJSON}.
func (s *Server) trashRestore(w http.ResponseWriter, r *http.Request, p *Principal) {
	s.trashChange(w, s.auditContext(r, p), true, func(ctx context.Context, t queue.Trasher, req queue.TrashRequest) (queue.Result, error) {
		return t.TrashRestore(ctx, req)
	})
}

// trashPurge answers DELETE /api/queue/trash: the matching trashed messages
// are deleted for good (every one with all=true; without a filter, those
// kept longer than the retention), as `queue trash purge` does.
func (s *Server) trashPurge(w http.ResponseWriter, r *http.Request, p *Principal) {
	s.trashChange(w, s.auditContext(r, p), false, func(ctx context.Context, t queue.Trasher, req queue.TrashRequest) (queue.Result, error) {
		return t.TrashPurge(ctx, req)
	})
}

// trashChange runs a restore or purge; needFilter refuses a request that
// selects nothing in particular.
func (s *Server) trashChange(w http.ResponseWriter, r *http.Request, needFilter bool, verb func(ctx context.Context, t queue.Trasher, req queue.TrashRequest) (queue.Result, error)) {
	t, ok := s.b.(queue.Trasher)
	if !ok {
		notAvailable(queue.NoTrash(s.b)).write(w)
		return
	}
	req, empty, err := s.trashRequest(r, t)
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	if empty && needFilter {
		badParams("restore: give a filter (ids=, sender=, rcpt=, domain= ...) or all=true to put every message in the trash back").write(w)
		return
	}
	var res queue.Result
	if req != nil { // nil: Stalwart's parameters matched nothing
		if res, err = verb(r.Context(), t, *req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.writeJSONData(w, r, changeOf(res))
}

// undoJSON is the answer of undo: the messages put back (changeJSON), the
// change taken back (the first seq of its unit) and its verbs, the messages
// left as they are and why, and what undo does not take back.
type undoJSON struct {
	changeJSON
	Seq     int64          `json:"seq"`
	Verbs   []string       `json:"verbs"`
	Skipped []undoSkipJSON `json:"skipped"`
	Notes   []string       `json:"notes"`
}

type undoSkipJSON struct {
	ID     queue.ID `json:"id"`
	Reason string   `json:"reason"`
}

// undo answers POST /api/queue/undo?seq=N(&dry-run=1): the change with
// that audit seq (any change of a script run means the run) is taken back,
// as `queue undo N` does. seq is required: the server's changes are all
// made as one system user, so "the last change" would be anybody's. A
// change that cannot be taken back is 409 with the reason; one that was
// taken back with every message left as it was is a 200 with count 0 and
// the messages in skipped.
func (s *Server) undo(w http.ResponseWriter, r *http.Request, p *Principal) {
	u, ok := s.b.(queue.Undoer)
	if !ok {
		notAvailable(queue.NoUndo(s.b)).write(w)
		return
	}
	q := r.URL.Query()
	v := first(q, "seq")
	if v == "" {
		badParams("seq: give the audit seq of the change to take back (seq=N, as queue audit shows it)").write(w)
		return
	}
	seq, err := strconv.ParseInt(strings.TrimPrefix(v, "#"), 10, 64)
	if err != nil || seq <= 0 {
		badParams(fmt.Sprintf("seq: %q is not an audit seq: give the positive number queue audit shows for the change", v)).write(w)
		return
	}
	dry, err := boolParam(q, "dry-run")
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	r = s.auditContext(r, p)
	res, err := u.Undo(r.Context(), queue.UndoRequest{Seq: seq, DryRun: dry})
	if errors.Is(err, queue.ErrUndoRefused) {
		problem{Type: "about:blank", Status: http.StatusConflict, Title: "Conflict", Detail: err.Error()}.write(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := undoJSON{changeJSON: changeOf(res.Result), Seq: res.Seq, Verbs: res.Verbs, Skipped: []undoSkipJSON{}, Notes: res.Notes}
	for _, sk := range res.Skipped {
		out.Skipped = append(out.Skipped, undoSkipJSON{ID: sk.ID, Reason: sk.Reason})
	}
	if out.Verbs == nil {
		out.Verbs = []string{}
	}
	if out.Notes == nil {
		out.Notes = []string{}
	}
	s.writeJSONData(w, r, out)
}

// export answers GET /api/queue/export and the filters of the list route:
// the matching messages as JSON Lines with their texts, the lines of `queue
// export` that `queue import` restores whole, streamed as they are read
// (application/x-ndjson; an empty body when nothing matches). An error
// after the first line cuts the answer short.
func (s *Server) export(w http.ResponseWriter, r *http.Request, _ *Principal) {
	ex, ok := s.b.(queue.Exporter)
	if !ok {
		notAvailable(fmt.Errorf("the queue at %s cannot export message texts: list it with values=1, which leaves the texts out", s.b.Location())).write(w)
		return
	}
	sel, err := parseSelection(r.URL.Query(), s.b.Now())
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	f := &sel.filter
	if !sel.exact() { // Stalwart's parameters: the ids they match
		err = s.b.Run(r.Context(), queue.RunRead, func(tx queue.Txn) (err error) {
			f, err = bulkFilter(tx, &sel, r.URL.RawQuery)
			return err
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	out := &lines{w: w}
	if f != nil {
		_, err = ex.Export(r.Context(), *f, out)
	}
	if err != nil {
		if out.started {
			s.log.Printf("%s %s: %v (answer cut short)", r.Method, r.URL, err)
			panic(http.ErrAbortHandler)
		}
		s.fail(w, r, err)
		return
	}
	out.start()
}

// lines sends JSON Lines, the status and headers with the first write.
type lines struct {
	w       http.ResponseWriter
	started bool
}

func (l *lines) start() {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/x-ndjson")
		l.w.WriteHeader(http.StatusOK)
	}
}

func (l *lines) Write(p []byte) (int, error) {
	l.start()
	return l.w.Write(p)
}
