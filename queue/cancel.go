package queue

import "fmt"

// Cancel moves the selected messages to the trash (see removeSelected). With a recipient
// or domain in the filter (the scope, see scope.go) only the matching pending
// recipients become permanently failed with code 0 and message "Delivery
// canceled."; a domain left with no pending recipient becomes Completed when
// one of its recipients was delivered, else permanently failed with details
// "Delivery canceled."; a message with nothing pending left goes to the
// trash, and the previous states of the others are kept for undo. A
// message is counted when anything in it changed. An empty filter needs
// Filter.All.
func (tx *Tx) Cancel(r CancelRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.checkChange("cancel", r.Filter); err != nil {
		return res, err
	}
	sc, err := r.Filter.changeScope()
	if err != nil {
		return res, fmt.Errorf("cancel: %w", err)
	}
	err = tx.savepoint(r.DryRun, func() error {
		// The whole queue (--all) needs no selection: cancelSelected reads
		// the ids and counts from the live tables themselves.
		every := r.Filter.IsEmpty() && sc.whole()
		if every { // messages filed for removal are not queued: select the others
			filed, err := tx.hasRemovals()
			if err != nil {
				return err
			}
			every = !filed
		}
		if !every {
			if err := tx.selectInto(r.Filter); err != nil {
				return err
			}
		}
		if err := tx.cancelSelected(sc, every, canceledMark, &res); err != nil || res.Count == 0 {
			return err
		}
		return tx.audit("cancel", r.Filter.String(), res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("cancel", err)
	}
	return res, nil
}

// failMark is what a cancelled or bounced recipient becomes: the SET
// clause on recipients and its arguments, and the details of a domain left
// with nothing pending and nothing delivered.
type failMark struct {
	verb    string // the verb the trash files removed messages under
	set     string
	args    []any
	details string
}

// canceledMark is Stalwart's cancel: code 0, "Delivery canceled.".
var canceledMark = failMark{verb: "cancel", set: "status = 3, code = 0, enhanced = NULL, message = 'Delivery canceled.'", details: "Delivery canceled."}

// cancelSelected cancels, as Cancel says, the messages in selTable (those
// with nothing in the scope are dropped from it), marking the recipients in
// the scope with mark, and fills res (nothing is changed when res.Count is
// 0). every says the whole scope of every queued message (cancel --all):
// selTable is not read and the tables are emptied, so a verb that has
// queued messages of its own in the change (bounce's notices) never sets
// it. The caller writes the audit row.
func (tx *Tx) cancelSelected(sc scope, every bool, mark failMark, res *Result) error {
	var err error
	if every {
		// Every domain row counts (domains_name holds one per message and
		// name, and is read in name order), and the ids come straight from
		// messages: a third of the CPU of cancel --all went to collecting the
		// ids in selTable and joining it back to the domains.
		if res.Domains, err = tx.breakdown("SELECT name, count(*) FROM domains GROUP BY name"); err != nil {
			return err
		}
		if res.IDs, err = tx.tableIDs("messages"); err != nil {
			return err
		}
		if res.Count = len(res.IDs); res.Count == 0 {
			return nil
		}
		return tx.removeSelected(mark.verb, true, res.Count)
	}
	if sc.whole() {
		if res.Domains, err = tx.selectedDomains("domains"); err != nil {
			return err
		}
		if res.IDs, err = tx.selected(); err != nil {
			return err
		}
		res.Count = len(res.IDs)
		if res.Count == 0 {
			return nil
		}
		return tx.removeSelected(mark.verb, false, res.Count)
	}
	match, rargs := sc.rcptSQL()
	res.Scope = sc.text
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable+" WHERE NOT EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = mqsh_sel.id AND "+match+")", rargs...); err != nil {
		return err
	}
	if res.Domains, err = tx.breakdown("SELECT d.name, count(DISTINCT r.msg_id) FROM "+selTable+" s CROSS JOIN recipients r ON r.msg_id = s.id CROSS JOIN domains d ON d.msg_id = r.msg_id AND d.idx = r.domain_idx WHERE "+match+" GROUP BY d.name", rargs...); err != nil {
		return err
	}
	if res.IDs, err = tx.selected(); err != nil {
		return err
	}
	res.Count = len(res.IDs)
	if res.Count == 0 {
		return nil
	}
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM "+selTable+" s CROSS JOIN recipients r ON r.msg_id = s.id WHERE "+match, rargs...).Scan(&res.Parts); err != nil {
		return err
	}
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM "+selTable+" s WHERE EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = s.id AND r.status IN "+pendingSQL+" AND NOT ("+match+"))", rargs...).Scan(&res.Kept); err != nil {
		return err
	}
	if err := tx.keepUndo(func(seq int64) error {
		if _, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO undo_recipients(seq, msg_id, idx, status, code, enhanced, message) "+
			"SELECT ?, r.msg_id, r.idx, r.status, r.code, r.enhanced, r.message FROM recipients r WHERE r.msg_id IN (SELECT id FROM "+selTable+") AND "+match, append([]any{seq}, rargs...)...); err != nil {
			return err
		}
		return tx.keepDomains(seq, "d.status IN "+pendingSQL)
	}); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE recipients AS r SET "+mark.set+" WHERE r.msg_id IN (SELECT id FROM "+selTable+") AND "+match, append(append([]any{}, mark.args...), rargs...)...); err != nil {
		return err
	}
	rest := "FROM recipients r WHERE r.msg_id = d.msg_id AND r.domain_idx = d.idx"
	if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE domains AS d SET "+
		"status = CASE WHEN EXISTS (SELECT 1 "+rest+" AND r.status = 1) THEN 1 ELSE 3 END, "+
		"details = CASE WHEN EXISTS (SELECT 1 "+rest+" AND r.status = 1) THEN details ELSE ? END "+
		"WHERE d.msg_id IN (SELECT id FROM "+selTable+") AND d.status IN "+pendingSQL+
		" AND NOT EXISTS (SELECT 1 "+rest+" AND r.status IN "+pendingSQL+")", mark.details); err != nil {
		return err
	}
	if err := tx.refreshDue(); err != nil {
		return err
	}
	// A message left with nothing pending goes to the trash.
	kept, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable+" WHERE EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = mqsh_sel.id AND d.status IN "+pendingSQL+")")
	if err != nil {
		return err
	}
	n, err := kept.RowsAffected()
	if err != nil || int(n) == res.Count {
		return err
	}
	return tx.removeSelected(mark.verb, false, res.Count-int(n))
}
