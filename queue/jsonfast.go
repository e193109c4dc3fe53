package queue

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader for the import path: it decodes the message shapes of
// ImportJSON straight into jsonInMessage, three to four times faster than
// encoding/json's reflection (imports are bound by decoding). It accepts
// exactly what encoding/json accepts for these shapes; a fuzz test holds the
// two to the same results.

type jreader struct {
	b   []byte
	i   int
	err error
}

var errJSONEnd = errors.New("unexpected end of JSON input")

func (r *jreader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, a...)
	}
}

func (r *jreader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (r *jreader) peek() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

func (r *jreader) expect(c byte) bool {
	if r.err != nil {
		return false
	}
	if r.peek() != c {
		if r.i >= len(r.b) {
			r.fail("%v", errJSONEnd)
		} else {
			r.fail("invalid character %q at offset %d, want %q", r.b[r.i], r.i, c)
		}
		return false
	}
	r.i++
	return true
}

// null consumes a null and reports whether there was one.
func (r *jreader) null() bool {
	if r.peek() == 'n' {
		if r.i+4 <= len(r.b) && string(r.b[r.i:r.i+4]) == "null" {
			r.i += 4
			return true
		}
		r.fail("invalid literal at offset %d", r.i)
	}
	return false
}

// str reads a JSON string.
func (r *jreader) str() string {
	if !r.expect('"') {
		return ""
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := string(r.b[start:r.i])
			r.i++
			if !utf8.ValidString(s) {
				return string([]rune(s)) // as encoding/json: invalid bytes become U+FFFD
			}
			return s
		case c == '\\':
			return r.strSlow(start)
		case c < 0x20:
			r.fail("invalid control character in string at offset %d", r.i)
			return ""
		}
		r.i++
	}
	r.fail("%v", errJSONEnd)
	return ""
}

// key reads an object key as str does, without allocating for the keys of
// the message shapes.
func (r *jreader) key() string {
	if r.peek() == '"' {
		for j := r.i + 1; j < len(r.b); j++ {
			if c := r.b[j]; c == '"' {
				if k := knownKey(r.b[r.i+1 : j]); k != "" {
					r.i = j + 1
					return k
				}
				break
			} else if c == '\\' || c < 0x20 {
				break
			}
		}
	}
	return r.str()
}

// knownKey returns the key of a message shape spelled exactly as b, or "".
func knownKey(b []byte) string {
	switch string(b) {
	case "id":
		return "id"
	case "return_path":
		return "return_path"
	case "domains":
		return "domains"
	case "recipients":
		return "recipients"
	case "created":
		return "created"
	case "size":
		return "size"
	case "priority":
		return "priority"
	case "env_id":
		return "env_id"
	case "name":
		return "name"
	case "status":
		return "status"
	case "retry_num":
		return "retry_num"
	case "next_retry":
		return "next_retry"
	case "next_notify":
		return "next_notify"
	case "expires":
		return "expires"
	case "address":
		return "address"
	case "orcpt":
		return "orcpt"
	case "code":
		return "code"
	case "enhanced_code":
		return "enhanced_code"
	case "message":
		return "message"
	case "scheduled":
		return "scheduled"
	case "temp_fail":
		return "temp_fail"
	case "perm_fail":
		return "perm_fail"
	case "completed":
		return "completed"
	}
	return ""
}

// strSlow finishes a string with escapes.
func (r *jreader) strSlow(start int) string {
	buf := append([]byte{}, r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(buf) {
				return string([]rune(string(buf)))
			}
			return string(buf)
		case c < 0x20:
			r.fail("invalid control character in string at offset %d", r.i)
			return ""
		case c != '\\':
			buf = append(buf, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			r.fail("%v", errJSONEnd)
			return ""
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			rn, ok := r.hex4()
			if !ok {
				return ""
			}
			if utf16.IsSurrogate(rn) {
				rn2 := rune(-1)
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					if x, ok := r.hex4(); ok {
						rn2 = x
					} else {
						return ""
					}
					if d := utf16.DecodeRune(rn, rn2); d != utf8.RuneError {
						buf = utf8.AppendRune(buf, d)
						continue
					}
					r.i = save
				}
				rn = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, rn)
		default:
			r.fail("invalid escape \\%c in string at offset %d", e, r.i-1)
			return ""
		}
	}
	r.fail("%v", errJSONEnd)
	return ""
}

