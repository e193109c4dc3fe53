package pgqueue

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// Housekeeping, as the SQLite engine does it (queue/housekeep.go): the
// trash retention bounds the trash, the records undo needs (undo_domains,
// undo_recipients, hold_undo) and the attempts history of messages gone
// longer than the retention. Every audited write purges the expired trash
// and undo records, and once a minute looks at a small chunk of the
// history (and, with an audit retention set, trims the audit log: see
// audit_trim.go); `mqsh serve` calls Housekeep every minute. Several nodes may
// share the database: the history is looked at by one node at a time (a
// transaction-level advisory lock, tried, never waited for), so that two
// nodes never do the same work or queue up behind each other on the meta
// rows that keep the purge's place.

var _ queue.Housekeeper = (*Queue)(nil)

const (
	// lazyHistoryChunk is the most attempts rows the purge of an audited
	// write looks at.
	lazyHistoryChunk = 256
	// historyChunk is the most attempts rows one transaction of Housekeep
	// looks at.
	historyChunk = 2000
	// housekeepRounds is the most transactions one Housekeep call runs.
	housekeepRounds = 20
	// lazyHistoryEvery is how often audited writes look at the history.
	lazyHistoryEvery = time.Minute
)

// Meta keys: the attempts seq the history purge has looked at so far, and
// when (unix milliseconds) an audited write last looked at the history.
const (
	metaHistoryCursor   = "history_purged_to"
	metaHistoryPurgedAt = "history_purged_at"
)

// housekeepLockKey is the advisory lock (per database) that one node holds
// while it looks at the attempts history.
const housekeepLockKey int64 = 0x6d717368_686b7031 // "mqshhkp1"

// Housekeep purges, in small transactions, the expired trash and undo
// records and the attempts history of messages gone longer than the
// retention, until the history has no expired rows left to look at or
// housekeepRounds transactions, and the audit rows older than the audit
// retention; it says how many attempts and audit rows it deleted. While
// another node does the same, it leaves the history to it.
func (q *Queue) Housekeep(ctx context.Context) (queue.HousekeepResult, error) {
	var total queue.HousekeepResult
	for range housekeepRounds {
		var n queue.HousekeepResult
		var more bool
		err := q.update(ctx, false, func(tx *Tx) error {
			if err := tx.needWrite("housekeeping"); err != nil {
				return err
			}
			var err error
			n, more, err = tx.housekeep(tx.tx, historyChunk, false)
			return tx.verbError("housekeeping", err)
		})
		if err != nil {
			return total, err
		}
		total.Attempts += n.Attempts
		total.AuditRows += n.AuditRows
		if !more {
			break
		}
	}
	return total, nil
}

// lazyHousekeep is the purge of an audited write: the expired trash and
// undo records, and the history's part at most once per lazyHistoryEvery.
func (tx *Tx) lazyHousekeep(db pgx.Tx) error {
	_, _, err := tx.housekeep(db, lazyHistoryChunk, true)
	return err
}

// houseState is what housekeeping looks at first, in one round trip: the
// retention, the first audit seq within it (limit), the lowest seq of
// trash_messages, undo_domains, undo_recipients and hold_undo, the history
// cursor, the time of the first attempts row after it (-1: none), and the
// audit retention in seconds (0: off).
type houseState struct {
	ret          time.Duration
	limit        int64
	low          [4]*int64
	cursor, next int64
	auditSecs    int64
}

func (tx *Tx) houseState(db pgx.Tx) (houseState, error) {
	var st houseState
	var secs int64
	err := db.QueryRow(tx.ctx, `WITH r AS (SELECT coalesce((SELECT value FROM meta WHERE key = $1), $2) AS secs),
		c AS (SELECT coalesce((SELECT value FROM meta WHERE key = $3), 0) AS seq)
		SELECT r.secs, coalesce((SELECT min(seq) FROM audit WHERE at >= $4 - r.secs * 1000), $5),
		(SELECT min(trash_seq) FROM trash_messages), (SELECT min(seq) FROM undo_domains),
		(SELECT min(seq) FROM undo_recipients), (SELECT min(seq) FROM hold_undo),
		c.seq, coalesce((SELECT a.at FROM attempts a WHERE a.seq > c.seq ORDER BY a.seq LIMIT 1), -1),
		coalesce((SELECT value FROM meta WHERE key = $6), 0)
		FROM r, c`, metaTrashRetention, int64(queue.DefaultTrashRetention/time.Second), metaHistoryCursor, tx.q.now().UnixMilli(), int64(1)<<62, metaAuditRetention).
		Scan(&secs, &st.limit, &st.low[0], &st.low[1], &st.low[2], &st.low[3], &st.cursor, &st.next, &st.auditSecs)
	st.ret = time.Duration(secs) * time.Second
	return st, err
}

