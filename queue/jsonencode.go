package queue

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// JSON output: Stalwart's management-API message shape, both generations in
// one object: domains[] (v0.7-v0.12) and recipients[] (v0.13+), each
// generation's clients ignoring the other's field.
//
//	{"id":730986262,"return_path":"bill1@example.net","domains":[{"name":"domain1.test",
//	 "status":"scheduled","recipients":[{"address":"rcpt1@domain1.test","status":"scheduled"}],
//	 "retry_num":0,"next_retry":"2023-03-01T11:46:01Z","next_notify":"2023-03-01T12:17:41Z",
//	 "expires":"2023-03-01T12:34:21Z"}],"created":"2023-03-01T11:44:22Z","size":1141}
//
// Field rules, as Stalwart's: id is a JSON number; times are RFC 3339 UTC;
// return_path is "" for bounces; priority and env_id are omitted when empty;
// next_notify is null when no notice is due; a status is "scheduled" or a
// single-key object {"completed"|"temp_fail"|"perm_fail": details}, where a
// domain's details are its error text and a recipient's are
// "Code: 451, Enhanced code: 4.5.3, Message: Try again later.". Added by mqsh, on
// recipients, when there is a reply: code (number), enhanced_code and message,
// the same reply in separate fields; on messages, queue_id: the id in hex, as
// the command line and tables show it (Postfix's postqueue -j name); on a
// held domain, held: {"by", "reason", "since", "until", "rule"} (reason,
// until and rule omitted when none), and then held: true on the message.
//
// recipients[] lists every recipient again with its domain's schedule, as
// v0.13+ keeps it per recipient: queue (always "default"), retry_num,
// next_retry (always present), next_notify (omitted when none is due) and
// expires. Import reads domains[] when present and recipients[] otherwise.
//
// The object is written field by field into the caller's buffer, with no
// intermediate structs: listing a queue spends most of its time here. The
// bytes are exactly encoding/json's for the same shape (HTML left unescaped),
// which TestAppendJSONMatchesEncodingJSON holds it to.

// MarshalJSON writes the message in Stalwart's management-API shape (domains[]
// and recipients[]), which ImportJSON reads back unchanged.
func (m *Message) MarshalJSON() ([]byte, error) { return m.AppendJSON(nil) }

// AppendJSON appends the message as MarshalJSON writes it to dst, for a
// writer of many messages that reuses one buffer. It never fails; the error
// is there for the shape of MarshalJSON.
func (m *Message) AppendJSON(dst []byte) ([]byte, error) {
	b := append(dst, `{"id":`...)
	b = strconv.AppendUint(b, uint64(m.ID), 10)
	b = append(b, `,"queue_id":"`...)
	b = appendHexID(b, m.ID)
	b = append(b, `","return_path":`...)
	b = appendJSONString(b, m.ReturnPath)
	b = append(b, `,"domains":[`...)
	// recipients[] repeats each recipient's fields and its domain's times:
	// those of the first domains and recipients are copied from where
	// domains[] wrote them, not written again.
	var spots [4]domainSpots
	for i := range m.Domains {
		if i > 0 {
			b = append(b, ',')
		}
		var sp *domainSpots
		if i < len(spots) {
			sp = &spots[i]
		}
		b = appendJSONDomain(b, &m.Domains[i], sp)
	}
	b = append(b, `],"recipients":[`...)
	first := true
	for i := range m.Domains {
		d := &m.Domains[i]
		sp := &noSpots
		if i < len(spots) {
			sp = &spots[i]
		}
		for j := range d.Recipients {
			if !first {
				b = append(b, ',')
			}
			first = false
			if j < len(sp.rcpts) && sp.rcpts[j][1] > sp.rcpts[j][0] {
				b = append(b, b[sp.rcpts[j][0]:sp.rcpts[j][1]-1]...) // without its '}'
			} else {
				b = appendJSONRecipient(b, &d.Recipients[j], false)
			}
			b = append(b, `,"queue":"default","retry_num":`...)
			b = strconv.AppendInt(b, int64(d.RetryNum), 10)
			b = append(b, `,"next_retry":`...)
			b = appendSpot(b, d.Due, sp.due)
			if !d.NotifyAt.IsZero() {
				b = append(b, `,"next_notify":`...)
				b = appendSpot(b, d.NotifyAt, sp.notify)
			}
			b = append(b, `,"expires":`...)
			b = appendSpot(b, d.Expires, sp.expires)
			b = append(b, '}')
		}
	}
	b = append(b, `],"created":`...)
	b = appendJSONTime(b, m.Created)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, m.Size, 10)
	if m.Priority != 0 {
		b = append(b, `,"priority":`...)
		b = strconv.AppendInt(b, int64(m.Priority), 10)
	}
	if m.EnvID != "" {
		b = append(b, `,"env_id":`...)
		b = appendJSONString(b, m.EnvID)
	}
	if m.Ret != "" {
		b = append(b, `,"ret":`...)
		b = appendJSONString(b, m.Ret)
	}
	if !m.Client.IsZero() {
		b = append(b, `,"client":{`...)
		sep := ""
		for _, f := range [...]struct{ key, val string }{{"ip", m.Client.IP}, {"user", m.Client.User}, {"helo", m.Client.Helo}} {
			if f.val != "" {
				b = append(b, sep...)
				b = append(b, '"')
				b = append(b, f.key...)
				b = append(b, `":`...)
				b = appendJSONString(b, f.val)
				sep = ","
			}
		}
		b = append(b, '}')
	}
	if m.Held {
		b = append(b, `,"held":true`...)
	}
	return append(b, '}'), nil
}

