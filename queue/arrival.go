package queue

// What SMTP ingest records about a message besides its envelope: the DSN
// parameters (RET per message, NOTIFY per recipient), the client it came
// from, a FUTURERELEASE hold and an arrival policy's hold. They live in the
// columns of schema step 2 and are written with the message's rows by the
// inserter, so a message is stored whole, in one write, or not at all.

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Notify holds the DSN NOTIFY flags of a recipient (RFC 3461). The zero
// value means the client gave none (Stalwart then reports failures and
// delays).
type Notify uint8

// The NOTIFY keywords. Never excludes the others.
const (
	NotifySuccess Notify = 1 << iota
	NotifyFailure
	NotifyDelay
	NotifyNever
)

var notifyWords = [...]struct {
	bit  Notify
	word string
}{{NotifySuccess, "SUCCESS"}, {NotifyFailure, "FAILURE"}, {NotifyDelay, "DELAY"}, {NotifyNever, "NEVER"}}

// String gives the flags as in RCPT TO: SUCCESS,FAILURE or NEVER; "" for none.
func (n Notify) String() string {
	var words []string
	for _, w := range notifyWords {
		if n&w.bit != 0 {
			words = append(words, w.word)
		}
	}
	return strings.Join(words, ",")
}

// ParseNotify reads a NOTIFY value such as "SUCCESS,DELAY" or "never", in
// any case. NEVER may not be combined with another keyword.
func ParseNotify(s string) (Notify, error) {
	var n Notify
	for _, part := range strings.Split(s, ",") {
		found := false
		for _, w := range notifyWords {
			if strings.EqualFold(strings.TrimSpace(part), w.word) {
				n |= w.bit
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("invalid NOTIFY %q: want NEVER, or any of SUCCESS, FAILURE and DELAY separated by commas", s)
		}
	}
	if n&NotifyNever != 0 && n != NotifyNever {
		return 0, fmt.Errorf("invalid NOTIFY %q: NEVER cannot be combined with other keywords", s)
	}
	return n, nil
}

// Client says where a message came from, for later filters and for the
// Received header's reader.
type Client struct {
	IP   string `json:"ip,omitempty"`   // the client's address, e.g. 192.0.2.7 or 2001:db8::1
	User string `json:"user,omitempty"` // the user it authenticated as; empty when it did not
	Helo string `json:"helo,omitempty"` // the name it gave in HELO/EHLO
}

// IsZero reports whether nothing is recorded.
func (c Client) IsZero() bool { return c == Client{} }

// hasArrival reports whether env carries anything applyArrival sets.
func (env *Envelope) hasArrival() bool {
	if env.Ret != "" || !env.Client.IsZero() || !env.HoldUntil.IsZero() || env.Held {
		return true
	}
	for _, r := range env.Recipients {
		if r.Notify != 0 {
			return true
		}
	}
	return false
}

// checkArrival checks the fields of env that applyArrival sets.
func checkArrival(env *Envelope) error {
	switch env.Ret {
	case "", "FULL", "HDRS":
	default:
		return fmt.Errorf("invalid RET %q: want FULL or HDRS", env.Ret)
	}
	for _, r := range env.Recipients {
		if r.Notify&NotifyNever != 0 && r.Notify != NotifyNever {
			return fmt.Errorf("recipient %s: NOTIFY=NEVER cannot be combined with other keywords", r.Address)
		}
	}
	for _, s := range []string{env.Client.IP, env.Client.User, env.Client.Helo} {
		if err := checkPrintable(s); err != nil {
			return fmt.Errorf("client %q: %w", s, err)
		}
	}
	if err := checkPrintable(env.HoldReason); err != nil {
		return fmt.Errorf("hold reason %q: %w", env.HoldReason, err)
	}
	return nil
}

// applyArrival sets in the new message m what env carries besides the
// envelope: the message's RET, client and hold, the recipients' NOTIFY, and
// a FUTURERELEASE hold, which moves the domains' due, notice and expiry
// times by the time held. It runs after normalize and before the inserter
// writes m, so that each row is written once, whole.
func applyArrival(m *Message, env *Envelope) error {
	if !env.hasArrival() {
		return nil
	}
	if err := checkArrival(env); err != nil {
		return err
	}
	m.Ret, m.Client = env.Ret, env.Client
	if env.Held {
		for i := range m.Domains {
			if m.Domains[i].Status.Pending() {
				m.Domains[i].Hold = &Hold{By: "policy", Reason: env.HoldReason, Since: m.Created}
				m.Held = true
			}
		}
	}
	var notify map[string]Notify
	for _, er := range env.Recipients {
		if er.Notify != 0 {
			if notify == nil {
				notify = map[string]Notify{}
			}
			a, _ := checkAddress("recipient", er.Address) // checked by envelopeMessage already
			notify[strings.ToLower(a)] = er.Notify
		}
	}
	for i := 0; notify != nil && i < len(m.Domains); i++ {
		for j := range m.Domains[i].Recipients {
			r := &m.Domains[i].Recipients[j]
			if n, ok := notify[strings.ToLower(r.Address)]; ok {
				r.Notify = n
			}
		}
	}
	if shift := env.HoldUntil.UTC().Truncate(time.Second).Sub(m.Created); shift > 0 {
		for i := range m.Domains {
			d := &m.Domains[i]
			d.Due, d.Expires = d.Due.Add(shift), d.Expires.Add(shift)
			if !d.NotifyAt.IsZero() {
				d.NotifyAt = d.NotifyAt.Add(shift)
			}
		}
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SetDurable switches the queue's commits between synchronous (on: every
// commit is written through to the disk before it returns, so that what an
// SMTP server acknowledged survives a power loss) and the default (off: a
// commit survives a crash of the program but may be lost with the power).
// It is a setting of the write connections, of Update and UpdateDeferred
// (and so Run) alike: each is switched before its next transaction, and
// one opened later starts with it, so it is set once, not per transaction.
func (q *Queue) SetDurable(ctx context.Context, on bool) error {
	if q.readOnly {
		return q.readOnlyError("change queue")
	}
	q.durable.Store(on)
	if err := q.writer.PingContext(ctx); err != nil { // switches the idle write connection now
		return q.fileError("set durable", err)
	}
	return nil
}
