package queue

import (
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"
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

type jsonOutMessage struct {
	ID         uint64          `json:"id"`
	QueueID    string          `json:"queue_id"`
	ReturnPath string          `json:"return_path"`
	Domains    []jsonOutDomain `json:"domains"`
	Recipients []jsonOutRcpt13 `json:"recipients"`
	Created    string          `json:"created"`
	Size       int64           `json:"size"`
	Priority   int             `json:"priority,omitempty"`
	EnvID      string          `json:"env_id,omitempty"`
	Ret        string          `json:"ret,omitempty"`    // schema step 2, when set
	Client     *Client         `json:"client,omitempty"` // schema step 2, when set
	Held       bool            `json:"held,omitempty"`   // a domain is held (its held object says how)
}

type jsonOutDomain struct {
	Name       string             `json:"name"`
	Status     any                `json:"status"`
	Recipients []jsonOutRecipient `json:"recipients"`
	RetryNum   int                `json:"retry_num"`
	NextRetry  *string            `json:"next_retry"`
	NextNotify *string            `json:"next_notify"`
	Expires    string             `json:"expires"`
	Held       *jsonHold          `json:"held,omitempty"` // mqsh's: the domain's hold in force
}

// jsonHold is a domain's hold: who, why, since when and until when (absent:
// until released), and the hold rule that made it.
type jsonHold struct {
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	Since  string `json:"since"`
	Until  string `json:"until,omitempty"`
	Rule   int64  `json:"rule,omitempty"`
}

type jsonOutRecipient struct {
	Address  string `json:"address"`
	Status   any    `json:"status"`
	ORCPT    string `json:"orcpt,omitempty"`
	Notify   string `json:"notify,omitempty"` // schema step 2, when set
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced_code,omitempty"`
	Message  string `json:"message,omitempty"`
}

// jsonOutRcpt13 is a recipient of the v0.13+ shape: the v0.12 fields and its
// schedule.
type jsonOutRcpt13 struct {
	jsonOutRecipient
	Queue      string `json:"queue"`
	RetryNum   int    `json:"retry_num"`
	NextRetry  string `json:"next_retry"`
	NextNotify string `json:"next_notify,omitempty"`
	Expires    string `json:"expires"`
}

// jsonTime is a time as the JSON shape writes it, RFC 3339 in UTC. (Not
// time.Time's own encoding, which refuses years past 9999: a queue written
// before the engine checked times may hold one, and must still be listed.)
func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// The status as Stalwart writes it: "scheduled", or an object of one key.
type (
	jsonCompleted struct {
		Details string `json:"completed"`
	}
	jsonTempFail struct {
		Details string `json:"temp_fail"`
	}
	jsonPermFail struct {
		Details string `json:"perm_fail"`
	}
)

func jsonStatus(s Status, details string) any {
	switch s {
	case Completed:
		return jsonCompleted{details}
	case TempFail:
		return jsonTempFail{details}
	case PermFail:
		return jsonPermFail{details}
	}
	return "scheduled"
}

// replyText is the ≤v0.12 display of an SMTP reply, also for code 0.
func replyText(r Recipient) string {
	enh := r.Enhanced
	if enh == "" {
		enh = "0.0.0"
	}
	return "Code: " + strconv.Itoa(r.Code) + ", Enhanced code: " + enh + ", Message: " + r.Message
}

// MarshalJSON writes the message in Stalwart's management-API shape (domains[]
// and recipients[]), which ImportJSON reads back unchanged.
func (m *Message) MarshalJSON() ([]byte, error) { return m.AppendJSON(nil) }

// AppendJSON appends the message as MarshalJSON writes it to dst, for a
// writer of many messages that reuses one buffer.
func (m *Message) AppendJSON(dst []byte) ([]byte, error) {
	nr := 0
	for i := range m.Domains {
		nr += len(m.Domains[i].Recipients)
	}
	out := jsonOutMessage{ID: uint64(m.ID), QueueID: m.ID.String(), ReturnPath: m.ReturnPath, Created: jsonTime(m.Created), Size: m.Size, Priority: m.Priority, EnvID: m.EnvID,
		Domains: make([]jsonOutDomain, 0, len(m.Domains)), Recipients: make([]jsonOutRcpt13, 0, nr), Ret: m.Ret, Held: m.Held}
	if !m.Client.IsZero() {
		out.Client = &m.Client
	}
	for _, d := range m.Domains {
		due := jsonTime(d.Due)
		od := jsonOutDomain{Name: d.Name, Status: jsonStatus(d.Status, d.Details), RetryNum: d.RetryNum, Expires: jsonTime(d.Expires), Recipients: make([]jsonOutRecipient, 0, len(d.Recipients))}
		if !d.Due.IsZero() {
			od.NextRetry = &due
		}
		if !d.NotifyAt.IsZero() {
			s := jsonTime(d.NotifyAt)
			od.NextNotify = &s
		}
		if h := d.Hold; h != nil {
			od.Held = &jsonHold{By: h.By, Reason: h.Reason, Since: jsonTime(h.Since), Rule: h.Rule}
			if !h.Until.IsZero() {
				od.Held.Until = jsonTime(h.Until)
			}
		}
		for _, r := range d.Recipients {
			or := jsonOutRecipient{Address: r.Address, ORCPT: r.ORCPT, Notify: r.Notify.String(), Code: r.Code, Enhanced: r.Enhanced, Message: r.Message}
			if r.Status == Scheduled {
				or.Status = jsonStatus(Scheduled, "")
			} else {
				or.Status = jsonStatus(r.Status, replyText(r))
			}
			od.Recipients = append(od.Recipients, or)
			r13 := jsonOutRcpt13{jsonOutRecipient: or, Queue: "default", RetryNum: d.RetryNum, NextRetry: due, Expires: od.Expires}
			if od.NextNotify != nil {
				r13.NextNotify = *od.NextNotify
			}
			out.Recipients = append(out.Recipients, r13)
		}
		out.Domains = append(out.Domains, od)
	}
	enc := jsonEncoders.Get().(*jsonEncoder)
	defer func() {
		enc.buf = nil
		jsonEncoders.Put(enc)
	}()
	enc.buf = dst
	if err := enc.enc.Encode(&out); err != nil {
		return dst, err
	}
	// Encode ends the value with a newline, which is not part of it.
	return enc.buf[:len(enc.buf)-1], nil
}

// jsonEncoder is a goccy encoder that appends to a caller's slice, kept in a
// pool so that encoding many messages allocates no encoder or output copy.
type jsonEncoder struct {
	buf []byte
	enc *json.Encoder
}

func (e *jsonEncoder) Write(p []byte) (int, error) {
	e.buf = append(e.buf, p...)
	return len(p), nil
}

var jsonEncoders = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.enc = json.NewEncoder(e)
	e.enc.SetEscapeHTML(false)
	return e
}}

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
