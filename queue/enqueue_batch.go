package queue

// EnqueueBatch: many new messages in one go, for an SMTP server's group
// commit. Enqueue pays for a fresh inserter (statements prepared, the last
// id read, an audit row) per message; a batch pays for them once.

import (
	"fmt"
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
	err = tx.savepoint(false, func() error {
		out, errs, err = tx.enqueueBatch(msgs)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return out, errs, nil
}

// enqueueBatch is EnqueueBatch's work, without a savepoint of its own: when
// it fails, the caller undoes what it wrote (a savepoint, or Ingest's whole
// transaction).
func (tx *Tx) enqueueBatch(msgs []NewMessage) (out []*Message, errs []error, err error) {
	out, errs = make([]*Message, len(msgs)), make([]error, len(msgs))
	err = func() error {
		ins, err := tx.newInserter()
		if err != nil {
			return tx.q.fileError("enqueue", err)
		}
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
			if err := applyArrival(m, env); err != nil {
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
		if err := tx.applyRules(out); err != nil {
			return tx.q.fileError("enqueue", err)
		}
		text := fmt.Sprintf("batch of %d from %s", len(ids), SourceOf(tx.ctx))
		if err := tx.audit("enqueue", text, ids); err != nil {
			return tx.q.fileError("enqueue", err)
		}
		return nil
	}()
	return out, errs, err
}
