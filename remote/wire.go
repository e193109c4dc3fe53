package remote

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-json"

	"mqsh/queue"
)

// The JSON the API speaks. A list answers {"data":{"items":[…],"total":N,
// "status":BOOL}}, items being whole messages with values=1; one message
// answers {"data":MESSAGE}. A message comes in one of two shapes:
//
//   - up to v0.12, domains[]: per-domain name, status, retry_num,
//     next_retry, next_notify, expires, and recipients (address, status,
//     orcpt);
//   - v0.13 on, recipients[]: per recipient address, queue, status,
//     retry_num, next_retry, next_notify, expires, orcpt.
//
// A status is "scheduled" or one key: completed, temp_fail, perm_fail, with
// the details as its value. mqsh's own server sends both arrays; domains[]
// is then read (it is the richer one) and the recipients[] semantics of the
// change routes are assumed.

// listData is the data of a list answer with values=1.
type listData struct {
	Items []wireMessage `json:"items"`
	Total int           `json:"total"`
}

// totalData is the data of a list answer read for its total only.
type totalData struct {
	Total int `json:"total"`
}

type wireMessage struct {
	ID         uint64          `json:"id"`
	ReturnPath string          `json:"return_path"`
	Created    *string         `json:"created"`
	Size       int64           `json:"size"`
	Priority   int             `json:"priority"`
	EnvID      *string         `json:"env_id"`
	Domains    []wireDomain    `json:"domains"`
	Recipients []wireRecipient `json:"recipients"`
}

type wireDomain struct {
	Name       string          `json:"name"`
	Status     wireStatus      `json:"status"`
	Recipients []wireRecipient `json:"recipients"`
	RetryNum   int             `json:"retry_num"`
	NextRetry  *string         `json:"next_retry"`
	NextNotify *string         `json:"next_notify"`
	Expires    *string         `json:"expires"`
}

type wireRecipient struct {
	Address    string     `json:"address"`
	Status     wireStatus `json:"status"`
	ORCPT      *string    `json:"orcpt"`
	Queue      string     `json:"queue"`
	RetryNum   int        `json:"retry_num"`
	NextRetry  *string    `json:"next_retry"`
	NextNotify *string    `json:"next_notify"`
	Expires    *string    `json:"expires"`
	// mqsh's own server adds the reply in parts.
	Code     *int    `json:"code"`
	Enhanced *string `json:"enhanced_code"`
	Message  *string `json:"message"`
}

// wireStatus is Stalwart's status enum: "scheduled" or {"temp_fail": "…"}.
type wireStatus struct {
	Status  queue.Status
	Details string
}

func (s *wireStatus) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*s = wireStatus{}
		return nil
	}
	if b[0] == '"' {
		var word string
		if err := json.Unmarshal(b, &word); err != nil {
			return err
		}
		st, err := queue.ParseStatus(word)
		if err != nil {
			return err
		}
		*s = wireStatus{Status: st}
		return nil
	}
	var obj struct {
		Completed *string `json:"completed"`
		TempFail  *string `json:"temp_fail"`
		PermFail  *string `json:"perm_fail"`
		Scheduled *any    `json:"scheduled"`
	}
	bad := fmt.Errorf("status: want \"scheduled\" or one key such as {\"temp_fail\": \"…\"}, got %s", snippet(b))
	if err := json.Unmarshal(b, &obj); err != nil {
		return bad
	}
	n := 0
	for _, k := range []struct {
		v  *string
		st queue.Status
	}{{obj.Completed, queue.Completed}, {obj.TempFail, queue.TempFail}, {obj.PermFail, queue.PermFail}} {
		if k.v != nil {
			*s = wireStatus{Status: k.st, Details: *k.v}
			n++
		}
	}
	if obj.Scheduled != nil {
		*s = wireStatus{Status: queue.Scheduled}
		n++
	}
	if n != 1 {
		return bad
	}
	return nil
}

// remoteMessage is a message as listed, with what the change routes need
// to know of its server.
type remoteMessage struct {
	queue.Message
	perRecipient bool // recipients[] (v0.13+): filter= matches addresses, not domain names
}

func parseTime(what string, s *string) (time.Time, error) {
	if s == nil || *s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: want an RFC 3339 time, got %q", what, *s)
	}
	return t.UTC(), nil
}

