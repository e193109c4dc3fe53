package queue

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The lazy purge every audited write runs, on a queue of 1,000,000 messages
// with 1,000,000 attempts rows (half of them of messages gone), built once
// under the benchmark directory:
//
//	go test -run '^$' -bench Housekeep -benchtime 200x ./queue/
//
// None: a write transaction alone, without the purge, to compare with.
// Lazy: the purge of every audited write (the history looked at once a
// minute, the rest of the time not). Idle: a look at the history, nothing
// expired. Due: every gone message's history has expired; each look goes
// through lazyHistoryChunk rows and deletes the gone messages' half.

var (
	housekeepOnce sync.Once
	housekeepErr  error
	housekeepBase = filepath.Join(benchDir, "housekeep-1m.db")
)

func housekeepQueue(b *testing.B, now time.Time) *Queue {
	b.Helper()
	housekeepOnce.Do(func() {
		if _, err := os.Stat(housekeepBase); err == nil {
			return
		}
		if err := os.MkdirAll(benchDir, 0o755); err != nil {
			housekeepErr = err
			return
		}
		tmp := housekeepBase + ".tmp"
		os.Remove(tmp)
		q, err := Open(tmp, Options{Now: func() time.Time { return benchNow }})
		if err != nil {
			housekeepErr = err
			return
		}
		defer q.Close()
		at := benchNow.UnixMilli()
		housekeepErr = q.Update(b.Context(), func(tx *Tx) error {
			if _, err := tx.tx.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
				INSERT INTO messages(id, rp_lc, rp_domain, created, size, due) SELECT i, 'user' || (i % 5000) || '@example.com', 'example.com', ?, 1000 + i % 7000, ? FROM n`, benchNow.Unix(), benchNow.Unix()); err != nil {
				return err
			}
			// Attempts alternate between a queued message and a gone one.
			_, err := tx.tx.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
				INSERT INTO attempts(msg_id, domain, at, host, reply) SELECT CASE i % 2 WHEN 0 THEN i / 2 ELSE 2000000 + i END, 'gmail.com', ? + i, 'mx.gmail.com[192.0.2.1]:25', '451 4.7.1 try again later' FROM n`, at)
			return err
		})
		if housekeepErr == nil {
			q.Close()
			housekeepErr = os.Rename(tmp, housekeepBase)
		}
	})
	if housekeepErr != nil {
		b.Fatal(housekeepErr)
	}
	work := filepath.Join(benchDir, "housekeep-work.db")
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(work + s)
	}
	in, err := os.ReadFile(housekeepBase)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(work, in, 0o600); err != nil {
		b.Fatal(err)
	}
	q, err := Open(work, Options{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		q.Close()
		for _, s := range []string{"", "-wal", "-shm"} {
			os.Remove(work + s)
		}
	})
	return q
}

func benchHousekeep(b *testing.B, now time.Time, step func(tx *Tx) (int, error)) {
	q := housekeepQueue(b, now)
	deleted := 0
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		err := q.Update(b.Context(), func(tx *Tx) error {
			n, err := step(tx)
			deleted += n
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N)*1e6, "cpu-µs/op")
	b.ReportMetric(float64(deleted)/float64(b.N), "rows/op")
}

// aWrite is the least a write transaction does, to compare with.
func aWrite(tx *Tx) error {
	_, err := tx.tx.Exec("INSERT INTO meta(key, value) VALUES('bench', 1) ON CONFLICT(key) DO UPDATE SET value = value + 1")
	return err
}

func chunkStep(tx *Tx) (int, error) {
	if err := aWrite(tx); err != nil {
		return 0, err
	}
	n, _, err := tx.housekeep(lazyHistoryChunk)
	return n.Attempts, err
}

func BenchmarkHousekeepNone(b *testing.B) {
	benchHousekeep(b, benchNow.Add(24*time.Hour), func(tx *Tx) (int, error) { return 0, aWrite(tx) })
}

// Lazy: an audited write's purge, the history looked at once a minute.
func BenchmarkHousekeepLazy(b *testing.B) {
	benchHousekeep(b, benchNow.Add(8*24*time.Hour), func(tx *Tx) (int, error) {
		if err := aWrite(tx); err != nil {
			return 0, err
		}
		return 0, tx.lazyHousekeep()
	})
}
func BenchmarkHousekeepIdle(b *testing.B) { benchHousekeep(b, benchNow.Add(24*time.Hour), chunkStep) }
func BenchmarkHousekeepDue(b *testing.B)  { benchHousekeep(b, benchNow.Add(8*24*time.Hour), chunkStep) }
