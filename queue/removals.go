package queue

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Removals in progress (schema step 8). A cancel or bounce of many messages
// does not move their rows to the trash in its own transaction: it files
// their ids in removals, with the audit seq, time and verb the trash will
// record, and commits. From that commit on every reader treats them as gone
// (compile excludes them from every selection; Get, Raw, the delivery claim
// and the summaries skip them), and sweepRemovals moves their rows to the
// trash afterwards, a bounded number of messages a transaction: serve sweeps
// within a second (SweepRemovals), and the trash commands and undo sweep
// everything before they read the trash. A removal of up to removeLater
// messages is swept in the transaction that files it, so the table is empty
// but during and just after a bulk change.
//
// Why: moving 25,000 messages to the trash rewrites nearly every page of the
// queue (their rows are spread over every page of every table and index),
// about 0.9 s even as plain SQL in the sqlite3 shell, during which serve can
// take no mail; filing them writes a few pages.

// removeLater is the most messages a removal moves to the trash in its own
// transaction; a larger one is filed and swept afterwards. Each Queue keeps
// its own copy (tests file every removal).
var removeLater = 1000

// sweepChunk is how many filed messages one sweeping transaction moves:
// about 90 ms of serve's write lock on a queue of 100,000 (BenchmarkSweep).
var sweepChunk = 2000

// sweepTable is the temporary table a sweep collects its messages in.
const sweepTable = "temp.mqsh_sweep"

// hasRemovals says whether messages are filed for removal and not yet swept:
// then every reader must skip them.
func (tx *Tx) hasRemovals() (bool, error) {
	if tx.filed {
		return true, nil
	}
	var n int
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT EXISTS (SELECT 1 FROM removals)").Scan(&n)
	return n != 0, err
}

// liveCond is the condition that the message m (or the id column given) is
// not filed for removal.
func liveCond(col string) string {
	return col + " NOT IN (SELECT id FROM removals)"
}

// fileRemovals files the messages whose ids are in selTable (every queued
// message not yet filed, with whole) for removal under the change in
// progress (its seq), at now, with verb, and moves them to the trash at once
// when they are no more than removeLater.
func (tx *Tx) fileRemovals(verb string, whole bool, n int) error {
	seq, err := tx.changeSeq()
	if err != nil {
		return err
	}
	src := "SELECT id FROM " + selTable
	if whole {
		src = "SELECT id FROM messages WHERE " + liveCond("id")
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO removals(id, seq, at, verb) SELECT id, ?, ?, ? FROM ("+src+")",
		seq, tx.q.now().UnixMilli(), verb); err != nil {
		return err
	}
	if n > tx.q.removeLater {
		tx.filed = true
		return nil
	}
	_, err = tx.sweepRemovals("seq = ?", []any{seq}, 0)
	return err
}

// sweepRemovals moves up to limit (0: every one) of the filed messages
// matching cond (on removals' columns) to the trash, as the change that
// filed them would have: under its seq, time and verb, for the trash
// retention; with a retention of 0 they are deleted for good, bodies too.
// It returns how many it moved.
func (tx *Tx) sweepRemovals(cond string, args []any, limit int) (int, error) {
	if _, err := tx.tx.ExecContext(tx.ctx, "CREATE TEMP TABLE IF NOT EXISTS mqsh_sweep(id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, at INTEGER NOT NULL, verb TEXT NOT NULL)"); err != nil {
		return 0, err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+sweepTable); err != nil {
		return 0, err
	}
	q := "INSERT INTO " + sweepTable + "(id, seq, at, verb) SELECT id, seq, at, verb FROM removals WHERE " + cond + " ORDER BY id"
	if limit > 0 {
		q += " LIMIT ?"
		args = append(append([]any{}, args...), limit)
	}
	res, err := tx.tx.ExecContext(tx.ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, err
	}
	ret, err := tx.trashRetention()
	if err != nil {
		return 0, err
	}
	// Every queued message swept (after a cancel --all): the live tables
	// are emptied without visiting their rows, as SQLite clears a table
	// with no WHERE; several times faster than deleting row by row. The
	// look stops at the first message left, at most a chunk in.
	var others bool
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE id NOT IN (SELECT id FROM "+sweepTable+"))").Scan(&others); err != nil {
		return 0, err
	}
	sel := "SELECT id FROM " + sweepTable
	if !others {
		sel = ""
	}
	if ret > 0 {
		for _, t := range trashTables {
			cols, err := tx.trashColumns(t.live, t.trash)
			if err != nil {
				return 0, err
			}
			var q string
			if t.live == "messages" {
				q = "INSERT INTO trash_messages(" + cols + ", trashed_at, trash_seq, trash_verb) SELECT " + qualified("x", cols) +
					", s.at, s.seq, s.verb FROM " + sweepTable + " s CROSS JOIN messages x ON x.id = s.id"
			} else {
				q = "INSERT INTO " + t.trash + "(trash_seq, " + cols + ") SELECT s.seq, " + qualified("x", cols) +
					" FROM " + sweepTable + " s CROSS JOIN " + t.live + " x ON x.msg_id = s.id"
			}
			if _, err := tx.tx.ExecContext(tx.ctx, q); err != nil {
				return 0, fmt.Errorf("move to trash: %w", err)
			}
		}
	}
	if err := tx.deleteMessages(sel, ret == 0); err != nil {
		return 0, err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM removals WHERE id IN (SELECT id FROM "+sweepTable+")"); err != nil {
		return 0, err
	}
	return int(n), nil
}

