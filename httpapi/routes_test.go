package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// TestStalwartManagement reproduces Stalwart's own management test
// (tests/src/smtp/management/queue.rs) against the server over HTTP.
func TestStalwartManagement(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)

	all, total := e.ids("")
	if !sameIDs(all, idA, idB, idC, idD, idE, idF) || total != 6 {
		t.Fatalf("all: %v total %d", all, total)
	}
	T := testNow.Add(299 * time.Second).Format(time.RFC3339) // one second before c's next retry
	for _, c := range []struct {
		query string
		want  []queue.ID
	}{
		{"?from=bill1@foobar.net", []queue.ID{idA}},
		{"?to=foobar.org", []queue.ID{idD, idE, idF}},
		{"?from=bill3@foobar.net&to=rcpt5@example1.com", []queue.ID{idC}},
		{"?before=" + url.QueryEscape(T), []queue.ID{idA, idB}},
		{"?after=" + url.QueryEscape(T), []queue.ID{idC, idD, idE, idF}},
		// Substrings, case-sensitive; text replaces from and to.
		{"?from=bill", []queue.ID{idA, idB, idC, idD, idE}},
		{"?from=BILL", nil},
		{"?to=example2", []queue.ID{idA, idC}},
		{"?text=example2.com", []queue.ID{idC}},
		{"?text=bill2&from=bill1", []queue.ID{idB}},
		// before/after: only future times count; past or malformed ones are ignored.
		{"?before=2020-01-01T00:00:00Z", []queue.ID{idA, idB, idC, idD, idE, idF}},
		{"?after=yesterday", []queue.ID{idA, idB, idC, idD, idE, idF}},
		// The id range, the one queue.
		{fmt.Sprintf("?range-start=%d&range-end=%d", idB, idD), []queue.ID{idB, idC, idD}},
		{"?queue=default", []queue.ID{idA, idB, idC, idD, idE, idF}},
		{"?queue=remote", nil},
	} {
		got, total := e.ids(c.query)
		if !sameIDs(got, c.want...) || total != len(c.want) {
			t.Errorf("%s: got %v (total %d), want %v", c.query, got, total, c.want)
		}
	}

	// Reschedule a's example1.org recipients to 2200: true, and only that domain moves.
	var ok bool
	e.data("PATCH", fmt.Sprintf("/api/queue/messages/%d?filter=example1.org&at=2200-01-01T00:00:00Z", idA), &ok)
	if !ok {
		t.Error("PATCH a?filter=example1.org: false")
	}
	m, _ := e.q.Get(context.Background(), idA)
	if got := m.Domains[0].Due; !got.Equal(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a example1.org due %v", got)
	}
	if got := m.Domains[1].Due; !got.Equal(testNow.Add(100 * time.Second)) {
		t.Errorf("a example2.org due %v, want unchanged", got)
	}
	// Nothing pending matches: false.
	e.data("PATCH", fmt.Sprintf("/api/queue/messages/%d?filter=nowhere.example", idA), &ok)
	if ok {
		t.Error("PATCH with a filter matching nothing: true")
	}

	// Per-recipient cancel: those recipients fail permanently, the rest stays.
	e.data("DELETE", fmt.Sprintf("/api/queue/messages/%d?filter=example2.com", idC), &ok)
	if !ok {
		t.Error("DELETE c?filter=example2.com: false")
	}
	m, _ = e.q.Get(context.Background(), idC)
	for _, d := range m.Domains {
		for _, r := range d.Recipients {
			want := queue.Scheduled
			if strings.HasSuffix(r.Address, "@example2.com") {
				want = queue.PermFail
			}
			if r.Status != want || want == queue.PermFail && r.Message != "Delivery canceled." {
				t.Errorf("c %s: %v %q", r.Address, r.Status, r.Message)
			}
		}
	}
	e.data("DELETE", fmt.Sprintf("/api/queue/messages/%d?filter=example2.com", idC), &ok)
	if ok {
		t.Error("cancelling cancelled recipients again: true")
	}

	// Bulk cancel by text: the messages with an example2.com recipient go.
	e.data("DELETE", "/api/queue/messages?text=example2.com", &ok)
	if !ok {
		t.Error("DELETE ?text=example2.com: false")
	}
	if got, _ := e.ids(""); !sameIDs(got, idA, idB, idD, idE, idF) {
		t.Errorf("after bulk cancel: %v", got)
	}
	// The changes are audited with the principal and the client's address.
	entries, err := e.q.Audit(context.Background(), queue.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range entries {
		if a.Verb != "import" && !strings.HasPrefix(a.Source, "http admin from 127.0.0.1:") {
			t.Errorf("audit %s: source %q", a.Verb, a.Source)
		}
	}
	if len(entries) < 4 || entries[0].Verb != "cancel" || !strings.Contains(entries[0].Filter, "http query text=example2.com") {
		t.Errorf("audit: %+v", entries)
	}
}

