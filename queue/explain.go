package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Explainer is implemented by a backend that can say why a message is where
// it is (the SQLite engine). A backend without it (a remote Stalwart server)
// cannot explain; callers say so.
type Explainer interface {
	Explain(ctx context.Context, id ID) (*Explanation, error)
}

// TxExplainer is Explainer inside a unit of work (Backend.Run), for Lua.
type TxExplainer interface {
	Explain(id ID) (*Explanation, error)
}

var (
	_ Explainer   = (*Queue)(nil)
	_ TxExplainer = (*Tx)(nil)
)

// Explanation is what `queue explain` tells about one message: where it
// stands per domain, what was tried, what happens next, and what holds it.
// It is facts only; the command line words them as sentences.
type Explanation struct {
	ID  ID        `json:"id"`
	Now time.Time `json:"now"` // the clock the explanation was made at
	// Queued is false when the message is no longer in the queue: only its
	// attempts history is left, and the fields of the message are zero.
	Queued   bool      `json:"queued"`
	Sender   string    `json:"sender,omitempty"` // "<>" for a bounce; "" when gone
	Created  time.Time `json:"created,omitzero"`
	Size     int64     `json:"size,omitempty"` // bytes
	Priority int       `json:"priority,omitempty"`
	Client   Client    `json:"client,omitzero"`
	// Paused: delivery from the whole queue is paused (queue pause).
	Paused bool `json:"paused"`
	// Held: the message is held and is not delivered until released.
	Held bool `json:"held"`
	// Holds say what holds the message, one entry per hold or hold rule
	// that applies (see explainHolds); empty when nothing holds it.
	Holds   []HoldNote          `json:"holds,omitempty"`
	Domains []DomainExplanation `json:"domains"`
	// Removed is the change of the audit log that removed the message (a
	// cancel or a bounce), when it is gone that way; nil otherwise.
	Removed *Removal `json:"removed,omitempty"`
}

// Removal is the audited change that removed a message.
type Removal struct {
	Seq    int64     `json:"audit_seq"`
	At     time.Time `json:"at"`
	User   string    `json:"user"`
	Source string    `json:"source"`
	Verb   string    `json:"verb"` // cancel or bounce
	Filter string    `json:"filter"`
}

// HoldNote is one reason a message or one of its domains is not delivered.
type HoldNote struct {
	Domain string    `json:"domain,omitempty"` // "" = the whole message
	Rule   int       `json:"rule,omitempty"`   // the hold rule's number; 0 = a hold of this message itself
	By     string    `json:"by,omitempty"`     // who held it; "" when not recorded
	Reason string    `json:"reason,omitempty"` // why, as given
	At     time.Time `json:"at,omitzero"`      // since when; zero when not recorded
	Until  time.Time `json:"until,omitzero"`   // released by itself then; zero = until released
}

// DomainExplanation is one recipient domain of an explained message.
type DomainExplanation struct {
	Name string `json:"name"`
	// Status is the domain's state word: scheduled, delivered, tempfail or
	// permfail while the message is queued. For a message no longer queued
	// it is read from the last attempt: delivered (a 2xx reply), permfail (a
	// 5xx reply) or removed (anything else: cancelled, expired or deleted).
	Status     string          `json:"status"`
	Details    string          `json:"details,omitempty"` // the last error or result; "" when none
	RetryNum   int             `json:"retry_num"`         // attempts counted by the queue
	Due        time.Time       `json:"next_retry,omitzero"`
	NotifyAt   time.Time       `json:"next_notify,omitzero"`
	Expires    time.Time       `json:"expires,omitzero"`
	LeasedBy   string          `json:"leased_by,omitempty"`   // the delivery worker trying it now; "" when none
	LeasedTo   time.Time       `json:"leased_until,omitzero"` // until when its lease runs
	Attempts   []AttemptNote   `json:"attempts"`              // oldest first
	Recipients []RecipientNote `json:"recipients,omitempty"`
	Held       bool            `json:"held,omitempty"`         // held by a hold of this domain or a rule
	HoldNotes  []HoldNote      `json:"domain_holds,omitempty"` // the holds of this domain (also in Explanation.Holds)
}

