package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Undo takes back a change recorded in the audit log: a retry (the domains'
// previous due times, kept by Retry), a cancel (the messages from the trash,
// and for a recipient cancel the recipients' and domains' previous states),
// or a script run (every change of the run's transaction, its unit, newest
// first). What a change kept for undo is filed under its audit seq and kept
// as long as the trash keeps messages.
//
// A message changed again after the change (by a later audited change, or a
// delivery attempt), purged from the trash, or no longer queued is left as
// it is, and said so (UndoResult.Skipped); every other message is put back
// whole, never half.

// UndoRequest asks Undo to take back one change.
type UndoRequest struct {
	Seq    int64 // the audit seq of the change (any change of a script run means the run); 0 = the last undoable change by this user
	DryRun bool
}

// UndoSkip is a message undo left as it is, and why.
type UndoSkip struct {
	ID     ID
	Reason string // "changed since by #12 (retry)", "purged from the trash" ...
}

// UndoResult says what Undo did (or, in a dry run, would do).
type UndoResult struct {
	Result             // the messages put back
	Seq     int64      // the change taken back (the first seq of its unit)
	Verbs   []string   // the verbs of the unit's changes, in order
	Skipped []UndoSkip // the messages left as they are, ascending ids
	Notes   []string   // what undo does not take back ("the 3 messages enqueued by #7 stay queued")
}

// Undoer is implemented by a queue engine that can take changes back (the
// SQLite engine); callers find it by type assertion on their Backend.
type Undoer interface {
	Undo(ctx context.Context, r UndoRequest) (UndoResult, error)
}

// TxUndoer is Undoer inside a unit of work (Backend.Run).
type TxUndoer interface {
	Undo(r UndoRequest) (UndoResult, error)
}

var (
	_ Undoer   = (*Queue)(nil)
	_ TxUndoer = (*Tx)(nil)
)

// ErrNoUndo is what a backend without undo answers (NoUndo).
var ErrNoUndo = errors.New("undo is not available")

// ErrUndoRefused marks an undo refused because there is nothing to take
// back: no such change, one already undone, an undo, or a verb undo does
// not take back. The error's text says which.
var ErrUndoRefused = errors.New("nothing to undo")

// undoRefusal is an error of ErrUndoRefused with its own sentence.
type undoRefusal struct{ msg string }

func (e undoRefusal) Error() string        { return e.msg }
func (e undoRefusal) Is(target error) bool { return target == ErrUndoRefused }

// RefuseUndo is an error of ErrUndoRefused with its own sentence (the
// refusals of both engines' Undo).
func RefuseUndo(format string, a ...any) error { return undoRefusal{fmt.Sprintf(format, a...)} }

// NoUndo is the error of a caller whose backend is not an Undoer.
func NoUndo(b Backend) error {
	return fmt.Errorf("%w on the queue at %s: undo needs the audit log and trash of a local mqsh queue file", ErrNoUndo, b.Location())
}

// undoableVerbs are the verbs whose changes undo takes back; a unit is
// undoable when it holds one of them.
var undoableVerbs = []string{"retry", "cancel", "hold", "release"}

// Undo takes back a change in its own transaction.
func (q *Queue) Undo(ctx context.Context, r UndoRequest) (UndoResult, error) {
	var res UndoResult
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.Undo(r); return })
	return res, err
}

// auditRow is one audit row as undo reads it.
type auditRow struct {
	seq  int64
	at   int64 // unix milliseconds
	user string
	verb string
	ids  []ID
}