func TestListPagesAndValues(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	for _, c := range []struct {
		query string
		want  []queue.ID
		total int
	}{
		{"?limit=2", []queue.ID{idA, idB}, 6},
		{"?limit=2&page=1", []queue.ID{idA, idB}, 6},
		{"?limit=2&page=0", []queue.ID{idA, idB}, 6},
		{"?limit=2&page=3", []queue.ID{idE, idF}, 6},
		{"?limit=2&page=4", nil, 6},
		{"?limit=0&page=2", []queue.ID{idA, idB, idC, idD, idE, idF}, 6},
		// Paging over matches finished in Go: the total counts every match.
		{"?from=bill&limit=2&page=2", []queue.ID{idC, idD}, 5},
		{"?text=foobar.org&limit=1&page=3", []queue.ID{idF}, 3},
		{"?max-total=2", []queue.ID{idA, idB}, 2},
		{"?from=bill&max-total=3&limit=2", []queue.ID{idA, idB}, 3},
	} {
		got, total := e.ids(c.query)
		if !sameIDs(got, c.want...) || total != c.total {
			t.Errorf("%s: got %v (total %d), want %v (total %d)", c.query, got, total, c.want, c.total)
		}
	}

	// values=1: whole messages, in the shape of -o json plus blob_hash.
	var r listResult
	e.data("GET", "/api/queue/messages?values=1&limit=1&page=6", &r)
	if len(r.Items) != 1 || r.Total != 6 || !r.Status {
		t.Fatalf("values=1: %+v", r)
	}
	m, _ := e.q.Get(context.Background(), idF)
	local, _ := m.MarshalJSON()
	item := string(r.Items[0])
	if !strings.HasPrefix(item, strings.TrimSuffix(string(local), "}")+`,"blob_hash":"`) {
		t.Errorf("item is not -o json's object plus blob_hash:\n got %s\nwant %s", item, local)
	}
	// blob-hash=0 (mqsh's extension, for a client that does not use it):
	// exactly -o json's object, without reading the message text.
	r = listResult{}
	e.data("GET", "/api/queue/messages?values=1&limit=1&page=6&blob-hash=0", &r)
	if len(r.Items) != 1 || string(r.Items[0]) != string(local) {
		t.Errorf("blob-hash=0: got %s\nwant %s", r.Items, local)
	}
	// values= (empty) is dropped, as by Stalwart: ids.
	if ids, _ := e.ids("?values=&limit=1"); !sameIDs(ids, idA) {
		t.Errorf("values= empty: %v", ids)
	}
}

func TestGetMessage(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	code, ctype, b := e.do("GET", fmt.Sprintf("/api/queue/messages/%d", idF), asAdmin)
	if code != 200 || ctype != "application/json" {
		t.Fatalf("%d %s %s", code, ctype, b)
	}
	m, _ := e.q.Get(context.Background(), idF)
	raw, _ := e.q.Raw(context.Background(), idF)
	want, _ := appendWithBlobHash(nil, m, raw)
	if string(b) != `{"data":`+string(want)+`}` {
		t.Errorf("got  %s\nwant {\"data\":%s}", b, want)
	}
	var v struct {
		Data struct {
			BlobHash string `json:"blob_hash"`
		}
	}
	json.Unmarshal(b, &v)
	if len(v.Data.BlobHash) != 43 { // 32 bytes, base64url without padding
		t.Errorf("blob_hash %q", v.Data.BlobHash)
	}
}

