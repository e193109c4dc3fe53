package queue

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JSON output: Stalwart's v0.7-v0.12 management-API message shape (domains[]).
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
// the command line and tables show it (Postfix's postqueue -j name).

type jsonOutMessage struct {
	ID         uint64          `json:"id"`
	QueueID    string          `json:"queue_id"`
	ReturnPath string          `json:"return_path"`
	Domains    []jsonOutDomain `json:"domains"`
	Created    string          `json:"created"`
	Size       int64           `json:"size"`
	Priority   int             `json:"priority,omitempty"`
	EnvID      string          `json:"env_id,omitempty"`
	Ret        string          `json:"ret,omitempty"`    // schema step 2, when set
	Client     *Client         `json:"client,omitempty"` // schema step 2, when set
	Held       bool            `json:"held,omitempty"`   // schema step 2, when set
}

type jsonOutDomain struct {
	Name       string             `json:"name"`
	Status     json.RawMessage    `json:"status"`
	Recipients []jsonOutRecipient `json:"recipients"`
	RetryNum   int                `json:"retry_num"`
	NextRetry  *string            `json:"next_retry"`
	NextNotify *string            `json:"next_notify"`
	Expires    string             `json:"expires"`
}

type jsonOutRecipient struct {
	Address  string          `json:"address"`
	Status   json.RawMessage `json:"status"`
	ORCPT    string          `json:"orcpt,omitempty"`
	Notify   string          `json:"notify,omitempty"` // schema step 2, when set
	Code     int             `json:"code,omitempty"`
	Enhanced string          `json:"enhanced_code,omitempty"`
	Message  string          `json:"message,omitempty"`
}

func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func jsonStatus(s Status, details string) json.RawMessage {
	if s == Scheduled {
		return json.RawMessage(`"scheduled"`)
	}
	b, _ := json.Marshal(map[string]string{s.JSONKey(): details})
	return b
}

// replyText is the ≤v0.12 display of an SMTP reply, also for code 0.
func replyText(r Recipient) string {
	enh := r.Enhanced
	if enh == "" {
		enh = "0.0.0"
	}
	return fmt.Sprintf("Code: %d, Enhanced code: %s, Message: %s", r.Code, enh, r.Message)
}