// toMessage maps either shape to a queue.Message, as queue.ImportJSON reads it.
func (w *wireMessage) toMessage() (remoteMessage, error) {
	out := remoteMessage{perRecipient: len(w.Recipients) > 0}
	m := &out.Message
	m.ID = queue.ID(w.ID)
	m.ReturnPath = w.ReturnPath
	m.Size = w.Size
	m.Priority = w.Priority
	if w.EnvID != nil {
		m.EnvID = *w.EnvID
	}
	fail := func(err error) (remoteMessage, error) {
		return out, fmt.Errorf("message %s: %w", m.ID, err)
	}
	if w.ID == 0 {
		return fail(fmt.Errorf("no id"))
	}
	var err error
	if m.Created, err = parseTime("created", w.Created); err != nil {
		return fail(err)
	}
	defaults := func(d *queue.Domain) {
		if d.Due.IsZero() {
			d.Due = m.Created
		}
		if d.Expires.IsZero() {
			d.Expires = m.Created.Add(queue.DefaultSchedule.Expire)
		}
	}
	switch {
	case len(w.Domains) > 0:
		for _, wd := range w.Domains {
			d := queue.Domain{Name: strings.ToLower(wd.Name), Status: wd.Status.Status, Details: wd.Status.Details, RetryNum: wd.RetryNum}
			if d.Due, err = parseTime("next_retry", wd.NextRetry); err != nil {
				return fail(err)
			}
			if d.NotifyAt, err = parseTime("next_notify", wd.NextNotify); err != nil {
				return fail(err)
			}
			if d.Expires, err = parseTime("expires", wd.Expires); err != nil {
				return fail(err)
			}
			defaults(&d)
			for _, wr := range wd.Recipients {
				d.Recipients = append(d.Recipients, wr.toRecipient())
			}
			if d.Name == "" && len(d.Recipients) > 0 {
				d.Name = domainOf(d.Recipients[0].Address)
			}
			m.Domains = append(m.Domains, d)
		}
	case len(w.Recipients) > 0:
		// Per-recipient schedules folded into per-domain ones: the earliest
		// due and notice of the pending recipients, the latest expiry.
		pos := map[string]int{}
		for _, wr := range w.Recipients {
			r := wr.toRecipient()
			name := domainOf(r.Address)
			if name == "" {
				return fail(fmt.Errorf("recipient %q has no domain", r.Address))
			}
			due, err := parseTime("next_retry", wr.NextRetry)
			if err != nil {
				return fail(err)
			}
			notify, err := parseTime("next_notify", wr.NextNotify)
			if err != nil {
				return fail(err)
			}
			expires, err := parseTime("expires", wr.Expires)
			if err != nil {
				return fail(err)
			}
			k, ok := pos[name]
			if !ok {
				k = len(m.Domains)
				pos[name] = k
				m.Domains = append(m.Domains, queue.Domain{Name: name, Status: r.Status, Due: due, NotifyAt: notify, Expires: expires, RetryNum: wr.RetryNum})
			}
			d := &m.Domains[k]
			d.RetryNum = max(d.RetryNum, wr.RetryNum)
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
			if (r.Status == queue.TempFail || r.Status == queue.PermFail) && d.Details == "" {
				d.Details = wr.Status.Details
			}
			d.Status = domainStatus(d.Recipients)
		}
		for i := range m.Domains {
			defaults(&m.Domains[i])
			if m.Domains[i].Status == queue.Scheduled {
				m.Domains[i].Details = ""
			}
		}
	default:
		return fail(fmt.Errorf("no recipients (want domains[] or recipients[])"))
	}
	return out, nil
}

func (wr *wireRecipient) toRecipient() queue.Recipient {
	r := queue.Recipient{Address: wr.Address, Status: wr.Status.Status}
	if wr.ORCPT != nil {
		r.ORCPT = *wr.ORCPT
	}
	if r.Status != queue.Scheduled {
		r.Code, r.Enhanced, r.Message = parseReply(wr.Status.Details)
	}
	if wr.Code != nil {
		r.Code = *wr.Code
	}
	if wr.Enhanced != nil {
		r.Enhanced = *wr.Enhanced
	}
	if wr.Message != nil {
		r.Message = *wr.Message
	}
	return r
}

// domainStatus derives a domain's state from its recipients (v0.13+):
// pending if any is (temporarily failed if any is), else completed if any
// was delivered, else permanently failed.
func domainStatus(rs []queue.Recipient) queue.Status {
	pending, temp, done := false, false, false
	for _, r := range rs {
		switch r.Status {
		case queue.Scheduled:
			pending = true
		case queue.TempFail:
			pending, temp = true, true
		case queue.Completed:
			done = true
		}
	}
	switch {
	case temp:
		return queue.TempFail
	case pending:
		return queue.Scheduled
	case done:
		return queue.Completed
	}
	return queue.PermFail
}

// parseReply splits "…Code: 451, Enhanced code: 4.5.3, Message: text" into
// its parts (v0.13 puts "Error for mx: " before it); other text is a
// message alone.
func parseReply(s string) (code int, enhanced, message string) {
	i := strings.LastIndex(s, "Code: ")
	if i < 0 {
		return 0, "", s
	}
	c, rest, ok := strings.Cut(s[i+len("Code: "):], ", Enhanced code: ")
	if !ok || len(c) == 0 || len(c) > 3 {
		return 0, "", s
	}
	n, err := strconv.Atoi(c)
	if err != nil || n < 0 {
		return 0, "", s
	}
	e, msg, ok := strings.Cut(rest, ", Message: ")
	if !ok || strings.Count(e, ".") != 2 {
		return 0, "", s
	}
	if e == "0.0.0" {
		e = ""
	}
	return n, e, msg
}

// domainOf returns the lower-case domain of an address ("" when none).
func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(addr[at+1:])
}