func (r *jreader) hex4() (rune, bool) {
	if r.i+4 > len(r.b) {
		r.fail("%v", errJSONEnd)
		return 0, false
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 32)
	if err != nil {
		r.fail("invalid \\u escape at offset %d", r.i)
		return 0, false
	}
	r.i += 4
	return rune(v), true
}

// number reads a JSON number's text.
func (r *jreader) number() []byte {
	r.ws()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := func() int {
		n := 0
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	first := r.i
	if digits() == 0 || (r.b[first] == '0' && r.i-first > 1) {
		r.fail("invalid number at offset %d", start)
		return nil
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			r.fail("invalid number at offset %d", start)
			return nil
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			r.fail("invalid number at offset %d", start)
			return nil
		}
	}
	return r.b[start:r.i]
}

// value skips any value and returns its bytes.
func (r *jreader) value() []byte {
	r.ws()
	start := r.i
	switch c := r.peek(); {
	case c == '{':
		r.object(func(string) { r.value() })
	case c == '[':
		r.array(func() { r.value() })
	case c == '"':
		r.str()
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if r.i+len(lit) <= len(r.b) && string(r.b[r.i:r.i+len(lit)]) == lit {
				r.i += len(lit)
				return r.b[start:r.i]
			}
		}
		r.fail("invalid literal at offset %d", r.i)
	case c == '-' || c >= '0' && c <= '9':
		r.number()
	case c == 0:
		r.fail("%v", errJSONEnd)
	default:
		r.fail("invalid character %q at offset %d", c, r.i)
	}
	if r.err != nil {
		return nil
	}
	return r.b[start:r.i]
}

// object calls fn for each key, with the reader before the value, which fn
// must consume.
func (r *jreader) object(fn func(key string)) {
	if !r.expect('{') {
		return
	}
	if r.peek() == '}' {
		r.i++
		return
	}
	for r.err == nil {
		k := r.key()
		if !r.expect(':') {
			return
		}
		fn(k)
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return
		default:
			r.expect('}')
			return
		}
	}
}

func (r *jreader) array(fn func()) {
	if !r.expect('[') {
		return
	}
	if r.peek() == ']' {
		r.i++
		return
	}
	for r.err == nil {
		fn()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return
		default:
			r.expect(']')
			return
		}
	}
}

// optStr reads a string or null into *string (nil for null).
func (r *jreader) optStr() *string {
	if r.null() {
		return nil
	}
	if r.peek() != '"' {
		r.fail("want a string at offset %d", r.i)
		r.value()
		return nil
	}
	s := r.str()
	return &s
}

func (r *jreader) optInt() *int {
	if r.null() {
		return nil
	}
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		r.fail("want a number at offset %d", r.i)
		return nil
	}
	n := r.number()
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || int64(int(v)) != v {
		r.fail("want an integer, got %s", n)
		return nil
	}
	x := int(v)
	return &x
}

// mapKey compares object keys as encoding/json does: exact first, then
// case-insensitively.
func mapKey(k string, names ...string) string {
	for _, n := range names {
		if k == n {
			return n
		}
	}
	for _, n := range names {
		if strings.EqualFold(k, n) {
			return n
		}
	}
	return ""
}

var (
	msgKeys  = []string{"id", "return_path", "domains", "recipients", "created", "size", "priority", "env_id", "data", "items"}
	domKeys  = []string{"name", "status", "recipients", "retry_num", "next_retry", "next_notify", "expires"}
	rcptKeys = []string{"address", "status", "orcpt", "code", "enhanced_code", "message", "retry_num", "next_retry", "next_notify", "expires"}
)

func (r *jreader) reqInt(dst *int) {
	if p := r.optInt(); p != nil {
		*dst = *p
	}
}

