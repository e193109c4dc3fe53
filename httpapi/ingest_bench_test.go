package httpapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mqsh/queue"
	"mqsh/smtpd"
)

// BenchmarkListPageDuringIngest: the latency of one list page
// (GET /api/queue/messages?limit=100&values=1, total counted) while the
// SMTP server of `mqsh serve` ingests into the same queue at full speed: 16
// sessions on loopback, each sending 1 KiB messages one after another,
// every one acknowledged after its durable group commit. The queue is a
// writable copy of the 100,000-message benchmark queue. "idle" is the same
// page with no ingest, for comparison. Reports the median and p95 latency
// of the page and the messages ingested per second meanwhile. A pause of
// 10 ms between pages leaves the ingest its full speed. Run it as
//
//	go test ./httpapi/ -run '^$' -bench ListPageDuringIngest -benchtime 300x
func BenchmarkListPageDuringIngest(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchListDuringIngest(b, 0, "") })
	b.Run("ingest16", func(b *testing.B) { benchListDuringIngest(b, 16, "") })
	b.Run("ingest16-nohash", func(b *testing.B) { benchListDuringIngest(b, 16, "&blob-hash=0") })
}

func benchListDuringIngest(b *testing.B, sessions int, query string) {
	q := writableBenchQueue(b)
	base, c := benchServer(b, q)
	page := base + "/api/queue/messages?limit=100&values=1" + query
	benchGet(b, c, page) // the login, and a warm cache

	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if sessions > 0 {
		s, err := smtpd.New(q, smtpd.Config{Hostname: "mx.bench"})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go s.Serve(context.Background(), ln)
		defer s.Shutdown(context.Background())
		body := "From: a@b.example\r\nTo: c@d.example\r\nSubject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 62)+"\r\n", 16)
		body = body[:1024-2] + "\r\n" // 1 KiB
		for i := range sessions {
			cl, err := smtp.Dial(ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			if err := cl.Hello("client.bench"); err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cl.Quit()
				for j := 0; ; j++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := sendOne(cl, fmt.Sprintf("r%d-%d@d.example", i, j), body); err != nil {
						b.Error(err)
						return
					}
					sent.Add(1)
				}
			}()
		}
		time.Sleep(500 * time.Millisecond) // the sessions at full speed
	}

	lat := make([]time.Duration, 0, b.N)
	sent0 := sent.Load()
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		benchGet(b, c, page)
		lat = append(lat, time.Since(t))
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	ingested := sent.Load() - sent0
	close(stop)
	wg.Wait()

	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "median-ms")
	b.ReportMetric(ms(lat[len(lat)*95/100]), "p95-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(ingested)/elapsed.Seconds(), "ingest-msgs/s")
	b.ReportMetric(0, "ns/op") // the latencies above say it; ns/op counts the pauses
}

// sendOne sends one message over an open session.
func sendOne(c *smtp.Client, rcpt, body string) error {
	if err := c.Mail("a@b.example", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

// writableBenchQueue is a copy of the benchmark queue that may be written
// (and is upgraded to the engine's schema when built by an older one).
func writableBenchQueue(b *testing.B) *queue.Queue {
	b.Helper()
	src := benchQueuePath(b)
	dst := filepath.Join(b.TempDir(), "queue.db")
	raw, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dst, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	q, err := queue.Open(dst, queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}
