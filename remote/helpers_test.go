package remote

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mqsh/queue"
)

// demoNow is the tests' clock: a minute after the documented messages were
// created, before any of them is due, so that due bounds are in the future.
var demoNow = time.Date(2023, 3, 1, 11, 45, 0, 0, time.UTC)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// localQueue opens a real SQLite queue with the documented six messages and
// n generated ones.
func localQueue(t testing.TB, n int, clock func() time.Time) *queue.Queue {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: clock, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if _, err := q.LoadDemo(context.Background(), n, 7); err != nil {
		t.Fatal(err)
	}
	return q
}

func listAll(t testing.TB, b queue.Backend) []queue.Message {
	t.Helper()
	msgs, err := b.List(context.Background(), queue.Filter{}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// pair is a local queue and a fake Stalwart server holding the same
// messages, with a client of the fake.
type pair struct {
	local  *queue.Queue
	fake   *fakeStalwart
	srv    *httptest.Server
	client *Client
	clock  *testClock
}

func newPair(t testing.TB, sh shape, n int, opts Options) *pair {
	t.Helper()
	clk := &testClock{t: demoNow}
	p := &pair{clock: clk}
	p.local = localQueue(t, n, clk.Now)
	p.fake = newFake(sh, clk.Now, listAll(t, p.local))
	p.srv = httptest.NewServer(p.fake)
	t.Cleanup(p.srv.Close)
	if opts.Credentials == "" {
		opts.Credentials = "admin:secret"
	}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	c, err := Open(p.srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p.client = c
	return p
}

func idsOf(msgs []queue.Message) []queue.ID {
	out := []queue.ID{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// changes counts the requests that change something.
func changes(log []string) int {
	n := 0
	for _, l := range log {
		if !slices.Contains([]string{"GET"}, l[:3]) {
			n++
		}
	}
	return n
}

var ctx = context.Background()

func openFake(t testing.TB, f *fakeStalwart, opts Options) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	if opts.Credentials == "" {
		opts.Credentials = "admin:secret"
	}
	if opts.Now == nil {
		opts.Now = f.now
	}
	c, err := Open(srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func containsPrefix(log []string, prefix string) bool {
	for _, l := range log {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func decimal(id queue.ID) string { return strconv.FormatUint(uint64(id), 10) }
