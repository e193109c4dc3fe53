package queue

import (
	"fmt"
	"time"
)

// Retry sets the delivery due of the pending (scheduled or temporarily failed)
// domains of the selected messages, only r.Domain when set, to r.At (zero =
// now). Expiry is left alone: never shortened, and not extended either; a domain
// retried after its expiry expires when it comes due. Messages with nothing
// pending (in r.Domain) are not counted. An empty filter needs Filter.All.
func (tx *Tx) Retry(r RetryRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.checkChange("retry", r.Filter); err != nil {
		return res, err
	}
	var domain string
	if r.Domain != "" {
		var err error
		if domain, err = normDomain("retry: domain", r.Domain); err != nil {
			return res, err
		}
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
	if domain != "" {
		pend += " AND d.name = ?"
		pargs = append(pargs, domain)
	}
	err := tx.savepoint(r.DryRun, func() error {
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
		upd := "UPDATE domains AS d SET due = ? WHERE d.msg_id IN (SELECT id FROM " + selTable + ") AND " + pend
		if _, err := tx.tx.ExecContext(tx.ctx, upd, append([]any{at.Unix()}, pargs...)...); err != nil {
			return err
		}
		if err := tx.refreshDue(); err != nil {
			return err
		}
		return tx.audit("retry", RetryAuditText(r.Filter, domain, at), res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("retry", err)
	}
	return res, nil
}
