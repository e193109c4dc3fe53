package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
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

// The trash over HTTP: cancelled messages are listed (ids, or whole entries
// with values=1) and paged as the message list, filtered by mqsh's and
// Stalwart's parameters; restore puts them back (a dry run changes
// nothing), purge deletes the expired ones without a filter and every one
// with all=true; changes need the admin role, are audited with the
// principal, and a backend without a trash answers 501.
func TestTrashRoutes(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	ctx := context.Background()
	var ok bool
	e.data("DELETE", "/api/queue/messages?sender=bill1@foobar.net", &ok)
	e.data("DELETE", "/api/queue/messages/1002", &ok)
	if got, _ := e.ids(""); !sameIDs(got, idC, idD, idE, idF) {
		t.Fatalf("queued after the cancels: %v", got)
	}

	var list struct {
		Items []json.RawMessage `json:"items"`
		Total int               `json:"total"`
	}
	for query, want := range map[string]string{
		"":                          "[1001 1002] 2",
		"?limit=1&page=2":           "[1002] 2",
		"?sender=bill2@foobar.net":  "[1002] 1",
		"?from=bill1":               "[1001] 1",
		"?to=rcpt3&range-start=1":   "[1002] 1",
		"?rcpt=@example1.org":       "[1001] 1",
		"?queue=other":              "[] 0",
		"?sender=nobody@nowhere.se": "[] 0",
	} {
		e.data("GET", "/api/queue/trash"+query, &list)
		var ids []string
		for _, it := range list.Items {
			ids = append(ids, string(it))
		}
		if got := "[" + strings.Join(ids, " ") + "] " + strconv.Itoa(list.Total); got != want {
			t.Errorf("trash%s: %s, want %s", query, got, want)
		}
	}
	var items []trashItem
	var whole struct {
		Items *[]trashItem `json:"items"`
	}
	whole.Items = &items
	e.data("GET", "/api/queue/trash?values=1&ids=1002", &whole)
	if len(items) != 1 || items[0].ID != idB || items[0].Verb != "cancel" || items[0].Seq <= 0 || items[0].Trashed != "2026-01-01T12:00:00Z" ||
		!strings.Contains(string(items[0].Message), "bill2@foobar.net") {
		t.Fatalf("trash entry: %+v", items)
	}
	if code, _, b := e.do("GET", "/api/queue/trash", basic("viewer", viewerSecret)); code != http.StatusOK {
		t.Errorf("viewer's listing: %d %s", code, b)
	}
	for _, c := range []struct{ method, path string }{{"PATCH", "/api/queue/trash/restore?all=true"}, {"DELETE", "/api/queue/trash?all=true"}} {
		if code, _, _ := e.do(c.method, c.path, basic("viewer", viewerSecret)); code != http.StatusForbidden {
			t.Errorf("viewer's %s %s: %d, want 403", c.method, c.path, code)
		}
	}
	wantProblem(t, e, "PATCH", "/api/queue/trash/restore", http.StatusBadRequest, "restore: give a filter")
	wantProblem(t, e, "PATCH", "/api/queue/trash/restore?all=maybe", http.StatusBadRequest, `all: \"maybe\" is not true or false`)
	wantProblem(t, e, "DELETE", "/api/queue/trash?all=true&sender=bill2@foobar.net", http.StatusBadRequest, "all: all=true means every message in the trash")
	wantProblem(t, e, "DELETE", "/api/queue/trash?dry-run=perhaps", http.StatusBadRequest, "dry-run:")

	var ch changeJSON
	e.data("PATCH", "/api/queue/trash/restore?ids=1002&dry-run=1", &ch)
	if ch.Count != 1 || !ch.DryRun || !sameIDs(ch.IDs, idB) || ch.Domains["example1.net"] != 1 {
		t.Errorf("dry-run restore: %+v", ch)
	}
	if _, err := e.q.Get(ctx, idB); err == nil {
		t.Error("a dry-run restore put the message back")
	}
	e.data("PATCH", "/api/queue/trash/restore?from=bill2", &ch)
	if ch.Count != 1 || ch.DryRun || !sameIDs(ch.IDs, idB) {
		t.Errorf("restore: %+v", ch)
	}
	if m, err := e.q.Get(ctx, idB); err != nil || len(m.Domains[0].Recipients) != 2 {
		t.Errorf("restored message: %+v %v", m, err)
	}
	entries, _ := e.q.Audit(ctx, queue.AuditQuery{Verb: "restore"})
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Source, "http admin from 127.0.0.1:") {
		t.Errorf("restore audit: %+v", entries)
	}

	e.data("DELETE", "/api/queue/trash", &ch) // the expired only: none yet
	if ch.Count != 0 {
		t.Errorf("purge of the expired: %+v", ch)
	}
	e.data("DELETE", "/api/queue/trash?all=true&dry-run=1", &ch)
	if ch.Count != 1 || !ch.DryRun || !sameIDs(ch.IDs, idA) {
		t.Errorf("dry-run purge: %+v", ch)
	}
	e.data("DELETE", "/api/queue/trash?all=true", &ch)
	if ch.Count != 1 || ch.DryRun {
		t.Errorf("purge: %+v", ch)
	}
	if left, _ := e.q.TrashList(ctx, queue.Filter{}, queue.Page{}); len(left) != 0 {
		t.Errorf("left in the trash: %d", len(left))
	}

	p := startPlain(t)
	wantProblem(t, p, "GET", "/api/queue/trash", http.StatusNotImplemented, "the trash is not available on the queue at ")
	wantProblem(t, p, "DELETE", "/api/queue/trash?all=true", http.StatusNotImplemented, "the trash is not available")
}

