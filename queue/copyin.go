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

func (tx *Tx) importMessages(from string, next func() (*Message, []byte, error)) (Result, error) {
	res := Result{DryRun: tx.preview, Domains: map[string]int{}}
	ins, err := tx.newInserter()
	if err != nil {
		return res, tx.q.fileError("import", err)
	}
	ins.bulk = true
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
		// The inserter writes every column, the arrival's (RET, client,
		// NOTIFY, holds) and the text's headers among them.
		for _, d := range m.Domains {
			res.Domains[d.Name]++
		}
		if err := ins.add(m, raw, 0); err != nil {
			return res, tx.importError(err)
		}
	}
	if err := ins.finish(); err != nil {
		return res, tx.importError(err)
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
