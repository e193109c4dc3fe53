package pgqueue

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// Trimming the audit log, as the SQLite engine does it (queue/audit_trim.go):
// `queue audit trim` deletes the rows older than a time in one transaction
// with its own audit-trim row, and the audit retention (off by default) has
// the housekeeping trim in small steps. What the trash and undo still need,
// a unit's rows and the newest row stay. A row is deleted only when it was recorded before
// the time asked for, so that a change another node commits meanwhile, with
// a seq taken earlier, is never taken with them. Trims hold the
// housekeeping lock: one node trims at a time.

var _ queue.AuditTrimmer = (*Queue)(nil)

// Meta keys: the audit retention in seconds (absent or 0 = keep every row),
// and when (unix milliseconds) an audited write last trimmed the log.
const (
	metaAuditRetention = "audit_retention"
	metaAuditTrimmedAt = "audit_trimmed_at"
)

// AuditTrim deletes the audit rows recorded before r.Before in one
// transaction, recorded by its own row ("audit-trim").
func (q *Queue) AuditTrim(ctx context.Context, r queue.AuditTrimRequest) (queue.AuditTrimResult, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.AuditTrimResult, error) { return tx.AuditTrim(r) })
}

// AuditTrim is AuditTrim inside a unit of work. A trim that finds nothing
// to delete writes nothing.
func (tx *Tx) AuditTrim(r queue.AuditTrimRequest) (queue.AuditTrimResult, error) {
	res := queue.AuditTrimResult{DryRun: r.DryRun || tx.dry}
	if err := tx.needWrite("audit trim"); err != nil {
		return res, err
	}
	if err := queue.CheckAuditTrim(r); err != nil {
		return res, err
	}
	err := tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		if _, err := db.Exec(tx.ctx, "SELECT pg_advisory_xact_lock($1)", housekeepLockKey); err != nil {
			return err
		}
		ret, err := tx.trashRetention(db)
		if err != nil {
			return err
		}
		if err := tx.purgeExpired(db, ret); err != nil { // expired undo records hold nothing back
			return err
		}
		limit, kept, err := tx.auditTrimLimit(db, r.Before, 1<<62)
		if err != nil {
			return err
		}
		cut, err := tx.wholeUnits(db, limit)
		if err != nil {
			return err
		}
		if cut < limit && kept != 0 {
			kept = cut
		}
		limit = cut
		res.KeptFrom = kept
		n, last, lastAt, err := tx.deleteAudit(db, 0, limit, r.Before, res.DryRun)
		res.Count, res.Last, res.LastAt = n, last, lastAt
		if err != nil || n == 0 || res.DryRun {
			return err
		}
		return tx.audit(db, "audit-trim", queue.AuditTrimText(n, last, lastAt, r.Before), nil)
	})
	if err != nil {
		return queue.AuditTrimResult{DryRun: res.DryRun}, tx.verbError("audit trim", err)
	}
	return res, nil
}

// auditTrimLimit returns the seq before which audit rows recorded before
// `before` may go: not ceiling nor the rows of the unit of work in
// progress, not what undo still reads (kept: the first
// change kept for it, when that holds the trim back), not inside the unit
// of the row at the limit. Units interleaved with it are wholeUnits' care.
func (tx *Tx) auditTrimLimit(db pgx.Tx, before time.Time, ceiling int64) (limit, kept int64, err error) {
	var first *int64
	if err := db.QueryRow(tx.ctx, "SELECT min(seq) FROM audit WHERE at >= $1", before.UnixMilli()).Scan(&first); err != nil {
		return 0, 0, err
	}
	limit = ceiling
	if first != nil && *first < limit {
		limit = *first
	}
	if tx.unit > 0 && tx.unit < limit { // the rows of this unit of work stay
		limit = tx.unit
	}
	undo, err := tx.undoKeepsFrom(db, limit)
	if err != nil {
		return 0, 0, err
	}
	if undo != 0 && undo < limit {
		limit, kept = undo, undo
	}
	unit, err := tx.unitOf(db, limit)
	if err != nil {
		return 0, 0, err
	}
	if unit < limit {
		limit = unit
		if kept != 0 {
			kept = unit
		}
	}
	return limit, kept, nil
}

