package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// Undo, as the SQLite engine does it (queue/undo.go): it takes back a change
// recorded in the audit log, a retry (the domains' previous due times and
// expiry, kept by Retry through keepDomains), a cancel (the messages from
// the trash, and for a recipient cancel the recipients' and domains'
// previous states), a hold or a release, or a script run (every change of
// the run's transaction, its unit, newest first). What a change kept is
// filed under its audit seq and kept as long as the trash keeps messages. A
// message changed again after the change (by a later audited change not
// itself undone, or a delivery attempt), purged from the trash, or no
// longer queued is left as it is, and said so; every other message is put
// back whole, never half.

var (
	_ queue.Undoer   = (*Queue)(nil)
	_ queue.TxUndoer = (*Tx)(nil)
)

// undoableVerbs are the verbs whose changes undo takes back; a unit is
// undoable when it holds one of them.
var undoableVerbs = []string{"retry", "cancel", "hold", "release"}

// changeSeq returns the audit seq the change in progress will be recorded
// under, reserving it at the first call from the audit's sequence: a verb
// that keeps what undo needs (trashed messages, previous states) files it
// under this seq before it writes its audit row (audit). A verb's dry run
// (a savepoint that will be rolled back, so that nothing filed under the
// seq outlives it) files under a seq of its own below 0: it draws nothing
// from the sequence, which a rollback does not give back, so dry runs leave
// no gaps in the audit's numbering, and it cannot meet a seq another
// process draws (two dry runs at once wait for each other's end, a verb's
// time).
func (tx *Tx) changeSeq(db pgx.Tx) (int64, error) {
	if tx.seq != 0 {
		return tx.seq, nil
	}
	q := "SELECT nextval(pg_get_serial_sequence('audit', 'seq'))"
	if tx.rollingBack > 0 {
		q = "SELECT least(coalesce(min(seq), 0), 0) - 1 FROM audit"
	}
	if err := db.QueryRow(tx.ctx, q).Scan(&tx.seq); err != nil {
		return 0, err
	}
	return tx.seq, nil
}

// keepsUndo returns the seq of the change in progress when the queue keeps
// undo data (its trash retention is not 0), else 0.
func (tx *Tx) keepsUndo(db pgx.Tx) (int64, error) {
	ret, err := tx.trashRetention(db)
	if err != nil || ret == 0 {
		return 0, err
	}
	return tx.changeSeq(db)
}

// keepDomains records for undo, under the seq of the change in progress,
// the state (status, details, due, expiry) of the domains matching cond (on
// domains d, with its parameters a) before the change: one INSERT ...
// SELECT, whatever their number. Retry and a recipient cancel call it before
// they change anything.
func (tx *Tx) keepDomains(db pgx.Tx, cond string, a args) error {
	seq, err := tx.keepsUndo(db)
	if err != nil || seq == 0 {
		return err
	}
	c := append(args{}, a...)
	_, err = db.Exec(tx.ctx, "INSERT INTO undo_domains(seq, msg_id, idx, status, details, due, expires) "+
		"SELECT "+c.add(seq)+", d.msg_id, d.idx, d.status, d.details, d.due, d.expires FROM domains d WHERE "+cond, c...)
	return err
}

// keepRecipients records for undo the state of the recipients matching
// cond (on recipients r, with its parameters a) before a change.
func (tx *Tx) keepRecipients(db pgx.Tx, cond string, a args) error {
	seq, err := tx.keepsUndo(db)
	if err != nil || seq == 0 {
		return err
	}
	c := append(args{}, a...)
	_, err = db.Exec(tx.ctx, "INSERT INTO undo_recipients(seq, msg_id, idx, status, code, enhanced, message) "+
		"SELECT "+c.add(seq)+", r.msg_id, r.idx, r.status, r.code, r.enhanced, r.message FROM recipients r WHERE "+cond, c...)
	return err
}

// Undo takes back a change in its own transaction.
func (q *Queue) Undo(ctx context.Context, r queue.UndoRequest) (queue.UndoResult, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.UndoResult, error) { return tx.Undo(r) })
}

// auditRow is one audit row as undo reads it.
type auditRow struct {
	seq  int64
	at   int64 // unix milliseconds
	verb string
	ids  []int64
}

