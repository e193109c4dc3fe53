package queue

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
)

// importEML does the work of ImportEML, outside a savepoint.
func (tx *Tx) importEML(raw []byte, env *Envelope) (*Message, error) {
	if err := tx.needWrite("import"); err != nil {
		return nil, err
	}
	var e Envelope
	if env != nil {
		e = *env
	} else {
		var err error
		if e, err = EnvelopeFromHeaders(raw); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	m, err := tx.q.envelopeMessage(e, raw)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	ins, err := tx.newInserter()
	if err != nil {
		return nil, tx.q.fileError("import", err)
	}
	defer ins.close()
	m.ID = ins.newID(tx.q.now())
	if err := tx.q.normalize(m); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if raw == nil {
		raw = []byte{}
	}
	if err := ins.add(m, raw, 0); err != nil {
		return nil, tx.q.fileError("import", err)
	}
	if err := ins.finish(); err != nil {
		return nil, tx.q.fileError("import", err)
	}
	sender := m.ReturnPath
	if sender == "" {
		sender = "<>"
	}
	text := fmt.Sprintf("format=eml sender=%s recipients=%d size=%d", quoteValue(sender), len(m.Recipients()), m.Size)
	if err := tx.audit("import", text, []ID{m.ID}); err != nil {
		return nil, tx.q.fileError("import", err)
	}
	return m, nil
}

// EnvelopeFromHeaders derives an envelope from a message's headers, as
// ImportEML does when given no envelope.
func EnvelopeFromHeaders(raw []byte) (Envelope, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Envelope{}, fmt.Errorf("not an RFC 5322 message (%v): give the envelope (sender and recipients) explicitly", err)
	}
	h := msg.Header
	var e Envelope
	if rp := strings.TrimSpace(h.Get("Return-Path")); rp != "" {
		if rp == "<>" {
			e.Sender = ""
		} else if a, err := mail.ParseAddress(rp); err == nil {
			e.Sender = a.Address
		} else {
			e.Sender = strings.Trim(rp, "<>")
		}
	} else {
		for _, k := range []string{"Sender", "From"} {
			if list, err := h.AddressList(k); err == nil && len(list) > 0 {
				e.Sender = list[0].Address
				break
			}
		}
		if e.Sender == "" {
			return Envelope{}, fmt.Errorf("no sender: the message has no Return-Path, Sender or From header; give the sender explicitly")
		}
	}
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			e.Recipients = append(e.Recipients, EnvelopeRecipient{Address: a})
		}
	}
	for _, k := range []string{"X-Original-To", "Delivered-To"} {
		for _, v := range h[k] {
			if a, err := mail.ParseAddress(v); err == nil {
				add(a.Address)
			} else {
				add(strings.Trim(strings.TrimSpace(v), "<>"))
			}
		}
		if len(e.Recipients) > 0 {
			break
		}
	}
	if len(e.Recipients) == 0 {
		for _, k := range []string{"To", "Cc", "Bcc"} {
			if list, err := h.AddressList(k); err == nil {
				for _, a := range list {
					add(a.Address)
				}
			}
		}
	}
	if len(e.Recipients) == 0 {
		return Envelope{}, fmt.Errorf("no recipients: the message has no To, Cc, Bcc, Delivered-To or X-Original-To header; give the recipients explicitly")
	}
	return e, nil
}
