package httpapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// plainBackend is a queue with no verb beyond queue.Backend, as a remote
// Stalwart server is.
type plainBackend struct{ queue.Backend }

// startPlain serves a queue through plainBackend on loopback.
func startPlain(t *testing.T) *testEnv {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: func() time.Time { return testNow }, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	srv, err := New(Options{Backend: plainBackend{q}, Principals: testPrincipals(t), FailDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testEnv{t: t, q: q, srv: srv, base: "http://" + ln.Addr().String(), client: &http.Client{Timeout: 30 * time.Second}}
}

// wantProblem checks a problem+json answer's status and that its detail
// says want.
func wantProblem(t *testing.T, e *testEnv, method, path string, status int, want string) {
	t.Helper()
	code, ctype, b := e.do(method, path, asAdmin)
	if code != status || ctype != "application/problem+json" || !strings.Contains(string(b), want) {
		t.Errorf("%s %s: %d %s %s; want %d saying %q", method, path, code, ctype, b, status, want)
	}
}

// GET /api/queue/messages/{id}/explain: the engine's explanation per
// domain, holds included; readable by a viewer; 404 for an unknown id;
// 501 with a sentence on a backend that cannot explain.
func TestExplainRoute(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	var n struct{ Count int }
	e.data("PATCH", "/api/queue/hold?domain=example2.com&reason=look", &n)
	code, _, b := e.do("GET", "/api/queue/messages/1003/explain", basic("viewer", viewerSecret))
	if code != http.StatusOK {
		t.Fatalf("explain as viewer: %d %s", code, b)
	}
	var ex queue.Explanation
	e.data("GET", "/api/queue/messages/1003/explain", &ex)
	if ex.ID != idC || !ex.Queued || ex.Sender != "bill3@foobar.net" || len(ex.Domains) != 4 {
		t.Fatalf("explanation %+v", ex)
	}
	for _, d := range ex.Domains {
		if d.Held != (d.Name == "example2.com") || d.Status != "scheduled" || !d.Due.Equal(testNow.Add(300*time.Second)) {
			t.Errorf("domain %+v", d)
		}
	}
	if len(ex.Holds) != 1 || ex.Holds[0].Reason != "look" || ex.Holds[0].Domain != "example2.com" {
		t.Errorf("holds %+v", ex.Holds)
	}
	wantProblem(t, e, "GET", "/api/queue/messages/999/explain", http.StatusNotFound, detailNotFound)
	wantProblem(t, e, "GET", "/api/queue/messages/x1/explain", http.StatusNotFound, detailNotFound)
	if code, _, _ := e.do("POST", "/api/queue/messages/1003/explain", asAdmin); code != http.StatusNotFound {
		t.Errorf("POST explain: %d, want 404", code)
	}
	p := startPlain(t)
	wantProblem(t, p, "GET", "/api/queue/messages/1003/explain", http.StatusNotImplemented, "explain is not available on the queue at ")
}

// GET /api/queue/summary?shape=1: qshape's grid of the engine, as `queue
// summary --shape -o json` prints it, by domain or sender domain, folded by
// top=, narrowed by the filters (mqsh's and Stalwart's); bad parameters are
// 400 naming them, and a backend without the grid 501.
func TestSummaryShapeRoute(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	ctx := context.Background()
	for _, c := range []struct {
		query string
		f     queue.Filter
		by    string
		top   int
	}{
		{"?shape=1", queue.Filter{}, queue.ShapeDomain, 0},
		{"?shape=true&by=sender-domain", queue.Filter{}, queue.ShapeSenderDomain, 0},
		{"?shape=1&top=1", queue.Filter{}, queue.ShapeDomain, 1},
		{"?shape=1&sender=bill3@foobar.net", queue.Filter{Sender: []string{"bill3@foobar.net"}}, queue.ShapeDomain, 0},
		{"?shape=1&to=rcpt6", queue.Filter{IDs: []queue.ID{idC}}, queue.ShapeDomain, 0},
	} {
		want, err := e.q.Shape(ctx, c.f, c.by)
		if err != nil {
			t.Fatal(err)
		}
		want.Fold(c.top)
		var got queue.Shape
		e.data("GET", "/api/queue/summary"+c.query, &got)
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if string(wb) != string(gb) {
			t.Errorf("%s:\n got %s\nwant %s", c.query, gb, wb)
		}
	}
	var sh queue.Shape
	e.data("GET", "/api/queue/summary?shape=1&top=1", &sh)
	if len(sh.Rows) != 2 || sh.Rows[0].Key != "foobar.org" || sh.Rows[0].Count != 3 || sh.Rows[1].Key != "other" || sh.Rows[1].Count != 7 || sh.Total.Count != 10 {
		t.Errorf("top=1: %+v", sh)
	}
	e.data("GET", "/api/queue/summary?shape=1&to=nobody-here", &sh)
	if len(sh.Rows) != 0 || sh.Total.Count != 0 || len(sh.Buckets) != len(queue.AgeBuckets)+1 {
		t.Errorf("no match: %+v", sh)
	}
	if code, _, b := e.do("GET", "/api/queue/summary?shape=1", basic("viewer", viewerSecret)); code != http.StatusOK {
		t.Errorf("viewer: %d %s", code, b)
	}
	for query, want := range map[string]string{
		"":                     "shape: give shape=1",
		"?shape=1&by=status":   `by: the grid groups by domain or sender-domain, not \"status\"`,
		"?shape=1&top=0":       "top: \\\"0\\\" is not a number of rows",
		"?shape=1&larger=lots": "larger:",
	} {
		wantProblem(t, e, "GET", "/api/queue/summary"+query, http.StatusBadRequest, want)
	}
	wantProblem(t, startPlain(t), "GET", "/api/queue/summary?shape=1", http.StatusNotImplemented, "summary --shape is not available on the queue at ")
}