// Undo takes back the change r.Seq names (see the package comment above
// UndoRequest), and records its own audit row, "undo of #N".
func (tx *Tx) Undo(r UndoRequest) (UndoResult, error) {
	res := UndoResult{Result: Result{DryRun: r.DryRun || tx.preview}}
	if err := tx.needWrite("undo"); err != nil {
		return res, err
	}
	unit, err := tx.undoTarget(r.Seq)
	if err != nil {
		return res, err
	}
	res.Seq = unit
	// What undo puts back is in the trash, but for the messages the unit's
	// own cancels filed for removal (removals.go): those never left, and
	// undoCancel takes them back where they are; with the trash off they are
	// gone for good, as they would be after the sweep.
	ret, err := tx.trashRetention()
	if err != nil {
		return res, tx.verbError("undo", err)
	}
	sweep, args := "seq NOT IN (SELECT seq FROM audit WHERE seq = ? OR unit = ?)", []any{unit, unit}
	if ret == 0 {
		sweep, args = "1", nil
	}
	if _, err := tx.sweepRemovals(sweep, args, 0); err != nil {
		return res, tx.verbError("undo", err)
	}
	err = tx.savepoint(r.DryRun, func() error {
		rows, err := tx.unitRows(unit)
		if err != nil {
			return err
		}
		later, err := tx.laterChanges(rows)
		if err != nil {
			return err
		}
		sk, err := tx.newSkipSet()
		if err != nil {
			return err
		}
		changed := map[ID]bool{}
		for i := len(rows) - 1; i >= 0; i-- { // newest first
			row := &rows[i]
			res.Verbs = append([]string{row.verb}, res.Verbs...)
			// A message a later change touched is left alone, here and in
			// the unit's older changes.
			var skip []UndoSkip
			for _, id := range row.ids {
				if why, ok := later[id]; ok {
					skip = append(skip, UndoSkip{ID: id, Reason: why})
				}
			}
			if err := sk.add(skip); err != nil {
				return err
			}
			res.Skipped = append(res.Skipped, skip...)
			done, skipped, note, err := tx.undoVerb(row, sk)
			if err != nil {
				return err
			}
			if err := sk.add(skipped); err != nil {
				return err
			}
			for _, s := range skipped {
				later[s.ID] = s.Reason
			}
			res.Skipped = append(res.Skipped, skipped...)
			if note != "" {
				res.Notes = append(res.Notes, note)
			}
			for _, id := range done {
				changed[id] = true
			}
		}
		res.Skipped = uniqueSkips(res.Skipped, changed)
		for id := range changed {
			res.IDs = append(res.IDs, id)
		}
		slices.Sort(res.IDs)
		res.Count = len(res.IDs)
		if res.Count > 0 {
			if err := tx.selectIDs([]byte(idsJSON(res.IDs))); err != nil {
				return err
			}
			if err := tx.refreshDue(); err != nil {
				return err
			}
			if res.Domains, err = tx.selectedDomains("domains"); err != nil {
				return err
			}
		}
		text := fmt.Sprintf("undo of #%d (%s)", unit, strings.Join(slices.Compact(slices.Clone(res.Verbs)), ", "))
		if len(res.Skipped) > 0 {
			text += fmt.Sprintf("; %d message(s) left as they are", len(res.Skipped))
		}
		return tx.auditUndo("undo", text, res.IDs, unit)
	})
	if err != nil {
		return UndoResult{Result: Result{DryRun: res.DryRun}, Seq: unit}, tx.verbError("undo", err)
	}
	return res, nil
}

// uniqueSkips keeps one entry per message (the first reason), leaving out
// the messages that were put back after all (in another change of the unit).
func uniqueSkips(skips []UndoSkip, changed map[ID]bool) []UndoSkip {
	seen := map[ID]bool{}
	var out []UndoSkip
	for _, s := range skips {
		if !seen[s.ID] && !changed[s.ID] {
			seen[s.ID] = true
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b UndoSkip) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// undoTarget finds the unit to take back: the one seq belongs to, or the
// user's last undoable change, and checks that it can be taken back.
func (tx *Tx) undoTarget(seq int64) (int64, error) {
	if seq == 0 {
		q := "SELECT coalesce(a.unit, a.seq) FROM audit a WHERE a.user = ? AND a.verb IN (" + placeholders(len(undoableVerbs)) + ")" +
			" AND NOT EXISTS (SELECT 1 FROM audit u WHERE u.undoes = coalesce(a.unit, a.seq)) ORDER BY a.seq DESC LIMIT 1"
		args := []any{tx.q.user}
		for _, v := range undoableVerbs {
			args = append(args, v)
		}
		err := tx.tx.QueryRowContext(tx.ctx, q, args...).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, RefuseUndo("undo: nothing to undo: no retry, cancel, hold, release or script run by %s is left to take back (see queue audit)", tx.q.user)
		}
		if err != nil {
			return 0, err
		}
		return seq, tx.undoNotExpired(seq)
	}
	var verb string
	var unit sql.NullInt64
	var undoes sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT verb, unit, undoes FROM audit WHERE seq = ?", seq).Scan(&verb, &unit, &undoes)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, RefuseUndo("undo: there is no change #%d in the audit log (see queue audit)", seq)
	}
	if err != nil {
		return 0, err
	}
	if verb == "undo" {
		return 0, RefuseUndo("undo: #%d is itself an undo (of #%d) and cannot be undone: make the change again instead", seq, undoes.Int64)
	}
	if unit.Valid {
		seq = unit.Int64
	}
	var by int64
	err = tx.tx.QueryRowContext(tx.ctx, "SELECT seq FROM audit WHERE undoes = ?", seq).Scan(&by)
	if err == nil {
		return 0, RefuseUndo("undo: #%d was already undone by #%d", seq, by)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	var n int
	args := []any{seq, seq}
	for _, v := range undoableVerbs {
		args = append(args, v)
	}
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM audit WHERE (unit = ? OR unit IS NULL AND seq = ?) AND verb IN ("+placeholders(len(undoableVerbs))+")", args...).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, RefuseUndo("undo: #%d (%s) cannot be undone: undo takes back retry, cancel, hold and release, alone or in a script run", seq, verb)
	}
	return seq, tx.undoNotExpired(seq)
}

