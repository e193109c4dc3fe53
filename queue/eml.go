package queue

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// importEML does the work of ImportEML, inside its savepoint (which has
// checked that the queue may be written).
func (tx *Tx) importEML(raw []byte, env *Envelope) (*Message, error) {
	var e Envelope
	if env != nil {
		e = *env
	} else {
		var err error
		if e, err = EnvelopeFromHeaders(raw); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	return tx.addNew("import", "format=eml ", e, raw)
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
			list, err := headerAddresses(h, k)
			if err != nil {
				return Envelope{}, fmt.Errorf("%w; give the sender explicitly", err)
			}
			if len(list) > 0 {
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
			list, err := headerAddresses(h, k)
			if err != nil {
				return Envelope{}, fmt.Errorf("%w; give the recipients explicitly", err)
			}
			for _, a := range list {
				add(a.Address)
			}
		}
	}
	if len(e.Recipients) == 0 {
		return Envelope{}, fmt.Errorf("no recipients: the message has no To, Cc, Bcc, Delivered-To or X-Original-To header; give the recipients explicitly")
	}
	return e, nil
}

// headerAddresses reads the addresses of every key header. A header in 8-bit
// text that is not UTF-8 is read as Latin-1, as mail clients of old wrote
// it; a control character, or text that is no address list, is an error
// naming the header and what is wrong with it.
func headerAddresses(h mail.Header, key string) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, v := range h[key] {
		if r, i, bad := firstControl(v); bad {
			return nil, fmt.Errorf("%s header %s holds a control character (%U at byte %d)", key, shortQuote(v), r, i)
		}
		if !utf8.ValidString(v) {
			v = latin1(v)
		}
		list, err := mail.ParseAddressList(v)
		if err != nil {
			return nil, fmt.Errorf("%s header %s is not an address list (%v)", key, shortQuote(v), err)
		}
		out = append(out, list...)
	}
	return out, nil
}

// latin1 reads s as ISO 8859-1: each byte is the code point of its value.
func latin1(s string) string {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

// stripBcc removes the Bcc and Resent-Bcc fields (with their continuation
// lines) from the header of a new message, as MTAs do on queueing, so that
// delivery does not show the blind copies to every recipient. The rest,
// line endings included, is kept byte for byte; raw is returned as is when
// there is nothing to remove.
func stripBcc(raw []byte) []byte {
	var out []byte // nil until a field is dropped
	skip := false  // within a dropped field
	for i := 0; i < len(raw); {
		end := bytes.IndexByte(raw[i:], '\n')
		if end < 0 {
			end = len(raw)
		} else {
			end += i + 1
		}
		line := raw[i:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 { // the header ends
			if out != nil {
				out = append(out, raw[i:]...)
			}
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, ok := bytes.Cut(line, []byte(":"))
			name = bytes.TrimSpace(name)
			skip = ok && (bytes.EqualFold(name, []byte("Bcc")) || bytes.EqualFold(name, []byte("Resent-Bcc")))
		}
		if skip && out == nil {
			out = append(make([]byte, 0, len(raw)), raw[:i]...)
		}
		if !skip && out != nil {
			out = append(out, line...)
		}
		i = end
	}
	if out == nil {
		return raw
	}
	return out
}
