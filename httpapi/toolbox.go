package httpapi

// mqsh's extension routes of the incident toolbox (issue 10), beside those
// of holds (hold.go) and bounce (bounce.go):
//
//	GET    /api/queue/messages/{id}/explain  why a message is where it is
//	GET    /api/queue/summary?shape=1(&by=&top=)+FILTERS  qshape's grid
//
// A backend without the verb (a remote Stalwart server) answers 501 with a
// sentence saying so.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

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
