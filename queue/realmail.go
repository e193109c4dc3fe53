package queue

import (
	"context"
	"database/sql"
	"errors"
)

// Telling demo mail from real mail, so that `queue demo` does not mix fake
// messages into a queue that holds real ones: every addition but LoadDemo's
// (enqueue, import, SMTP ingest, notices) sets the meta key real_mail.

// RealMailChecker is implemented by a backend that can tell whether it
// holds real mail (the SQLite engine).
type RealMailChecker interface {
	// HoldsRealMail reports whether the queue holds messages and has ever
	// been given one that LoadDemo did not make.
	HoldsRealMail(ctx context.Context) (bool, error)
}

var _ RealMailChecker = (*Queue)(nil)

// markRealMail records that messages other than demo ones were added.
func (tx *Tx) markRealMail(demo bool) error {
	if demo {
		return nil
	}
	// The 1 is bound, so that the connection keeps the statement prepared
	// (a statement with nothing bound is compiled at every run).
	_, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO meta(key, value) VALUES('real_mail', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1", 1)
	return err
}

// HoldsRealMail reports whether the queue holds messages and has ever been
// given one that LoadDemo did not make.
func (q *Queue) HoldsRealMail(ctx context.Context) (bool, error) {
	var real bool
	err := q.View(ctx, func(tx *Tx) error {
		var flag sql.NullInt64
		err := tx.tx.QueryRowContext(ctx, "SELECT (SELECT value FROM meta WHERE key = 'real_mail'), EXISTS (SELECT 1 FROM messages WHERE "+liveCond("id")+")").Scan(&flag, &real)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		real = real && flag.Int64 == 1
		return err
	})
	if err != nil {
		return false, q.fileError("read queue", err)
	}
	return real, nil
}
