package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// TestHoldRoutes: mqsh's extension routes hold and release per domain with
// the bulk routes' filters (a Stalwart to= narrowing keeps the domain key's
// scope), make and list rules, refuse a bad end with a 400 naming it, and
// need the admin role to change anything.
func TestHoldRoutes(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	var res struct {
		Count int   `json:"count"`
		Rule  int64 `json:"rule"`
	}
	e.data("PATCH", "/api/queue/hold?domain=example2.com&to=rcpt6&reason=look&for=2h", &res)
	if res.Count != 1 || res.Rule != 0 {
		t.Fatalf("hold: %+v", res)
	}
	e.data("PATCH", "/api/queue/hold?domain=example2.com&reason=look&for=2h&rule=true", &res)
	if res.Count != 1 || res.Rule != 1 {
		t.Fatalf("hold with a rule: %+v", res)
	}
	m, _ := e.q.Get(context.Background(), idC)
	for _, d := range m.Domains {
		if (d.Hold != nil) != (d.Name == "example2.com") {
			t.Errorf("domain %s hold %+v", d.Name, d.Hold)
		}
	}
	if h := m.Domains[1].Hold; h == nil || h.Reason != "look" || !h.Until.Equal(testNow.Add(2*time.Hour)) {
		t.Errorf("hold %+v", h)
	}
	if got, _ := e.ids("?held=true"); !sameIDs(got, idC) {
		t.Errorf("held=true lists %v", got)
	}
	var rules []struct {
		ID     int64  `json:"id"`
		Filter string `json:"filter"`
		Until  string `json:"until"`
	}
	e.data("GET", "/api/queue/rules", &rules)
	if len(rules) != 1 || rules[0].Filter != "domain=example2.com" || rules[0].Until != "2026-01-01T14:00:00Z" {
		t.Errorf("rules %+v", rules)
	}
	for path, want := range map[string]string{
		"/api/queue/hold?domain=example2.com&for=-1h":          "for: want a duration to come",
		"/api/queue/hold?domain=example2.com&until=+1h&for=1h": "give one of them",
		"/api/queue/hold?ids=1&rule=true":                      "hold: a hold rule catches arriving mail by sender, recipient and domain only",
		"/api/queue/hold?domain=example2.com&to=x&rule=true":   "rule: a hold rule catches arriving mail by mqsh's sender, rcpt and domain parameters only",
	} {
		code, _, b := e.do("PATCH", path, asAdmin)
		if code != http.StatusBadRequest || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s, want 400 saying %q", path, code, b, want)
		}
	}
	if code, _, _ := e.do("PATCH", "/api/queue/release?domain=example2.com", basic("viewer", viewerSecret)); code != http.StatusForbidden {
		t.Errorf("release as viewer: %d", code)
	}
	e.data("PATCH", "/api/queue/release?domain=example2.com", &res)
	if res.Count != 1 {
		t.Errorf("release: %+v", res)
	}
	if m, _ := e.q.Get(context.Background(), idC); m.Held {
		t.Error("still held after release")
	}
	var ok bool
	e.data("DELETE", "/api/queue/rules/1", &ok)
	if code, _, _ := e.do("DELETE", "/api/queue/rules/1", asAdmin); !ok || code != http.StatusNotFound {
		t.Errorf("rule rm: %v, then %d", ok, code)
	}
	if rs, _ := e.q.HoldRules(context.Background()); len(rs) != 0 {
		t.Errorf("rules left: %+v", rs)
	}
	entries, _ := e.q.Audit(context.Background(), queue.AuditQuery{Verb: "hold"})
	if len(entries) != 2 || !strings.HasPrefix(entries[0].Source, "http admin from ") {
		t.Errorf("audit %+v", entries)
	}
}