// Undo takes back the change r.Seq names (0: the user's last undoable
// change), and records its own audit row, "undo of #N (verbs)".
func (tx *Tx) Undo(r queue.UndoRequest) (queue.UndoResult, error) {
	res := queue.UndoResult{Result: queue.Result{DryRun: r.DryRun || tx.dry}}
	if err := tx.needWrite("undo"); err != nil {
		return res, err
	}
	unit, err := tx.undoTarget(r.Seq)
	if err != nil {
		if errors.Is(err, queue.ErrUndoRefused) {
			return res, err
		}
		return res, tx.verbError("undo", err)
	}
	res.Seq = unit
	err = tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		rows, err := tx.unitRows(db, unit)
		if err != nil {
			return err
		}
		later, err := tx.laterChanges(db, rows)
		if err != nil {
			return err
		}
		sk := &skipSet{ids: map[int64]bool{}}
		changed := map[int64]bool{}
		for i := len(rows) - 1; i >= 0; i-- { // newest first
			row := &rows[i]
			res.Verbs = append([]string{row.verb}, res.Verbs...)
			// A message a later change touched is left alone, here and in
			// the unit's older changes.
			var skip []queue.UndoSkip
			for _, id := range row.ids {
				if why, ok := later[id]; ok {
					skip = append(skip, queue.UndoSkip{ID: queue.ID(id), Reason: why})
				}
			}
			sk.add(skip)
			res.Skipped = append(res.Skipped, skip...)
			done, skipped, note, err := tx.undoVerb(db, row, sk)
			if err != nil {
				return err
			}
			sk.add(skipped)
			for _, s := range skipped {
				later[int64(s.ID)] = s.Reason
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
		ids := make([]int64, 0, len(changed))
		for id := range changed {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		res.IDs, res.Count = toIDs(ids), len(ids)
		res.Domains = map[string]int{}
		if res.Count > 0 {
			if err := tx.refreshDue(db, ids); err != nil {
				return err
			}
			if res.Domains, err = tx.breakdown(db, "SELECT d.name, count(*) FROM domains d WHERE "+idSet("d.msg_id", "$1")+" GROUP BY d.name", ids); err != nil {
				return err
			}
		}
		text := fmt.Sprintf("undo of #%d (%s)", unit, strings.Join(slices.Compact(slices.Clone(res.Verbs)), ", "))
		if len(res.Skipped) > 0 {
			text += fmt.Sprintf("; %d message(s) left as they are", len(res.Skipped))
		}
		return tx.auditUndo(db, "undo", text, res.IDs, unit)
	})
	if err != nil {
		return queue.UndoResult{Result: queue.Result{DryRun: res.DryRun}, Seq: unit}, tx.verbError("undo", err)
	}
	return res, nil
}

// uniqueSkips keeps one entry per message (the first reason), leaving out
// the messages that were put back after all (in another change of the
// unit), in ascending id order.
func uniqueSkips(skips []queue.UndoSkip, changed map[int64]bool) []queue.UndoSkip {
	seen := map[queue.ID]bool{}
	var out []queue.UndoSkip
	for _, s := range skips {
		if !seen[s.ID] && !changed[int64(s.ID)] {
			seen[s.ID] = true
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b queue.UndoSkip) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// undoTarget finds the unit to take back: the one seq belongs to, or the
// user's last undoable change, and checks that it can be taken back.
func (tx *Tx) undoTarget(seq int64) (int64, error) {
	db := tx.tx
	if seq == 0 {
		err := db.QueryRow(tx.ctx, "SELECT coalesce(a.unit, a.seq) FROM audit a WHERE a.username = $1 AND a.verb = ANY($2)"+
			" AND NOT EXISTS (SELECT 1 FROM audit u WHERE u.undoes = coalesce(a.unit, a.seq)) ORDER BY a.seq DESC LIMIT 1", tx.q.user, undoableVerbs).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, queue.RefuseUndo("undo: nothing to undo: no retry, cancel, hold, release or script run by %s is left to take back (see queue audit)", tx.q.user)
		}
		if err != nil {
			return 0, err
		}
		return seq, tx.undoNotExpired(seq)
	}
	var verb string
	var unit, undoes *int64
	err := db.QueryRow(tx.ctx, "SELECT verb, unit, undoes FROM audit WHERE seq = $1", seq).Scan(&verb, &unit, &undoes)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, queue.RefuseUndo("undo: there is no change #%d in the audit log (see queue audit)", seq)
	}
	if err != nil {
		return 0, err
	}
	if verb == "undo" {
		var of int64
		if undoes != nil {
			of = *undoes
		}
		return 0, queue.RefuseUndo("undo: #%d is itself an undo (of #%d) and cannot be undone: make the change again instead", seq, of)
	}
	if unit != nil {
		seq = *unit
	}
	var by int64
	err = db.QueryRow(tx.ctx, "SELECT seq FROM audit WHERE undoes = $1", seq).Scan(&by)
	if err == nil {
		return 0, queue.RefuseUndo("undo: #%d was already undone by #%d", seq, by)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	var n int
	if err := db.QueryRow(tx.ctx, "SELECT count(*) FROM audit WHERE (unit = $1 OR unit IS NULL AND seq = $1) AND verb = ANY($2)", seq, undoableVerbs).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, queue.RefuseUndo("undo: #%d (%s) cannot be undone: undo takes back retry, cancel, hold and release, alone or in a script run", seq, verb)
	}
	return seq, tx.undoNotExpired(seq)
}

// undoNotExpired refuses the unit whose first change is older than the
// trash retention, in the SQLite engine's words: its undo records have
// expired (purgeExpired deletes them, or will at the next write).
func (tx *Tx) undoNotExpired(unit int64) error {
	db := tx.tx
	ret, err := tx.trashRetention(db)
	if err != nil {
		return err
	}
	limit, err := tx.expiredSeq(db, ret)
	if err != nil || unit >= limit {
		return err
	}
	var verb string
	var at int64
	if err := db.QueryRow(tx.ctx, "SELECT verb, at FROM audit WHERE seq = $1", unit).Scan(&verb, &at); err != nil {
		return err
	}
	return queue.UndoExpired(unit, verb, time.UnixMilli(at), ret)
}

// unitRows reads the audit rows of a unit, oldest first.
func (tx *Tx) unitRows(db pgx.Tx, unit int64) ([]auditRow, error) {
	rows, err := db.Query(tx.ctx, "SELECT seq, at, verb, ids FROM audit WHERE unit = $1 OR unit IS NULL AND seq = $1 ORDER BY seq", unit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (auditRow, error) {
		var a auditRow
		err := r.Scan(&a.seq, &a.at, &a.verb, &a.ids)
		return a, err
	})
}

// laterChanges maps each message changed after the unit's last change, by
// an audited change (not since undone) or a delivery attempt, to the
// sentence saying so.
func (tx *Tx) laterChanges(db pgx.Tx, unit []auditRow) (map[int64]string, error) {
	last := unit[len(unit)-1]
	out := map[int64]string{}
	// A later change since undone, and its undo, changed nothing in the end.
	rows, err := db.Query(tx.ctx, "SELECT seq, verb, ids FROM audit a WHERE seq > $1 AND count > 0"+
		" AND NOT EXISTS (SELECT 1 FROM audit u WHERE u.undoes = coalesce(a.unit, a.seq))"+
		" AND NOT (a.verb = 'undo' AND a.undoes > $1) ORDER BY seq", last.seq)
	if err != nil {
		return nil, err
	}
	later, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auditRow, error) {
		var a auditRow
		err := r.Scan(&a.seq, &a.verb, &a.ids)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	for _, a := range later {
		why := "changed since by #" + strconv.FormatInt(a.seq, 10) + " (" + a.verb + ")"
		for _, id := range a.ids {
			if _, ok := out[id]; !ok {
				out[id] = why
			}
		}
	}
	rows, err = db.Query(tx.ctx, "SELECT DISTINCT msg_id FROM attempts WHERE at > $1", last.at)
	if err != nil {
		return nil, err
	}
	tried, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	for _, id := range tried {
		if _, ok := out[id]; !ok {
			out[id] = "delivery was attempted since"
		}
	}
	return out, nil
}

// skipSet is the messages undo leaves alone; the statements of undoVerb
// exclude them (list(), a bigint array parameter).
type skipSet struct{ ids map[int64]bool }

func (sk *skipSet) add(skip []queue.UndoSkip) {
	for _, s := range skip {
		sk.ids[int64(s.ID)] = true
	}
}

func (sk *skipSet) list() []int64 {
	out := make([]int64, 0, len(sk.ids))
	for id := range sk.ids {
		out = append(out, id)
	}
	return out
}

// undoVerb takes back one audited change of the unit, except for the
// messages in sk. It returns the messages it put back and those it could
// not (with why), or a note on what it does not take back. This is the one
// place each verb's undo is dispatched from.
func (tx *Tx) undoVerb(db pgx.Tx, row *auditRow, sk *skipSet) (done []int64, skipped []queue.UndoSkip, note string, err error) {
	switch row.verb {
	case "retry":
		return tx.undoRetry(db, row, sk)
	case "cancel":
		return tx.undoCancel(db, row, sk)
	case "hold", "release":
		skip := make(map[queue.ID]bool, len(sk.ids))
		for id := range sk.ids {
			skip[queue.ID(id)] = true
		}
		ids, skipped, err := tx.undoHold(db, row.seq, skip)
		for _, id := range ids {
			done = append(done, int64(id))
		}
		return done, skipped, "", err
	case "enqueue", "import", "demo":
		return nil, nil, fmt.Sprintf("the %d message(s) added by #%d (%s) stay queued", len(row.ids), row.seq, row.verb), nil
	}
	return nil, nil, fmt.Sprintf("#%d (%s) is not taken back", row.seq, row.verb), nil
}

// kept returns which messages have rows filed under seq in an undo table.
func (tx *Tx) kept(db pgx.Tx, table string, seq int64) (map[int64]bool, error) {
	return tx.idSetOf(db, "SELECT DISTINCT msg_id FROM "+table+" WHERE seq = $1", seq)
}

// liveIDs returns which of ids are queued.
func (tx *Tx) liveIDs(db pgx.Tx, ids []int64) (map[int64]bool, error) {
	return tx.idSetOf(db, "SELECT id FROM messages WHERE "+idSet("id", "$1"), ids)
}

// idSetOf runs a query of one id column into a set.
func (tx *Tx) idSetOf(db pgx.Tx, q string, a ...any) (map[int64]bool, error) {
	rows, err := db.Query(tx.ctx, q, a...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}

// restoreStates puts back the domains' (and recipients') states kept under
// seq, for the messages not in sk, and drops what was kept.
func (tx *Tx) restoreStates(db pgx.Tx, seq int64, sk *skipSet) error {
	skip := sk.list()
	notSkipped := "u.msg_id NOT IN (SELECT unnest($2::bigint[]))"
	if _, err := db.Exec(tx.ctx, "UPDATE domains d SET status = u.status, details = u.details, due = u.due, expires = u.expires FROM undo_domains u "+
		"WHERE u.seq = $1 AND u.msg_id = d.msg_id AND u.idx = d.idx AND "+notSkipped, seq, skip); err != nil {
		return err
	}
	if _, err := db.Exec(tx.ctx, "UPDATE recipients r SET status = u.status, code = u.code, enhanced = u.enhanced, message = u.message FROM undo_recipients u "+
		"WHERE u.seq = $1 AND u.msg_id = r.msg_id AND u.idx = r.idx AND "+notSkipped, seq, skip); err != nil {
		return err
	}
	for _, t := range []string{"undo_domains", "undo_recipients"} {
		if _, err := db.Exec(tx.ctx, "DELETE FROM "+t+" u WHERE u.seq = $1 AND "+notSkipped, seq, skip); err != nil {
			return err
		}
	}
	return nil
}

// undoRetry puts back the due times and expiry a retry replaced.
func (tx *Tx) undoRetry(db pgx.Tx, row *auditRow, sk *skipSet) ([]int64, []queue.UndoSkip, string, error) {
	kept, err := tx.kept(db, "undo_domains", row.seq)
	if err != nil {
		return nil, nil, "", err
	}
	live, err := tx.liveIDs(db, row.ids)
	if err != nil {
		return nil, nil, "", err
	}
	done, skipped := queue.UndoneRetry(row.ids, sk.ids, live, kept)
	sk.add(skipped)
	return done, skipped, "", tx.restoreStates(db, row.seq, sk)
}

// undoCancel puts back the messages a cancel moved to the trash, and the
// states of the recipients a recipient cancel failed.
func (tx *Tx) undoCancel(db pgx.Tx, row *auditRow, sk *skipSet) ([]int64, []queue.UndoSkip, string, error) {
	kept, err := tx.kept(db, "undo_recipients", row.seq)
	if err != nil {
		return nil, nil, "", err
	}
	// The trashed messages of this cancel, less those left alone.
	rows, err := db.Query(tx.ctx, "SELECT id FROM trash_messages WHERE trash_seq = $1 AND id NOT IN (SELECT unnest($2::bigint[])) ORDER BY id", row.seq, sk.list())
	if err != nil {
		return nil, nil, "", err
	}
	trashed, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, nil, "", err
	}
	if len(trashed) > 0 {
		missing, err := tx.restoreTrashed(db, trashed)
		if err != nil {
			return nil, nil, "", err
		}
		if len(missing) > 0 {
			return nil, nil, "", fmt.Errorf("messages %v are queued and in the trash at once", missing)
		}
	}
	live, err := tx.liveIDs(db, row.ids)
	if err != nil {
		return nil, nil, "", err
	}
	done, skipped := queue.UndoneCancel(row.ids, sk.ids, trashed, live, kept)
	sk.add(skipped)
	return done, skipped, "", tx.restoreStates(db, row.seq, sk)
}
