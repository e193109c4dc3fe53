package queue

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The audit log's trim, on a queue with 200,000 single-message enqueue rows
// recorded at benchNow (an SMTP server's few days), built for each run:
//
//	go test -run '^$' -bench AuditTrim -benchtime 50x ./queue/
//
// None: a write transaction alone, to compare with. Off: the look of every
// audited write with no audit retention (the
// default). Idle: a retention set, nothing older. Lazy: a retention set and
// every row older, the write's purge trimming lazyHistoryChunk rows at most
// once a minute. Chunk: one transaction of serve's Housekeep, trimming up
// to historyChunk rows: how long it holds the write lock.

func auditTrimQueue(b *testing.B, now time.Time, retention time.Duration) *Queue {
	b.Helper()
	path := filepath.Join(b.TempDir(), "audit.db")
	clock := benchNow
	q, err := Open(path, Options{Now: func() time.Time { return clock }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close(); os.Remove(path) })
	err = q.Update(b.Context(), func(tx *Tx) error {
		if _, err := tx.tx.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
			INSERT INTO audit(seq, at, user, source, verb, filter, count, ids, unit) SELECT i, ?, 'mqsh', 'smtp', 'enqueue', '', 1, x'05', i FROM n`, benchNow.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.tx.Exec("INSERT INTO meta(key, value) VALUES(?, ?)", metaAuditRetention, int64(retention/time.Second))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	clock = now
	return q
}

func benchAuditTrim(b *testing.B, q *Queue, step func(tx *Tx) (int, error)) {
	deleted := 0
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		err := q.Update(b.Context(), func(tx *Tx) error {
			if err := aWrite(tx); err != nil {
				return err
			}
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

func lazyTrim(tx *Tx) (int, error) { n, _, err := tx.trimAudit(lazyHistoryChunk, true); return n, err }

func BenchmarkAuditTrimNone(b *testing.B) {
	benchAuditTrim(b, auditTrimQueue(b, benchNow.Add(400*24*time.Hour), 0), func(*Tx) (int, error) { return 0, nil })
}

func BenchmarkAuditTrimOff(b *testing.B) {
	benchAuditTrim(b, auditTrimQueue(b, benchNow.Add(400*24*time.Hour), 0), lazyTrim)
}

func BenchmarkAuditTrimIdle(b *testing.B) {
	benchAuditTrim(b, auditTrimQueue(b, benchNow.Add(24*time.Hour), 30*24*time.Hour), lazyTrim)
}

func BenchmarkAuditTrimLazy(b *testing.B) {
	benchAuditTrim(b, auditTrimQueue(b, benchNow.Add(31*24*time.Hour), 30*24*time.Hour), lazyTrim)
}

func BenchmarkAuditTrimChunk(b *testing.B) {
	benchAuditTrim(b, auditTrimQueue(b, benchNow.Add(31*24*time.Hour), 30*24*time.Hour), func(tx *Tx) (int, error) {
		n, _, err := tx.trimAudit(historyChunk, false)
		return n, err
	})
}

// DryRun: `queue audit trim --dry-run` of the 200,000 rows.
func BenchmarkAuditTrimDryRun(b *testing.B) {
	q := auditTrimQueue(b, benchNow.Add(31*24*time.Hour), 0)
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		res, err := q.AuditTrim(b.Context(), AuditTrimRequest{Before: benchNow.Add(time.Hour), DryRun: true})
		if err != nil || res.Count != 200_000 {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N)*1e6, "cpu-µs/op")
}
