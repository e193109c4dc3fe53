package queue

// EnqueueBatch: many new messages in one go, for an SMTP server's group
// commit. Enqueue pays for a fresh inserter (statements prepared, the last
// id read, an audit row) per message; a batch pays for them once.

import (
	"database/sql"
	"fmt"
	"strings"
)

// NewMessage is one message for EnqueueBatch: its envelope and RFC 5322 text.
type NewMessage struct {
	Env Envelope
	Raw []byte
}

// EnqueueBatch queues the messages as Enqueue does each, in one savepoint,
// with one audit entry for them all (verb enqueue). It returns the queued
// messages in the order given. A message the queue refuses (a bad address,
// a bad NOTIFY) is reported in errs at its index and left out; the others
// are queued. When writing fails, nothing of the batch is kept and err says
// why: the caller may then queue the messages one by one with Enqueue to
// find the one at fault.
func (tx *Tx) EnqueueBatch(msgs []NewMessage) (out []*Message, errs []error, err error) {
	if err := tx.needWrite("enqueue"); err != nil {
		return nil, nil, err
	}
	out, errs = make([]*Message, len(msgs)), make([]error, len(msgs))
	err = tx.savepoint(false, func() error {
		ins, err := tx.newInserter()
		if err != nil {
			return tx.q.fileError("enqueue", err)
		}
		defer ins.close()
		var ids []ID
		for i := range msgs {
			env := &msgs[i].Env
			if err := checkArrival(env); err != nil {
				errs[i] = fmt.Errorf("enqueue: %w", err)
				continue
			}
			raw := stripBcc(msgs[i].Raw)
			m, err := tx.q.envelopeMessage(*env, raw)
			if err != nil {
				errs[i] = fmt.Errorf("enqueue: %w", err)
				continue
			}
			m.ID = ins.newID(tx.q.now())
			if err := tx.q.normalize(m); err != nil {
				errs[i] = fmt.Errorf("enqueue: %w", err)
				continue
			}
			if raw == nil {
				raw = []byte{}
			}
			if err := ins.add(m, raw, 0); err != nil {
				return tx.q.fileError("enqueue", err)
			}
			out[i] = m
			ids = append(ids, m.ID)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := ins.finish(); err != nil {
			return tx.q.fileError("enqueue", err)
		}
		if err := tx.storeArrivals(msgs, out); err != nil {
			return tx.q.fileError("enqueue", err)
		}
		text := fmt.Sprintf("batch of %d from %s", len(ids), SourceOf(tx.ctx))
		if err := tx.audit("enqueue", text, ids); err != nil {
			return tx.q.fileError("enqueue", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, errs, nil
}

// storeArrivals is storeArrival for a batch, with its statements prepared
// once.
func (tx *Tx) storeArrivals(msgs []NewMessage, out []*Message) error {
	var msgStmt, rcptStmt *sql.Stmt
	defer func() {
		for _, s := range []*sql.Stmt{msgStmt, rcptStmt} {
			if s != nil {
				s.Close()
			}
		}
	}()
	for i, m := range out {
		env := &msgs[i].Env
		if m == nil || !env.hasArrival() {
			continue
		}
		if !env.HoldUntil.IsZero() {
			if err := tx.storeArrival(m, env); err != nil { // rare: the general path
				return err
			}
			continue
		}
		var err error
		if msgStmt == nil {
			if msgStmt, err = tx.tx.PrepareContext(tx.ctx, "UPDATE messages SET ret = ?, client_ip = ?, client_user = ?, client_helo = ?, held = ? WHERE id = ?"); err != nil {
				return err
			}
		}
		held := 0
		if env.Held {
			held = 1
		}
		if _, err := msgStmt.ExecContext(tx.ctx, nullable(env.Ret), nullable(env.Client.IP), nullable(env.Client.User), nullable(env.Client.Helo), held, int64(m.ID)); err != nil {
			return err
		}
		applyArrival(m, env) // no FUTURERELEASE here: nothing moves
		for d := range m.Domains {
			for _, r := range m.Domains[d].Recipients {
				if r.Notify == 0 {
					continue
				}
				if rcptStmt == nil {
					if rcptStmt, err = tx.tx.PrepareContext(tx.ctx, "UPDATE recipients SET notify = ? WHERE msg_id = ? AND address_lc = ?"); err != nil {
						return err
					}
				}
				if _, err := rcptStmt.ExecContext(tx.ctx, int(r.Notify), int64(m.ID), strings.ToLower(r.Address)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
