package queue

import (
	"context"
	"database/sql"
	"errors"
)

// Delivery can be paused for the whole queue (Stalwart's "queue stop"): a
// paused queue still takes in and stores mail, but no server delivers from it
// until it is resumed. The switch is kept in the queue itself, so every
// process using the queue (the command line, a running server, another node)
// sees it.

// Paused reports whether delivery from the queue is paused.
func (q *Queue) Paused(ctx context.Context) (bool, error) {
	var v int64
	err := q.reader.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'paused'").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, q.fileError("read queue", err)
	}
	return v != 0, nil
}

// SetPaused pauses (true) or resumes (false) delivery, and audits the change
// as "pause" or "resume". It reports whether the state changed: pausing a
// paused queue changes nothing and writes no audit row.
func (q *Queue) SetPaused(ctx context.Context, paused bool) (changed bool, err error) {
	verb, v := "resume", 0
	if paused {
		verb, v = "pause", 1
	}
	err = q.Update(ctx, func(tx *Tx) error {
		if err := tx.needWrite(verb); err != nil {
			return err
		}
		old, err := tx.metaValue("paused")
		if err != nil {
			return err
		}
		if (old != 0) == paused {
			return nil
		}
		if err := tx.setMeta("paused", int64(v)); err != nil {
			return err
		}
		changed = true
		return tx.audit(verb, "", nil)
	})
	return changed, err
}