// qualified prefixes each of the comma-separated columns with alias.
func qualified(alias, cols string) string {
	names := strings.Split(cols, ", ")
	for i := range names {
		names[i] = alias + "." + names[i]
	}
	return strings.Join(names, ", ")
}

// sweepAll moves every filed message to the trash: what a verb that reads
// or changes the trash does first, so that the trash tables hold everything
// removed.
func (tx *Tx) sweepAll() error {
	if err := tx.needWrite("trash"); err != nil {
		return err
	}
	_, err := tx.sweepRemovals("1", nil, 0)
	return err
}

// Sweeper is implemented by a queue whose removals of many messages are
// finished afterwards (the SQLite engine): serve calls SweepRemovals about
// once a second.
type Sweeper interface {
	SweepRemovals(ctx context.Context) (int, error)
}

var _ Sweeper = (*Queue)(nil)

// SweepRemovals moves the messages filed for removal to the trash, in
// transactions of sweepChunk messages, until none is left or ctx ends, and
// returns how many it moved. With nothing filed it costs one indexed look on
// a reader and writes nothing.
func (q *Queue) SweepRemovals(ctx context.Context) (int, error) {
	filed, err := q.anyFiled(ctx)
	if err != nil {
		return 0, q.fileError("sweep", err)
	}
	if !filed {
		return 0, nil
	}
	total := 0
	for ctx.Err() == nil {
		var n int
		err := q.Update(ctx, func(tx *Tx) (err error) {
			n, err = tx.sweepRemovals("1", nil, sweepChunk)
			return err
		})
		if err != nil {
			return total, q.fileError("sweep", err)
		}
		total += n
		if n < sweepChunk {
			break
		}
	}
	return total, ctx.Err()
}

// sweepAll moves every filed message to the trash in one transaction (the
// messages of a bulk change are spread over the whole file, so one
// transaction writes each page once), unless none is filed or the queue is
// open read-only (then TrashList says what is missing).
func (q *Queue) sweepAll(ctx context.Context) error {
	if q.readOnly {
		return nil
	}
	filed, err := q.anyFiled(ctx)
	if err == nil && filed {
		err = q.Update(ctx, func(tx *Tx) error { return tx.sweepAll() })
	}
	if err != nil {
		return q.fileError("trash", err)
	}
	return nil
}

// anyFiled says, on a reader, whether any message is filed for removal.
func (q *Queue) anyFiled(ctx context.Context) (bool, error) {
	var filed bool
	err := q.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM removals)").Scan(&filed)
	return filed, err
}

// expiredRemovals deletes for good the filed messages of changes older than
// the retention (limit is the first seq within it), as purgeExpired does
// with the trash: a queue nobody sweeps (no serve) does not keep them
// forever.
func (tx *Tx) expiredRemovals(limit int64) error {
	var low sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT min(seq) FROM removals").Scan(&low); err != nil {
		return err
	}
	if !low.Valid || low.Int64 >= limit {
		return nil
	}
	_, err := tx.sweepRemovals("seq < ?", []any{limit}, 0)
	return err
}
