package queue

// Pure helpers of the toolbox verbs for the other queue engine (pgqueue):
// the checks, audit texts and result shapes of hold, release, hold rules,
// explain and the shape grid, so that both engines give the same answers.

import (
	"fmt"
	"net/netip"
	"time"
)

// CheckHold checks a hold request's end, reason and rule at now: it returns
// the hold's end in whole seconds (zero: until released) and, for a rule,
// the filter the rule keeps. Its errors are ErrInvalidHold, worded as the
// SQLite engine words them.
func CheckHold(r HoldRequest, now time.Time) (until time.Time, rule Filter, err error) {
	if until, err = holdUntil(r.Until, now); err != nil {
		return time.Time{}, Filter{}, invalidHold(err)
	}
	if err := checkPrintable(r.Reason); err != nil {
		return time.Time{}, Filter{}, invalidHold(fmt.Errorf("reason %q: %w", r.Reason, err))
	}
	if r.Rule {
		if rule, err = ruleFilter(r.Filter); err != nil {
			return time.Time{}, Filter{}, invalidHold(err)
		}
	}
	return until, rule, nil
}

// HoldAuditText is the audit text of a hold made with r, ending at until.
func HoldAuditText(r HoldRequest, until time.Time) string {
	text := r.Filter.String() + ";"
	if r.Reason != "" {
		text += " reason=" + quoteValue(r.Reason)
	}
	if !until.IsZero() {
		text += " until=" + formatTime(until)
	}
	if r.Rule {
		text += " rule"
	}
	return text
}

// RemoveVerbs are the audited verbs that can remove a message (explain
// looks for the newest one naming a message no longer queued).
func RemoveVerbs() []string { return append([]string(nil), removeVerbs...) }

// TextPatterns are the values of a filter's keys that read a message's
// text or its SMTP client, normalized as the SQLite engine compares them.
type TextPatterns struct {
	Subjects   []string    // globs over the lower-case Subject ('*', '?'; all else literal)
	MessageIDs []string    // without angle brackets
	IPs        []IPPattern // client addresses or networks
	Users      []string    // compared in any (ASCII) case
	Headers    []HeaderPattern
}

// HeaderPattern is one header filter (NAME:GLOB) read.
type HeaderPattern struct{ p headerPattern }

// Match reports whether the message text raw has a field of the pattern's
// name whose decoded value matches its glob, as the SQLite engine reads it.
func (h HeaderPattern) Match(raw []byte) bool { return h.p.match(raw) }

// IPPattern is one client IP filter: an address (Addr valid, unmapped) or a
// network (Prefix valid, masked).
type IPPattern struct {
	Addr   netip.Addr
	Prefix netip.Prefix
}

// TextPatterns reads f's subject, Message-ID, header, client IP and user values;
// the error is Validate's.
func (f Filter) TextPatterns() (*TextPatterns, error) {
	p, err := f.read()
	if err != nil {
		return nil, err
	}
	out := &TextPatterns{Subjects: p.subjects, MessageIDs: p.msgIDs, Users: p.users}
	for _, h := range p.headers {
		out.Headers = append(out.Headers, HeaderPattern{h})
	}
	for _, ip := range p.ips {
		out.IPs = append(out.IPs, IPPattern{Addr: ip.addr, Prefix: ip.prefix})
	}
	return out, nil
}

// MessageHeaders reads what the filters keep of a message text: its
// Subject (decoded, unfolded, lower case) and its Message-ID (without angle
// brackets); "" for what it lacks, and for a text that is not a message.
func MessageHeaders(raw []byte) (subject, msgID string) {
	h := readHeaders(raw)
	return h.subject, h.msgID
}