// MarshalJSON writes the message in Stalwart's v0.7-v0.12 management-API shape
// (domains[]), which ImportJSON reads back unchanged.
func (m *Message) MarshalJSON() ([]byte, error) {
	out := jsonOutMessage{ID: uint64(m.ID), QueueID: m.ID.String(), ReturnPath: m.ReturnPath, Created: jsonTime(m.Created), Size: m.Size, Priority: m.Priority, EnvID: m.EnvID, Domains: []jsonOutDomain{}, Ret: m.Ret, Held: m.Held}
	if !m.Client.IsZero() {
		out.Client = &m.Client
	}
	for _, d := range m.Domains {
		od := jsonOutDomain{Name: d.Name, Status: jsonStatus(d.Status, d.Details), RetryNum: d.RetryNum, Expires: jsonTime(d.Expires), Recipients: []jsonOutRecipient{}}
		if !d.Due.IsZero() {
			s := jsonTime(d.Due)
			od.NextRetry = &s
		}
		if !d.NotifyAt.IsZero() {
			s := jsonTime(d.NotifyAt)
			od.NextNotify = &s
		}
		for _, r := range d.Recipients {
			or := jsonOutRecipient{Address: r.Address, ORCPT: r.ORCPT, Notify: r.Notify.String(), Code: r.Code, Enhanced: r.Enhanced, Message: r.Message}
			if r.Status == Scheduled {
				or.Status = jsonStatus(Scheduled, "")
			} else {
				or.Status = jsonStatus(r.Status, replyText(r))
			}
			od.Recipients = append(od.Recipients, or)
		}
		out.Domains = append(out.Domains, od)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// JSON input: both shapes, tolerant of nulls and absent fields.

type jsonInMessage struct {
	ID         json.RawMessage   `json:"id"`
	ReturnPath *string           `json:"return_path"`
	Domains    []jsonInDomain    `json:"domains"`
	Recipients []jsonInRecipient `json:"recipients"`
	Created    *string           `json:"created"`
	Size       *int64            `json:"size"`
	Priority   *int              `json:"priority"`
	EnvID      *string           `json:"env_id"`
	Data       json.RawMessage   `json:"data"`
	Items      json.RawMessage   `json:"items"`
}

type jsonInDomain struct {
	Name       string            `json:"name"`
	Status     json.RawMessage   `json:"status"`
	Recipients []jsonInRecipient `json:"recipients"`
	RetryNum   int               `json:"retry_num"`
	NextRetry  *string           `json:"next_retry"`
	NextNotify *string           `json:"next_notify"`
	Expires    *string           `json:"expires"`
}

// jsonInRecipient is a recipient of either shape: v0.13+ adds its own schedule.
type jsonInRecipient struct {
	Address    string          `json:"address"`
	Status     json.RawMessage `json:"status"`
	ORCPT      *string         `json:"orcpt"`
	Code       *int            `json:"code"`
	Enhanced   *string         `json:"enhanced_code"`
	Message    *string         `json:"message"`
	RetryNum   int             `json:"retry_num"`
	NextRetry  *string         `json:"next_retry"`
	NextNotify *string         `json:"next_notify"`
	Expires    *string         `json:"expires"`
}

// parseJSONStatus reads "scheduled" or {"temp_fail": "details"}; null or absent
// is scheduled.
func parseJSONStatus(raw json.RawMessage) (Status, string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return Scheduled, "", nil
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
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 3 {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

func parseJSONTime(what string, s *string) (time.Time, error) {
	if s == nil || *s == "" {
		return time.Time{}, nil
	}
	if t, ok := parseUTCSeconds(*s); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: want an RFC 3339 time, got %q", what, *s)
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

// recipientFrom reads a recipient's status and reply.
func recipientFrom(jr jsonInRecipient) (Recipient, string, error) {
	st, details, err := parseJSONStatus(jr.Status)
	if err != nil {
		return Recipient{}, "", fmt.Errorf("recipient %s: %w", jr.Address, err)
	}
	r := Recipient{Address: jr.Address, Status: st}
	if jr.ORCPT != nil {
		r.ORCPT = *jr.ORCPT
	}
	if st != Scheduled {
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
	return r, details, nil
}

// messageFromJSON converts one decoded line to a Message.
func (q *Queue) messageFromJSON(in *jsonInMessage) (*Message, error) {
	id, err := parseJSONID(in.ID)
	if err != nil {
		return nil, err
	}
	m := &Message{ID: id}
	if in.ReturnPath != nil {
		m.ReturnPath = *in.ReturnPath
	}
	if m.Created, err = parseJSONTime("created", in.Created); err != nil {
		return nil, err
	}
	if m.Created.IsZero() {
		m.Created = q.clock()
	}
	if in.Size != nil {
		m.Size = *in.Size
	}
	if in.Priority != nil {
		m.Priority = *in.Priority
	}
	if in.EnvID != nil {
		m.EnvID = *in.EnvID
	}
	defaults := func(d *Domain) {
		if d.Due.IsZero() {
			d.Due = m.Created
		}
		if d.Expires.IsZero() {
			d.Expires = m.Created.Add(q.sched.Expire)
		}
	}
	switch {
	case len(in.Domains) > 0:
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
			defaults(&d)
			for _, jr := range jd.Recipients {
				r, _, err := recipientFrom(jr)
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
	case len(in.Recipients) > 0:
		// v0.13+: per-recipient schedules, folded into per-domain ones: the
		// earliest due and notice of the pending recipients, the latest expiry.
		pos := map[string]int{}
		for _, jr := range in.Recipients {
			r, details, err := recipientFrom(jr)
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

// importJSON does the work of ImportJSON, inside its savepoint (which has
// checked that the queue may be written).
func (tx *Tx) importJSON(r io.Reader) (Result, error) {
	res := Result{DryRun: tx.preview, Domains: map[string]int{}}
	ins, err := tx.newInserter()
	if err != nil {
		return res, tx.q.fileError("import", err)
	}
	defer ins.close()
	ins.bulk = true
	fail := func(err error) (Result, error) {
		var le *lineError
		if errors.As(err, &le) {
			return Result{}, fmt.Errorf("import: line %d: %w (nothing was imported)", le.line, le.err)
		}
		if tx.ctx.Err() != nil {
			return Result{}, fmt.Errorf("import: %w (nothing was imported)", tx.ctx.Err())
		}
		return Result{}, fmt.Errorf("import: %w (nothing was imported)", tx.q.fileError("import", err))
	}
	// Decoding and encoding the rows run in their own goroutine, ahead of
	// the inserts: the two halves of the work take about as long.
	p := &lineParser{q: tx.q, out: make(chan *rowBatch, 8), free: make(chan *rowBatch, 10), stop: make(chan struct{}), domains: res.Domains}
	defer close(p.stop)
	go p.run(r)
	for b := range p.out {
		if b.n > 0 {
			if err := ins.write(b); err != nil {
				return fail(err)
			}
		}
		if b.err != nil {
			return fail(b.err)
		}
		b.reset()
		select {
		case p.free <- b:
		default:
		}
	}
	if err := ins.finish(); err != nil {
		return fail(err)
	}
	res.IDs = ins.ids
	slices.Sort(res.IDs)
	res.Count = len(res.IDs)
	if res.Count == 0 {
		return res, nil
	}
	if err := tx.audit("import", fmt.Sprintf("format=json lines=%d", p.lines), res.IDs); err != nil {
		return Result{}, tx.q.fileError("import", err)
	}
	return res, nil
}

// lineParser decodes JSON Lines into encoded batches of rows (see rowBatch).
type lineParser struct {
	q    *Queue
	out  chan *rowBatch // batches in input order; the last may carry an error
	free chan *rowBatch // batches written, for reuse
	stop chan struct{}  // closed when the reader gives up

	// Valid once out is closed:
	lines   int            // lines read
	domains map[string]int // messages per recipient domain
}

// run reads r to the end, or to the first error (sent with the messages
// before it, as the last batch), or until stop closes.
func (p *lineParser) run(r io.Reader) {
	defer close(p.out)
	br := bufio.NewReaderSize(r, 1<<20)
	var enc rowEncoder
	b := &rowBatch{}
	send := func() bool {
		select {
		case p.out <- b:
		case <-p.stop:
			return false
		}
		select {
		case b = <-p.free:
		default:
			b = &rowBatch{}
		}
		return true
	}
	fail := func(line int, err error) {
		b.err = &lineError{line, err}
		send()
	}
	line := 0
	var buf []byte
	for {
		raw, rerr := readLine(br, buf)
		buf = raw
		if rerr == errLineTooLong {
			fail(line+1, rerr)
			return
		}
		if len(raw) > 0 {
			line++
			msgs, err := p.q.decodeLine(raw)
			if err != nil {
				fail(line, err)
				return
			}
			for _, m := range msgs {
				if err := enc.encode(b, m, line); err != nil {
					fail(line, err)
					return
				}
				for _, d := range m.Domains {
					p.domains[d.Name]++
				}
			}
			if b.n >= insertBatch && !send() {
				return
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			fail(line+1, rerr)
			return
		}
	}
	p.lines = line
	if b.n > 0 {
		send()
	}
}

// decodeLine reads the messages of one line: none for a blank line, several
// for an API list response.
func (q *Queue) decodeLine(b []byte) ([]*Message, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	in, err := decodeMessage(b)
	if errors.Is(err, errTooDeep) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("not a JSON message object: %v", err)
	}
	if len(in.ID) == 0 && len(in.Data) > 0 {
		// An API response: {"data": message} or {"data": {"items": [...]}}.
		inner, err := decodeMessage(in.Data)
		if err != nil {
			return nil, fmt.Errorf("data: not a JSON message object: %v", err)
		}
		if len(inner.ID) == 0 && len(inner.Items) > 0 {
			var items []json.RawMessage
			if err := json.Unmarshal(inner.Items, &items); err != nil {
				return nil, fmt.Errorf("data.items: want an array of messages: %v", err)
			}
			var out []*Message
			for i, it := range items {
				ms, err := q.decodeLine(it)
				if err != nil {
					return nil, fmt.Errorf("item %d: %w", i+1, err)
				}
				out = append(out, ms...)
			}
			return out, nil
		}
		in = inner
	}
	m, err := q.messageFromJSON(in)
	if err != nil {
		return nil, err
	}
	if err := q.normalize(m); err != nil {
		return nil, err
	}
	return []*Message{m}, nil
}

// Limits on an imported line, so that no input can exhaust the stack or the
// memory: the message shapes nest 8 levels deep at most (an API list
// response included), and a message of 1,000 recipients is well under a MiB.
const (
	maxJSONDepth = 100
	maxLineBytes = 16 << 20
)

var errTooDeep = fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)

var errLineTooLong = fmt.Errorf("longer than %d MiB: a JSON line holds one message (or one API response); split the input into lines", maxLineBytes>>20)

// readLine reads one line, newline included, into buf (reused); a line
// longer than maxLineBytes is errLineTooLong, without reading it whole.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > maxLineBytes {
			return buf[:0], errLineTooLong
		}
		buf = append(buf, frag...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

// checkDepth refuses JSON nested deeper than maxJSONDepth, before a decoder
// recurses into it: strings are skipped, brackets counted.
func checkDepth(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > maxJSONDepth {
				return fmt.Errorf("%w (at byte %d): no message is shaped so", errTooDeep, i+1)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
