package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Trimming the audit log: `queue audit trim` deletes the rows older than a
// time, in one transaction recorded by its own row (verb audit-trim), and an
// audit retention (`queue audit retention`, off by default: everything is
// kept) lets the housekeeping do it in small steps. Either way the trim
// never takes what the trash and undo still need: the oldest change whose
// messages the trash holds (the trash retention is counted from the audit
// rows), or that undo may still take back (records filed under it in
// undo_domains, undo_recipients or hold_undo, not undone), is kept with
// every later row (undo reads them to tell which messages were changed
// since); a script run's rows (its unit) go together or stay together; and
// the newest row always stays, since the next change is numbered after it.

// AuditTrimRequest asks AuditTrim to delete the audit rows recorded before
// a time.
type AuditTrimRequest struct {
	Before time.Time // rows recorded before this time go; required
	DryRun bool
}

// AuditTrimResult says what AuditTrim did (or, in a dry run, would do).
type AuditTrimResult struct {
	Count    int       // rows deleted
	Last     int64     // the seq of the newest row deleted; 0 when none
	LastAt   time.Time // when that row was recorded
	KeptFrom int64     // when undo held the trim back: the first change kept for it (and every later row); else 0
	DryRun   bool
}

// AuditTrimmer is implemented by a queue engine whose audit log can be
// trimmed by hand and by a retention (the SQLite and PostgreSQL engines);
// callers find it by type assertion on their Backend.
type AuditTrimmer interface {
	// AuditTrim deletes the audit rows recorded before r.Before, in one
	// transaction with its own audit row.
	AuditTrim(ctx context.Context, r AuditTrimRequest) (AuditTrimResult, error)
	// AuditRetention returns how long the housekeeping keeps audit rows;
	// 0 means for ever (the default).
	AuditRetention(ctx context.Context) (time.Duration, error)
	// SetAuditRetention sets it (0 = keep everything), audited.
	SetAuditRetention(ctx context.Context, d time.Duration) error
}

var _ AuditTrimmer = (*Queue)(nil)

// ErrNoAuditTrim is what a backend whose audit log mqsh cannot trim
// answers (NoAuditTrim).
var ErrNoAuditTrim = errors.New("trimming the audit log is not available")

// NoAuditTrim is the error of a caller whose backend is not an
// AuditTrimmer.
func NoAuditTrim(b Backend) error {
	return fmt.Errorf("%w on the queue at %s: it keeps no audit log mqsh can trim (a queue file or PostgreSQL database does)", ErrNoAuditTrim, b.Location())
}

// metaAuditRetention is the meta key of the audit retention, in seconds;
// absent or 0 = keep everything.
const metaAuditRetention = "audit_retention"

// metaAuditTrimmedAt is the meta key of when (unix milliseconds) the lazy
// purge of an audited write last trimmed the audit log.
const metaAuditTrimmedAt = "audit_trimmed_at"

// AuditTrim deletes the audit rows recorded before r.Before in one
// transaction, recorded by its own row ("audit-trim"). A trim that finds
// nothing to delete writes nothing.
func (q *Queue) AuditTrim(ctx context.Context, r AuditTrimRequest) (AuditTrimResult, error) {
	var res AuditTrimResult
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.AuditTrim(r); return })
	return res, err
}

// AuditTrim is AuditTrim inside a unit of work.
func (tx *Tx) AuditTrim(r AuditTrimRequest) (AuditTrimResult, error) {
	res := AuditTrimResult{DryRun: r.DryRun || tx.preview}
	if err := tx.needWrite("audit trim"); err != nil {
		return res, err
	}
	if err := CheckAuditTrim(r); err != nil {
		return res, err
	}
	err := tx.savepoint(r.DryRun, func() error {
		// What has expired goes first, as at every audited write, so that
		// expired undo records hold nothing back.
		ret, err := tx.trashRetention()
		if err != nil {
			return err
		}
		if err := tx.purgeExpired(ret); err != nil {
			return err
		}
		own, err := tx.changeSeq() // the trim's row: the newest row, its number taken now
		if err != nil {
			return err
		}
		limit, kept, err := tx.auditTrimLimit(r.Before, own)
		if err != nil {
			return err
		}
		res.KeptFrom = kept
		n, last, lastAt, err := tx.deleteAudit(limit, res.DryRun)
		res.Count, res.Last, res.LastAt = n, last, lastAt
		if err != nil || n == 0 || res.DryRun {
			return err
		}
		return tx.audit("audit-trim", AuditTrimText(n, last, lastAt, r.Before), nil)
	})
	if err != nil {
		return AuditTrimResult{DryRun: res.DryRun}, tx.verbError("audit trim", err)
	}
	return res, nil
}

// CheckAuditTrim checks a trim request, in the words of every engine.
func CheckAuditTrim(r AuditTrimRequest) error {
	if r.Before.IsZero() {
		return errors.New("audit trim: give the time before which rows go (--older-than or --before)")
	}
	return CheckTime("audit trim before", r.Before)
}