// POST /api/queue/undo?seq=N: the engine's undo over HTTP. A cancel made
// over HTTP is taken back (a dry run first changes nothing), audited with
// the principal; a change that cannot be undone (already undone, no such
// change, itself an undo) is 409 with the engine's sentence; a missing or
// bad seq is 400; viewers may not; a backend without undo answers 501.
func TestUndoRoute(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	ctx := context.Background()
	var ok bool
	e.data("DELETE", "/api/queue/messages?rcpt=@foobar.org", &ok)
	cancels, _ := e.q.Audit(ctx, queue.AuditQuery{Verb: "cancel"})
	if len(cancels) != 1 {
		t.Fatalf("cancel audit: %+v", cancels)
	}
	seq := strconv.FormatInt(cancels[0].Seq, 10)
	if got, _ := e.ids(""); !sameIDs(got, idA, idB, idC) {
		t.Fatalf("queued after the cancel: %v", got)
	}
	if code, _, _ := e.do("POST", "/api/queue/undo?seq="+seq, basic("viewer", viewerSecret)); code != http.StatusForbidden {
		t.Errorf("viewer's undo: %d, want 403", code)
	}
	wantProblem(t, e, "POST", "/api/queue/undo", http.StatusBadRequest, "seq: give the audit seq of the change to take back")
	wantProblem(t, e, "POST", "/api/queue/undo?seq=x", http.StatusBadRequest, `seq: \"x\" is not an audit seq`)
	wantProblem(t, e, "POST", "/api/queue/undo?seq="+seq+"&dry-run=no-way", http.StatusBadRequest, "dry-run:")
	wantProblem(t, e, "POST", "/api/queue/undo?seq=999", http.StatusConflict, "undo: there is no change #999 in the audit log")

	var res undoJSON
	e.data("POST", "/api/queue/undo?seq="+seq+"&dry-run=1", &res)
	if !res.DryRun || res.Count != 3 || strconv.FormatInt(res.Seq, 10) != seq || !sameIDs(res.IDs, idD, idE, idF) || res.Domains["foobar.org"] != 3 ||
		len(res.Verbs) != 1 || res.Verbs[0] != "cancel" {
		t.Errorf("dry run: %+v", res)
	}
	if got, _ := e.ids(""); !sameIDs(got, idA, idB, idC) {
		t.Fatalf("a dry run changed the queue: %v", got)
	}
	e.data("POST", "/api/queue/undo?seq="+seq, &res)
	if res.DryRun || res.Count != 3 || len(res.Skipped) != 0 {
		t.Errorf("undo: %+v", res)
	}
	if got, _ := e.ids(""); !sameIDs(got, idA, idB, idC, idD, idE, idF) {
		t.Errorf("queued after the undo: %v", got)
	}
	undos, _ := e.q.Audit(ctx, queue.AuditQuery{Verb: "undo"})
	if len(undos) != 1 || !strings.HasPrefix(undos[0].Source, "http admin from 127.0.0.1:") {
		t.Fatalf("undo audit: %+v", undos)
	}
	wantProblem(t, e, "POST", "/api/queue/undo?seq="+seq, http.StatusConflict, "was already undone by #"+strconv.FormatInt(undos[0].Seq, 10))
	wantProblem(t, e, "POST", "/api/queue/undo?seq="+strconv.FormatInt(undos[0].Seq, 10), http.StatusConflict, "is itself an undo")
	wantProblem(t, startPlain(t), "POST", "/api/queue/undo?seq=1", http.StatusNotImplemented, "undo is not available on the queue at ")
}

