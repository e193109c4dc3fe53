package pgqueue

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

var _ queue.MessageImporter = (*Tx)(nil)

// ImportMessages adds whole messages as another engine holds them, with
// COPY, all or none (see queue.MessageImporter): `mqsh copy` into
// PostgreSQL. Like the JSON import, a copy at least as big as the queue
// builds the secondary indexes afresh at its end, and one into an empty
// queue writes its rows frozen.
func (tx *Tx) ImportMessages(from string, next func() (*queue.Message, []byte, error)) (res queue.Result, err error) {
	if err := tx.needWrite("import"); err != nil {
		return queue.Result{DryRun: tx.dry}, err
	}
	err = tx.savepoint(false, func(db pgx.Tx) error {
		res = queue.Result{DryRun: tx.dry, Domains: map[string]int{}}
		ins := tx.newInserter(db)
		ins.bulk = true // a big copy into an empty queue builds its indexes at the end
		for n := 1; ; n++ {
			m, raw, err := next()
			if err != nil {
				return fmt.Errorf("import: %w (nothing was imported)", err)
			}
			if m == nil {
				break
			}
			if err := queue.NormalizeMessage(m, tx.q.clock, tx.q.sched.Expire); err != nil {
				return fmt.Errorf("import: message %d of the copy: %w (nothing was imported)", n, err)
			}
			for _, d := range m.Domains {
				res.Domains[d.Name]++
			}
			if err := ins.add(m, raw, 0); err != nil {
				return queue.ImportError(tx.q.scrub(err))
			}
		}
		return tx.endImport(db, ins, ins.finish(), queue.CopyAuditText(from), &res)
	})
	if err != nil {
		return queue.Result{DryRun: tx.dry}, err
	}
	return res, nil
}
