package lua

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"mqsh/queue"
)

// The benchmarks run scripts on a queue of 1,000,000 generated messages (the
// engine's generator, seed 42, the engine benchmarks' clock), built once
// under /tmp/mqsh-bench through queue.ImportJSON and reused by later runs.
// The retry benchmarks commit, so this is a database of its own, not the
// engine's. Plain `go test` never builds it: only the benchmarks call
// benchQueue. Run one at a time:
//
//	go test -run '^$' -bench . -benchtime 3x ./lua/
const (
	benchDir  = "/tmp/mqsh-bench"
	benchN    = 1_000_000
	benchSeed = 42
)

var (
	benchNow  = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	benchPath = filepath.Join(benchDir, "lua-1m.db")
	benchOnce sync.Once
	benchErr  error
)

func benchClock() time.Time { return benchNow }

// benchSource returns JSON Lines of the generated messages: the engine
// benchmarks' file when it is there (same generator, seed and clock), else a
// file of our own.
func benchSource() (string, error) {
	if st, err := os.Stat(filepath.Join(benchDir, "1m.jsonl")); err == nil && st.Size() > 0 {
		return filepath.Join(benchDir, "1m.jsonl"), nil
	}
	path := filepath.Join(benchDir, "lua-1m.jsonl")
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	if err := os.MkdirAll(benchDir, 0o755); err != nil {
		return "", err
	}
	return path, queue.WriteDemoJSON(path, benchN, benchSeed, benchNow)
}

// benchQueue opens the million-message queue, building it when absent.
func benchQueue(b *testing.B) *queue.Queue {
	b.Helper()
	benchOnce.Do(func() {
		if _, err := os.Stat(benchPath); err == nil {
			return
		}
		src, err := benchSource()
		if err != nil {
			benchErr = err
			return
		}
		tmp := benchPath + ".tmp"
		os.Remove(tmp)
		q, err := queue.Open(tmp, queue.Options{Now: benchClock})
		if err != nil {
			benchErr = err
			return
		}
		f, err := os.Open(src)
		if err != nil {
			q.Close()
			benchErr = err
			return
		}
		start := time.Now()
		res, err := q.ImportJSON(context.Background(), f)
		f.Close()
		q.Close()
		if err != nil {
			benchErr = err
			return
		}
		fmt.Fprintf(os.Stderr, "built %s: %d messages in %s\n", benchPath, res.Count, time.Since(start).Round(time.Second))
		benchErr = os.Rename(tmp, benchPath)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	q, err := queue.Open(benchPath, queue.Options{Now: benchClock})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

// runBench runs code once per iteration and returns the last report.
//
// The collector's target is 400 % while it runs, as `mqsh run` sets it for
// its process (main.go); the lua package itself never changes it.
func runBench(b *testing.B, q *queue.Queue, code string) Report {
	b.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	var rep Report
	for i := 0; i < b.N; i++ {
		var err error
		rep, err = Run(context.Background(), q, Options{Name: "bench.lua", Code: code, Now: benchClock, Timeout: -1})
		if err != nil {
			b.Fatal(err)
		}
	}
	return rep
}

// BenchmarkEach1M walks every message with queue.each, reading the id, the
// sender and the domains of each (target: 150,000 messages/s or more).
func BenchmarkEach1M(b *testing.B) {
	q := benchQueue(b)
	code := `
		local n, doms, bounces = 0, 0, 0
		for m in queue.each() do
			local id, sender = m.id, m.sender
			if sender == "<>" then bounces = bounces + 1 end
			for _, d in ipairs(m.domains) do
				if d.name ~= "" then doms = doms + 1 end
			end
			n = n + 1
		end
		assert(n == 1000000, "walked " .. n)
	`
	b.ResetTimer()
	start := time.Now()
	runBench(b, q, code)
	b.ReportMetric(float64(benchN*b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkEach1MGo is the same walk in Go with Tx.Each, for comparison: what
// the Lua layer costs on top of the engine.
func BenchmarkEach1MGo(b *testing.B) {
	q := benchQueue(b)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		n, doms := 0, 0
		err := q.View(context.Background(), func(tx *queue.Tx) error {
			return tx.Each(queue.Filter{}, func(m *queue.Message) error {
				_, _ = m.ID.String(), m.ReturnPath
				doms += len(m.Domains)
				n++
				return nil
			})
		})
		if err != nil || n != benchN {
			b.Fatalf("walked %d: %v", n, err)
		}
	}
	b.ReportMetric(float64(benchN*b.N)/time.Since(start).Seconds(), "msgs/s")
}

// retryPolicy picks the first 100,000 messages with gmail.com pending and
// reschedules that domain; spread = true spreads them over 30 minutes as
// reschedule-domain does (one retry call per second of the window), false
// retries them all in one call.
const retryPolicy = `
	local spread = ...
	local ids = {}
	for m in queue.each { domain = "gmail.com" } do
		for _, d in ipairs(m.domains) do
			if d.name == "gmail.com" and (d.status == "scheduled" or d.status == "tempfail") then
				ids[#ids + 1] = m.id
				break
			end
		end
		if #ids == 100000 then break end
	end
	assert(#ids == 100000, "found " .. #ids)
	local start = time.now() + 3600
	local n
	if spread == "spread" then
		n = require("lib.spread").retry(ids, start, 1800, "gmail.com")
	else
		n = queue.retry(ids, { at = start, domain = "gmail.com" })
	end
	assert(n == 100000, "retried " .. n)
`

func benchRetry(b *testing.B, mode string) {
	q := benchQueue(b)
	b.ResetTimer()
	var rep Report
	for i := 0; i < b.N; i++ {
		var err error
		rep, err = Run(context.Background(), q, Options{Name: "bench.lua", Code: retryPolicy, Args: []string{mode}, Now: benchClock, Timeout: -1})
		if err != nil {
			b.Fatal(err)
		}
	}
	if rep.Retried != 100000 {
		b.Fatalf("retried %d", rep.Retried)
	}
}

// BenchmarkRetry100kSpread: a policy that finds 100,000 messages and spreads
// their retries over 30 minutes, committed (target: under 5 s).
func BenchmarkRetry100kSpread(b *testing.B) { benchRetry(b, "spread") }

// BenchmarkRetry100kOneCall: the same 100,000 messages retried in one call.
func BenchmarkRetry100kOneCall(b *testing.B) { benchRetry(b, "one") }
