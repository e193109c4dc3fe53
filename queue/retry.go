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
	at := r.At.UTC().Truncate(time.Second) // dues are whole seconds
	if r.At.IsZero() {
		at = tx.q.clock()
	}
	pend := "d.status IN " + pendingSQL
	var pargs []any
	if !sc.whole() {
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
		if !sc.whole() {
			for _, n := range res.Domains {
				res.Parts += n
			}
			// Messages with a pending domain the retry leaves alone.
			if err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM "+selTable+" s WHERE EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = s.id AND d.status IN "+pendingSQL+" AND NOT ("+pend+"))", pargs...).Scan(&res.Kept); err != nil {
				return err
			}
		}
		upd := "UPDATE domains AS d SET due = ? WHERE d.msg_id IN (SELECT id FROM " + selTable + ") AND " + pend
		if _, err := tx.tx.ExecContext(tx.ctx, upd, append([]any{at.Unix()}, pargs...)...); err != nil {
			return err
		}
		if err := tx.refreshDue(); err != nil {
			return err
		}
		// The filter, then the verb's own options: "domain=x; at=T".
		return tx.audit("retry", r.Filter.String()+"; at="+formatTime(at), res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("retry", err)
	}
	return res, nil
}