// wholeUnits returns the highest seq, at most limit, that no unit has rows
// on both sides of: the rows before it are whole units. On PostgreSQL the
// units of transactions that run side by side interleave (each takes its
// seqs from the sequence as it goes, and commits later), so the unit of the
// row at limit (unitOf) is not enough: a unit begun before it may have rows
// after it, and lowering the limit to that unit's first row may split
// another. Each look is planned for its limit (QueryExecModeExec), so
// that it reads the shorter side: the rows of the units begun before limit
// (a chunk's, for the housekeeping) or the rows from limit on (a trim by
// hand).
func (tx *Tx) wholeUnits(db pgx.Tx, limit int64) (int64, error) {
	for {
		var u *int64
		if err := db.QueryRow(tx.ctx, "SELECT min(unit) FROM audit WHERE unit < $1 AND seq >= $1", pgx.QueryExecModeExec, limit).Scan(&u); err != nil {
			return 0, err
		}
		if u == nil || *u >= limit {
			return limit, nil
		}
		limit = *u
	}
}

// unitOf returns the first seq of the unit of the row seq, or seq when no
// such row is recorded.
func (tx *Tx) unitOf(db pgx.Tx, seq int64) (int64, error) {
	var unit int64
	err := db.QueryRow(tx.ctx, "SELECT coalesce(unit, seq) FROM audit WHERE seq = $1", seq).Scan(&unit)
	if errors.Is(err, pgx.ErrNoRows) {
		return seq, nil
	}
	return unit, err
}

// undoKeepsFrom returns the first seq of the oldest unit, before limit,
// whose rows must stay, or 0 when there is none: one whose messages the
// trash still holds (kept for the trash retention, which is counted from
// the audit rows: even a cancel undone in part), or one undo may still take
// back (it has records filed under one of its seqs and is not undone).
func (tx *Tx) undoKeepsFrom(db pgx.Tx, limit int64) (int64, error) {
	var trashed *int64
	if err := db.QueryRow(tx.ctx, "SELECT min(trash_seq) FROM trash_messages").Scan(&trashed); err != nil {
		return 0, err
	}
	keep := int64(0)
	if trashed != nil && *trashed < limit {
		var err error
		if keep, err = tx.unitOf(db, *trashed); err != nil {
			return 0, err
		}
		limit = keep
	}
	undo, err := tx.undoRecordsFrom(db, limit)
	if err != nil || undo != 0 {
		return undo, err
	}
	return keep, nil
}

// undoRecordsFrom is the oldest unit before limit with undo records, not
// undone (see undoKeepsFrom), or 0.
func (tx *Tx) undoRecordsFrom(db pgx.Tx, limit int64) (int64, error) {
	after := int64(0)
	for range 64 {
		var next *int64
		if err := db.QueryRow(tx.ctx, `SELECT least((SELECT min(seq) FROM undo_domains WHERE seq > $1),
			(SELECT min(seq) FROM undo_recipients WHERE seq > $1), (SELECT min(seq) FROM hold_undo WHERE seq > $1))`, after).Scan(&next); err != nil {
			return 0, err
		}
		if next == nil || *next >= limit {
			return 0, nil
		}
		unit, err := tx.unitOf(db, *next)
		if err != nil {
			return 0, err
		}
		var undone bool
		if err := db.QueryRow(tx.ctx, "SELECT EXISTS (SELECT 1 FROM audit WHERE undoes = $1)", unit).Scan(&undone); err != nil {
			return 0, err
		}
		if !undone {
			return unit, nil
		}
		// The whole unit is undone: look on after its last row.
		var end *int64
		if err := db.QueryRow(tx.ctx, "SELECT max(seq) FROM audit WHERE unit = $1 OR seq = $1", unit).Scan(&end); err != nil {
			return 0, err
		}
		after = *next
		if end != nil && *end > after {
			after = *end
		}
	}
	return tx.unitOf(db, after+1)
}

// deleteAudit deletes the audit rows before limit recorded before `before`,
// and says how many, and the newest of them; with dry, it counts them. A
// row goes only with its whole unit: limit leaves no committed unit split
// (wholeUnits), but a script run that commits after it was chosen and
// before this statement (READ COMMITTED shows it here) may have rows on
// both sides of it, or rows recorded since, and then stays whole. One
// statement, so that what is counted is what is deleted.
func (tx *Tx) deleteAudit(db pgx.Tx, from, limit int64, before time.Time, dry bool) (n int, last int64, lastAt time.Time, err error) {
	if beforeAuditDelete != nil {
		beforeAuditDelete()
	}
	// The newest row's time: the greatest [seq, at] (arrays compare
	// element by element), without sorting the rows.
	const said = "SELECT count(*), coalesce(max(seq), 0), coalesce((max(ARRAY[seq, at]))[2], 0) FROM "
	q := said + "audit a WHERE " + trimmable
	if !dry {
		q = "WITH d AS (DELETE FROM audit a WHERE " + trimmable + " RETURNING seq, at) " + said + "d"
	}
	var at int64
	err = db.QueryRow(tx.ctx, q, pgx.QueryExecModeExec, limit, before.UnixMilli(), from).Scan(&n, &last, &at)
	if err != nil || n == 0 {
		return 0, 0, time.Time{}, err
	}
	return n, last, time.UnixMilli(at).UTC(), nil
}

