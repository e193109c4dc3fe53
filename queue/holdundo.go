package queue

// Undoing a hold or a release: each domain the change touched gets back the
// hold it had before, unless a later change touched it again. `queue undo`
// (another part of the toolbox) calls UndoHold for audit entries of verbs
// hold and release.

import (
	"database/sql"
	"errors"
	"fmt"
)

// HoldUndoResult is what UndoHold did.
type HoldUndoResult struct {
	Result
	// Skipped says, per domain that could not be put back, why: it was
	// held or released again since, it is no longer pending, or its message
	// is gone. "message 52B91F716, gmail.com: held again since".
	Skipped []string
}

// UndoHold puts back the holds that the hold or release recorded under audit
// seq seq changed: each domain gets the hold it had before (or none), when
// its hold is still the one the change left. A domain already as it was
// before counts as put back. The undo is audited (verb undo, text
// "undo=SEQ verb=hold"), in one savepoint; dryRun reports and rolls back.
func (tx *Tx) UndoHold(seq int64, dryRun bool) (HoldUndoResult, error) {
	res := HoldUndoResult{Result: Result{DryRun: dryRun || tx.preview}}
	if err := tx.needWrite("undo"); err != nil {
		return res, err
	}
	var verb string
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT verb FROM audit WHERE seq = ?", seq).Scan(&verb)
	if errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("undo: there is no change %d in the audit log (`queue audit` lists them)", seq)
	}
	if err != nil {
		return res, tx.q.fileError("undo", err)
	}
	if verb != "hold" && verb != "release" {
		return res, fmt.Errorf("undo: change %d was made by %s, not by hold or release (only those are undone here)", seq, verb)
	}
	err = tx.savepoint(dryRun, func() error {
		rows, err := tx.tx.QueryContext(tx.ctx, `SELECT u.msg_id, u.idx, u.after, u.since, d.name, d.status, d.hold_since
			FROM hold_undo u LEFT JOIN domains d ON d.msg_id = u.msg_id AND d.idx = u.idx
			WHERE u.seq = ? ORDER BY u.msg_id, u.idx`, seq)
		if err != nil {
			return err
		}
		type key struct {
			id  int64
			idx int
		}
		var back []key
		res.Domains = map[string]int{}
		seen := map[int64]bool{}
		for rows.Next() {
			var k key
			var after, since, now sql.NullInt64
			var name sql.NullString
			var st sql.NullInt64
			if err := rows.Scan(&k.id, &k.idx, &after, &since, &name, &st, &now); err != nil {
				rows.Close()
				return err
			}
			where := fmt.Sprintf("message %s, %s", ID(k.id), name.String)
			switch {
			case !name.Valid:
				res.Skipped = append(res.Skipped, fmt.Sprintf("message %s: gone from the queue", ID(k.id)))
				continue
			case !Status(st.Int64).Pending():
				res.Skipped = append(res.Skipped, where+": no longer pending")
				continue
			case now == since:
				// already as it was before (say, a hold that ended)
			case now != after:
				what := "released"
				if now.Valid {
					what = "held again"
				}
				res.Skipped = append(res.Skipped, where+": "+what+" since")
				continue
			default:
				back = append(back, k)
			}
			if !seen[k.id] {
				seen[k.id] = true
				res.IDs = append(res.IDs, ID(k.id))
			}
			res.Domains[name.String]++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		res.Count = len(res.IDs)
		if len(back) > 0 {
			// One statement puts back what the loop above found: the
			// pending domains whose hold is the one the change left.
			if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE domains AS d SET hold_since = u.since, hold_until = u.until, hold_by = u.by, hold_reason = u.reason, hold_rule = u.rule
				FROM hold_undo u WHERE u.seq = ? AND d.msg_id = u.msg_id AND d.idx = u.idx AND d.status IN `+pendingSQL+` AND d.hold_since IS u.after`, seq); err != nil {
				return err
			}
		}
		if res.Count == 0 {
			return nil
		}
		return tx.audit("undo", fmt.Sprintf("undo=%d verb=%s", seq, verb), res.IDs)
	})
	if err != nil {
		return HoldUndoResult{Result: Result{DryRun: res.DryRun}}, tx.verbError("undo", err)
	}
	return res, nil
}
