package pgqueue

// queue explain on PostgreSQL: the same facts as the SQLite engine's
// (queue/explain.go) from the shared queue: per domain its state, attempts,
// next retry, hold and the lease of the node delivering it now; for a
// message already gone, its attempts and the audited change that removed
// it.

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

var (
	_ queue.Explainer   = (*Queue)(nil)
	_ queue.TxExplainer = (*Tx)(nil)
)

// Explain tells about one message; queue.ErrNotFound when the queue neither
// holds it nor remembers an attempt to deliver it or the change that
// removed it.
func (q *Queue) Explain(ctx context.Context, id queue.ID) (*queue.Explanation, error) {
	e, err := read(q, ctx, func(tx *Tx) (*queue.Explanation, error) { return tx.Explain(id) })
	if err != nil {
		return nil, err
	}
	if e.Paused, err = q.Paused(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Explain is Queue.Explain inside a transaction (Paused is left false: the
// switch is read by Queue.Explain).
func (tx *Tx) Explain(id queue.ID) (*queue.Explanation, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	e := &queue.Explanation{ID: id, Now: tx.q.clock()}
	attempts, err := tx.attemptNotes(id)
	if err != nil {
		return nil, tx.q.dbError("explain", err)
	}
	m, err := tx.Get(id)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		if e.Removed, err = tx.removedBy(id); err != nil {
			return nil, tx.q.dbError("explain", err)
		}
		if len(attempts) == 0 && e.Removed == nil {
			return nil, fmt.Errorf("message %s: %w", id, queue.ErrNotFound)
		}
		e.Domains = queue.GoneDomains(attempts)
		return e, nil
	case err != nil:
		return nil, err
	}
	leases, err := tx.leases(id)
	if err != nil {
		return nil, tx.q.dbError("explain", err)
	}
	queue.ExplainQueued(e, m, attempts, leases)
	return e, nil
}

// attemptNotes reads the attempts history of a message, per domain, oldest
// first.
func (tx *Tx) attemptNotes(id queue.ID) (map[string][]queue.AttemptNote, error) {
	out := map[string][]queue.AttemptNote{}
	if uint64(id) > math.MaxInt64 {
		return out, nil
	}
	rows, err := tx.tx.Query(tx.ctx, "SELECT domain, at, host, reply FROM attempts WHERE msg_id = $1 ORDER BY at, seq", int64(id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var dom string
		var at int64
		var host, reply *string
		if err := rows.Scan(&dom, &at, &host, &reply); err != nil {
			return nil, err
		}
		out[dom] = append(out[dom], queue.AttemptNote{At: fromUnixMilli(at), Host: orString(host, ""), Reply: orString(reply, "")})
	}
	return out, rows.Err()
}

// removedBy finds the newest audited change that removed or cancelled
// recipients of a message no longer queued: the one that removed it; nil
// when none names it.
func (tx *Tx) removedBy(id queue.ID) (*queue.Removal, error) {
	if uint64(id) > math.MaxInt64 {
		return nil, nil
	}
	var e queue.Removal
	var at int64
	err := tx.tx.QueryRow(tx.ctx, "SELECT seq, at, username, source, verb, filter FROM audit WHERE verb = ANY($1) AND $2 = ANY(ids) ORDER BY seq DESC LIMIT 1",
		queue.RemoveVerbs(), int64(id)).Scan(&e.Seq, &at, &e.User, &e.Source, &e.Verb, &e.Filter)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	e.At = fromUnixMilli(at)
	return &e, nil
}

// leases reads the delivery leases of a message's domains.
func (tx *Tx) leases(id queue.ID) (map[string]queue.DomainLease, error) {
	rows, err := tx.tx.Query(tx.ctx, "SELECT name, locked_by, locked_until FROM domains WHERE msg_id = $1 AND locked_until IS NOT NULL", int64(id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]queue.DomainLease{}
	for rows.Next() {
		var name string
		var by *string
		var until int64
		if err := rows.Scan(&name, &by, &until); err != nil {
			return nil, err
		}
		out[name] = queue.DomainLease{By: orString(by, ""), Until: fromUnix(until)}
	}
	return out, rows.Err()
}
