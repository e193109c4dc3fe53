package queue

import "fmt"

// Cancel removes the selected messages (their bodies too) when r.Recipient is
// empty. With r.Recipient (matched as Filter.Recipient) the matching pending
// recipients become permanently failed with code 0 and message "Delivery
// canceled."; a domain left with no pending recipient becomes Completed when one
// of its recipients was delivered, else permanently failed with details
// "Delivery canceled."; a message with nothing pending left is removed. A message
// is counted when anything in it changed. An empty filter needs Filter.All.
func (tx *Tx) Cancel(r CancelRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.checkChange("cancel", r.Filter); err != nil {
		return res, err
	}
	var rc string
	var rargs []any
	if r.Recipient != "" {
		p, err := parseAddrPattern(r.Recipient, false)
		if err != nil {
			return res, fmt.Errorf("cancel: recipient: %w", err)
		}
		switch p.kind {
		case addrExact:
			rc, rargs = "r.address_lc = ?", []any{p.value}
		case addrDomain:
			rc, rargs = "r.address_lc GLOB ?", []any{"*@" + globEscape(p.value)}
		case addrGlob:
			rc, rargs = p.globSQL("r.address_lc")
		}
	}
	err := tx.savepoint(r.DryRun, func() error {
		if err := tx.selectInto(r.Filter); err != nil {
			return err
		}
		var err error
		if rc == "" {
			if res.Domains, err = tx.breakdown("SELECT d.name, count(*) FROM " + selTable + " s CROSS JOIN domains d ON d.msg_id = s.id GROUP BY d.name"); err != nil {
				return err
			}
			if res.IDs, err = tx.selected(); err != nil {
				return err
			}
			res.Count = len(res.IDs)
			if res.Count == 0 {
				return nil
			}
			// The whole queue (--all and nothing else) is cleared table by
			// table, which SQLite does without visiting a row; otherwise
			// each table loses the selected messages' rows.
			where := " WHERE msg_id IN (SELECT id FROM " + selTable + ")"
			if r.Filter.IsEmpty() {
				where = ""
			}
			for _, t := range []string{"recipients", "domains", "bodies"} {
				if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t+where); err != nil {
					return err
				}
			}
			if where != "" {
				where = " WHERE id IN (SELECT id FROM " + selTable + ")"
			}
			if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM messages"+where); err != nil {
				return err
			}
			return tx.audit("cancel", CancelAuditText(r.Filter, ""), res.IDs)
		}
		match := "r.status IN " + pendingSQL + " AND " + rc
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
		if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE recipients AS r SET status = 3, code = 0, enhanced = NULL, message = 'Delivery canceled.' WHERE r.msg_id IN (SELECT id FROM "+selTable+") AND "+match, rargs...); err != nil {
			return err
		}
		rest := "FROM recipients r WHERE r.msg_id = d.msg_id AND r.domain_idx = d.idx"
		if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE domains AS d SET "+
			"status = CASE WHEN EXISTS (SELECT 1 "+rest+" AND r.status = 1) THEN 1 ELSE 3 END, "+
			"details = CASE WHEN EXISTS (SELECT 1 "+rest+" AND r.status = 1) THEN details ELSE 'Delivery canceled.' END "+
			"WHERE d.msg_id IN (SELECT id FROM "+selTable+") AND d.status IN "+pendingSQL+
			" AND NOT EXISTS (SELECT 1 "+rest+" AND r.status IN "+pendingSQL+")"); err != nil {
			return err
		}
		gone := "SELECT id FROM " + selTable + " s WHERE NOT EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = s.id AND d.status IN " + pendingSQL + ")"
		for _, t := range []string{"recipients", "domains", "bodies"} {
			if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t+" WHERE msg_id IN ("+gone+")"); err != nil {
				return err
			}
		}
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM messages WHERE id IN (SELECT id FROM "+selTable+") AND NOT EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = messages.id)"); err != nil {
			return err
		}
		if err := tx.refreshDue(); err != nil {
			return err
		}
		return tx.audit("cancel", CancelAuditText(r.Filter, r.Recipient), res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("cancel", err)
	}
	return res, nil
}
