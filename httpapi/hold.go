package httpapi

// mqsh's extension routes for holds (Stalwart has none):
//
//	PATCH  /api/queue/hold?FILTERS(&reason=&until=&for=&rule=true)
//	PATCH  /api/queue/release?FILTERS
//	GET    /api/queue/rules
//	DELETE /api/queue/rules/{id}
//
// The filters are those of the bulk routes (Stalwart's and mqsh's keys); a
// rcpt or domain key holds only those domains, as `queue hold -r/-d` does.
// Answers: {"data": {"count": N, "rule": ID}} (rule only when one was
// made), {"data": {"count": N}}, {"data": [rule, ...]} and {"data": true}.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// holdRoute finds an extension route of holds; ok is false when the path is
// none of them.
func (s *Server) holdRoute(r *http.Request) (rt route, ok bool) {
	path := r.URL.Path
	switch {
	case path == "/api/queue/hold" && r.Method == http.MethodPatch:
		return route{name: path, change: true, h: s.hold}, true
	case path == "/api/queue/release" && r.Method == http.MethodPatch:
		return route{name: path, change: true, h: s.release}, true
	case path == "/api/queue/rules" && r.Method == http.MethodGet:
		return route{name: path, h: s.rules}, true
	case strings.HasPrefix(path, "/api/queue/rules/") && r.Method == http.MethodDelete:
		id, err := strconv.ParseInt(path[len("/api/queue/rules/"):], 10, 64)
		if err != nil || id <= 0 {
			return route{}, false
		}
		return route{name: "/api/queue/rules/{id}", change: true, h: func(w http.ResponseWriter, r *http.Request, p *Principal) { s.removeRule(w, r, p, id) }}, true
	}
	return route{}, false
}

// holdCount is the answer of hold and release.
type holdCount struct {
	Count int   `json:"count"`
	Rule  int64 `json:"rule,omitempty"`
}

// holdEnd reads until= (a time, as the filters' times) or for= (a duration
// such as 2h): when the hold ends; zero = until released.
func holdEnd(q map[string][]string, now time.Time) (time.Time, error) {
	u, f := first(q, "until"), first(q, "for")
	switch {
	case u != "" && f != "":
		return time.Time{}, errors.New("until and for: give one of them, both say when the hold ends")
	case u != "":
		t, err := queue.ParseTime(u, now)
		if err != nil {
			return time.Time{}, fmt.Errorf("until: %w", err)
		}
		return t, nil
	case f != "":
		d, err := queue.ParseDuration(f)
		if err == nil && d <= 0 {
			err = errors.New("want a duration to come, such as 2h")
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("for: %w", err)
		}
		return now.Add(d), nil
	}
	return time.Time{}, nil
}

func first(q map[string][]string, key string) string {
	if v := q[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// holdVerb runs a hold or release on the request's selection in one
// transaction. A selection the engine cannot make exactly comes as ids, with
// the rcpt and domain keys kept, so that they still choose the domains.
func (s *Server) holdVerb(w http.ResponseWriter, r *http.Request, verb func(h queue.TxHolder, f queue.Filter) (holdCount, error)) {
	sel, err := parseSelection(r.URL.Query(), s.b.Now())
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	var out holdCount
	err = s.b.Run(r.Context(), queue.RunWrite, func(tx queue.Txn) error {
		h, ok := tx.(queue.TxHolder)
		if !ok {
			return queue.NoHolds(s.b)
		}
		out = holdCount{}
		f, err := bulkFilter(tx, &sel, r.URL.RawQuery)
		if err != nil || f == nil {
			return err
		}
		if !sel.exact() {
			f.Recipient, f.Domain = sel.filter.Recipient, sel.filter.Domain
		}
		out, err = verb(h, *f)
		return err
	})
	switch {
	case errors.Is(err, queue.ErrNoHolds):
		notAvailable(err).write(w)
		return
	case errors.Is(err, queue.ErrInvalidHold):
		badParams(err.Error()).write(w) // a bad end, reason or rule
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	b, _ := json.Marshal(out)
	writeData(w, b)
}

// hold answers PATCH /api/queue/hold.
func (s *Server) hold(w http.ResponseWriter, r *http.Request, p *Principal) {
	q := r.URL.Query()
	until, err := holdEnd(q, s.b.Now())
	if err != nil {
		badParams(err.Error()).write(w)
		return
	}
	rule, _ := strconv.ParseBool(first(q, "rule"))
	if sel, err := parseSelection(q, s.b.Now()); err == nil && rule && !sel.exact() {
		badParams("rule: a hold rule catches arriving mail by mqsh's sender, rcpt and domain parameters only, not by Stalwart's from, to or text").write(w)
		return
	}
	req := queue.HoldRequest{Reason: first(q, "reason"), Until: until, Rule: rule}
	s.holdVerb(w, s.auditContext(r, p), func(h queue.TxHolder, f queue.Filter) (holdCount, error) {
		req.Filter = f
		res, err := h.Hold(req)
		return holdCount{Count: res.Count, Rule: res.Rule}, err
	})
}

// release answers PATCH /api/queue/release.
func (s *Server) release(w http.ResponseWriter, r *http.Request, p *Principal) {
	s.holdVerb(w, s.auditContext(r, p), func(h queue.TxHolder, f queue.Filter) (holdCount, error) {
		res, err := h.ReleaseHold(queue.ReleaseRequest{Filter: f})
		return holdCount{Count: res.Count}, err
	})
}

// rules answers GET /api/queue/rules.
func (s *Server) rules(w http.ResponseWriter, r *http.Request, _ *Principal) {
	h, ok := s.b.(queue.Holder)
	if !ok {
		notAvailable(queue.NoHolds(s.b)).write(w)
		return
	}
	rules, err := h.HoldRules(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]queue.HoldRuleJSON, 0, len(rules))
	for i := range rules {
		out = append(out, rules[i].JSON(s.b.Now()))
	}
	b, _ := json.Marshal(out)
	writeData(w, b)
}

// removeRule answers DELETE /api/queue/rules/{id}: true; 404 when there is
// no such rule.
func (s *Server) removeRule(w http.ResponseWriter, r *http.Request, p *Principal, id int64) {
	h, ok := s.b.(queue.Holder)
	if !ok {
		notAvailable(queue.NoHolds(s.b)).write(w)
		return
	}
	r = s.auditContext(r, p)
	err := h.RemoveHoldRule(r.Context(), id)
	if errors.Is(err, queue.ErrNoRule) {
		errNotFound.write(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBool(w, true)
}
