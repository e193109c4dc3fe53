package queue

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"
)

// Housekeeping: a queue that serves for months does not grow without bound.
// The trash retention (queue trash retention, 7 days by default) bounds
// three things: the trash, the records undo needs (older changes cannot be
// undone), and the attempts history of messages that are gone (delivered,
// failed, or cancelled and purged), which `queue explain` reads. Every
// audited write runs a lazy purge (housekeep), cheap when nothing is due and
// bounded when something is; `mqsh serve` runs it regularly too
// (Housekeeper), since delivery alone writes no audit row. The audit log
// is the administrators' record: it is kept whole unless an audit retention
// is set (audit_trim.go), and then trimmed here too, in the same bounded
// steps.

const (
	// lazyHistoryChunk is the most attempts rows the lazy purge of an
	// audited write looks at, and about the most audit rows it trims (a
	// script run's rows go whole): no write pays much at once.
	lazyHistoryChunk = 256
	// historyChunk is the most attempts rows one housekeeping transaction
	// of serve, or `queue trash purge`, looks at, and about the most audit
	// rows one of serve's trims.
	historyChunk = 2000
	// housekeepRounds is the most transactions one Housekeep call runs.
	housekeepRounds = 20
)

// metaHistoryCursor is the meta key of the attempts seq the history purge
// has looked at so far: each purge goes on from there, and starts again
// from the oldest row once it has reached rows within the retention.
const metaHistoryCursor = "history_purged_to"

// metaHistoryPurgedAt is the meta key of when (unix milliseconds) the lazy
// purge of an audited write last looked at the history.
const metaHistoryPurgedAt = "history_purged_at"

// lazyHistoryEvery is how often audited writes look at the history.
const lazyHistoryEvery = time.Minute

// Housekeeper is implemented by a queue engine that purges what its
// retention no longer keeps (the SQLite and PostgreSQL engines). `mqsh
// serve` calls it regularly; callers find it by type assertion on their
// Backend.
type Housekeeper interface {
	// Housekeep purges, in a few small write transactions, the expired
	// trash, undo records and attempts history, and the audit rows older
	// than the audit retention when one is set; it says how many attempts
	// and audit rows it deleted.
	Housekeep(ctx context.Context) (HousekeepResult, error)
}

// HousekeepResult says what one Housekeep call deleted.
type HousekeepResult struct {
	Attempts  int // attempts rows of messages gone longer than the trash retention
	AuditRows int // audit rows older than the audit retention; 0 when it is off
}

var _ Housekeeper = (*Queue)(nil)

// Housekeep runs the purge in small transactions (each one bounded, so that
// delivery and ingest are not held up) until the attempts history and the
// audit log have no expired rows left to look at, or housekeepRounds
// transactions.
func (q *Queue) Housekeep(ctx context.Context) (HousekeepResult, error) {
	var total HousekeepResult
	for range housekeepRounds {
		var n HousekeepResult
		var more bool
		err := q.Update(ctx, func(tx *Tx) (err error) { n, more, err = tx.housekeep(historyChunk); return })
		if err != nil {
			return total, q.fileError("housekeeping", err)
		}
		total.Attempts += n.Attempts
		total.AuditRows += n.AuditRows
		if !more {
			break
		}
	}
	return total, nil
}

// housekeep is the lazy purge: the expired trash and undo records, and up
// to chunk rows of the attempts history looked at, and up to about chunk
// audit rows older than the audit retention. more says the history or the
// audit log may have expired rows beyond those.
func (tx *Tx) housekeep(chunk int) (deleted HousekeepResult, more bool, err error) {
	ret, err := tx.trashRetention()
	if err != nil {
		return deleted, false, err
	}
	if err := tx.purgeExpired(ret); err != nil {
		return deleted, false, err
	}
	if deleted.Attempts, more, err = tx.purgeHistory(ret, chunk, false); err != nil {
		return HousekeepResult{}, false, err
	}
	audit, moreAudit, err := tx.trimAudit(chunk, false)
	if err != nil {
		return HousekeepResult{}, false, err
	}
	deleted.AuditRows = audit
	return deleted, more || moreAudit, nil
}

