package queue

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"
)

// The audit log: one row per change, written in the transaction of the
// change, and read back by Audit.

// audit records a change in the current transaction, under the seq
// changeSeq reserved for it when it did. Every row a transaction writes
// carries the seq of its first row as its unit: the changes of one script
// run are one unit, which undo takes back together.
func (tx *Tx) audit(verb, text string, ids []ID) error {
	return tx.auditUndo(verb, text, ids, 0)
}

// auditUndo is audit for an undo's row, which names the unit it took back.
func (tx *Tx) auditUndo(verb, text string, ids []ID, undoes int64) error {
	sorted := ids
	if !slices.IsSorted(ids) {
		sorted = slices.Clone(ids)
		slices.Sort(sorted)
	}
	seq, err := tx.changeSeq()
	if err != nil {
		return err
	}
	unit := tx.unit
	if unit == 0 {
		unit = seq
	}
	var und any
	if undoes != 0 {
		und = undoes
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO audit(seq, at, user, source, verb, filter, count, ids, unit, undoes) VALUES(?,?,?,?,?,?,?,?,?,?)",
		seq, tx.q.now().UnixMilli(), tx.q.user, SourceOf(tx.ctx), verb, text, len(ids), encodeIDs(sorted), unit, und); err != nil {
		return err
	}
	tx.seq, tx.unit = 0, unit
	if tx.noHousekeep {
		// The SMTP server's group commit: its committer is the ingest's
		// bottleneck, and serve keeps house every minute anyway.
		return nil
	}
	return tx.lazyHousekeep() // every other audited write purges what has expired
}

// changeSeq returns the audit seq the change in progress will be recorded
// under, reserving it at the first call: a verb that keeps what undo needs
// (trashed messages, previous states) files it under this seq before it
// writes its audit row. The write transaction holds the lock, so the next
// seq is the highest so far plus one.
func (tx *Tx) changeSeq() (int64, error) {
	if tx.seq != 0 {
		return tx.seq, nil
	}
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT coalesce(max(seq), 0) + 1 FROM audit").Scan(&tx.seq); err != nil {
		return 0, err
	}
	return tx.seq, nil
}

// Audit returns audit entries, newest first.
func (tx *Tx) Audit(aq AuditQuery) ([]AuditEntry, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if err := CheckTime("audit since", aq.Since); err != nil {
		return nil, err
	}
	q := "SELECT seq, at, user, source, verb, filter, count, ids FROM audit"
	var w []string
	var args []any
	if !aq.Since.IsZero() {
		w = append(w, "at >= ?")
		args = append(args, aq.Since.UnixMilli())
	}
	if aq.Verb != "" {
		w = append(w, "verb = ?")
		args = append(args, aq.Verb)
	}
	if len(w) > 0 {
		q += " WHERE " + strings.Join(w, " AND ")
	}
	q += " ORDER BY seq DESC"
	if aq.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, aq.Limit)
	}
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, tx.q.fileError("audit", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		var blob []byte
		if err := rows.Scan(&e.Seq, &at, &e.User, &e.Source, &e.Verb, &e.Filter, &e.Count, &blob); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at).UTC()
		e.IDs = decodeIDs(blob)
		out = append(out, e)
	}
	return out, rows.Err()
}

// encodeIDs packs ascending ids as delta-encoded uvarints.
func encodeIDs(ids []ID) []byte {
	buf := make([]byte, 0, len(ids)*4)
	var prev uint64
	for _, id := range ids {
		buf = binary.AppendUvarint(buf, uint64(id)-prev)
		prev = uint64(id)
	}
	return buf
}

func decodeIDs(b []byte) []ID {
	var out []ID
	var prev uint64
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			break
		}
		prev += d
		out = append(out, ID(prev))
		b = b[n:]
	}
	return out
}
