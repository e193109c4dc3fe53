package queue

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// JSON input: both shapes, tolerant of nulls and absent fields. Lines are
// decoded by goccy/go-json, which accepts the same input as encoding/json
// (FuzzDecodeMessage holds the two to the same results) and reads these
// shapes several times faster. It stops at 10,000 levels of nesting
// as encoding/json does; checkDepth stops the import far earlier, at
// maxJSONDepth, with a message that says so.

// jsonInMessage is a message line as decoded. A field reads as a value
// rather than a pointer where null, absent and the zero value mean the same
// (a pointer is one more allocation, and a line has a dozen such fields);
// a recipient's code, enhanced_code and message stay pointers, since given,
// even empty, they stand in for what the status's text says.
type jsonInMessage struct {
	ID         json.RawMessage `json:"id"`
	ReturnPath string          `json:"return_path"`
	Domains    []jsonInDomain  `json:"domains"`
	Recipients lazyRecipients  `json:"recipients"`
	Created    string          `json:"created"`
	Size       int64           `json:"size"`
	Priority   *int            `json:"priority"`
	EnvID      *string         `json:"env_id"`
	Ret        *string         `json:"ret"`     // schema step 2 (queue export)
	Client     *Client         `json:"client"`  // schema step 2 (queue export)
	Held       bool            `json:"held"`    // schema step 2 (queue export)
	Text       []byte          `json:"message"` // the RFC 5322 text, base64 (queue export)
	Data       json.RawMessage `json:"data"`
	Items      json.RawMessage `json:"items"`
}

// jsonInLine is jsonInMessage as decodeMessage first reads a line: its
// recipients[] is skipped by the decoder, not copied, since a line of both
// shapes is read from its domains[]; a line without domains[] is decoded
// again for its recipients[]. Its fields are jsonInMessage's, tags aside, so
// that one converts to the other (the compiler holds them to it).
type jsonInLine struct {
	ID         json.RawMessage `json:"id"`
	ReturnPath string          `json:"return_path"`
	Domains    []jsonInDomain  `json:"domains"`
	Recipients lazyRecipients  `json:"-"`
	Created    string          `json:"created"`
	Size       int64           `json:"size"`
	Priority   *int            `json:"priority"`
	EnvID      *string         `json:"env_id"`
	Ret        *string         `json:"ret"`
	Client     *Client         `json:"client"`
	Held       bool            `json:"held"`
	Text       []byte          `json:"message"`
	Data       json.RawMessage `json:"data"`
	Items      json.RawMessage `json:"items"`
}

// lazyRecipients is a message's recipients[] (v0.13+) as its JSON text,
// decoded only when the message has no domains[]: a line of both shapes (as
// MarshalJSON and Stalwart's v0.13 API write it) is read from its domains[],
// and its recipients[], as long again, costs no decoding of values.
type lazyRecipients []byte

// UnmarshalJSON keeps the text (both decoders hand over well-formed JSON);
// null is none.
func (l *lazyRecipients) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	*l = append((*l)[:0], b...)
	return nil
}

// decode reads the recipients.
func (l lazyRecipients) decode() ([]jsonInRecipient, error) {
	if len(l) == 0 {
		return nil, nil
	}
	var out []jsonInRecipient
	if err := json.Unmarshal(l, &out); err != nil {
		return nil, fmt.Errorf("recipients: %v", err)
	}
	return out, nil
}

type jsonInDomain struct {
	Name       string            `json:"name"`
	Status     json.RawMessage   `json:"status"`
	Recipients []jsonInRecipient `json:"recipients"`
	RetryNum   int               `json:"retry_num"`
	NextRetry  string            `json:"next_retry"`
	NextNotify string            `json:"next_notify"`
	Expires    string            `json:"expires"`
	Held       *jsonInHold       `json:"held"` // mqsh's: the domain's hold
}

// jsonInHold is a domain's hold as AppendJSON writes it.
type jsonInHold struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
	Since  string `json:"since"`
	Until  string `json:"until"`
	Rule   int64  `json:"rule"`
}