// domainSpots says where appendJSONDomain wrote a domain's times in the
// buffer, from and to, {0, 0} when it did not write one (null); and its
// first recipients' objects.
type domainSpots struct {
	due, notify, expires [2]int
	rcpts                [4][2]int
}

// noSpots is the domainSpots of a domain whose places were not kept.
var noSpots domainSpots

// appendSpot appends t, copied from b[at[0]:at[1]] where it was written
// before, or written when it was not.
func appendSpot(b []byte, t time.Time, at [2]int) []byte {
	if at[1] > at[0] {
		return append(b, b[at[0]:at[1]]...)
	}
	return appendJSONTime(b, t)
}

// appendJSONDomain writes one element of domains[], and where its times are
// into sp when sp is not nil.
func appendJSONDomain(b []byte, d *Domain, sp *domainSpots) []byte {
	var due, notify, expires [2]int
	b = append(b, `{"name":`...)
	b = appendJSONString(b, d.Name)
	b = append(b, `,"status":`...)
	b = appendJSONStatus(b, d.Status, d.Details, nil, nil)
	b = append(b, `,"recipients":[`...)
	for j := range d.Recipients {
		if j > 0 {
			b = append(b, ',')
		}
		start := len(b)
		b = appendJSONRecipient(b, &d.Recipients[j], true)
		if sp != nil && j < len(sp.rcpts) {
			sp.rcpts[j] = [2]int{start, len(b)}
		}
	}
	b = append(b, `],"retry_num":`...)
	b = strconv.AppendInt(b, int64(d.RetryNum), 10)
	b = append(b, `,"next_retry":`...)
	if d.Due.IsZero() {
		b = append(b, "null"...)
	} else {
		due[0] = len(b)
		b = appendJSONTime(b, d.Due)
		due[1] = len(b)
	}
	b = append(b, `,"next_notify":`...)
	if d.NotifyAt.IsZero() {
		b = append(b, "null"...)
	} else {
		notify[0] = len(b)
		b = appendJSONTime(b, d.NotifyAt)
		notify[1] = len(b)
	}
	b = append(b, `,"expires":`...)
	expires[0] = len(b)
	b = appendJSONTime(b, d.Expires)
	expires[1] = len(b)
	if sp != nil {
		sp.due, sp.notify, sp.expires = due, notify, expires
	}
	if h := d.Hold; h != nil {
		b = append(b, `,"held":{"by":`...)
		b = appendJSONString(b, h.By)
		if h.Reason != "" {
			b = append(b, `,"reason":`...)
			b = appendJSONString(b, h.Reason)
		}
		b = append(b, `,"since":`...)
		b = appendJSONTime(b, h.Since)
		if !h.Until.IsZero() {
			b = append(b, `,"until":`...)
			b = appendJSONTime(b, h.Until)
		}
		if h.Rule != 0 {
			b = append(b, `,"rule":`...)
			b = strconv.AppendInt(b, h.Rule, 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendJSONRecipient writes a recipient's own fields; closed says whether to
// end the object there (domains[]) or leave it open for the v0.13+
// schedule fields (recipients[]).
func appendJSONRecipient(b []byte, r *Recipient, closed bool) []byte {
	b = append(b, `{"address":`...)
	b = appendJSONString(b, r.Address)
	b = append(b, `,"status":`...)
	var msgAt [2]int // where the status text has the message, escaped
	b = appendJSONStatus(b, r.Status, "", r, &msgAt)
	if r.ORCPT != "" {
		b = append(b, `,"orcpt":`...)
		b = appendJSONString(b, r.ORCPT)
	}
	if r.Notify != 0 {
		if s := r.Notify.String(); s != "" {
			b = append(b, `,"notify":`...)
			b = appendJSONString(b, s)
		}
	}
	if r.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
	}
	if r.Enhanced != "" {
		b = append(b, `,"enhanced_code":`...)
		b = appendJSONString(b, r.Enhanced)
	}
	if r.Message != "" {
		b = append(b, `,"message":"`...)
		if msgAt[1] > msgAt[0] {
			b = append(b, b[msgAt[0]:msgAt[1]]...)
		} else {
			b = appendJSONStringBody(b, r.Message)
		}
		b = append(b, '"')
	}
	if closed {
		b = append(b, '}')
	}
	return b
}

// appendJSONStatus writes a status as Stalwart does: "scheduled", or an
// object of one key whose value is the details: a domain's text, or, for a
// recipient r, its reply (replyText), noting in msgAt where the reply's
// message is in b, escaped.
func appendJSONStatus(b []byte, s Status, details string, r *Recipient, msgAt *[2]int) []byte {
	switch s {
	case Completed, TempFail, PermFail:
	default:
		return append(b, `"scheduled"`...)
	}
	b = append(b, `{"`...)
	b = append(b, s.JSONKey()...)
	b = append(b, `":`...)
	if r == nil {
		b = appendJSONString(b, details)
	} else {
		// "Code: N, Enhanced code: E, Message: M", without building it.
		enh := r.Enhanced
		if enh == "" {
			enh = "0.0.0"
		}
		b = append(b, `"Code: `...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
		b = append(b, ", Enhanced code: "...)
		b = appendJSONStringBody(b, enh)
		b = append(b, ", Message: "...)
		msgAt[0] = len(b)
		b = appendJSONStringBody(b, r.Message)
		msgAt[1] = len(b)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendHexID writes id as ID.String does, without the string.
func appendHexID(b []byte, id ID) []byte {
	var buf [16]byte
	i := len(buf)
	for v := uint64(id); ; v >>= 4 {
		i--
		buf[i] = "0123456789ABCDEF"[v&15]
		if v < 16 {
			break
		}
	}
	return append(b, buf[i:]...)
}

// appendJSONTime writes a time as the JSON shape has it: a string, RFC 3339
// in UTC, whole seconds. (Not time.Time's own JSON encoding, which refuses
// years past 9999: a queue written before the engine checked times may hold
// one, and must still be listed.) Years 0 to 9999 are written digit by
// digit from the Unix seconds (a listing writes about ten times a message);
// others go through time.Format.
func appendJSONTime(b []byte, t time.Time) []byte {
	u := t.Unix()
	if u < minJSONUnix || u > maxJSONUnix {
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, time.RFC3339)
		return append(b, '"')
	}
	// The civil date of the day: Howard Hinnant's civil_from_days, on
	// days counted from 0000-03-01 in eras of 400 years (floor divisions:
	// the count is negative in January and February of year 0).
	days := u / 86400
	if u%86400 < 0 {
		days--
	}
	secs := u - days*86400
	z := days + 719468
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1
	mp := (5*doy + 2) / 153                                // [0, 11], March first
	day := doy - (153*mp+2)/5 + 1
	month, year := mp+3, yoe+era*400
	if month > 12 {
		month -= 12
		year++
	}
	hour, min, sec := secs/3600, secs/60%60, secs%60
	var s [22]byte // "YYYY-MM-DDTHH:MM:SSZ"
	s[0] = '"'
	s[1], s[2], s[3], s[4] = byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10)
	s[5] = '-'
	s[6], s[7] = byte('0'+month/10), byte('0'+month%10)
	s[8] = '-'
	s[9], s[10] = byte('0'+day/10), byte('0'+day%10)
	s[11] = 'T'
	s[12], s[13] = byte('0'+hour/10), byte('0'+hour%10)
	s[14] = ':'
	s[15], s[16] = byte('0'+min/10), byte('0'+min%10)
	s[17] = ':'
	s[18], s[19] = byte('0'+sec/10), byte('0'+sec%10)
	s[20], s[21] = 'Z', '"'
	return append(b, s[:]...)
}

// The Unix seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the
// times appendJSONTime writes digit by digit.
const (
	minJSONUnix = -62167219200
	maxJSONUnix = 253402300799
)

// appendJSONString writes s as a JSON string the way encoding/json does
// with HTML escaping off.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONStringBody(b, s)
	return append(b, '"')
}

// appendJSONStringBody writes s escaped, without the quotes: '"' and '\\'
// escaped, the control characters as \b, \f, \n, \r, \t or \u00XX, invalid
// UTF-8 as \ufffd, U+2028 and U+2029 as \u2028 and \u2029 (for JavaScript),
// everything else as it is.
func appendJSONStringBody(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time (most of a listing's strings are
		// plain ASCII), then byte by byte from the first that may not be.
		for i+8 <= len(s) && plain8(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// plain8 reports whether the eight bytes of x are all written as they are
// (jsonPlain): none is below 0x20 or from 0x80 up, a '"' or a '\\'.
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - 0x20*ones) &^ x                      // a byte below 0x20 sets its high bit (or one of a lower byte's)
	quote := (x ^ '"'*ones - ones) &^ (x ^ '"'*ones)   // a zero byte of x ^ '"'...
	slash := (x ^ '\\'*ones - ones) &^ (x ^ '\\'*ones) // ...or of x ^ '\\'
	return (below|quote|slash|x)&highs == 0
}

// jsonPlain holds the bytes written as they are: printable ASCII but for
// '"' and '\\'.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// JSONKey is the key of Stalwart's externally tagged status enum:
// scheduled, completed, temp_fail, perm_fail.
func (s Status) JSONKey() string {
	switch s {
	case Completed:
		return "completed"
	case TempFail:
		return "temp_fail"
	case PermFail:
		return "perm_fail"
	}
	return "scheduled"
}
