package queue

import (
	"fmt"
	"strings"
	"time"
)

// Status is the state of a recipient or of a recipient domain.
type Status int

// The four states Stalwart knows. For a domain, Completed means every recipient
// in it is final and at least one was delivered; for a recipient it means delivered.
const (
	Scheduled Status = iota
	Completed
	TempFail
	PermFail
)

// Pending reports whether delivery is still to be tried (scheduled or
// temporarily failed).
func (s Status) Pending() bool { return s == Scheduled || s == TempFail }

// Short is the word used in lists and filters: scheduled, delivered, tempfail, permfail.
func (s Status) Short() string {
	switch s {
	case Completed:
		return "delivered"
	case TempFail:
		return "tempfail"
	case PermFail:
		return "permfail"
	}
	return "scheduled"
}

// Long is the recipient form used by `queue status`: Scheduled, Delivered,
// Temporary Failure, Permanent Failure.
func (s Status) Long() string {
	switch s {
	case Completed:
		return "Delivered"
	case TempFail:
		return "Temporary Failure"
	case PermFail:
		return "Permanent Failure"
	}
	return "Scheduled"
}

// DomainLong is the domain form used by `queue status`: Scheduled, Completed,
// Temporary Failure, Permanent Failure.
func (s Status) DomainLong() string {
	if s == Completed {
		return "Completed"
	}
	return s.Long()
}

// ParseStatus accepts the short words (scheduled, delivered, tempfail, permfail),
// the JSON keys (completed, temp_fail, perm_fail) and the long forms, in any case.
func ParseStatus(s string) (Status, error) {
	if st, ok := statusNames[strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))]; ok {
		return st, nil
	}
	return 0, fmt.Errorf("unknown status %q: want scheduled, delivered, tempfail or permfail", s)
}

// statusNames are the names of the states ParseStatus reads, in lower case
// without blanks. The JSON import looks a status's key up here as it is
// written (servers write these), before it needs a string of its own.
var statusNames = map[string]Status{
	"scheduled": Scheduled,
	"delivered": Completed, "completed": Completed,
	"tempfail": TempFail, "temp_fail": TempFail, "temporaryfailure": TempFail,
	"permfail": PermFail, "perm_fail": PermFail, "permanentfailure": PermFail,
}

// Message is one queued message with its recipient domains.
type Message struct {
	ID         ID
	ReturnPath string    // empty for bounces; shown as <>
	Created    time.Time // UTC, whole seconds
	Size       int64     // bytes of the RFC 5322 message
	EnvID      string    // DSN envelope id; empty when none
	Priority   int       // 0 unless set
	Domains    []Domain  // in the order recipients were first seen
	Ret        string    // DSN RET: "FULL", "HDRS" or empty when not given
	Client     Client    // where the message came from; zero when not recorded
	Held       bool      // a pending domain of it is held (see Domain.Hold)

	text []byte // the RFC 5322 text a JSON line carried (queue export's "message"), for the import
}

// Due is the message's delivery due: the earliest Due among its domains that are
// still pending. It is zero when nothing in the message is pending.
func (m *Message) Due() time.Time {
	var due time.Time
	for _, d := range m.Domains {
		if d.Status.Pending() && (due.IsZero() || d.Due.Before(due)) {
			due = d.Due
		}
	}
	return due
}

// Pending reports whether any domain of the message is still pending.
func (m *Message) Pending() bool {
	for _, d := range m.Domains {
		if d.Status.Pending() {
			return true
		}
	}
	return false
}

// addRecipient files r under its domain name, adding that domain (as fresh,
// with the name set) when the message has none of that name yet.
func (m *Message) addRecipient(name string, r Recipient, fresh Domain) {
	for i := range m.Domains {
		if m.Domains[i].Name == name {
			m.Domains[i].Recipients = append(m.Domains[i].Recipients, r)
			return
		}
	}
	fresh.Name = name
	fresh.Recipients = append(fresh.Recipients, r)
	m.Domains = append(m.Domains, fresh)
}

// Recipients returns every recipient of the message, domain by domain.
func (m *Message) Recipients() []Recipient {
	var out []Recipient
	for _, d := range m.Domains {
		out = append(out, d.Recipients...)
	}
	return out
}

// Domain is one recipient domain of a message: retries, notices and expiry are
// kept per domain, as in Stalwart up to v0.12.
type Domain struct {
	Name       string // lower case
	Status     Status
	Details    string    // the last error or result for the domain; empty when scheduled
	RetryNum   int       // attempts made so far
	Due        time.Time // next delivery attempt
	NotifyAt   time.Time // next delay notice; zero when none is due
	Expires    time.Time // when the domain gives up and bounces
	Recipients []Recipient
	Hold       *Hold // nil unless the domain is pending and held now
}

// Recipient is one envelope recipient and its delivery state.
type Recipient struct {
	Address  string
	Status   Status
	Code     int    // SMTP reply code of the last attempt; 0 when none
	Enhanced string // enhanced status code such as 4.5.3; empty when none
	Message  string // reply text, or an explanation such as "Delivery canceled."
	ORCPT    string // original recipient (RFC 3461), e.g. rfc822;a@b.example; empty when none
	Notify   Notify // DSN NOTIFY flags; 0 when none were given
}

// Details renders the SMTP details as stalwart-cli does:
// "Code: 451, Enhanced code: 4.5.3, Message: Try again later.". A recipient
// without a reply code shows its message alone; a scheduled one shows nothing.
func (r Recipient) Details() string {
	if r.Code == 0 {
		return r.Message
	}
	enh := r.Enhanced
	if enh == "" {
		enh = "0.0.0"
	}
	return fmt.Sprintf("Code: %d, Enhanced code: %s, Message: %s", r.Code, enh, r.Message)
}

// Envelope is what Enqueue needs besides the raw message.
type Envelope struct {
	Sender     string // return path; empty for a bounce
	Recipients []EnvelopeRecipient
	EnvID      string // optional DSN envelope id
	Priority   int    // optional
	Ret        string // optional DSN RET: FULL or HDRS
	Client     Client // optional: where the message came from
	// HoldUntil, when later than now, makes the message due then (RFC 4865
	// FUTURERELEASE): its notices and expiry move by as much.
	HoldUntil  time.Time
	Held       bool   // an arrival policy held it: each domain is held, by "policy"
	HoldReason string // why it held it; "" when it gave no reason
}

// EnvelopeRecipient is one RCPT TO with its optional ORCPT and NOTIFY.
type EnvelopeRecipient struct {
	Address string
	ORCPT   string
	Notify  Notify
}

// Schedule says when a message is retried, when delay notices are due and when
// it expires, counted from its creation (retries from the last attempt). The
// queue applies Notify and Expire to new messages; Retry is for the delivery
// engine to come (the demo data follows it).
type Schedule struct {
	Retry  []time.Duration // intervals between attempts; the last one repeats
	Notify []time.Duration // delay notices, counted from creation
	Expire time.Duration   // give up this long after creation
}

// DefaultSchedule is Stalwart's: retries after 2m, 5m, 10m, 15m, 30m, 1h, 2h (the
// last repeats), delay notices at 1d and 3d, expiry after 5 days.
var DefaultSchedule = Schedule{
	Retry:  []time.Duration{2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour},
	Notify: []time.Duration{24 * time.Hour, 72 * time.Hour},
	Expire: 5 * 24 * time.Hour,
}