func (r *jreader) reqStr(dst *string) {
	if p := r.optStr(); p != nil {
		*dst = *p
	}
}

func (r *jreader) recipient() (out jsonInRecipient) {
	if r.null() {
		return
	}
	r.object(func(k string) {
		switch mapKey(k, rcptKeys...) {
		case "address":
			r.reqStr(&out.Address)
		case "status":
			out.Status = r.value()
		case "orcpt":
			out.ORCPT = r.optStr()
		case "code":
			out.Code = r.optInt()
		case "enhanced_code":
			out.Enhanced = r.optStr()
		case "message":
			out.Message = r.optStr()
		case "retry_num":
			r.reqInt(&out.RetryNum)
		case "next_retry":
			out.NextRetry = r.optStr()
		case "next_notify":
			out.NextNotify = r.optStr()
		case "expires":
			out.Expires = r.optStr()
		default:
			r.value()
		}
	})
	return
}

func (r *jreader) recipients() (out []jsonInRecipient) {
	if r.null() {
		return nil
	}
	r.array(func() { out = append(out, r.recipient()) })
	return
}

func (r *jreader) domain() (out jsonInDomain) {
	if r.null() {
		return
	}
	r.object(func(k string) {
		switch mapKey(k, domKeys...) {
		case "name":
			r.reqStr(&out.Name)
		case "status":
			out.Status = r.value()
		case "recipients":
			out.Recipients = r.recipients()
		case "retry_num":
			r.reqInt(&out.RetryNum)
		case "next_retry":
			out.NextRetry = r.optStr()
		case "next_notify":
			out.NextNotify = r.optStr()
		case "expires":
			out.Expires = r.optStr()
		default:
			r.value()
		}
	})
	return
}

// decodeMessage reads one JSON message object (fields as jsonInMessage).
func decodeMessage(b []byte) (*jsonInMessage, error) {
	if err := checkDepth(b); err != nil {
		return nil, err
	}
	r := &jreader{b: b}
	out := &jsonInMessage{}
	if r.peek() != '{' {
		if r.null() {
			r.ws()
			if r.i != len(r.b) {
				return nil, fmt.Errorf("invalid character %q after top-level value", r.b[r.i])
			}
			return out, nil
		}
		return nil, errors.New("want a JSON object")
	}
	r.object(func(k string) {
		switch mapKey(k, msgKeys...) {
		case "id":
			out.ID = r.value()
		case "return_path":
			out.ReturnPath = r.optStr()
		case "domains":
			if !r.null() {
				out.Domains = []jsonInDomain{}
				r.array(func() { out.Domains = append(out.Domains, r.domain()) })
			} else {
				out.Domains = nil
			}
		case "recipients":
			out.Recipients = r.recipients()
		case "created":
			out.Created = r.optStr()
		case "size":
			if p := r.optInt(); p != nil {
				v := int64(*p)
				out.Size = &v
			} else {
				out.Size = nil
			}
		case "priority":
			out.Priority = r.optInt()
		case "env_id":
			out.EnvID = r.optStr()
		case "data":
			out.Data = r.value()
		case "items":
			out.Items = r.value()
		default:
			r.value()
		}
	})
	if r.err == nil {
		r.ws()
		if r.i != len(r.b) {
			r.fail("invalid character %q after top-level value", r.b[r.i])
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// statusText fast-paths the common status shapes, "scheduled" and
// {"temp_fail": "text"}, without encoding/json.
func statusText(raw []byte) (key, details string, isObj, ok bool) {
	r := &jreader{b: raw}
	switch r.peek() {
	case '"':
		key = r.str()
	case '{':
		n := 0
		r.object(func(k string) {
			n++
			key = k
			if r.null() {
				details = ""
				return
			}
			if r.peek() != '"' {
				r.fail("not a string")
				return
			}
			details = r.str()
		})
		if n != 1 {
			return "", "", true, false
		}
		isObj = true
	default:
		return "", "", false, false
	}
	r.ws()
	return key, details, isObj, r.err == nil && r.i == len(r.b)
}
