package delivery

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mqsh/queue"
)

// sink accepts every message and counts the recipients delivered.
type sink struct{ n atomic.Int64 }

type sinkSession struct {
	s     *sink
	rcpts int64
}

func (s *sinkSession) Reset()                               { s.rcpts = 0 }
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { s.rcpts++; return nil }
func (s *sinkSession) Data(r io.Reader) error               { io.Copy(io.Discard, r); s.s.n.Add(s.rcpts); return nil }
func startSink(b *testing.B) (*sink, string) {
	s := &sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "sink.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return s, l.Addr().String()
}

// BenchmarkDeliver delivers MQSH_BENCH_N (default 100000; 10000 with
// -short) queued 1 KiB messages, one recipient each over 50 domains, to an
// in-process SMTP sink on loopback, and reports messages per second.
func BenchmarkDeliver(b *testing.B) {
	n := 100000
	if testing.Short() {
		n = 10000
	}
	if s := os.Getenv("MQSH_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	body := make([]byte, 1024)
	copy(body, "Subject: bench\r\n\r\n")
	for i := len("Subject: bench\r\n\r\n"); i < len(body)-2; i++ {
		body[i] = 'a' + byte(i%26)
	}
	copy(body[len(body)-2:], "\r\n")
	s, addr := startSink(b)
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		q, err := queue.Open(filepath.Join(b.TempDir(), "queue.db"), queue.Options{User: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		err = q.Update(context.Background(), func(tx *queue.Tx) error {
			for i := 0; i < n; i++ {
				env := queue.Envelope{Sender: "s@a.test", Recipients: []queue.EnvelopeRecipient{{Address: fmt.Sprintf("u%d@d%d.test", i, i%50)}}}
				if _, err := tx.Enqueue(env, body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		base := s.n.Load()
		ctx, cancel := context.WithCancel(context.Background())
		d, err := New(q, Config{Relay: addr, Concurrency: 32, PerDomain: 8, Node: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		b.StartTimer()
		t0, cpu0 := time.Now(), cpuTime()
		go func() { done <- d.Run(ctx) }()
		for s.n.Load()-base < int64(n) {
			time.Sleep(time.Millisecond)
		}
		// Until every outcome is recorded: the queue is empty.
		for {
			c, err := q.Count(context.Background(), queue.Filter{All: true})
			if err != nil {
				b.Fatal(err)
			}
			if c == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		el, cpu := time.Since(t0), cpuTime()-cpu0
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		q.Close()
		b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
		b.ReportMetric(el.Seconds(), "s/run")
		b.ReportMetric(cpu.Seconds(), "cpu-s/run")
	}
}

// cpuTime is the process's user and system CPU time so far (the SMTP sink
// included): on a shared machine it says what the work cost.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