// undoNotExpired refuses the unit whose first change is older than the
// trash retention: its undo records have expired (purgeExpired deletes
// them, or will at the next write).
func (tx *Tx) undoNotExpired(unit int64) error {
	ret, err := tx.trashRetention()
	if err != nil {
		return err
	}
	limit, err := tx.expiredSeq(ret)
	if err != nil || unit >= limit {
		return err
	}
	var verb string
	var at int64
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT verb, at FROM audit WHERE seq = ?", unit).Scan(&verb, &at); err != nil {
		return err
	}
	return UndoExpired(unit, verb, time.UnixMilli(at), ret)
}

// UndoExpired is the refusal of an undo of unit (its first change: verb, at
// time at) whose records the trash retention ret no longer keeps, in the
// words of both engines.
func UndoExpired(unit int64, verb string, at time.Time, ret time.Duration) error {
	when := formatTime(at.UTC())
	if ret == 0 {
		return RefuseUndo("undo: #%d (%s, %s) cannot be undone: the trash retention is 0 (off), so nothing was kept to take it back", unit, verb, when)
	}
	return RefuseUndo("undo: #%d (%s, %s) cannot be undone: it is older than the trash retention (%s), and the records to take it back have expired (queue trash retention sets how long they are kept)", unit, verb, when, formatRetention(ret))
}

// unitRows reads the audit rows of a unit, oldest first.
func (tx *Tx) unitRows(unit int64) ([]auditRow, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT seq, at, user, verb, ids FROM audit WHERE unit = ? OR unit IS NULL AND seq = ? ORDER BY seq", unit, unit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		var blob []byte
		if err := rows.Scan(&r.seq, &r.at, &r.user, &r.verb, &blob); err != nil {
			return nil, err
		}
		r.ids = decodeIDs(blob)
		out = append(out, r)
	}
	return out, rows.Err()
}

// laterChanges maps each message changed after the unit's last change, by
// an audited change (not since undone) or a delivery attempt, to the
// sentence saying so.
func (tx *Tx) laterChanges(unit []auditRow) (map[ID]string, error) {
	last := unit[len(unit)-1]
	out := map[ID]string{}
	// A later change since undone, and its undo, changed nothing in the end.
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT seq, verb, ids FROM audit a WHERE seq > ? AND count > 0"+
		" AND NOT EXISTS (SELECT 1 FROM audit u WHERE u.undoes = coalesce(a.unit, a.seq))"+
		" AND NOT (a.verb = 'undo' AND a.undoes > ?) ORDER BY seq", last.seq, last.seq)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var seq int64
		var verb string
		var blob []byte
		if err := rows.Scan(&seq, &verb, &blob); err != nil {
			rows.Close()
			return nil, err
		}
		why := "changed since by #" + strconv.FormatInt(seq, 10) + " (" + verb + ")"
		for _, id := range decodeIDs(blob) {
			if _, ok := out[id]; !ok {
				out[id] = why
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.tx.QueryContext(tx.ctx, "SELECT DISTINCT msg_id FROM attempts WHERE at > ?", last.at)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if _, ok := out[ID(id)]; !ok {
			out[ID(id)] = "delivery was attempted since"
		}
	}
	return out, rows.Err()
}

