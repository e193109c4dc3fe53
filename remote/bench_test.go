package remote

import (
	"context"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-json"

	"mqsh/queue"
)

// demoMessages makes n generated demo messages (seed 42) in a real queue and
// lists them back.
func demoMessages(b *testing.B, n int, now time.Time) []queue.Message {
	b.Helper()
	q, err := queue.Open(filepath.Join(b.TempDir(), "demo.db"), queue.Options{Now: func() time.Time { return now }, User: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	if _, err := q.LoadDemo(context.Background(), n, 42); err != nil {
		b.Fatal(err)
	}
	msgs, err := q.List(context.Background(), queue.Filter{}, queue.Page{})
	if err != nil {
		b.Fatal(err)
	}
	return msgs
}

// benchFake serves n generated demo messages (seed 42) in a shape
// from a fake Stalwart on loopback, with their JSON cached so that the
// client is what is measured.
func benchFake(b *testing.B, sh shape, n int) (*Client, []queue.Message) {
	b.Helper()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	msgs := demoMessages(b, n, now)
	f := newFake(sh, func() time.Time { return now }, msgs)
	f.cache = true
	srv := httptest.NewServer(f)
	b.Cleanup(srv.Close)
	c, err := Open(srv.URL, Options{Credentials: "admin:secret", Now: f.now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	// Warm the fake's cache.
	if _, err := c.List(ctx, queue.Filter{}, queue.Page{}); err != nil {
		b.Fatal(err)
	}
	return c, msgs
}

// topDomain is the recipient domain of most messages.
func topDomain(msgs []queue.Message) (string, int) {
	count := map[string]int{}
	for _, m := range msgs {
		for _, d := range m.Domains {
			count[d.Name]++
		}
	}
	best, n := "", 0
	for d, k := range count {
		if k > n || k == n && d < best {
			best, n = d, k
		}
	}
	return best, n
}

// BenchmarkList100k lists 100,000 messages, pages of 1,000 whole messages.
func BenchmarkList100k(b *testing.B) {
	for _, sh := range shapes {
		b.Run(sh.String(), func(b *testing.B) {
			c, all := benchFake(b, sh, 100000)
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				msgs, err := c.List(ctx, queue.Filter{}, queue.Page{})
				if err != nil || len(msgs) != len(all) {
					b.Fatal(len(msgs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/list")
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkDecodePage100k is the client's own work on a listing of
// 100,000 messages without the network and the server: decoding 100 answers
// of 1,000 whole messages and mapping them to queue.Message.
func BenchmarkDecodePage100k(b *testing.B) {
	for _, sh := range shapes {
		b.Run(sh.String(), func(b *testing.B) {
			now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
			msgs := demoMessages(b, 1000, now)
			f := newFake(sh, func() time.Time { return now }, msgs)
			rec := httptest.NewRecorder()
			f.list(rec, url.Values{"values": {"1"}})
			body := rec.Body.Bytes()
			b.SetBytes(int64(len(body)) * 100)
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				for range 100 {
					var env envelope[listData]
					if err := json.Unmarshal(body, &env); err != nil {
						b.Fatal(err)
					}
					for i := range env.Data.Items {
						if _, err := toMessage(&env.Data.Items[i], time.Now); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/100k")
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkListFiltered100k lists the messages of 100,000 with a recipient
// in the commonest domain (narrowed on the server by to=@domain, finished on
// the client), and the bounces (sender <>, finished on the client alone).
func BenchmarkListFiltered100k(b *testing.B) {
	c, msgs := benchFake(b, v015, 100000)
	dom, _ := topDomain(msgs)
	for _, bc := range []struct {
		name string
		f    queue.Filter
	}{{"domain", queue.Filter{Domain: []string{dom}}}, {"bounces", queue.Filter{Sender: []string{"<>"}}}} {
		b.Run(bc.name, func(b *testing.B) {
			cpu := cpuTime()
			n := 0
			for range b.N {
				got, err := c.List(ctx, bc.f, queue.Page{})
				if err != nil || len(got) == 0 {
					b.Fatal(len(got), err)
				}
				n = len(got)
			}
			b.ReportMetric(float64(n), "matches")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/list")
			reportCPU(b, cpu)
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process's CPU milliseconds per operation since start:
// on a machine shared with other work it says more than the wall clock.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
}