// CheckAuditRetention checks an audit retention, in the words of every
// engine, and returns it in whole seconds.
func CheckAuditRetention(d time.Duration) (int64, error) {
	if d < 0 {
		return 0, fmt.Errorf("audit retention %s: give a duration of more than 0, or 0 (off) to keep every row", d)
	}
	secs := int64(d / time.Second)
	if d > 0 && secs == 0 {
		return 0, fmt.Errorf("audit retention %s: give at least a second, or 0 (off) to keep every row", d)
	}
	return secs, nil
}

// AuditRetentionText is the audit text of a retention set to secs seconds.
func AuditRetentionText(secs int64) string {
	if secs == 0 {
		return "retention=off"
	}
	return "retention=" + formatRetention(time.Duration(secs)*time.Second)
}

// AuditTrimText is the audit text of a trim: how many rows, up to which
// one and when, and the time asked for.
func AuditTrimText(n int, last int64, lastAt, before time.Time) string {
	return fmt.Sprintf("rows=%d last=#%d at=%s before=%s", n, last, formatTime(lastAt.UTC()), formatTime(before.UTC()))
}

// auditTrimLimit returns the seq before which audit rows may go when the
// rows recorded before `before` are asked for: not ceiling (the newest
// row, or the seq reserved for the trim's own) nor the rows of the unit of
// work in progress, not what undo still reads (kept: the first change kept for it,
// when that holds the trim back), and never part of a unit.
func (tx *Tx) auditTrimLimit(before time.Time, ceiling int64) (limit, kept int64, err error) {
	var first sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT min(seq) FROM audit WHERE at >= ?", before.UnixMilli()).Scan(&first); err != nil {
		return 0, 0, err
	}
	limit = ceiling
	if first.Valid && first.Int64 < limit {
		limit = first.Int64
	}
	if tx.unit > 0 && tx.unit < limit { // the rows of this unit of work stay
		limit = tx.unit
	}
	undo, err := tx.undoKeepsFrom(limit)
	if err != nil {
		return 0, 0, err
	}
	if undo != 0 && undo < limit {
		limit, kept = undo, undo
	}
	// Lowering the limit to the first row of its row's unit is enough here:
	// a unit's rows are consecutive seqs, since the write transaction holds
	// SQLite's one write lock from its first seq (max(seq)+1, changeSeq) to
	// its commit, so no other unit can take a seq in between. (On
	// PostgreSQL units interleave: pgqueue's wholeUnits.)
	unit, err := tx.unitOf(limit)
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

// unitOf returns the first seq of the unit of the row seq, or seq when no
// such row is recorded.
func (tx *Tx) unitOf(seq int64) (int64, error) {
	var unit int64
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT coalesce(unit, seq) FROM audit WHERE seq = ?", seq).Scan(&unit)
	if errors.Is(err, sql.ErrNoRows) {
		return seq, nil
	}
	return unit, err
}

// undoKeepsFrom returns the first seq of the oldest unit, before limit,
// whose rows must stay, or 0 when there is none: one whose messages the
// trash still holds (kept for the trash retention, which is counted from
// the audit rows: even a cancel undone in part), or one undo may still take
// back (it has records filed under one of its seqs and is not undone). A
// few indexed looks per unit already undone; after 64 of them the next unit
// is kept all the same.
func (tx *Tx) undoKeepsFrom(limit int64) (int64, error) {
	var trashed sql.NullInt64
	// Messages filed for removal (removals.go) are the trash's to come.
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT min(s) FROM (SELECT min(trash_seq) AS s FROM trash_messages UNION ALL SELECT min(seq) FROM removals)").Scan(&trashed); err != nil {
		return 0, err
	}
	keep := int64(0)
	if trashed.Valid && trashed.Int64 < limit {
		var err error
		if keep, err = tx.unitOf(trashed.Int64); err != nil {
			return 0, err
		}
		limit = keep
	}
	undo, err := tx.undoRecordsFrom(limit)
	if err != nil || undo != 0 {
		return undo, err
	}
	return keep, nil
}

// undoRecordsFrom is the oldest unit before limit with undo records, not
// undone (see undoKeepsFrom), or 0.
func (tx *Tx) undoRecordsFrom(limit int64) (int64, error) {
	after := int64(0)
	for range 64 {
		// What undo keeps of a change that left the messages queued, each
		// table keyed by the change's seq.
		var s sql.NullInt64
		if err := tx.tx.QueryRowContext(tx.ctx, `SELECT min(s) FROM (SELECT min(seq) AS s FROM undo_domains WHERE seq > ?1
			UNION ALL SELECT min(seq) FROM undo_recipients WHERE seq > ?1 UNION ALL SELECT min(seq) FROM hold_undo WHERE seq > ?1)`, after).Scan(&s); err != nil {
			return 0, err
		}
		next := s.Int64
		if !s.Valid || next >= limit {
			return 0, nil
		}
		unit, err := tx.unitOf(next)
		if err != nil {
			return 0, err
		}
		var undone bool
		if err := tx.tx.QueryRowContext(tx.ctx, "SELECT EXISTS (SELECT 1 FROM audit WHERE undoes = ?)", unit).Scan(&undone); err != nil {
			return 0, err
		}
		if !undone {
			return unit, nil
		}
		// The whole unit is undone: look on after its last row.
		if err := tx.tx.QueryRowContext(tx.ctx, "SELECT max(seq) FROM audit WHERE unit = ? OR seq = ?", unit, unit).Scan(&after); err != nil {
			return 0, err
		}
		if after < next {
			after = next
		}
	}
	return tx.unitOf(after + 1)
}

