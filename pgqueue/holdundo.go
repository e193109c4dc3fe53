package pgqueue

// Undoing a hold or a release (`queue undo`): each domain the change
// touched gets back the hold it had before (kept in hold_undo by the
// change's audit seq), as the SQLite engine does (queue/holdundo.go). A
// message whose holds were changed again since, or whose domain is no longer
// pending or queued, is left as it is, whole.

import (
	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// undoHold takes back the hold or release recorded under audit seq seq, in
// db, except for the messages in skip (left as they are, not reported). It
// returns the messages put back, in id order, and those left as they are
// with why. The caller (the undo verb) audits the undo.
func (tx *Tx) undoHold(db pgx.Tx, seq int64, skip map[queue.ID]bool) (done []queue.ID, skipped []queue.UndoSkip, err error) {
	rows, err := db.Query(tx.ctx, `SELECT u.msg_id, u.after, d.name, d.status, d.hold_since
		FROM hold_undo u LEFT JOIN domains d ON d.msg_id = u.msg_id AND d.idx = u.idx
		WHERE u.seq = $1 ORDER BY u.msg_id, u.idx`, seq)
	if err != nil {
		return nil, nil, err
	}
	why := map[queue.ID]string{} // the messages that cannot be put back
	var ids []queue.ID
	for rows.Next() {
		var id int64
		var after, now *int64
		var name *string
		var st *int16
		if err := rows.Scan(&id, &after, &name, &st, &now); err != nil {
			rows.Close()
			return nil, nil, err
		}
		m := queue.ID(id)
		if len(ids) == 0 || ids[len(ids)-1] != m {
			ids = append(ids, m)
		}
		if skip[m] || why[m] != "" {
			continue
		}
		switch {
		case name == nil:
			why[m] = "no longer queued"
		case !queue.Status(*st).Pending():
			why[m] = *name + " is no longer pending"
		case !sameInt(now, after):
			why[m] = *name + " was held or released again since"
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var back []int64
	for _, id := range ids {
		switch {
		case skip[id]:
		case why[id] != "":
			skipped = append(skipped, queue.UndoSkip{ID: id, Reason: why[id]})
		default:
			done = append(done, id)
			back = append(back, int64(id))
		}
	}
	if len(back) == 0 {
		return done, skipped, nil
	}
	_, err = db.Exec(tx.ctx, `UPDATE domains d SET hold_since = u.since, hold_until = u.until, hold_by = u.by, hold_reason = u.reason, hold_rule = u.rule
		FROM hold_undo u WHERE u.seq = $1 AND d.msg_id = u.msg_id AND d.idx = u.idx AND u.msg_id IN (SELECT unnest($2::bigint[]))`, seq, back)
	return done, skipped, err
}

// sameInt reports whether two nullable integers are equal (NULL = NULL).
func sameInt(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