// lazyHousekeep is the purge of an audited write: housekeep, the history's
// and the audit log's parts at most once per lazyHistoryEvery (a write of a server taking mail
// in batches pays for it once a minute, not at every batch).
func (tx *Tx) lazyHousekeep() error {
	ret, err := tx.trashRetention()
	if err != nil {
		return err
	}
	if err := tx.purgeExpired(ret); err != nil {
		return err
	}
	if _, _, err = tx.purgeHistory(ret, lazyHistoryChunk, true); err != nil {
		return err
	}
	_, _, err = tx.trimAudit(lazyHistoryChunk, true)
	return err
}

// lookDue says whether a lazy purge may look now, at most once per
// lazyHistoryEvery since the time kept under the meta key, and notes that
// it does.
func (tx *Tx) lookDue(key string) (bool, error) {
	now := tx.q.now().UnixMilli()
	last, err := tx.metaValue(key)
	if err != nil {
		return false, err
	}
	if last != 0 && last <= now && now-last < lazyHistoryEvery.Milliseconds() {
		return false, nil
	}
	return true, tx.setMeta(key, now)
}

// purgeHistory deletes the attempts rows of messages gone for longer than
// ret: neither queued nor in the trash, and with no attempt within ret (a
// message's history goes whole, never half). It looks at the next chunk
// rows after the cursor kept in meta, oldest first, and moves the cursor
// on; when the next row is within the retention it starts again from the
// oldest. Nothing due costs two indexed looks and writes nothing; with
// lazy, rows due are looked at at most once per lazyHistoryEvery.
func (tx *Tx) purgeHistory(ret time.Duration, chunk int, lazy bool) (deleted int, more bool, err error) {
	cutoff := tx.q.now().Add(-ret).UnixMilli()
	cursor, err := tx.metaValue(metaHistoryCursor)
	if err != nil {
		return 0, false, err
	}
	var at int64
	err = tx.tx.QueryRowContext(tx.ctx, "SELECT at FROM attempts WHERE seq > ? ORDER BY seq LIMIT 1", cursor).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) || err == nil && at >= cutoff {
		if cursor != 0 { // the end, or rows within the retention: start again
			return 0, false, tx.setMeta(metaHistoryCursor, 0)
		}
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if lazy {
		if ok, err := tx.lookDue(metaHistoryPurgedAt); !ok || err != nil {
			return 0, false, err
		}
	}
	var last int64
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT max(seq), count(*) FROM (SELECT seq FROM attempts WHERE seq > ? ORDER BY seq LIMIT ?)", cursor, chunk).Scan(&last, &n); err != nil {
		return 0, false, err
	}
	res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM attempts WHERE seq IN (SELECT a.seq FROM attempts a
		WHERE a.seq > ? AND a.seq <= ? AND a.at < ?
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.msg_id)
		AND NOT EXISTS (SELECT 1 FROM trash_messages t WHERE t.id = a.msg_id)
		AND NOT EXISTS (SELECT 1 FROM attempts b WHERE b.msg_id = a.msg_id AND b.at >= ?))`, cursor, last, cutoff, cutoff)
	if err != nil {
		return 0, false, err
	}
	d, err := res.RowsAffected()
	if err != nil {
		return 0, false, err
	}
	more = n == chunk
	if !more {
		last = 0
	}
	return int(d), more, tx.setMeta(metaHistoryCursor, last)
}

// purgeAllHistory deletes the whole expired attempts history at once, from
// the oldest row: `queue trash purge`, asked for by hand.
func (tx *Tx) purgeAllHistory() error {
	ret, err := tx.trashRetention()
	if err != nil {
		return err
	}
	if err := tx.setMeta(metaHistoryCursor, 0); err != nil {
		return err
	}
	for more := true; more; {
		if _, more, err = tx.purgeHistory(ret, historyChunk, false); err != nil {
			return err
		}
	}
	return nil
}

// formatRetention writes a retention as people give it: whole days as 7d,
// else as Go writes durations (36h0m0s).
func formatRetention(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}