// TestNotFound: unknown ids, ids that are no decimal numbers, unknown paths
// and wrong methods answer 404 with Stalwart's body, byte for byte.
func TestNotFound(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	const body = `{"type":"about:blank","status":404,"title":"Not Found","detail":"The requested resource does not exist on this server."}`
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/queue/messages/999999"},
		{"GET", "/api/queue/messages/3E9"}, // hex, as the command line writes ids
		{"GET", "/api/queue/messages/abc"},
		{"GET", "/api/queue/messages/0"},
		{"PATCH", "/api/queue/messages/999999"},
		{"DELETE", "/api/queue/messages/999999"},
		{"GET", "/api/queue/reports"},
		{"GET", "/api/queue/messages/1001/extra"},
		{"POST", "/api/queue/messages"},
		{"PUT", "/api/queue/messages/1001"},
		{"GET", "/api/queue/status/stop"},
		{"PATCH", "/api/queue/status"},
		{"GET", "/api/queue"},
		{"GET", "/"},
		{"GET", "/api/queue/messages&from=bill1@foobar.net"}, // stalwart-cli's query bug
	} {
		code, ctype, b := e.do(c.method, c.path, asAdmin)
		if code != 404 || ctype != "application/problem+json" || string(b) != body {
			t.Errorf("%s %s: %d %s %s", c.method, c.path, code, ctype, b)
		}
	}
	if m, _ := e.q.Get(context.Background(), idA); m == nil {
		t.Error("a wrong route changed the queue")
	}
}

func TestQueueStatusStopStart(t *testing.T) {
	e := startServer(t)
	var running bool
	e.data("GET", "/api/queue/status", &running)
	if !running {
		t.Fatal("a new queue is not running")
	}
	var prev bool
	e.data("PATCH", "/api/queue/status/stop", &prev)
	if !prev {
		t.Error("stop: was running, answered false")
	}
	if p, _ := e.q.Paused(context.Background()); !p {
		t.Error("stop did not pause the queue")
	}
	e.data("GET", "/api/queue/status", &running)
	var r listResult
	e.data("GET", "/api/queue/messages", &r)
	if running || r.Status {
		t.Error("stopped queue reported running")
	}
	e.data("PATCH", "/api/queue/status/stop", &prev)
	if prev {
		t.Error("stop again: answered true")
	}
	e.data("PATCH", "/api/queue/status/start", &prev)
	if prev {
		t.Error("start: was stopped, answered true")
	}
	e.data("GET", "/api/queue/status", &running)
	if !running {
		t.Error("start did not resume")
	}
	entries, _ := e.q.Audit(context.Background(), queue.AuditQuery{})
	if len(entries) != 2 || entries[0].Verb != "resume" || entries[1].Verb != "pause" || !strings.HasPrefix(entries[0].Source, "http admin from ") {
		t.Errorf("audit: %+v", entries)
	}
}

func TestBulkRetry(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	at := "2100-01-01T00:00:00Z"
	var ok bool
	e.data("PATCH", "/api/queue/messages?from=bill2&at="+at, &ok)
	if !ok {
		t.Error("bulk retry of b: false")
	}
	want, _ := time.Parse(time.RFC3339, at)
	for _, id := range []queue.ID{idA, idB} {
		m, _ := e.q.Get(context.Background(), id)
		if got := m.Due(); got.Equal(want) != (id == idB) {
			t.Errorf("%d due %v", id, got)
		}
	}
	// An engine filter (the extension) goes to the engine as it is.
	e.data("PATCH", "/api/queue/messages?domain=example1.net", &ok)
	if m, _ := e.q.Get(context.Background(), idB); !ok || !m.Due().Equal(testNow) {
		t.Errorf("retry domain=example1.net: %v, due %v", ok, m.Due())
	}
	e.data("PATCH", "/api/queue/messages?from=nobody", &ok)
	if ok {
		t.Error("bulk retry matching nothing: true")
	}
}

