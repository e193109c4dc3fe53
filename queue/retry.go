package queue

import (
	"fmt"
	"time"
)

// Retry sets the delivery due of the pending (scheduled or temporarily failed)
// domains of the selected messages to r.At (zero = now); with a recipient or
// domain in the filter, only of the domains with a pending recipient it
// names (the scope: Result.Scope, Parts, Kept). Expiry is left alone: never
// shortened, and not extended either; a domain retried after its expiry
// expires when it comes due. Messages with nothing pending (in the scope)
// are not counted. An empty filter needs Filter.All.
func (tx *Tx) Retry(r RetryRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.checkChange("retry", r.Filter); err != nil {
		return res, err
	}
	sc, err := r.Filter.changeScope()
	if err != nil {
		return res, fmt.Errorf("retry: %w", err)
	}
	if err := CheckTime("at", r.At); err != nil {
		return res, fmt.Errorf("retry: %w", err)
	}
	if err := CheckRetry(r); err != nil {
		return res, err
	}
	at := r.At.UTC().Truncate(time.Second) // dues are whole seconds
	if r.At.IsZero() {
		at = tx.q.clock()
	}
	pend := "d.status IN " + pendingSQL
	var pargs []any
	switch {
	case sc.domain != "":
		pend += " AND d.name = ?"
		pargs = []any{sc.domain}
		res.Scope = sc.text
	case !sc.whole():
		rc, rargs := sc.rcptSQL()
		pend += " AND EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = d.msg_id AND r.domain_idx = d.idx AND " + rc + ")"
		pargs = rargs
		res.Scope = sc.text
	}
	err = tx.savepoint(r.DryRun, func() error {
		if err := tx.selectInto(r.Filter); err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable+" WHERE NOT EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = mqsh_sel.id AND "+pend+")", pargs...); err != nil {
			return err
		}
		var err error
		if res.Domains, err = tx.breakdown("SELECT d.name, count(*) FROM "+selTable+" s CROSS JOIN domains d ON d.msg_id = s.id WHERE "+pend+" GROUP BY d.name", pargs...); err != nil {
			return err
		}
		if res.IDs, err = tx.selected(); err != nil {
			return err
		}
		res.Count = len(res.IDs)
		if res.Count == 0 {
			return nil
		}
		if err := tx.keepUndo(func(seq int64) error { return tx.keepDomains(seq, pend, pargs...) }); err != nil {
			return err
		}
		if !sc.whole() {
			for _, n := range res.Domains {
				res.Parts += n
			}
			// Messages with a pending domain the retry leaves alone.
			if err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM "+selTable+" s WHERE EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = s.id AND d.status IN "+pendingSQL+" AND NOT ("+pend+"))", pargs...).Scan(&res.Kept); err != nil {
				return err
			}
		}
		if r.Spread > 0 {
			if err := tx.spreadDue(pend, pargs, at, r.Spread); err != nil {
				return err
			}
		} else {
			upd := "UPDATE domains AS d SET due = ? WHERE d.msg_id IN (SELECT id FROM " + selTable + ") AND " + pend
			if _, err := tx.tx.ExecContext(tx.ctx, upd, append([]any{at.Unix()}, pargs...)...); err != nil {
				return err
			}
		}
		retried := "FROM " + selTable + " s CROSS JOIN domains d ON d.msg_id = s.id WHERE " + pend
		if r.ExtendExpiry > 0 {
			upd := "UPDATE domains AS d SET expires = max(expires, due + ?) WHERE d.msg_id IN (SELECT id FROM " + selTable + ") AND " + pend
			if _, err := tx.tx.ExecContext(tx.ctx, upd, append([]any{int64(r.ExtendExpiry / time.Second)}, pargs...)...); err != nil {
				return err
			}
		}
		var first, last int64
		if err := tx.tx.QueryRowContext(tx.ctx, "SELECT min(d.due), max(d.due), count(*) FILTER (WHERE d.due > d.expires) "+retried, pargs...).Scan(&first, &last, &res.PastExpiry); err != nil {
			return err
		}
		res.First, res.Last = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC()
		if err := tx.refreshDue(); err != nil {
			return err
		}
		return tx.audit("retry", RetryAuditText(r, at), res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("retry", err)
	}
	return res, nil
}

// maxRetryDuration bounds Spread and ExtendExpiry.
const maxRetryDuration = 10 * 365 * 24 * time.Hour

// CheckRetry checks a retry's Spread and ExtendExpiry: not
// negative, whole seconds at least, at most ten years.
func CheckRetry(r RetryRequest) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"spread", r.Spread}, {"extend-expiry", r.ExtendExpiry}} {
		switch {
		case d.v < 0:
			return fmt.Errorf("retry: %s %s is negative: give a duration from now on, such as 2h", d.name, d.v)
		case d.v > 0 && d.v < time.Second:
			return fmt.Errorf("retry: %s %s is under a second: dues are whole seconds", d.name, d.v)
		case d.v > maxRetryDuration:
			return fmt.Errorf("retry: %s %s is longer than ten years", d.name, d.v)
		}
	}
	return nil
}

// spreadDue gives the N domains to retry (the pending ones pend selects
// among the messages in selTable) dues evenly spread over spread from at,
// in message id and domain order: the i-th (from 0) at + i*spread/N, in
// whole seconds.
func (tx *Tx) spreadDue(pend string, pargs []any, at time.Time, spread time.Duration) error {
	if _, err := tx.tx.ExecContext(tx.ctx, "CREATE TEMP TABLE IF NOT EXISTS mqsh_spread(msg_id INTEGER, idx INTEGER, n INTEGER, PRIMARY KEY(msg_id, idx)) WITHOUT ROWID"); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM temp.mqsh_spread"); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO temp.mqsh_spread(msg_id, idx, n) SELECT d.msg_id, d.idx, row_number() OVER (ORDER BY d.msg_id, d.idx) - 1 FROM "+
		selTable+" s CROSS JOIN domains d ON d.msg_id = s.id WHERE "+pend, pargs...); err != nil {
		return err
	}
	var total int64
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM temp.mqsh_spread").Scan(&total); err != nil {
		return err
	}
	if total == 0 {
		return nil
	}
	_, err := tx.tx.ExecContext(tx.ctx, "UPDATE domains AS d SET due = ?1 + sp.n * ?2 / ?3 FROM temp.mqsh_spread sp WHERE sp.msg_id = d.msg_id AND sp.idx = d.idx",
		at.Unix(), int64(spread/time.Second), total)
	return err
}