// The messages undo leaves alone, in a temporary table the statements of
// undoVerb exclude, and in memory.
const skipTable = "temp.mqsh_skip"

type skipSet struct {
	tx  *Tx
	ids map[ID]bool
}

func (tx *Tx) newSkipSet() (*skipSet, error) {
	if _, err := tx.tx.ExecContext(tx.ctx, "CREATE TEMP TABLE IF NOT EXISTS mqsh_skip(id INTEGER PRIMARY KEY)"); err != nil {
		return nil, err
	}
	_, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+skipTable)
	return &skipSet{tx: tx, ids: map[ID]bool{}}, err
}

func (sk *skipSet) add(skip []UndoSkip) error {
	if len(skip) == 0 {
		return nil
	}
	ids := make([]ID, len(skip))
	for i, s := range skip {
		ids[i] = s.ID
		sk.ids[s.ID] = true
	}
	_, err := sk.tx.tx.ExecContext(sk.tx.ctx, "INSERT OR IGNORE INTO "+skipTable+"(id) SELECT value FROM json_each(?)", idsJSON(ids))
	return err
}

// undoVerb takes back one audited change of the unit, except for the
// messages in skipTable. It returns the messages it put back and those it
// could not (with why), or a note on what it does not take back. This is
// the one place each verb's undo is dispatched from.
func (tx *Tx) undoVerb(row *auditRow, sk *skipSet) (done []ID, skipped []UndoSkip, note string, err error) {
	switch row.verb {
	case "retry":
		return tx.undoRetry(row, sk)
	case "cancel":
		return tx.undoCancel(row, sk)
	case "hold", "release":
		return tx.undoHold(row, sk)
	case "enqueue", "import", "demo":
		return nil, nil, fmt.Sprintf("the %d message(s) added by #%d (%s) stay queued", len(row.ids), row.seq, row.verb), nil
	}
	return nil, nil, fmt.Sprintf("#%d (%s) is not taken back", row.seq, row.verb), nil
}

// kept returns which of ids have rows filed under seq in an undo table.
func (tx *Tx) kept(table string, seq int64) (map[ID]bool, error) {
	return tx.queryIDSet("SELECT DISTINCT msg_id FROM "+table+" WHERE seq = ?", seq)
}

// liveIDs returns which of ids are queued.
func (tx *Tx) liveIDs(ids []ID) (map[ID]bool, error) {
	return tx.queryIDSet("SELECT id FROM messages WHERE id IN (SELECT value FROM json_each(?)) AND "+liveCond("id"), idsJSON(ids))
}

// restoreStates puts back the domains' (and recipients') states kept under
// seq, for the messages not in skipTable, and drops what was kept.
func (tx *Tx) restoreStates(seq int64) error {
	if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE domains SET status = u.status, details = u.details, due = u.due, expires = coalesce(u.expires, domains.expires) FROM undo_domains u "+
		"WHERE u.seq = ? AND u.msg_id = domains.msg_id AND u.idx = domains.idx AND u.msg_id NOT IN (SELECT id FROM "+skipTable+")", seq); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE recipients SET status = u.status, code = u.code, enhanced = u.enhanced, message = u.message FROM undo_recipients u "+
		"WHERE u.seq = ? AND u.msg_id = recipients.msg_id AND u.idx = recipients.idx AND u.msg_id NOT IN (SELECT id FROM "+skipTable+")", seq); err != nil {
		return err
	}
	for _, t := range []string{"undo_domains", "undo_recipients"} {
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t+" WHERE seq = ? AND msg_id NOT IN (SELECT id FROM "+skipTable+")", seq); err != nil {
			return err
		}
	}
	return nil
}

// undoRetry puts back the due times a retry replaced.
func (tx *Tx) undoRetry(row *auditRow, sk *skipSet) ([]ID, []UndoSkip, string, error) {
	kept, err := tx.kept("undo_domains", row.seq)
	if err != nil {
		return nil, nil, "", err
	}
	live, err := tx.liveIDs(row.ids)
	if err != nil {
		return nil, nil, "", err
	}
	done, skipped := UndoneRetry(row.ids, sk.ids, live, kept)
	if err := sk.add(skipped); err != nil {
		return nil, nil, "", err
	}
	return done, skipped, "", tx.restoreStates(row.seq)
}