// TestExtensionParams: mqsh's filter keys, with their exact and glob
// semantics, and errors naming the parameter.
func TestExtensionParams(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	for _, c := range []struct {
		query string
		want  []queue.ID
	}{
		{"?sender=BILL1@foobar.net", []queue.ID{idA}},
		{"?sender=bill", nil}, // exact, not a substring
		{"?sender=bill*", []queue.ID{idA, idB, idC, idD, idE}},
		{"?sender=%3C%3E", []queue.ID{idF}},
		{"?rcpt=@example2.com", []queue.ID{idC}},
		{"?domain=foobar.org", []queue.ID{idD, idE, idF}},
		{"?status=delivered", []queue.ID{idF}},
		{"?status=tempfail,delivered", []queue.ID{idF}},
		{"?due-before=" + url.QueryEscape(testNow.Add(250*time.Second).Format(time.RFC3339)), []queue.ID{idA, idB}},
		{"?due-after=%2B450s", []queue.ID{idE, idF}},
		{"?due-before=2020-01-01", nil}, // past times count here
		{"?created-before=2020-01-01", nil},
		{"?created-after=-1h", []queue.ID{idA, idB, idC, idD, idE, idF}},
		{fmt.Sprintf("?ids=%d,%d", idC, idA), []queue.ID{idA, idC}},
		{"?domain=foobar.org&from=bill5", []queue.ID{idE}},
		{"?sender=bill*&to=example2", []queue.ID{idA, idC}},
		{"?sender=BILL1@foobar.net&sender=%3C%3E", []queue.ID{idA, idF}}, // either
		{"?rcpt=@example2.com&rcpt=@foobar.org&sender=bill*", []queue.ID{idC, idD, idE}},
	} {
		got, total := e.ids(c.query)
		if !sameIDs(got, c.want...) || total != len(c.want) {
			t.Errorf("%s: got %v (total %d), want %v", c.query, got, total, c.want)
		}
	}
	for _, c := range []struct{ query, detail string }{
		{"?status=lost", `status: unknown status "lost"`},
		{"?ids=3E9", `ids: invalid id "3E9": want a message id as a positive decimal integer`},
		{"?due-before=soon", `due-before: invalid time "soon"`},
		{"?sender=", "sender: needs a value"},
		{"?status=tempfail&status=permfail", "status: given 2 times"},
		{"?rcpt=@", "recipient filter"},
	} {
		code, ctype, b := e.do("GET", "/api/queue/messages"+c.query, asAdmin)
		var p problem
		json.Unmarshal(b, &p)
		if code != 400 || ctype != "application/problem+json" || p.Title != "Invalid parameters" || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: %d %s %s", c.query, code, ctype, b)
		}
		// A bulk change with a bad parameter changes nothing.
		if code, _, _ := e.do("DELETE", "/api/queue/messages"+c.query, asAdmin); code != 400 {
			t.Errorf("DELETE %s: %d", c.query, code)
		}
	}
	if n, _ := e.q.Count(context.Background(), queue.Filter{}); n != 6 {
		t.Errorf("%d messages left", n)
	}
}

func TestBodyLimit(t *testing.T) {
	e := startServer(t)
	req, _ := http.NewRequest("PATCH", e.base+"/api/queue/status/stop", strings.NewReader(strings.Repeat("x", 2<<20)))
	req.Header.Set("Authorization", asAdmin)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body: %d", resp.StatusCode)
	}
	if p, _ := e.q.Paused(context.Background()); p {
		t.Error("a refused request paused the queue")
	}
}