// RecipientNote is one recipient of an explained domain.
type RecipientNote struct {
	Address string `json:"address"`
	Status  string `json:"status"`            // scheduled, delivered, tempfail or permfail
	Details string `json:"details,omitempty"` // its last reply, as `queue status` shows it
}

// AttemptNote is one recorded delivery attempt.
type AttemptNote struct {
	At    time.Time `json:"at"`
	Host  string    `json:"host,omitempty"`  // host[ip]:port; "" when none was reached
	Reply string    `json:"reply,omitempty"` // the reply or error
}

// Explain tells about one message; ErrNotFound when the queue neither holds
// it nor remembers an attempt to deliver it.
func (q *Queue) Explain(ctx context.Context, id ID) (*Explanation, error) {
	var e *Explanation
	err := q.View(ctx, func(tx *Tx) (err error) { e, err = tx.Explain(id); return })
	if err != nil {
		return nil, err
	}
	if e.Paused, err = q.Paused(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Explain is Queue.Explain inside a transaction (Paused is left false: the
// switch is read by Queue.Explain).
func (tx *Tx) Explain(id ID) (*Explanation, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	e := &Explanation{ID: id, Now: tx.q.clock()}
	attempts, err := tx.attemptNotes(id)
	if err != nil {
		return nil, tx.q.fileError("explain", err)
	}
	m, err := tx.Get(id)
	switch {
	case errors.Is(err, ErrNotFound):
		if e.Removed, err = tx.removedBy(id); err != nil {
			return nil, tx.q.fileError("explain", err)
		}
		if len(attempts) == 0 && e.Removed == nil {
			return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
		}
		e.Domains = GoneDomains(attempts)
		return e, nil
	case err != nil:
		return nil, err
	}
	leases, err := tx.leases(id)
	if err != nil {
		return nil, tx.q.fileError("explain", err)
	}
	ExplainQueued(e, m, attempts, leases)
	return e, nil
}

// ExplainQueued fills in what e tells of m, a queued message: its envelope,
// its domains with their recipients, attempts (per domain, oldest first),
// due times and the delivery leases still running at e.Now, and its holds.
// Both engines' Explain read a queued message with it.
func ExplainQueued(e *Explanation, m *Message, attempts map[string][]AttemptNote, leases map[string]DomainLease) {
	e.Queued = true
	e.Sender, e.Created, e.Size, e.Priority, e.Client, e.Held = m.ReturnPath, m.Created, m.Size, m.Priority, m.Client, m.Held
	if e.Sender == "" {
		e.Sender = "<>"
	}
	for _, d := range m.Domains {
		de := DomainExplanation{Name: d.Name, Status: d.Status.Short(), Details: d.Details, RetryNum: d.RetryNum,
			NotifyAt: d.NotifyAt, Expires: d.Expires, Attempts: attempts[d.Name]}
		for _, r := range d.Recipients {
			de.Recipients = append(de.Recipients, RecipientNote{Address: r.Address, Status: r.Status.Short(), Details: r.Details()})
		}
		if de.Attempts == nil {
			de.Attempts = []AttemptNote{}
		}
		if d.Status.Pending() {
			de.Due = d.Due
		} else {
			de.NotifyAt = time.Time{}
		}
		if l, ok := leases[d.Name]; ok && l.Until.After(e.Now) && d.Status.Pending() {
			de.LeasedBy, de.LeasedTo = l.By, l.Until
		}
		e.Domains = append(e.Domains, de)
	}
	explainHolds(e, m)
}

// explainHolds fills in Holds, and per domain Held and HoldNotes, from the
// holds of m's domains (by a user, an arrival policy or a hold rule; an
// ended hold is not read as one).
func explainHolds(e *Explanation, m *Message) {
	for i := range m.Domains {
		h := m.Domains[i].Hold
		if h == nil || i >= len(e.Domains) {
			continue
		}
		n := HoldNote{Domain: m.Domains[i].Name, Rule: int(h.Rule), By: h.By, Reason: h.Reason, At: h.Since, Until: h.Until}
		de := &e.Domains[i]
		de.Held = true
		de.HoldNotes = append(de.HoldNotes, n)
		e.Holds = append(e.Holds, n)
	}
}

// attemptNotes reads the attempts history of a message, per domain, oldest
// first.
func (tx *Tx) attemptNotes(id ID) (map[string][]AttemptNote, error) {
	out := map[string][]AttemptNote{}
	if uint64(id) > math.MaxInt64 {
		return out, nil
	}
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT domain, at, host, reply FROM attempts WHERE msg_id = ? ORDER BY at, seq", int64(id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var dom string
		var at int64
		var host, reply sql.NullString
		if err := rows.Scan(&dom, &at, &host, &reply); err != nil {
			return nil, err
		}
		out[dom] = append(out[dom], AttemptNote{At: time.UnixMilli(at).UTC(), Host: host.String, Reply: reply.String})
	}
	return out, rows.Err()
}

// removeVerbs are the audited verbs that can remove a message.
var removeVerbs = []string{"cancel", "bounce"}

// removedBy finds the newest change of the audit log that removed or
// cancelled recipients of a message no longer queued: the one that removed
// it. It reads the ids of every such change, newest first; nil when none
// names the message.
func (tx *Tx) removedBy(id ID) (*Removal, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT seq, at, user, source, verb, filter, ids FROM audit WHERE verb IN (?, ?) ORDER BY seq DESC",
		removeVerbs[0], removeVerbs[1])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e Removal
		var at int64
		var blob []byte
		if err := rows.Scan(&e.Seq, &at, &e.User, &e.Source, &e.Verb, &e.Filter, &blob); err != nil {
			return nil, err
		}
		if _, found := slices.BinarySearch(decodeIDs(blob), id); found {
			e.At = time.UnixMilli(at).UTC()
			return &e, nil
		}
	}
	return nil, rows.Err()
}

