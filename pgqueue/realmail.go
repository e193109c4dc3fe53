package pgqueue

import (
	"context"

	"mqsh/queue"
)

// Telling demo mail from real mail, so that `queue demo` does not mix fake
// messages into a queue that holds real ones (see queue/realmail.go). This
// engine reads it from the audit: every addition but LoadDemo's (enqueue,
// import, SMTP ingest, notices) writes an audit row of its own verb.

var _ queue.RealMailChecker = (*Queue)(nil)

// HoldsRealMail reports whether the queue holds messages and has ever been
// given one that LoadDemo did not make.
func (q *Queue) HoldsRealMail(ctx context.Context) (bool, error) {
	var real bool
	err := q.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM messages) AND EXISTS (SELECT 1 FROM audit WHERE verb IN ('enqueue', 'import', 'notice') AND count > 0)").Scan(&real)
	if err != nil {
		return false, q.dbError("read queue", err)
	}
	return real, nil
}
