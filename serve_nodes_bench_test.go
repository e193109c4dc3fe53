package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"mqsh/internal/pgtest"
)

// BenchmarkServeNodes measures delivery by MQSH_BENCH_NODES (default 1)
// `mqsh serve` processes on one queue of MQSH_BENCH_N (default 10000)
// messages due now, one recipient each over 20 domains, through --relay to
// an in-process SMTP sink on loopback: from the start of the processes
// until the sink has every message. MQSH_BENCH_ENGINE=postgres puts the
// queue in a database of the test cluster (default: a queue file);
// MQSH_BENCH_ARGS adds serve flags (such as --cache-size 256M). Every
// message must arrive exactly once (counted by Message-ID). bench/nodes.sh
// runs the four combinations; one is
//
//	MQSH_BENCH_NODES=3 MQSH_BENCH_ENGINE=postgres go test . -run '^$' -bench 'ServeNodes$' -benchtime 1x
func BenchmarkServeNodes(b *testing.B) {
	n, nodes := 10000, 1
	if v := os.Getenv("MQSH_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("MQSH_BENCH_NODES"); v != "" {
		nodes, _ = strconv.Atoi(v)
	}
	engine := os.Getenv("MQSH_BENCH_ENGINE")
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		k := startSink(b)
		k.setTempfail(false)
		pg := ""
		if engine == "postgres" {
			pg = pgtest.URL(b)
		}
		url := nodesQueue(b, n, pg)
		b.StartTimer()
		t0 := time.Now()
		var srvs []*server
		for i := 1; i <= nodes; i++ {
			args := append([]string{"--smtp", "none", "--relay", k.addr, "--node", fmt.Sprintf("n%d", i), "--log", os.DevNull}, strings.Fields(os.Getenv("MQSH_BENCH_ARGS"))...)
			srvs = append(srvs, startServe(b, url, args...))
		}
		for k.n.Load() < int64(n) {
			if time.Since(t0) > 5*time.Minute {
				b.Fatalf("%d of %d delivered after 5 minutes", k.n.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		el := time.Since(t0)
		b.StopTimer()
		for _, s := range srvs {
			if err := s.stop(b); err != nil {
				b.Fatal(err)
			}
		}
		seen := k.byMessageID(b)
		twice := 0
		for _, c := range seen {
			if c > 1 {
				twice++
			}
		}
		if len(seen) != n || twice > 0 {
			b.Fatalf("%d distinct messages of %d arrived, %d more than once", len(seen), n, twice)
		}
		if left := strings.TrimSpace(mqshB(b, url, "queue", "list", "-o", "ids")); left != "" {
			b.Fatalf("left in the queue: %.200s", left)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
		b.ReportMetric(el.Seconds(), "s/run")
	}
}

// mqshB runs one mqsh command on a queue for a benchmark.
func mqshB(b *testing.B, db string, args ...string) string {
	b.Helper()
	out, err := execMQSH(b, append([]string{"-u", db}, args...)...)
	if err != nil {
		b.Fatalf("mqsh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// execMQSH runs the built mqsh with args and returns its standard output.
func execMQSH(t testing.TB, args ...string) (string, error) {
	cmd := exec.Command(builtMQSH(t), args...)
	cmd.Env = append(cmd.Environ(), "MQSH_NOHISTORY=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return errb.String(), err
	}
	return out.String(), nil
}
