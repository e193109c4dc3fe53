package dsn

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// statusFields writes the body of the message/delivery-status part: the
// per-message fields, then one group of fields per recipient, each group
// ended by an empty line, the fields in the order of RFC 3464's grammar
// (sections 2.2 and 2.3). go-message folds long
// fields. Everything is 7-bit: non-ASCII is escaped as \x{HEX} (RFC 6533's
// utf-8-addr-xtext form), with the address type "utf-8" for such addresses.
func statusFields(r Report) ([]byte, error) {
	var b bytes.Buffer
	var kv []string
	if id := ascii(clean(r.EnvID)); id != "" {
		kv = append(kv, "Original-Envelope-Id", id)
	}
	kv = append(kv, "Reporting-MTA", "dns; "+r.Hostname)
	if !r.Arrival.IsZero() {
		kv = append(kv, "Arrival-Date", r.Arrival.Format(time.RFC1123Z))
	}
	if err := writeGroup(&b, kv...); err != nil {
		return nil, err
	}

	for _, rc := range r.Recipients {
		var kv []string
		if o := orcpt(rc.ORCPT); o != "" {
			kv = append(kv, "Original-Recipient", o)
		}
		kv = append(kv,
			"Final-Recipient", addressField(rc.Address),
			"Action", string(rc.Action),
			"Status", status(rc),
		)
		if mta := ascii(clean(rc.RemoteMTA)); mta != "" {
			kv = append(kv, "Remote-MTA", "dns; "+mta)
		}
		if d := ascii(clean(rc.Diagnostic)); d != "" {
			kv = append(kv, "Diagnostic-Code", "smtp; "+d)
		}
		if !rc.LastAttempt.IsZero() {
			kv = append(kv, "Last-Attempt-Date", rc.LastAttempt.Format(time.RFC1123Z))
		}
		if rc.Action == Delayed && !rc.WillRetryUntil.IsZero() {
			kv = append(kv, "Will-Retry-Until", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
		if err := writeGroup(&b, kv...); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// writeGroup writes name/value pairs as one group of fields and the empty
// line after it.
func writeGroup(b *bytes.Buffer, kv ...string) error {
	for i := 0; i < len(kv); i += 2 {
		f, err := formatField(kv[i], kv[i+1])
		if err != nil {
			return err
		}
		b.Write(f)
	}
	b.WriteString("\r\n")
	return nil
}

// formatField writes one field, CRLF included, folded by go-message at
// whitespace to lines of 76 columns where it can. go-message spells field
// names in Go's canonical case (Reporting-Mta, Message-Id); the name is
// put back as RFC 3464 and RFC 5322 spell it.
func formatField(name, value string) ([]byte, error) {
	var h textproto.Header
	h.Add(name, value)
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		return nil, fmt.Errorf("write field %s: %w", name, err)
	}
	out := b.Bytes()[:b.Len()-2] // the empty line that ends a header
	copy(out, name)
	return out, nil
}

// status is the recipient's status code, or the action's generic one.
func status(rc Recipient) string {
	if rc.Status != "" {
		return rc.Status
	}
	switch rc.Action {
	case Failed:
		return "5.0.0"
	case Delayed:
		return "4.0.0"
	}
	return "2.0.0"
}

// addressField writes an address as "rfc822; ADDR", or "utf-8; ADDR" with
// non-ASCII escaped when it has any (RFC 6533 section 3).
func addressField(addr string) string {
	addr = clean(addr)
	if isASCII(addr) {
		return "rfc822; " + addr
	}
	return "utf-8; " + ascii(addr)
}

// orcpt writes an ORCPT value as given ("rfc822;a@b.example"), with the
// type "rfc822" assumed when the client gave none.
func orcpt(v string) string {
	v = clean(v)
	if v == "" {
		return ""
	}
	typ, addr, ok := strings.Cut(v, ";")
	if !ok {
		return addressField(v)
	}
	typ, addr = strings.TrimSpace(typ), strings.TrimSpace(addr)
	if addr == "" {
		return ""
	}
	if typ == "" || strings.ContainsAny(typ, " <>@") {
		return addressField(v)
	}
	return ascii(typ) + "; " + ascii(addr)
}

// clean makes outside text safe for one field or one line: invalid UTF-8
// becomes U+FFFD, every control character (CR and LF included) a space,
// runs of spaces one space, and the ends are trimmed.
func clean(s string) string {
	if !hasControl(s) && utf8.ValidString(s) && !strings.Contains(s, "  ") && strings.TrimSpace(s) == s {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ' ' || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// hasControl reports whether s holds an ASCII control character.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// isASCII reports whether s is all 7-bit.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ascii escapes every non-ASCII character of s as \x{HEX}.
func ascii(s string) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\x{%X}`, r)
		}
	}
	return b.String()
}