// deleteAudit deletes the audit rows before limit and says how many, and
// the newest of them; with dry, it counts them (a dry run of millions of
// rows costs an index count, not their deletion rolled back).
func (tx *Tx) deleteAudit(limit int64, dry bool) (n int, last int64, lastAt time.Time, err error) {
	var at int64
	err = tx.tx.QueryRowContext(tx.ctx, "SELECT seq, at FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT 1", limit).Scan(&last, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, time.Time{}, nil
	}
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	if dry {
		err = tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM audit WHERE seq < ?", limit).Scan(&n)
		return n, last, time.UnixMilli(at).UTC(), err
	}
	res, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM audit WHERE seq < ?", limit)
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	d, err := res.RowsAffected()
	return int(d), last, time.UnixMilli(at).UTC(), err
}

// auditRetention returns the queue's audit retention; 0 = keep everything.
func (tx *Tx) auditRetention() (time.Duration, error) {
	secs, err := tx.metaValue(metaAuditRetention)
	return time.Duration(secs) * time.Second, err
}

// AuditRetention returns how long the housekeeping keeps audit rows (0 =
// for ever, the default).
func (q *Queue) AuditRetention(ctx context.Context) (time.Duration, error) {
	var d time.Duration
	err := q.View(ctx, func(tx *Tx) (err error) { d, err = tx.auditRetention(); return })
	if err != nil {
		return 0, q.fileError("audit retention", err)
	}
	return d, nil
}

// SetAuditRetention sets how long the housekeeping keeps audit rows, for
// every process using the queue, in whole seconds; 0 keeps them all. The
// change is audited ("audit-retention").
func (q *Queue) SetAuditRetention(ctx context.Context, d time.Duration) error {
	secs, err := CheckAuditRetention(d)
	if err != nil {
		return err
	}
	return q.Update(ctx, func(tx *Tx) error {
		if err := tx.needWrite("audit retention"); err != nil {
			return err
		}
		if err := tx.setMeta(metaAuditRetention, secs); err != nil {
			return err
		}
		return tx.audit("audit-retention", AuditRetentionText(secs), nil)
	})
}

// trimAudit deletes up to about chunk audit rows older than the audit
// retention (a unit goes whole), oldest first; more says rows older than it
// may be left. With lazy, it looks at most once per lazyHistoryEvery. Off
// costs one indexed look (the retention), nothing due two; neither writes.
func (tx *Tx) trimAudit(chunk int, lazy bool) (deleted int, more bool, err error) {
	ret, err := tx.auditRetention()
	if err != nil || ret <= 0 {
		return 0, false, err
	}
	before := tx.q.now().Add(-ret)
	var oldest int64
	var at int64
	err = tx.tx.QueryRowContext(tx.ctx, "SELECT seq, at FROM audit ORDER BY seq LIMIT 1").Scan(&oldest, &at)
	if errors.Is(err, sql.ErrNoRows) || err == nil && at >= before.UnixMilli() {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if lazy {
		if ok, err := tx.lookDue(metaAuditTrimmedAt); !ok || err != nil {
			return 0, false, err
		}
	}
	var newest int64
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT max(seq) FROM audit").Scan(&newest); err != nil {
		return 0, false, err
	}
	limit, _, err := tx.auditTrimLimit(before, newest)
	if err != nil {
		return 0, false, err
	}
	// The chunk ends at a unit's first row; a unit bigger than a chunk goes
	// whole.
	var u int64
	err = tx.tx.QueryRowContext(tx.ctx, "SELECT coalesce(unit, seq) FROM audit WHERE seq < ? ORDER BY seq LIMIT 1 OFFSET ?", limit, chunk).Scan(&u)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, false, err
	default:
		more = true
		end := u
		if end <= oldest {
			if err := tx.tx.QueryRowContext(tx.ctx, "SELECT max(seq) + 1 FROM audit WHERE unit = ? OR seq = ?", u, u).Scan(&end); err != nil {
				return 0, false, err
			}
		}
		if end < limit {
			limit = end
		}
	}
	n, _, _, err := tx.deleteAudit(limit, false)
	return n, more && n > 0, err
}
