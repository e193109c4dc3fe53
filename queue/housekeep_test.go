package queue

import (
	"fmt"
	"testing"
	"time"
)

// rows counts a table's rows, or those matching where.
func rows(t testing.TB, q *Queue, table, where string, args ...any) int {
	t.Helper()
	var n int
	if where != "" {
		table += " WHERE " + where
	}
	if err := q.reader.QueryRow("SELECT count(*) FROM "+table, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// addAttempts records n delivery attempts of each message at the queue's
// clock, as delivery writes them.
func addAttempts(t testing.TB, q *Queue, n int, ids ...ID) {
	t.Helper()
	err := q.Update(t.Context(), func(tx *Tx) error {
		for _, id := range ids {
			for i := range n {
				if _, err := tx.tx.Exec("INSERT INTO attempts(msg_id, domain, at, host, reply) VALUES(?, 'gmail.com', ?, 'mx.gmail.com[192.0.2.1]:25', ?)",
					int64(id), tx.q.now().UnixMilli(), fmt.Sprintf("451 4.7.1 try %d", i)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const day = 24 * time.Hour

// The records undo needs (retry's due times, a hold's previous holds) are
// kept for the trash retention and deleted by the first write after it
// (what undo then says: enginetest's UndoRecordsExpire).
func TestUndoRecordsPurgedWithRetention(t *testing.T) {
	q, c, all := trashQueue(t, 4)
	if _, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: all[:1]}, At: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	retrySeq := lastAuditSeq(t, q)
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: all[1:2]}}); err != nil {
		t.Fatal(err)
	}
	holdSeq := lastAuditSeq(t, q)
	if rows(t, q, "undo_domains", "seq = ?", retrySeq) == 0 || rows(t, q, "hold_undo", "seq = ?", holdSeq) == 0 {
		t.Fatal("retry and hold kept nothing for undo")
	}

	// Six days later a write keeps them.
	c.Set(testNow.Add(6 * day))
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: all[2:3]}}); err != nil {
		t.Fatal(err)
	}
	if rows(t, q, "undo_domains", "seq = ?", retrySeq) == 0 || rows(t, q, "hold_undo", "seq = ?", holdSeq) == 0 {
		t.Fatal("undo records purged within the retention")
	}

	// Eight days later the first write deletes them, not the later hold's.
	c.Set(testNow.Add(8 * day))
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: all[3:4]}}); err != nil {
		t.Fatal(err)
	}
	if n, m := rows(t, q, "undo_domains", "seq < ?", holdSeq+1), rows(t, q, "hold_undo", "seq <= ?", holdSeq); n != 0 || m != 0 {
		t.Errorf("after the retention %d undo_domains and %d hold_undo rows are left", n, m)
	}
	if rows(t, q, "hold_undo", "seq > ?", holdSeq) == 0 {
		t.Error("the purge deleted the undo records of changes within the retention")
	}
}

// No write pays much at once: the lazy purge of an audited write looks at
// a bounded number of attempts rows; serve's housekeeping and `queue trash
// purge` take the rest.
func TestHistoryPurgeIsBounded(t *testing.T) {
	q, c, all := trashQueue(t, 2)
	const n = 5000
	gone := make([]ID, n)
	for i := range gone {
		gone[i] = all[1] + ID(1000+i)
	}
	addAttempts(t, q, 1, gone...)
	c.Set(testNow.Add(8 * day))
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, q, "attempts", ""); got != n-lazyHistoryChunk {
		t.Fatalf("after one audited write %d attempts rows are left, want %d", got, n-lazyHistoryChunk)
	}
	// The next write within the minute leaves the history alone; one a
	// minute later looks at the next rows.
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: all[1:]}}); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, q, "attempts", ""); got != n-lazyHistoryChunk {
		t.Fatalf("a second write within the minute purged: %d rows left", got)
	}
	c.Set(testNow.Add(8*day + lazyHistoryEvery))
	if _, err := q.ReleaseHold(t.Context(), ReleaseRequest{Filter: Filter{IDs: all[1:]}}); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, q, "attempts", ""); got != n-2*lazyHistoryChunk {
		t.Fatalf("a write a minute later left %d rows, want %d", got, n-2*lazyHistoryChunk)
	}
	var one HousekeepResult
	var more bool
	err := q.Update(t.Context(), func(tx *Tx) (err error) { one, more, err = tx.housekeep(historyChunk); return })
	if err != nil || one.Attempts != historyChunk || !more {
		t.Fatalf("one housekeeping transaction deleted %d (more %v, %v), want %d", one, more, err, historyChunk)
	}
	if _, err := q.TrashPurge(t.Context(), TrashRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, q, "attempts", ""); got != 0 {
		t.Errorf("queue trash purge left %d expired attempts rows", got)
	}
}

// Serve's housekeeping goes through a long history in several bounded
// transactions, and starts again from the oldest row.
func TestHousekeepGoesRound(t *testing.T) {
	q, c, all := trashQueue(t, 1)
	addAttempts(t, q, 3*historyChunk, all[0]) // a queued message's long history
	gone := make([]ID, historyChunk+10)
	for i := range gone {
		gone[i] = all[0] + ID(1000+i)
	}
	addAttempts(t, q, 1, gone...)
	c.Set(testNow.Add(8 * day))
	n, err := q.Housekeep(t.Context())
	if err != nil || n.Attempts != len(gone) {
		t.Fatalf("housekeeping deleted %+v (%v), want %d attempts", n, err, len(gone))
	}
	if got := rows(t, q, "attempts", ""); got != 3*historyChunk {
		t.Errorf("%d attempts rows left, want the queued message's %d", got, 3*historyChunk)
	}
	addAttempts(t, q, 1, all[0]+ID(5000)) // an attempt now, and one gone long ago
	c.Set(testNow.Add(16 * day))
	if n, err := q.Housekeep(t.Context()); err != nil || n.Attempts != 1 {
		t.Errorf("a second round deleted %+v (%v), want 1 attempt", n, err)
	}
}