// hold reads a domain's hold (Domain.Hold), so that a client of mqsh's
// HTTP API sees the holds its server reported.
func (h *jsonInHold) hold() (*Hold, error) {
	if h == nil {
		return nil, nil
	}
	out := &Hold{By: h.By, Reason: h.Reason, Rule: h.Rule}
	var err error
	if out.Since, err = parseJSONTime("held since", h.Since); err != nil {
		return nil, err
	}
	if out.Until, err = parseJSONTime("held until", h.Until); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonInRecipient is a recipient of either shape: v0.13+ adds its own schedule.
type jsonInRecipient struct {
	Address    string          `json:"address"`
	Status     json.RawMessage `json:"status"`
	ORCPT      string          `json:"orcpt"`
	Code       *int            `json:"code"`
	Enhanced   *string         `json:"enhanced_code"`
	Message    *string         `json:"message"`
	Notify     string          `json:"notify"` // schema step 2 (queue export)
	RetryNum   int             `json:"retry_num"`
	NextRetry  string          `json:"next_retry"`
	NextNotify string          `json:"next_notify"`
	Expires    string          `json:"expires"`
}

// decodeMessage reads one JSON message object (fields as jsonInMessage), or
// null (an empty one). Its recipients[] is kept only when it has no
// domains[], the only case where it is read (see jsonInLine).
func decodeMessage(b []byte) (*jsonInMessage, error) {
	if err := checkDepth(b); err != nil {
		return nil, err
	}
	out := (*jsonInMessage)(&jsonInLine{})
	if err := json.Unmarshal(b, (*jsonInLine)(out)); err != nil {
		return nil, err
	}
	if len(out.Domains) == 0 {
		var r struct {
			Recipients lazyRecipients `json:"recipients"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		out.Recipients = r.Recipients
	}
	return out, nil
}

// statusText reads a status: a string, or an object of one key whose value
// is a string or null.
func statusText(raw []byte) (key, details string, isObj, ok bool) {
	if key, details, isObj, ok = plainStatus(raw); ok {
		return key, details, isObj, true
	}
	return decodedStatus(raw)
}

// decodedStatus is statusText through the JSON decoder, for any input.
func decodedStatus(raw []byte) (key, details string, isObj, ok bool) {
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if json.Unmarshal(raw, &key) != nil {
			return "", "", false, false
		}
		return key, "", false, true
	case len(raw) > 0 && raw[0] == '{':
		var m map[string]*string
		if json.Unmarshal(raw, &m) != nil || len(m) != 1 {
			return "", "", true, false
		}
		for k, v := range m {
			key = k
			if v != nil {
				details = *v
			}
		}
		return key, details, true, true
	}
	return "", "", false, false
}

// plainStatus is statusText's fast path for the forms servers write,
// "scheduled" and {"temp_fail":"details"} (or null details), when their
// strings are plain printable ASCII: nothing an escape or a decoder would
// change. Anything else is not ok and left to the decoder.
func plainStatus(raw []byte) (key, details string, isObj, ok bool) {
	k, d, isObj, ok := plainStatusBytes(raw)
	return string(k), string(d), isObj, ok
}

// plainStatusBytes is plainStatus with the key and details as parts of raw.
func plainStatusBytes(raw []byte) (key, details []byte, isObj, ok bool) {
	// str reads a plain string at b[i] (at its quote), returning its text
	// and the index after its closing quote.
	str := func(b []byte, i int) ([]byte, int, bool) {
		if i >= len(b) || b[i] != '"' {
			return nil, 0, false
		}
		for j := i + 1; j < len(b); j++ {
			switch c := b[j]; {
			case c == '"':
				return b[i+1 : j], j + 1, true
			case c == '\\' || c < 0x20 || c > 0x7e:
				return nil, 0, false
			}
		}
		return nil, 0, false
	}
	ws := func(b []byte, i int) int {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
		return i
	}
	if len(raw) > 0 && raw[0] == '"' {
		k, end, ok := str(raw, 0)
		return k, nil, false, ok && end == len(raw)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, nil, false, false
	}
	k, i, ok := str(raw, ws(raw, 1))
	if !ok {
		return nil, nil, false, false
	}
	if i = ws(raw, i); i >= len(raw) || raw[i] != ':' {
		return nil, nil, false, false
	}
	i = ws(raw, i+1)
	if len(raw)-i >= 4 && string(raw[i:i+4]) == "null" {
		i += 4
	} else if details, i, ok = str(raw, i); !ok {
		return nil, nil, false, false
	}
	if i = ws(raw, i); i != len(raw)-1 || raw[i] != '}' {
		return nil, nil, false, false
	}
	return k, details, true, true
}

// parseJSONStatus reads "scheduled" or {"temp_fail": "details"}; null or absent
// is scheduled.
func parseJSONStatus(raw json.RawMessage) (Status, string, error) {
	return readJSONStatus(raw, true)
}

// readJSONStatus is parseJSONStatus; without wantDetails, the details it
// returns may be left empty (a recipient whose reply is given in its own
// fields needs none of its status's text).
func readJSONStatus(raw json.RawMessage, wantDetails bool) (Status, string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return Scheduled, "", nil
	}
	if k, d, isObj, ok := plainStatusBytes(raw); ok {
		if st, known := statusNames[string(k)]; known {
			if !isObj || !wantDetails {
				return st, "", nil
			}
			return st, string(d), nil
		}
	}
	key, details, isObj, ok := statusText(raw)
	if !ok {
		if isObj {
			return 0, "", fmt.Errorf("status: want a single-key object such as {\"temp_fail\": \"...\"}, got %s", raw)
		}
		return 0, "", fmt.Errorf("status: want a string or a single-key object, got %s", raw)
	}
	st, err := ParseStatus(key)
	if err != nil {
		return 0, "", err
	}
	if !isObj {
		details = ""
	}
	return st, details, nil
}

// parseReply splits "...Code: 451, Enhanced code: 4.5.3, Message: text" into its
// parts (the reply may follow other text, as in v0.13's "Error for mx: ...");
// text without a reply is a message alone.
func parseReply(s string) (code int, enhanced, message string) {
	i := strings.LastIndex(s, "Code: ")
	if i < 0 {
		return 0, "", s
	}
	rest := s[i+len("Code: "):]
	c, rest, ok := strings.Cut(rest, ", Enhanced code: ")
	if !ok || len(c) == 0 || len(c) > 3 {
		return 0, "", s
	}
	n, err := strconv.Atoi(c)
	if err != nil || n < 0 {
		return 0, "", s
	}
	e, msg, ok := strings.Cut(rest, ", Message: ")
	if !ok || !isEnhanced(e) {
		return 0, "", s
	}
	if e == "0.0.0" {
		e = ""
	}
	return n, e, msg
}

// isEnhanced reports whether s looks like an enhanced status code (4.5.3).
func isEnhanced(s string) bool {
	parts, digits := 1, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if digits == 0 {
				return false
			}
			parts, digits = parts+1, 0
		case c >= '0' && c <= '9':
			if digits++; digits > 3 {
				return false
			}
		default:
			return false
		}
	}
	return parts == 3 && digits > 0
}

// parseJSONTime reads a time field; "" (null, absent) is the zero time.
func parseJSONTime(what string, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, ok := parseUTCSeconds(s); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: want an RFC 3339 time, got %q", what, s)
	}
	return t.UTC(), nil
}

// parseUTCSeconds is the fast path of parseJSONTime for the form mqsh and
// Stalwart write, 2006-01-02T15:04:05Z; anything else, out-of-range fields
// included, is left to time.Parse.
func parseUTCSeconds(s string) (time.Time, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				ok = false
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, min, sec := num(11, 2), num(14, 2), num(17, 2)
	if !ok || month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, time.UTC)
	if t.Day() != day { // past the end of the month
		return time.Time{}, false
	}
	return t, true
}

// IDOfJSON reads the id of a message written as JSON, one line of `queue list
// -o json` or of Stalwart's API (also wrapped in {"data": ...}): its queue_id
// (hex) when present, else its decimal id; both must agree when both are given.
func IDOfJSON(b []byte) (ID, error) {
	var in struct {
		ID      json.RawMessage `json:"id"`
		QueueID *string         `json:"queue_id"`
		Data    *struct {
			ID      json.RawMessage `json:"id"`
			QueueID *string         `json:"queue_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return 0, fmt.Errorf("not a JSON object with an id (%v)", err)
	}
	raw, hex := in.ID, in.QueueID
	if len(raw) == 0 && hex == nil && in.Data != nil {
		raw, hex = in.Data.ID, in.Data.QueueID
	}
	if len(raw) == 0 && hex == nil {
		return 0, errors.New(`no id (want "queue_id" in hex or "id" in decimal)`)
	}
	var id ID
	if hex != nil {
		var err error
		if id, err = ParseID(*hex); err != nil {
			return 0, fmt.Errorf("queue_id: %w", err)
		}
	}
	if len(raw) > 0 {
		dec, err := parseJSONID(raw)
		if err != nil {
			return 0, err
		}
		if hex != nil && dec != id {
			return 0, fmt.Errorf("queue_id %s does not match id %d (%s)", id, uint64(dec), dec)
		}
		id = dec
	}
	return id, nil
}

func parseJSONID(raw json.RawMessage) (ID, error) {
	s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	if s == "" || s == "null" {
		return 0, errors.New("id: missing (want the message id as a decimal integer)")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("id: want a positive decimal integer, got %s", raw)
	}
	return ID(v), nil
}

// recipientFrom reads a recipient's status and reply; the status's details
// are returned when wantDetails (else they may be empty).
func recipientFrom(jr *jsonInRecipient, wantDetails bool) (Recipient, string, error) {
	// A reply given whole in its own fields (as mqsh and Stalwart write it)
	// stands in for the one the status's text holds: that text is not read.
	given := jr.Code != nil && jr.Enhanced != nil && jr.Message != nil
	st, details, err := readJSONStatus(jr.Status, wantDetails || !given)
	if err != nil {
		return Recipient{}, "", fmt.Errorf("recipient %s: %w", jr.Address, err)
	}
	r := Recipient{Address: jr.Address, Status: st, ORCPT: jr.ORCPT}
	if st != Scheduled && !given {
		r.Code, r.Enhanced, r.Message = parseReply(details)
	}
	if jr.Code != nil {
		r.Code = *jr.Code
	}
	if jr.Enhanced != nil {
		r.Enhanced = *jr.Enhanced
	}
	if jr.Message != nil {
		r.Message = *jr.Message
	}
	if jr.Notify != "" {
		if r.Notify, err = ParseNotify(jr.Notify); err != nil {
			return Recipient{}, "", fmt.Errorf("recipient %s: %w", jr.Address, err)
		}
	}
	return r, details, nil
}

// MessageJSON is one message as Stalwart's API and mqsh's JSON write it, in
// either shape (domains[] up to Stalwart v0.12, recipients[] from v0.13),
// decoded by encoding/json or goccy/go-json but not yet read: Message reads
// it. A client decodes a whole answer of them at once (mqsh's remote client).
type MessageJSON jsonInMessage

// Message reads the message as ImportJSON reads a line, with the same checks
// and limits (ids, lengths, statuses, times, recipients) and the same stored
// form: lower-case domain names, recipients deduplicated, whole seconds. A
// message without a creation time was created at clock(); what its
// schedule lacks comes from DefaultSchedule.
func (in *MessageJSON) Message(clock func() time.Time) (*Message, error) {
	m, err := (*jsonInMessage)(in).message(clock, DefaultSchedule.Expire)
	if err != nil {
		if id, idErr := parseJSONID(in.ID); idErr == nil {
			return nil, fmt.Errorf("message %s: %w", id, err)
		}
		return nil, err
	}
	if err := normalizeMessage(m, clock, DefaultSchedule.Expire, true); err != nil {
		return nil, err
	}
	return m, nil
}

// messageFromJSON converts one decoded line to a Message.
func (q *Queue) messageFromJSON(in *jsonInMessage) (*Message, error) {
	return in.message(q.clock, q.sched.Expire)
}

// message converts a decoded message to a Message, its missing times from
// clock and expire.
func (in *jsonInMessage) message(clock func() time.Time, expire time.Duration) (*Message, error) {
	id, err := parseJSONID(in.ID)
	if err != nil {
		return nil, err
	}
	m := &Message{ID: id}
	m.ReturnPath = in.ReturnPath
	if m.Created, err = parseJSONTime("created", in.Created); err != nil {
		return nil, err
	}
	if m.Created.IsZero() {
		m.Created = clock()
	}
	m.Size = in.Size
	if in.Priority != nil {
		m.Priority = *in.Priority
	}
	if in.EnvID != nil {
		m.EnvID = *in.EnvID
	}
	if in.Ret != nil {
		m.Ret = *in.Ret
	}
	if in.Client != nil {
		m.Client = *in.Client
	}
	m.Held, m.text = in.Held, in.Text
	defaults := func(d *Domain) {
		if d.Due.IsZero() {
			d.Due = m.Created
		}
		if d.Expires.IsZero() {
			d.Expires = m.Created.Add(expire)
		}
	}
	var recipients []jsonInRecipient
	if len(in.Domains) == 0 {
		if recipients, err = in.Recipients.decode(); err != nil {
			return nil, err
		}
	}
	switch {
	case len(in.Domains) > 0:
		m.Domains = make([]Domain, 0, len(in.Domains))
		for _, jd := range in.Domains {
			st, details, err := parseJSONStatus(jd.Status)
			if err != nil {
				return nil, fmt.Errorf("domain %s: %w", jd.Name, err)
			}
			d := Domain{Name: jd.Name, Status: st, Details: details, RetryNum: jd.RetryNum}
			if d.Due, err = parseJSONTime("next_retry", jd.NextRetry); err != nil {
				return nil, err
			}
			if d.NotifyAt, err = parseJSONTime("next_notify", jd.NextNotify); err != nil {
				return nil, err
			}
			if d.Expires, err = parseJSONTime("expires", jd.Expires); err != nil {
				return nil, err
			}
			if d.Hold, err = jd.Held.hold(); err != nil {
				return nil, err
			}
			if d.Hold != nil && d.Status.Pending() {
				m.Held = true
			}
			defaults(&d)
			d.Recipients = make([]Recipient, 0, len(jd.Recipients))
			for i := range jd.Recipients {
				r, _, err := recipientFrom(&jd.Recipients[i], false)
				if err != nil {
					return nil, err
				}
				d.Recipients = append(d.Recipients, r)
			}
			if d.Name == "" && len(d.Recipients) > 0 {
				d.Name = domainOf(d.Recipients[0].Address)
			}
			m.Domains = append(m.Domains, d)
		}
	case len(recipients) > 0:
		// v0.13+: per-recipient schedules, folded into per-domain ones: the
		// earliest due and notice of the pending recipients, the latest expiry.
		pos := map[string]int{}
		for i := range recipients {
			jr := &recipients[i]
			r, details, err := recipientFrom(jr, true)
			if err != nil {
				return nil, err
			}
			name := domainOf(r.Address)
			if name == "" {
				return nil, fmt.Errorf("recipient %q: want an address with a domain", r.Address)
			}
			due, err := parseJSONTime("next_retry", jr.NextRetry)
			if err != nil {
				return nil, err
			}
			notify, err := parseJSONTime("next_notify", jr.NextNotify)
			if err != nil {
				return nil, err
			}
			expires, err := parseJSONTime("expires", jr.Expires)
			if err != nil {
				return nil, err
			}
			k, ok := pos[name]
			if !ok {
				k = len(m.Domains)
				pos[name] = k
				m.Domains = append(m.Domains, Domain{Name: name, Status: r.Status, Due: due, NotifyAt: notify, Expires: expires, RetryNum: jr.RetryNum})
			}
			d := &m.Domains[k]
			d.RetryNum = max(d.RetryNum, jr.RetryNum)
			if r.Status.Pending() && !due.IsZero() && (d.Due.IsZero() || due.Before(d.Due) || !d.Status.Pending()) {
				d.Due = due
			}
			if !notify.IsZero() && (d.NotifyAt.IsZero() || notify.Before(d.NotifyAt)) {
				d.NotifyAt = notify
			}
			if expires.After(d.Expires) {
				d.Expires = expires
			}
			d.Recipients = append(d.Recipients, r)
			if (r.Status == TempFail || r.Status == PermFail) && d.Details == "" {
				d.Details = details
			}
			d.Status = domainStatus(d.Recipients)
		}
		for i := range m.Domains {
			defaults(&m.Domains[i])
			if m.Domains[i].Status == Scheduled {
				m.Domains[i].Details = ""
			}
		}
	default:
		return nil, errors.New("the message has no recipients (want domains[] or recipients[])")
	}
	for _, d := range m.Domains {
		for _, r := range d.Recipients {
			if r.Address == "" {
				return nil, fmt.Errorf("domain %s: a recipient has no address", d.Name)
			}
		}
	}
	return m, nil
}

// domainStatus derives a domain's state from its recipients (v0.13 data):
// pending if any is pending (temporarily failed if any is), else completed if
// any was delivered, else permanently failed.
func domainStatus(rs []Recipient) Status {
	pending, temp, done := false, false, false
	for _, r := range rs {
		switch r.Status {
		case Scheduled:
			pending = true
		case TempFail:
			pending, temp = true, true
		case Completed:
			done = true
		}
	}
	switch {
	case temp:
		return TempFail
	case pending:
		return Scheduled
	case done:
		return Completed
	}
	return PermFail
}