// undoCancel puts back the messages a cancel moved to the trash, and the
// states of the recipients a recipient cancel failed.
func (tx *Tx) undoCancel(row *auditRow, sk *skipSet) ([]ID, []UndoSkip, string, error) {
	kept, err := tx.kept("undo_recipients", row.seq)
	if err != nil {
		return nil, nil, "", err
	}
	// The trashed messages of this cancel, less those left alone.
	if err := tx.selectIDs([]byte("[]")); err != nil {
		return nil, nil, "", err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO "+selTable+"(id) SELECT id FROM trash_messages WHERE trash_seq = ? AND id NOT IN (SELECT id FROM "+skipTable+")", row.seq); err != nil {
		return nil, nil, "", err
	}
	trashed, err := tx.selected()
	if err != nil {
		return nil, nil, "", err
	}
	unfiled, err := tx.unfile(row.seq)
	if err != nil {
		return nil, nil, "", err
	}
	if len(trashed) > 0 {
		missing, err := tx.restoreSelected()
		if err != nil {
			return nil, nil, "", err
		}
		if len(missing) > 0 {
			return nil, nil, "", fmt.Errorf("messages %v are queued and in the trash at once", missing)
		}
	}
	live, err := tx.liveIDs(row.ids)
	if err != nil {
		return nil, nil, "", err
	}
	done, skipped := UndoneCancel(row.ids, sk.ids, append(trashed, unfiled...), live, kept)
	if err := sk.add(skipped); err != nil {
		return nil, nil, "", err
	}
	return done, skipped, "", tx.restoreStates(row.seq)
}

// unfile takes back the messages the cancel seq filed for removal and not
// yet moved to the trash, less those left alone, and returns their ids: they
// are queued again as they were, without a delivery lease.
func (tx *Tx) unfile(seq int64) ([]ID, error) {
	ids, err := tx.queryIDs("SELECT id FROM removals WHERE seq = ? AND id NOT IN (SELECT id FROM "+skipTable+") ORDER BY id", seq)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM removals WHERE seq = ? AND id NOT IN (SELECT id FROM "+skipTable+")", seq); err != nil {
		return nil, err
	}
	_, err = tx.tx.ExecContext(tx.ctx, "UPDATE domains SET locked_until = NULL, locked_by = NULL WHERE msg_id IN (SELECT value FROM json_each(?)) AND locked_by IS NOT NULL", idsJSON(ids))
	return ids, err
}

// UndoneRetry sorts the messages of an undone retry (ids, less those left
// alone) into those it takes back and those it skips, saying why: no longer
// queued, or nothing kept of them. Both engines' undo sort them with it.
func UndoneRetry[K ID | int64](ids []K, left, live, kept map[K]bool) (done []K, skipped []UndoSkip) {
	for _, id := range ids {
		switch {
		case left[id]:
		case !live[id]:
			skipped = append(skipped, UndoSkip{ID: ID(id), Reason: "no longer queued"})
		case !kept[id]:
			skipped = append(skipped, UndoSkip{ID: ID(id), Reason: "nothing was kept to undo it (older than the trash retention)"})
		default:
			done = append(done, id)
		}
	}
	return done, skipped
}

// UndoneCancel sorts the messages of an undone cancel (ids, less those left
// alone): taken back when restored from the trash (restored) or, after a
// recipient cancel that left them queued, when their recipients were kept;
// else skipped, saying why.
func UndoneCancel[K ID | int64](ids []K, left map[K]bool, restored []K, live, kept map[K]bool) (done []K, skipped []UndoSkip) {
	inTrash := make(map[K]bool, len(restored))
	for _, id := range restored {
		inTrash[id] = true
	}
	for _, id := range ids {
		switch {
		case left[id]:
		case inTrash[id]:
			done = append(done, id)
		case live[id] && kept[id]:
			done = append(done, id) // a recipient cancel that left it queued
		case live[id]:
			skipped = append(skipped, UndoSkip{ID: ID(id), Reason: "nothing was kept to undo it (older than the trash retention)"})
		default:
			skipped = append(skipped, UndoSkip{ID: ID(id), Reason: "purged from the trash"})
		}
	}
	return done, skipped
}