// DomainLease is a domain's delivery lease as Explain tells it: the worker
// that holds it and until when.
type DomainLease struct {
	By    string
	Until time.Time
}

// leases reads the delivery leases of a message's domains.
func (tx *Tx) leases(id ID) (map[string]DomainLease, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT name, locked_by, locked_until FROM domains WHERE msg_id = ? AND locked_until IS NOT NULL", int64(id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]DomainLease{}
	for rows.Next() {
		var name string
		var by sql.NullString
		var until int64
		if err := rows.Scan(&name, &by, &until); err != nil {
			return nil, err
		}
		out[name] = DomainLease{By: by.String, Until: fromUnix(until)}
	}
	return out, rows.Err()
}

// GoneDomains tells the domains of a message no longer queued from its
// attempts: each domain's fate is read from its last reply.
func GoneDomains(attempts map[string][]AttemptNote) []DomainExplanation {
	var out []DomainExplanation
	for name, as := range attempts {
		last := as[len(as)-1]
		status := "removed"
		switch {
		case replyClass(last.Reply) == '2':
			status = "delivered"
		case replyClass(last.Reply) == '5':
			status = "permfail"
		}
		out = append(out, DomainExplanation{Name: name, Status: status, Details: last.Reply, RetryNum: len(as), Attempts: as})
	}
	// Oldest first attempt first, then by name: a stable order.
	slices.SortFunc(out, func(a, b DomainExplanation) int {
		if c := a.Attempts[0].At.Compare(b.Attempts[0].At); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// replyClass is the first digit of an SMTP reply ("250 2.0.0 OK" -> '2'),
// or 0 when the text is not a reply (a network error).
func replyClass(reply string) byte {
	if len(reply) >= 3 && strings.IndexFunc(reply[:3], func(r rune) bool { return r < '0' || r > '9' }) < 0 &&
		(len(reply) == 3 || reply[3] == ' ' || reply[3] == '-') {
		return reply[0]
	}
	return 0
}
