package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"mqsh/queue"
)

// benchBody is a 1 KiB message.
func benchBody() []byte {
	head := "From: <s@a.test>\r\nTo: <u@d.test>\r\nSubject: bench\r\n\r\n"
	body := make([]byte, 1024)
	copy(body, head)
	for i := len(head); i < len(body)-2; i++ {
		body[i] = 'a' + byte(i%26)
	}
	copy(body[len(body)-2:], "\r\n")
	return body
}

// BenchmarkServeIngest16 measures what `mqsh serve` (the built program, a
// process of its own) takes in durably: 16 concurrent SMTP sessions on
// loopback, each sending 1 KiB messages one after another over its own
// connection with go-smtp's client (waiting for each reply), delivery
// paused. Besides messages/s it reports the CPU (user + system) a message
// of the serve process and of the clients (this test process). Run it as
//
//	go test . -run '^$' -bench ServeIngest16 -benchtime 20000x
//
// MQSH_BENCH_QUEUE=FILE ingests into a copy of that queue (such as one of
// 1,000,000 messages) rather than an empty one; MQSH_BENCH_ARGS adds serve
// flags (such as --cache-size 256M).
func BenchmarkServeIngest16(b *testing.B) {
	const sessions = 16
	db := filepath.Join(b.TempDir(), "queue.db")
	if from := os.Getenv("MQSH_BENCH_QUEUE"); from != "" {
		if out, err := exec.Command("cp", from, db).CombinedOutput(); err != nil {
			b.Fatalf("copy %s: %v %s", from, err, out)
		}
	}
	args := append([]string{"--smtp", "127.0.0.1:0", "--relay", "127.0.0.1:1", "--paused", "--log", os.DevNull}, strings.Fields(os.Getenv("MQSH_BENCH_ARGS"))...)
	srv := startServe(b, db, args...)
	body := benchBody()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	b.ResetTimer()
	cpu0 := processCPU()
	t0 := time.Now()
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gosmtp.Dial(srv.smtp)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := c.Hello("bench.test"); err != nil {
				errs <- err
				return
			}
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := c.SendMail("s@a.test", []string{fmt.Sprintf("u%d@d%d.test", i, i%50)}, bytesReader(body)); err != nil {
					errs <- err
					return
				}
			}
			c.Quit()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	clientCPU := processCPU() - cpu0
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	if err := srv.stop(b); err != nil {
		b.Fatal(err)
	}
	// The server's own CPU (user + system, start-up included) per message:
	// steadier than msgs/s on a machine shared with other work.
	if ps := srv.cmd.ProcessState; ps != nil {
		b.ReportMetric(float64((ps.UserTime()+ps.SystemTime()).Microseconds())/float64(b.N), "serve-cpu-us/msg")
	}
	// The clients' CPU (this test process, while they sent): on two cores
	// it comes out of the same budget as the server's.
	b.ReportMetric(float64(clientCPU.Microseconds())/float64(b.N), "client-cpu-us/msg")
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServeDeliver measures how fast `mqsh serve` (the built program)
// empties a queue of MQSH_BENCH_N (default 100000) 1 KiB messages, one
// recipient each over 50 domains, through --relay to an in-process SMTP
// sink on loopback: from the start of the process until the sink has every
// message and the queue is empty. Run it as
//
//	go test . -run '^$' -bench ServeDeliver -benchtime 1x
func BenchmarkServeDeliver(b *testing.B) {
	n := 100000
	if v := os.Getenv("MQSH_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	k := startSink(b)
	k.setTempfail(false)
	k.discard = true
	body := benchBody()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		db := filepath.Join(b.TempDir(), "queue.db")
		q, err := queue.Open(db, queue.Options{User: "bench"})
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
		base := k.n.Load()
		b.StartTimer()
		t0 := time.Now()
		srv := startServe(b, db, "--smtp", "none", "--relay", k.addr, "--log", os.DevNull)
		for k.n.Load()-base < int64(n) {
			time.Sleep(5 * time.Millisecond)
		}
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
		el := time.Since(t0)
		b.StopTimer()
		peak := peakRSS(srv.cmd.Process.Pid)
		if err := srv.stop(b); err != nil {
			b.Fatal(err)
		}
		q.Close()
		b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
		b.ReportMetric(el.Seconds(), "s/run")
		b.ReportMetric(peak, "peak-RSS-MB")
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// peakRSS is the peak resident memory of process pid in MB (VmHWM in
// /proc, Linux); 0 when unknown.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}