// GET /api/queue/export: the lines of `queue export`, byte for byte,
// streamed (no length, JSON Lines) for admins only; a new queue importing
// them holds the same messages with the same texts; the filters (mqsh's and
// Stalwart's) select; a backend that cannot export answers 501.
func TestExportRoute(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	ctx := context.Background()
	text := []byte("From: jo@example.net\r\nTo: ann@example.com\r\nSubject: kept whole\r\n\r\nthe body\r\n")
	m, err := e.q.Enqueue(ctx, queue.Envelope{Sender: "jo@example.net", Recipients: []queue.EnvelopeRecipient{{Address: "ann@example.com"}}}, text)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := e.q.Export(ctx, queue.Filter{}, &want); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.base+"/api/queue/export", nil)
	req.Header.Set("Authorization", asAdmin)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" || resp.ContentLength != -1 {
		t.Errorf("export: %d %s length %d", resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength)
	}
	if !bytes.Equal(got, want.Bytes()) || bytes.Count(got, []byte("\n")) != 7 {
		t.Fatalf("export:\n got %s\nwant %s", got, want.Bytes())
	}
	q2, err := queue.Open(filepath.Join(t.TempDir(), "copy.db"), queue.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	if res, err := q2.ImportJSON(ctx, bytes.NewReader(got)); err != nil || res.Count != 7 {
		t.Fatalf("import of the export: %+v %v", res, err)
	}
	if raw, err := q2.Raw(ctx, m.ID); err != nil || !bytes.Equal(raw, text) {
		t.Errorf("text after the round trip: %q %v", raw, err)
	}

	for query, want := range map[string]int{"?sender=bill2@foobar.net": 1, "?from=bill": 5, "?to=nobody-here": 0, "?queue=other": 0} {
		code, ctype, b := e.do("GET", "/api/queue/export"+query, asAdmin)
		if n := bytes.Count(b, []byte("\n")); code != http.StatusOK || ctype != "application/x-ndjson" || n != want {
			t.Errorf("export%s: %d %s, %d lines, want %d", query, code, ctype, n, want)
		}
	}
	if code, _, _ := e.do("GET", "/api/queue/export", basic("viewer", viewerSecret)); code != http.StatusForbidden {
		t.Errorf("viewer's export: %d, want 403", code)
	}
	wantProblem(t, e, "GET", "/api/queue/export?larger=lots", http.StatusBadRequest, "larger:")
	wantProblem(t, startPlain(t), "GET", "/api/queue/export", http.StatusNotImplemented, "cannot export message texts")
}