// trimmable is the condition on an audit row a that deleteAudit deletes by
// (parameters: the limit, the time in unix milliseconds, the oldest row or
// 0, so that the scan does not wade through the index entries of rows
// deleted earlier and not yet vacuumed).
const trimmable = `a.seq >= $3 AND a.seq < $1 AND a.at < $2 AND coalesce(a.unit, a.seq) NOT IN
	(SELECT k.unit FROM audit k WHERE k.unit < $1 AND (k.seq >= $1 OR k.at >= $2))`

// beforeAuditDelete, when set (by tests), runs in deleteAudit before it
// looks at the rows.
var beforeAuditDelete func()

// AuditRetention returns how long the housekeeping keeps audit rows (0 =
// for ever, the default).
func (q *Queue) AuditRetention(ctx context.Context) (time.Duration, error) {
	secs, err := read(q, ctx, func(tx *Tx) (int64, error) { return tx.metaValue(tx.tx, metaAuditRetention) })
	if err != nil {
		return 0, q.dbError("audit retention", err)
	}
	return time.Duration(secs) * time.Second, nil
}

// SetAuditRetention sets how long the housekeeping keeps audit rows, for
// every process using the queue, in whole seconds; 0 keeps them all. The
// change is audited ("audit-retention").
func (q *Queue) SetAuditRetention(ctx context.Context, d time.Duration) error {
	secs, err := queue.CheckAuditRetention(d)
	if err != nil {
		return err
	}
	return q.update(ctx, false, func(tx *Tx) error {
		if err := tx.needWrite("audit retention"); err != nil {
			return err
		}
		return tx.verbError("audit retention", tx.savepoint(false, func(db pgx.Tx) error {
			if err := tx.setMeta(db, metaAuditRetention, secs); err != nil {
				return err
			}
			return tx.audit(db, "audit-retention", queue.AuditRetentionText(secs), nil)
		}))
	})
}

// trimAudit deletes up to about chunk audit rows (lazyHistoryChunk for an
// audited write, historyChunk for a transaction of Housekeep) older than the audit
// retention (a unit goes whole), oldest first, when this node holds the
// housekeeping lock; more says older rows may be left. With lazy, it trims
// at most once per lazyHistoryEvery. Off, or nothing due, costs nothing
// beyond st and one indexed look.
func (tx *Tx) trimAudit(db pgx.Tx, st houseState, chunk int, lazy bool) (deleted int, more bool, err error) {
	if st.auditSecs <= 0 {
		return 0, false, nil
	}
	now := tx.q.now()
	before := now.Add(-time.Duration(st.auditSecs) * time.Second)
	var oldest, at int64
	err = db.QueryRow(tx.ctx, "SELECT seq, at FROM audit ORDER BY seq LIMIT 1").Scan(&oldest, &at)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && at >= before.UnixMilli() {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if ok, err := tx.housekeepLock(db); !ok || err != nil {
		return 0, false, err
	}
	if lazy {
		if ok, err := tx.lookDue(db, metaAuditTrimmedAt, now); !ok || err != nil {
			return 0, false, err
		}
	}
	var newest int64
	if err := db.QueryRow(tx.ctx, "SELECT max(seq) FROM audit").Scan(&newest); err != nil {
		return 0, false, err
	}
	limit, _, err := tx.auditTrimLimit(db, before, newest)
	if err != nil {
		return 0, false, err
	}
	// The chunk ends at a unit's first row; a unit bigger than a chunk goes
	// whole.
	chunkEnd := limit
	var u int64
	err = db.QueryRow(tx.ctx, "SELECT coalesce(unit, seq) FROM audit WHERE seq < $1 ORDER BY seq OFFSET $2 LIMIT 1", limit, chunk).Scan(&u)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return 0, false, err
	default:
		more = true
		end := u
		if end <= oldest {
			if err := db.QueryRow(tx.ctx, "SELECT max(seq) + 1 FROM audit WHERE unit = $1 OR seq = $1", u).Scan(&end); err != nil {
				return 0, false, err
			}
		}
		chunkEnd = min(end, limit)
	}
	cut, err := tx.wholeUnits(db, chunkEnd)
	if err != nil {
		return 0, false, err
	}
	if cut <= oldest && chunkEnd < limit {
		// The first units interleave with rows past the chunk: they go
		// together, or stay while one of them must.
		if cut, err = tx.wholeUnits(db, limit); err != nil {
			return 0, false, err
		}
	}
	n, _, _, err := tx.deleteAudit(db, oldest, cut, before, false)
	return n, more && n > 0, err
}