// housekeep purges the expired trash and undo records, and deletes the
// expired attempts of up to chunk rows of the history looked at and up to
// about chunk audit rows older than the audit retention, when this node
// holds the housekeeping lock. more says the history or the audit log may
// have expired rows beyond those. Nothing due costs one round trip (and one
// indexed look with an audit retention set).
func (tx *Tx) housekeep(db pgx.Tx, chunk int, lazy bool) (deleted queue.HousekeepResult, more bool, err error) {
	st, err := tx.houseState(db)
	if err != nil {
		return deleted, false, err
	}
	if err := tx.dropExpired(db, st); err != nil {
		return deleted, false, err
	}
	if deleted.Attempts, more, err = tx.purgeHistory(db, st, chunk, lazy); err != nil {
		return queue.HousekeepResult{}, false, err
	}
	audit, moreAudit, err := tx.trimAudit(db, st, chunk, lazy)
	if err != nil {
		return queue.HousekeepResult{}, false, err
	}
	deleted.AuditRows = audit
	return deleted, more || moreAudit, nil
}

// metaValue reads a meta value, 0 when unset.
func (tx *Tx) metaValue(db pgx.Tx, key string) (int64, error) {
	var v int64
	err := db.QueryRow(tx.ctx, "SELECT value FROM meta WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func (tx *Tx) setMeta(db pgx.Tx, key string, v int64) error {
	_, err := db.Exec(tx.ctx, "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, v)
	return err
}

// lookDue says whether a lazy purge may look now, at most once per
// lazyHistoryEvery since the time kept under the meta key, and notes that
// it does.
func (tx *Tx) lookDue(db pgx.Tx, key string, now time.Time) (bool, error) {
	last, err := tx.metaValue(db, key)
	if err != nil {
		return false, err
	}
	if ms := now.UnixMilli(); last != 0 && last <= ms && ms-last < lazyHistoryEvery.Milliseconds() {
		return false, nil
	}
	return true, tx.setMeta(db, key, now.UnixMilli())
}

// purgeHistory deletes the attempts rows of messages gone for longer than
// st.ret: neither queued nor in the trash, and with no attempt within it (a
// message's history goes whole, never half). It looks at the next chunk
// rows after the cursor kept in meta, oldest first, and moves the cursor
// on; when the next row is within the retention it starts again from the
// oldest. Nothing due costs nothing beyond st and writes nothing. Rows due
// are looked at only by the node that gets the housekeeping lock, and with
// lazy at most once per lazyHistoryEvery.
func (tx *Tx) purgeHistory(db pgx.Tx, st houseState, chunk int, lazy bool) (deleted int, more bool, err error) {
	now := tx.q.now()
	cutoff := now.Add(-st.ret).UnixMilli()
	cursor := st.cursor
	if st.next < 0 || st.next >= cutoff { // the end, or rows within the retention
		if cursor == 0 {
			return 0, false, nil
		}
		if ok, err := tx.housekeepLock(db); !ok || err != nil {
			return 0, false, err
		}
		return 0, false, tx.setMeta(db, metaHistoryCursor, 0) // start again
	}
	if ok, err := tx.housekeepLock(db); !ok || err != nil {
		return 0, false, err
	}
	if lazy {
		if ok, err := tx.lookDue(db, metaHistoryPurgedAt, now); !ok || err != nil {
			return 0, false, err
		}
	}
	// The cursor again, now under the lock: another node may have moved it.
	if cursor, err = tx.metaValue(db, metaHistoryCursor); err != nil {
		return 0, false, err
	}
	var last *int64
	var n int
	if err := db.QueryRow(tx.ctx, "SELECT max(seq), count(*) FROM (SELECT seq FROM attempts WHERE seq > $1 ORDER BY seq LIMIT $2) s", cursor, chunk).Scan(&last, &n); err != nil {
		return 0, false, err
	}
	if last == nil {
		return 0, false, tx.setMeta(db, metaHistoryCursor, 0)
	}
	tag, err := db.Exec(tx.ctx, `DELETE FROM attempts a WHERE a.seq > $1 AND a.seq <= $2 AND a.at < $3
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.msg_id)
		AND NOT EXISTS (SELECT 1 FROM trash_messages t WHERE t.id = a.msg_id)
		AND NOT EXISTS (SELECT 1 FROM attempts b WHERE b.msg_id = a.msg_id AND b.at >= $3)`, cursor, *last, cutoff)
	if err != nil {
		return 0, false, err
	}
	more = n == chunk
	next := *last
	if !more {
		next = 0
	}
	return int(tag.RowsAffected()), more, tx.setMeta(db, metaHistoryCursor, next)
}

// housekeepLock takes the housekeeping lock for the rest of the
// transaction if no other node holds it, and says whether it did.
func (tx *Tx) housekeepLock(db pgx.Tx) (bool, error) {
	var ok bool
	err := db.QueryRow(tx.ctx, "SELECT pg_try_advisory_xact_lock($1)", housekeepLockKey).Scan(&ok)
	return ok, err
}

// purgeAllHistory deletes the whole expired attempts history, from the
// oldest row: `queue trash purge`, asked for by hand. It waits for the
// housekeeping lock of another node.
func (tx *Tx) purgeAllHistory(db pgx.Tx) error {
	if _, err := db.Exec(tx.ctx, "SELECT pg_advisory_xact_lock($1)", housekeepLockKey); err != nil {
		return err
	}
	if err := tx.setMeta(db, metaHistoryCursor, 0); err != nil {
		return err
	}
	for more := true; more; {
		st, err := tx.houseState(db)
		if err != nil {
			return err
		}
		if _, more, err = tx.purgeHistory(db, st, historyChunk, false); err != nil {
			return err
		}
	}
	return nil
}
