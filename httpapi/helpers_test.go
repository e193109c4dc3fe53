package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"mqsh/queue"
)

// testNow is the queue's clock in these tests.
var testNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// testEnv is a server on a real loopback socket over a real SQLite queue.
type testEnv struct {
	t      testing.TB
	q      *queue.Queue
	srv    *Server
	base   string // http://127.0.0.1:PORT
	client *http.Client

	mu     sync.Mutex
	delays []time.Duration // the throttle's waits
}

// Test principals: admin (bcrypt) and viewer (argon2id).
const (
	adminSecret  = "s3cret"
	viewerSecret = "look-only"
)

func testPrincipals(t testing.TB) []*Principal {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(adminSecret), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(viewerSecret), salt, 1, 1024, 1, 32)
	argon := "$argon2id$v=19$m=1024,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	ps, err := ParseConfig(`
[[principal]]
name = "Admin"
role = "admin"
secret = "`+string(h)+`"

[[principal]]
name = "viewer"
role = "viewer"
secret = "`+argon+`"
`, "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// startServer opens a queue and serves it on 127.0.0.1, port 0, until the
// test ends.
func startServer(t testing.TB) *testEnv {
	t.Helper()
	return startServerWith(t, queue.Options{})
}

// startServerWith is startServer with more queue options (the clock and
// user are the tests').
func startServerWith(t testing.TB, opts queue.Options) *testEnv {
	t.Helper()
	opts.Now, opts.User = func() time.Time { return testNow }, "tester"
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	e := &testEnv{t: t, q: q}
	srv, err := New(Options{Backend: q, Principals: testPrincipals(t), FailDelay: 100 * time.Millisecond, FailDelayMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.auth.throttle.sleep = func(_ context.Context, d time.Duration) {
		e.mu.Lock()
		e.delays = append(e.delays, d)
		e.mu.Unlock()
	}
	e.srv = srv
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
	e.base = "http://" + ln.Addr().String()
	e.client = &http.Client{Timeout: 30 * time.Second}
	return e
}

// basic is the Authorization header for name and secret.
func basic(name, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+secret))
}

var asAdmin = basic("admin", adminSecret)

// do sends a request with the given Authorization header ("" = none) and
// returns the status, the content type and the body.
func (e *testEnv) do(method, path, auth string) (int, string, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// data sends a request as admin, wants 200, and decodes {"data": ...} into v.
func (e *testEnv) data(method, path string, v any) {
	e.t.Helper()
	code, _, b := e.do(method, path, asAdmin)
	if code != http.StatusOK {
		e.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	var env struct{ Data json.RawMessage }
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
}

// listResult is the data of GET /api/queue/messages.
type listResult struct {
	Items  []json.RawMessage `json:"items"`
	Total  int               `json:"total"`
	Status bool              `json:"status"`
}

// ids lists the ids of a list request.
func (e *testEnv) ids(query string) ([]queue.ID, int) {
	e.t.Helper()
	var r listResult
	e.data("GET", "/api/queue/messages"+query, &r)
	var out []queue.ID
	for _, it := range r.Items {
		var id uint64
		if err := json.Unmarshal(it, &id); err != nil {
			e.t.Fatalf("item %s: %v", it, err)
		}
		out = append(out, queue.ID(id))
	}
	return out, r.Total
}

// The six messages of Stalwart's management test (ENVID a-f); a-e held
// 100-500 s, f delivered to success@ and delayed for delay@.
const (
	idA queue.ID = 1001 + iota
	idB
	idC
	idD
	idE
	idF
)

func stalwartSix() []queue.Message {
	created := testNow.Add(-time.Minute)
	exp := testNow.Add(5 * 24 * time.Hour)
	dom := func(name string, due time.Duration, rcpts ...string) queue.Domain {
		d := queue.Domain{Name: name, Due: testNow.Add(due), Expires: exp}
		for _, r := range rcpts {
			d.Recipients = append(d.Recipients, queue.Recipient{Address: r})
		}
		return d
	}
	msg := func(id queue.ID, env, from string, ds ...queue.Domain) queue.Message {
		return queue.Message{ID: id, ReturnPath: from, Created: created, Size: 1000 + int64(id%100), EnvID: env, Domains: ds}
	}
	s := time.Second
	f := dom("foobar.org", 1000*s, "success@foobar.org", "delay@foobar.org")
	f.Status = queue.TempFail
	f.Details = "Connection refused"
	f.RetryNum = 1
	f.Recipients[0].Status, f.Recipients[0].Code, f.Recipients[0].Enhanced, f.Recipients[0].Message = queue.Completed, 250, "2.1.5", "OK"
	f.Recipients[1].Status, f.Recipients[1].Code, f.Recipients[1].Enhanced, f.Recipients[1].Message = queue.TempFail, 451, "4.5.3", "Try again later."
	return []queue.Message{
		msg(idA, "a", "bill1@foobar.net", dom("example1.org", 100*s, "rcpt1@example1.org"), dom("example2.org", 100*s, "rcpt1@example2.org")),
		msg(idB, "b", "bill2@foobar.net", dom("example1.net", 200*s, "rcpt3@example1.net", "rcpt4@example1.net")),
		msg(idC, "c", "bill3@foobar.net", dom("example1.com", 300*s, "rcpt5@example1.com"), dom("example2.com", 300*s, "rcpt6@example2.com", "rcpt7@example2.com"),
			dom("example3.com", 300*s, "rcpt8@example3.com"), dom("example4.com", 300*s, "rcpt9@example4.com")),
		msg(idD, "d", "bill4@foobar.net", dom("foobar.org", 400*s, "delay@foobar.org")),
		msg(idE, "e", "bill5@foobar.net", dom("foobar.org", 500*s, "john@foobar.org")),
		msg(idF, "f", "", f),
	}
}

// load imports messages through the JSON path.
func (e *testEnv) load(msgs ...queue.Message) {
	e.t.Helper()
	var buf bytes.Buffer
	for i := range msgs {
		b, err := msgs[i].MarshalJSON()
		if err != nil {
			e.t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := e.q.ImportJSON(context.Background(), &buf); err != nil {
		e.t.Fatal(err)
	}
}

func sameIDs(got []queue.ID, want ...queue.ID) bool { return slices.Equal(got, want) }

var auditAll = queue.AuditQuery{}

func uint64ID(i int) queue.ID { return queue.ID(i) }
