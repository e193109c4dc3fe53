package queue

// What the filters read from a message's text: its Subject and Message-ID,
// kept in indexed columns of the messages row (schema step 4) when the
// message is stored, and any header field, read from the stored text when
// a filter asks for it. The SQL functions here are registered on every
// connection (see store.go), so that schema step 4 fills the columns of
// messages queued before it, and the header filter runs inside the one
// selection every verb makes (query.go).

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"net/mail"
	"net/netip"
	"net/textproto"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mattn/go-sqlite3"
)

// msgHeaders are the columns a message's text gives its row.
type msgHeaders struct {
	subject string // the Subject, decoded, unfolded and in lower case; "" = none
	msgID   string // the Message-ID without its angle brackets; "" = none
}

// readHeaders reads the columns of a message text; a text that is not an
// RFC 5322 message gives none.
func readHeaders(raw []byte) msgHeaders {
	h, ok := parseHeader(raw)
	if !ok {
		return msgHeaders{}
	}
	return msgHeaders{subject: strings.ToLower(decodeHeader(h.Get("Subject"))), msgID: normMessageID(h.Get("Message-Id"))}
}

// headerReaders keeps the buffered readers parseHeader reads through:
// mail.ReadMessage takes a *bufio.Reader of 4 KiB or more as it is, rather
// than allocating its own for every message (the SMTP server's group
// commit reads the header of each message it stores).
var headerReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// parseHeader reads the header of a message text (its body is not read).
func parseHeader(raw []byte) (mail.Header, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	br := headerReaders.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(raw))
	msg, err := mail.ReadMessage(br) // the header's values are strings of their own
	br.Reset(nil)
	headerReaders.Put(br)
	if err != nil {
		return nil, false
	}
	return msg.Header, true
}

// wordDecoder decodes RFC 2047 encoded words; charsets other than UTF-8,
// US-ASCII and ISO 8859-1 are left encoded.
var wordDecoder = &mime.WordDecoder{}

// decodeHeader is a field's value as people read it: encoded words decoded,
// 8-bit text that is not UTF-8 read as Latin-1, surrounding blanks dropped.
func decodeHeader(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	if !utf8.ValidString(v) {
		v = latin1(v)
	}
	return strings.TrimSpace(v)
}

// normMessageID is a Message-ID as the filter compares it: without blanks
// and without its angle brackets.
func normMessageID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// headerPattern is a header filter read: a field name (compared in any
// case) and a glob over the field's decoded value, in lower case.
type headerPattern struct {
	name string // canonical form, as net/mail keys fields
	glob string // lower case; '*' and '?' are the wildcards
}

// parseHeaderPattern reads "Name:glob", such as "X-Mailer:*bulk*".
func parseHeaderPattern(s string) (headerPattern, error) {
	name, glob, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return headerPattern{}, fmt.Errorf("invalid header filter %q: want NAME:GLOB, such as 'X-Mailer:*bulk*' ('NAME:*' for any value)", s)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f {
			return headerPattern{}, fmt.Errorf("invalid header filter %q: a field name is printable ASCII without blanks", s)
		}
	}
	glob = strings.ToLower(strings.TrimSpace(glob))
	if err := checkPrintable(glob); err != nil {
		return headerPattern{}, fmt.Errorf("invalid header filter %q: %w", s, err)
	}
	return headerPattern{name: textproto.CanonicalMIMEHeaderKey(name), glob: glob}, nil
}

// match reports whether the text raw has a field of the pattern's
// name whose decoded value matches its glob.
func (p headerPattern) match(raw []byte) bool {
	if !hasField(raw, p.name) {
		return false // most texts lack the field: no need to parse them
	}
	h, ok := parseHeader(raw)
	if !ok {
		return false
	}
	g := []rune(p.glob)
	for _, v := range h[p.name] {
		if globMatch(g, []rune(strings.ToLower(decodeHeader(v)))) {
			return true
		}
	}
	return false
}

// hasField reports whether a line of the header of raw starts with the
// field name (any case) and a colon, blanks allowed between them: a quick
// test that spares parsing a text without the field.
func hasField(raw []byte, name string) bool {
	for i := 0; i < len(raw); {
		if raw[i] == '\r' || raw[i] == '\n' {
			return false // the blank line ends the header
		}
		if j := i + len(name); j <= len(raw) && bytes.EqualFold(raw[i:j], []byte(name)) {
			for j < len(raw) && (raw[j] == ' ' || raw[j] == '\t') {
				j++
			}
			if j < len(raw) && raw[j] == ':' {
				return true
			}
		}
		nl := bytes.IndexByte(raw[i:], '\n')
		if nl < 0 {
			return false
		}
		i += nl + 1
	}
	return false
}

// ipPattern is a client IP filter read: one address or a CIDR prefix.
type ipPattern struct {
	addr   netip.Addr   // valid for one address
	prefix netip.Prefix // valid for a range
}

// parseIPPattern reads "192.0.2.7", "2001:db8::1" or "192.0.2.0/24".
func parseIPPattern(s string) (ipPattern, error) {
	v := strings.TrimSpace(s)
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return ipPattern{}, fmt.Errorf("invalid client IP range %q: want an address or a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32", s)
		}
		return ipPattern{prefix: p.Masked()}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return ipPattern{}, fmt.Errorf("invalid client IP %q: want an address or a CIDR prefix such as 192.0.2.7 or 192.0.2.0/24", s)
	}
	return ipPattern{addr: a.Unmap()}, nil
}

// match reports whether a recorded client address is in the pattern.
func (p ipPattern) match(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	if p.addr.IsValid() {
		return a == p.addr
	}
	return p.prefix.Contains(a)
}

// String is the pattern as the filter compares it.
func (p ipPattern) String() string {
	if p.addr.IsValid() {
		return p.addr.String()
	}
	return p.prefix.String()
}

// registerFuncs adds the SQL functions of the filters to a connection:
//
//	mqsh_subject(raw)          the Subject column of a text
//	mqsh_message_id(raw)       the Message-ID column of a text
//	mqsh_header(raw, name, g)  whether a field name matches the glob g
//	mqsh_ip_in(ip, pattern)    whether a client address is in a pattern
func registerFuncs(c *sqlite3.SQLiteConn) error {
	// A statement calls mqsh_ip_in with one pattern for every row, and a
	// connection runs one statement at a time: the pattern is read once.
	var (
		parsed   bool
		lastText string
		last     ipPattern
		lastErr  error
	)
	for _, f := range []struct {
		name string
		impl any
	}{
		{"mqsh_subject", func(raw []byte) any { return nullable(readHeaders(raw).subject) }},
		{"mqsh_message_id", func(raw []byte) any { return nullable(readHeaders(raw).msgID) }},
		{"mqsh_header", func(raw []byte, name, glob string) bool {
			return headerPattern{name: name, glob: glob}.match(raw)
		}},
		{"mqsh_ip_in", func(ip, pattern string) bool {
			if !parsed || pattern != lastText {
				parsed, lastText = true, pattern
				last, lastErr = parseIPPattern(pattern)
			}
			return lastErr == nil && last.match(ip)
		}},
	} {
		if err := c.RegisterFunc(f.name, f.impl, true); err != nil {
			return fmt.Errorf("register %s: %w", f.name, err)
		}
	}
	return nil
}
