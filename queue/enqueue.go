package queue

import (
	"fmt"
	"strings"
	"time"
)

// New messages from an envelope and a text: Enqueue and .eml imports.

// checkAddress validates an envelope address (without angle brackets).
func checkAddress(what, a string) (string, error) {
	a = strings.TrimSpace(a)
	if err := checkAddressLength(a); err != nil {
		return "", fmt.Errorf("invalid %s: %w", what, err)
	}
	if err := checkPrintable(a); err != nil {
		return "", fmt.Errorf("invalid %s %q: %w", what, a, err)
	}
	if len(a) > 2 && a[0] == '<' && a[len(a)-1] == '>' {
		a = a[1 : len(a)-1]
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.ContainsAny(a, " \t\r\n<>,") {
		return "", fmt.Errorf("invalid %s %q: want an address such as bill@example.net", what, a)
	}
	return a, nil
}

// addNew queues one new message with the envelope env and the text raw (its
// Bcc fields removed, see stripBcc) and audits it under verb, its audit text
// starting with prefix: the work of Enqueue and ImportEML, inside their
// savepoint (which has checked that the queue may be written).
func (tx *Tx) addNew(verb, prefix string, env Envelope, raw []byte) (*Message, error) {
	raw = stripBcc(raw)
	m, err := tx.q.envelopeMessage(env, raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	ins, err := tx.newInserter()
	if err != nil {
		return nil, tx.q.fileError(verb, err)
	}
	m.ID = ins.newID(tx.q.now())
	if err := tx.q.normalize(m); err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	if err := applyArrival(m, &env); err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	if raw == nil {
		raw = []byte{}
	}
	if err := ins.add(m, raw, 0); err != nil {
		return nil, tx.q.fileError(verb, err)
	}
	if err := ins.finish(); err != nil {
		return nil, tx.q.fileError(verb, err)
	}
	if err := tx.audit(verb, AddAuditText(prefix, m), []ID{m.ID}); err != nil {
		return nil, tx.q.fileError(verb, err)
	}
	return m, nil
}

// envelopeMessage builds a new message from an envelope, scheduled from now.
func (q *Queue) envelopeMessage(env Envelope, raw []byte) (*Message, error) {
	return envelopeMessage(env, raw, q.clock(), q.sched)
}

// envelopeMessage builds a new message from an envelope, created at now
// and scheduled by sched.
func envelopeMessage(env Envelope, raw []byte, now time.Time, sched Schedule) (*Message, error) {
	sender := strings.TrimSpace(env.Sender)
	if sender == "<>" {
		sender = ""
	}
	if sender != "" {
		var err error
		if sender, err = checkAddress("sender", sender); err != nil {
			return nil, fmt.Errorf("%w, or <> for a bounce", err)
		}
	}
	if len(env.Recipients) == 0 {
		return nil, fmt.Errorf("no recipients: a message needs at least one")
	}
	if err := checkRecipientCount(len(env.Recipients)); err != nil {
		return nil, err
	}
	m := &Message{ReturnPath: sender, Created: now, Size: int64(len(raw)), EnvID: env.EnvID, Priority: env.Priority}
	var notify time.Time
	if len(sched.Notify) > 0 {
		notify = now.Add(sched.Notify[0])
	}
	for _, er := range env.Recipients {
		a, err := checkAddress("recipient", er.Address)
		if err != nil {
			return nil, err
		}
		m.addRecipient(domainOf(a), Recipient{Address: a, ORCPT: er.ORCPT},
			Domain{Due: now, NotifyAt: notify, Expires: now.Add(sched.Expire)})
	}
	return m, nil
}
