package queue

// Undoing a hold or a release (`queue undo`, from undoVerb): each domain
// the change touched gets back the hold it had before (kept in hold_undo by
// the change's audit seq). A message whose holds were changed again since,
// or whose domain is no longer pending, is left as it is, whole.

import "database/sql"

// undoHold takes back the hold or release of row, except for the messages
// in skipTable (and sk); it returns the messages put back and those left
// as they are, with why.
func (tx *Tx) undoHold(row *auditRow, sk *skipSet) ([]ID, []UndoSkip, string, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT u.msg_id, u.after, d.name, d.status, d.hold_since
		FROM hold_undo u LEFT JOIN domains d ON d.msg_id = u.msg_id AND d.idx = u.idx
		WHERE u.seq = ? ORDER BY u.msg_id, u.idx`, row.seq)
	if err != nil {
		return nil, nil, "", err
	}
	why := map[ID]string{} // the messages that cannot be put back
	var ids []ID
	for rows.Next() {
		var id int64
		var after, now, st sql.NullInt64
		var name sql.NullString
		if err := rows.Scan(&id, &after, &name, &st, &now); err != nil {
			rows.Close()
			return nil, nil, "", err
		}
		m := ID(id)
		if len(ids) == 0 || ids[len(ids)-1] != m {
			ids = append(ids, m)
		}
		if sk.ids[m] || why[m] != "" {
			continue
		}
		switch {
		case !name.Valid:
			why[m] = "no longer queued"
		case !Status(st.Int64).Pending():
			why[m] = name.String + " is no longer pending"
		case now != after:
			why[m] = name.String + " was held or released again since"
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, "", err
	}
	var done []ID
	var skipped []UndoSkip
	for _, id := range ids {
		switch {
		case sk.ids[id]:
		case why[id] != "":
			skipped = append(skipped, UndoSkip{ID: id, Reason: why[id]})
		default:
			done = append(done, id)
		}
	}
	if err := sk.add(skipped); err != nil {
		return nil, nil, "", err
	}
	_, err = tx.tx.ExecContext(tx.ctx, `UPDATE domains AS d SET hold_since = u.since, hold_until = u.until, hold_by = u.by, hold_reason = u.reason, hold_rule = u.rule
		FROM hold_undo u WHERE u.seq = ? AND d.msg_id = u.msg_id AND d.idx = u.idx AND d.msg_id NOT IN (SELECT id FROM `+skipTable+`)`, row.seq)
	return done, skipped, "", err
}