// TestPageCursors: reading page after page resumes where the previous page
// ended, so a message removed from an earlier page shifts nothing; a page
// asked for out of turn is counted from the start.
func TestPageCursors(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	if got, _ := e.ids("?limit=2&page=1"); !sameIDs(got, idA, idB) {
		t.Fatalf("page 1: %v", got)
	}
	if _, err := e.q.Cancel(context.Background(), queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{idA}}}); err != nil {
		t.Fatal(err)
	}
	got, total := e.ids("?limit=2&page=2")
	if !sameIDs(got, idC, idD) || total != 5 {
		t.Errorf("page 2 after page 1: %v (total %d), want c, d", got, total)
	}
	if got, _ := e.ids("?limit=2&page=3"); !sameIDs(got, idE, idF) {
		t.Errorf("page 3: %v", got)
	}
	// Other parameters, no cursor: offsets from the start.
	if got, _ := e.ids("?limit=2&page=2&to=@"); !sameIDs(got, idD, idE) {
		t.Errorf("page 2 out of turn: %v", got)
	}
	if got, _ := e.ids("?limit=2&page=2&status=scheduled"); !sameIDs(got, idD, idE) {
		t.Errorf("page 2 out of turn (engine filter): %v", got)
	}
}

// TestBulkCancelEverything: DELETE without parameters removes every
// message, as in Stalwart, audited as "all".
func TestBulkCancelEverything(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	var ok bool
	e.data("DELETE", "/api/queue/messages", &ok)
	if n, _ := e.q.Count(context.Background(), queue.Filter{}); !ok || n != 0 {
		t.Errorf("DELETE everything: %v, %d left", ok, n)
	}
	entries, _ := e.q.Audit(context.Background(), queue.AuditQuery{})
	if entries[0].Verb != "cancel" || !strings.HasPrefix(entries[0].Filter, "all") || entries[0].Count != 6 {
		t.Errorf("audit: %+v", entries[0])
	}
	e.data("DELETE", "/api/queue/messages", &ok)
	if ok {
		t.Error("DELETE on an empty queue: true")
	}
}

// TestLargeListingStreams: a listing over 4 MiB goes out as it is made
// (no Content-Length), whole and valid; a shorter one, such as a page of
// 1,000 whole messages (1.3 MB) a client reads the queue by, carries its
// length, so that the client reads it into one buffer.
func TestLargeListingStreams(t *testing.T) {
	e := startServer(t)
	if _, err := e.q.LoadDemo(context.Background(), 4000, 1); err != nil {
		t.Fatal(err)
	}
	get := func(query string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", e.base+"/api/queue/messages"+query, nil)
		req.Header.Set("Authorization", asAdmin)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := get("?values=1")
	var v struct{ Data listResult }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v (%d bytes)", err, len(b))
	}
	if len(b) < spillAt || resp.ContentLength != -1 || len(v.Data.Items) != 4006 || v.Data.Total != 4006 {
		t.Errorf("%d bytes, length %d, %d items, total %d", len(b), resp.ContentLength, len(v.Data.Items), v.Data.Total)
	}
	resp, b = get("?values=1&limit=1000&range-start=1&max-total=1000")
	if resp.ContentLength != int64(len(b)) || len(b) < 1<<20 {
		t.Errorf("page of 1,000: length %d of %d bytes", resp.ContentLength, len(b))
	}
	resp, b = get("?values=1&limit=2")
	if resp.ContentLength != int64(len(b)) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("short listing: length %d of %d, %s", resp.ContentLength, len(b), resp.Header.Get("Content-Type"))
	}
}

// A full page names its last id in a header before its body, for a client
// that pages by range-start to ask for the next page at once; a page that is
// not full (the last) does not.
func TestListFullPageNamesLastID(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	all, _ := e.ids("")
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"?values=1&limit=2", strconv.FormatUint(uint64(all[1]), 10)},
		{fmt.Sprintf("?values=1&limit=2&range-start=%d&max-total=2", uint64(all[2])), strconv.FormatUint(uint64(all[3]), 10)},
		{"?limit=3&page=2", strconv.FormatUint(uint64(all[5]), 10)},
		{fmt.Sprintf("?values=1&limit=4&range-start=%d&max-total=4", uint64(all[3])), ""}, // three left: not full
		{"?values=1", ""}, // no limit
	} {
		req, _ := http.NewRequest("GET", e.base+"/api/queue/messages"+tc.query, nil)
		req.Header.Set("Authorization", asAdmin)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get(LastIDHeader); got != tc.want || resp.StatusCode != 200 {
			t.Errorf("%s: %d, %s %q, want %q", tc.query, resp.StatusCode, LastIDHeader, got, tc.want)
		}
	}
}
