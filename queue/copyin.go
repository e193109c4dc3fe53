package queue

import (
	"errors"
	"fmt"
	"slices"
)

// MessageImporter is implemented by the Txn of engines that take whole
// messages as another engine holds them: ids, schedule, status, DSN
// parameters, the client and the message text (`mqsh copy` between
// engines). It is optional.
type MessageImporter interface {
	// ImportMessages adds the messages next hands over, one at a time,
	// until it returns a nil message, keeping everything about them; raw
	// is the message's text (nil: not kept). An id already queued, or a
	// message that does not hold together, fails the whole import and
	// nothing is added. One audit row ("import", CopyAuditText) records it.
	ImportMessages(from string, next func() (*Message, []byte, error)) (Result, error)
}

var _ MessageImporter = (*Tx)(nil)

// CopyAuditText is the audit text of a copy from the queue named from.
func CopyAuditText(from string) string { return "format=copy from=" + from }

// ImportMessages adds whole messages (see MessageImporter), in a savepoint.
func (tx *Tx) ImportMessages(from string, next func() (*Message, []byte, error)) (res Result, err error) {
	if err := tx.needWrite("import"); err != nil {
		return Result{DryRun: tx.preview}, err
	}
	err = tx.savepoint(false, func() error { res, err = tx.importMessages(from, next); return err })
	if err != nil {
		return Result{DryRun: tx.preview}, err
	}
	return res, nil
}

// arrivalRow is what the inserter's rows leave out of a message: its DSN
// RET, client, hold and the recipients' NOTIFY, written after them.
type arrivalRow struct {
	id     int64
	ret    string
	client Client
	held   bool
	notify []Notify // per recipient, in order
}

func (tx *Tx) importMessages(from string, next func() (*Message, []byte, error)) (Result, error) {
	res := Result{DryRun: tx.preview, Domains: map[string]int{}}
	ins, err := tx.newInserter()
	if err != nil {
		return res, tx.q.fileError("import", err)
	}
	defer ins.close()
	ins.bulk = true
	var extra []arrivalRow
	n := 0
	for {
		m, raw, err := next()
		if err != nil {
			return res, fmt.Errorf("import: %w (nothing was imported)", err)
		}
		if m == nil {
			break
		}
		n++
		if err := normalizeMessage(m, tx.q.clock, tx.q.sched.Expire, false); err != nil {
			return res, fmt.Errorf("import: message %d of the copy: %w (nothing was imported)", n, err)
		}
		a := arrivalRow{id: int64(m.ID), ret: m.Ret, client: m.Client, held: m.Held}
		some := a.ret != "" || a.client != (Client{}) || a.held
		for _, d := range m.Domains {
			res.Domains[d.Name]++
			for _, r := range d.Recipients {
				a.notify = append(a.notify, r.Notify)
				some = some || r.Notify != 0
			}
		}
		if some {
			extra = append(extra, a)
		}
		if err := ins.add(m, raw, 0); err != nil {
			return res, tx.importError(err)
		}
	}
	if err := ins.finish(); err != nil {
		return res, tx.importError(err)
	}
	for _, a := range extra {
		held := 0
		if a.held {
			held = 1
		}
		if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE messages SET ret = ?, client_ip = ?, client_user = ?, client_helo = ?, held = ? WHERE id = ?",
			nullable(a.ret), nullable(a.client.IP), nullable(a.client.User), nullable(a.client.Helo), held, a.id); err != nil {
			return res, tx.importError(err)
		}
		for i, nt := range a.notify {
			if nt == 0 {
				continue
			}
			if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE recipients SET notify = ? WHERE msg_id = ? AND idx = ?", int(nt), a.id, i); err != nil {
				return res, tx.importError(err)
			}
		}
	}
	res.IDs = ins.ids
	slices.Sort(res.IDs)
	res.Count = len(res.IDs)
	if res.Count == 0 {
		return res, nil
	}
	if err := tx.audit("import", CopyAuditText(from), res.IDs); err != nil {
		return Result{}, tx.q.fileError("import", err)
	}
	return res, nil
}

// importError words an error of importMessages: a message named by its
// place in the copy, or the file's complaint, with nothing imported.
func (tx *Tx) importError(err error) error {
	var le *lineError
	if errors.As(err, &le) {
		return fmt.Errorf("import: message %d of the copy: %w (nothing was imported)", le.line, le.err)
	}
	if tx.ctx.Err() != nil {
		return fmt.Errorf("import: %w (nothing was imported)", tx.ctx.Err())
	}
	return fmt.Errorf("import: %w (nothing was imported)", tx.q.fileError("import", err))
}
