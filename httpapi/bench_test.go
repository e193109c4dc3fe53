package httpapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"mqsh/queue"
)

// The API's benchmarks run on a queue of 100,000 generated messages (the
// documented six plus LoadDemo's, seed 1), built once under
// /tmp/mqsh-bench/http-100k.db and reused; delete it to rebuild. Requests go
// over a real loopback socket with keep-alive and Basic authentication, as
// a script or stalwart-cli would send them.
//
//	go test ./httpapi/ -run '^$' -bench . -benchtime 200x

const benchMessages = 100_000

func benchQueue(b *testing.B) *queue.Queue {
	b.Helper()
	q, err := queue.Open(benchQueuePath(b), queue.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

// benchQueuePath is the file of the benchmark queue, built when missing.
func benchQueuePath(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "mqsh-bench")
	path := filepath.Join(dir, "http-100k.db")
	if _, err := os.Stat(path); err != nil {
		os.MkdirAll(dir, 0o755)
		tmp := path + ".building"
		os.Remove(tmp)
		q, err := queue.Open(tmp, queue.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.LoadDemo(context.Background(), benchMessages-6, 1); err != nil {
			b.Fatal(err)
		}
		q.Close()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	return path
}

// benchServer serves q on loopback and returns its base URL and a client.
func benchServer(b *testing.B, q *queue.Queue) (string, *http.Client) {
	srv, err := New(Options{Backend: q, Principals: testPrincipals(b)})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String(), &http.Client{Timeout: time.Minute}
}

func benchGet(b *testing.B, c *http.Client, url string) int {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", asAdmin)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %d", url, resp.StatusCode)
	}
	return int(n)
}

// BenchmarkListPage: one page of 100 whole messages (values=1), the first
// and one at 90% of the queue, total counted over the 100,000.
func BenchmarkListPage(b *testing.B) {
	q := benchQueue(b)
	base, c := benchServer(b, q)
	for _, bc := range []struct{ name, query string }{
		{"first", "?limit=100&values=1"},
		{"page900", "?limit=100&values=1&page=900"},
		{"from-substring", "?limit=100&values=1&from=info"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := benchGet(b, c, base+"/api/queue/messages"+bc.query) // warm, and the login
			b.SetBytes(int64(n))
			b.ResetTimer()
			for range b.N {
				benchGet(b, c, base+"/api/queue/messages"+bc.query)
			}
		})
	}
}

// BenchmarkGetMessage: GET /api/queue/messages/{id}, what `queue status ID`
// asks a remote queue.
func BenchmarkGetMessage(b *testing.B) {
	q := benchQueue(b)
	base, c := benchServer(b, q)
	ms, err := q.List(context.Background(), queue.Filter{}, queue.Page{Limit: 50_000})
	if err != nil || len(ms) == 0 {
		b.Fatal(err)
	}
	url := base + "/api/queue/messages/" + strconv.FormatUint(uint64(ms[len(ms)-1].ID), 10)
	benchGet(b, c, url)
	b.ResetTimer()
	for range b.N {
		benchGet(b, c, url)
	}
}

// BenchmarkListAllPaged: the whole queue as a client pages through it,
// 1,000 whole messages a page (page cursors keep each page one page's
// work).
func BenchmarkListAllPaged(b *testing.B) {
	q := benchQueue(b)
	base, c := benchServer(b, q)
	for range b.N {
		n := 0
		for page := 1; ; page++ {
			size := benchGet(b, c, base+"/api/queue/messages?values=1&limit=1000&page="+strconv.Itoa(page))
			n += size
			if size < 1000 {
				break
			}
		}
		b.SetBytes(int64(n))
	}
}
