package remote

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mqsh/queue"
)

// The exact match of a queue.Filter on a listed message, with the local
// engine's semantics (see queue.Filter): the server narrows, the client
// decides.

type addrKind int

const (
	addrExact  addrKind = iota // a full address, compared in lower case
	addrDomain                 // "@example.org" or "example.org": the domain, exact
	addrGlob                   // * and ? over the lower-case address
	addrBounce                 // the sender <>
)

type addrPattern struct {
	kind  addrKind
	value string // lower case; for addrGlob the pattern over the whole address
	alt   string // for a glob without '@': the pattern tried on "x@domain" as well
}

// parseAddrPattern reads a sender or recipient selector as the local engine
// does; Filter.Validate has already refused what it would refuse.
func parseAddrPattern(s string, sender bool) (addrPattern, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "<>" {
		if !sender {
			return addrPattern{}, errors.New("the empty address <> is a sender (bounces), not a recipient")
		}
		return addrPattern{kind: addrBounce}, nil
	}
	if len(v) > 2 && v[0] == '<' && v[len(v)-1] == '>' {
		v = strings.TrimSpace(v[1 : len(v)-1])
	}
	if v == "" {
		return addrPattern{}, fmt.Errorf("empty address pattern %q", s)
	}
	glob := strings.ContainsAny(v, "*?")
	at := strings.LastIndexByte(v, '@')
	switch {
	case at == 0:
		if v[1:] == "" {
			return addrPattern{}, fmt.Errorf("invalid address pattern %q: want a domain after @", s)
		}
		if glob {
			return addrPattern{kind: addrGlob, value: "*@" + v[1:]}, nil
		}
		return addrPattern{kind: addrDomain, value: v[1:]}, nil
	case at < 0:
		if glob {
			return addrPattern{kind: addrGlob, value: v, alt: "*@" + v}, nil
		}
		return addrPattern{kind: addrDomain, value: v}, nil
	case glob:
		return addrPattern{kind: addrGlob, value: v}, nil
	}
	return addrPattern{kind: addrExact, value: v}, nil
}

// match reports whether an address (any case) matches the pattern.
func (p addrPattern) match(addr string) bool {
	a := strings.ToLower(addr)
	switch p.kind {
	case addrExact:
		return a == p.value
	case addrDomain:
		return a != "" && domainOf(a) == p.value
	case addrBounce:
		return a == ""
	}
	return globMatch(p.value, a) || p.alt != "" && globMatch(p.alt, a)
}

// globMatch is SQLite's GLOB with only * and ? special (the local engine
// escapes '['): * any run of characters, ? exactly one.
func globMatch(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matcher is a Filter compiled for the client.
type matcher struct {
	f      queue.Filter
	ids    map[queue.ID]bool
	sender *addrPattern
	rcpt   *addrPattern
	domain string
}

func compile(f queue.Filter) (*matcher, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	m := &matcher{f: f}
	if len(f.IDs) > 0 {
		m.ids = make(map[queue.ID]bool, len(f.IDs))
		for _, id := range f.IDs {
			m.ids[id] = true
		}
	}
	if f.Sender != "" {
		p, err := parseAddrPattern(f.Sender, true)
		if err != nil {
			return nil, fmt.Errorf("sender filter: %w", err)
		}
		m.sender = &p
	}
	if f.Recipient != "" {
		p, err := parseAddrPattern(f.Recipient, false)
		if err != nil {
			return nil, fmt.Errorf("recipient filter: %w", err)
		}
		m.rcpt = &p
	}
	if f.Domain != "" {
		m.domain = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(f.Domain), "@"))
	}
	return m, nil
}

// afterSecond and beforeSecond make exclusive bounds whole seconds, as the
// engine stores its times.
func afterSecond(t time.Time) int64 { return t.Unix() }

func beforeSecond(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func (mt *matcher) match(m *queue.Message) bool {
	f := mt.f
	if mt.ids != nil && !mt.ids[m.ID] {
		return false
	}
	if mt.sender != nil && !mt.sender.match(m.ReturnPath) {
		return false
	}
	if mt.rcpt != nil {
		ok := false
		for _, d := range m.Domains {
			if mt.rcpt.kind == addrDomain {
				ok = d.Name == mt.rcpt.value
			} else {
				for _, r := range d.Recipients {
					if ok = mt.rcpt.match(r.Address); ok {
						break
					}
				}
			}
			if ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	if mt.domain != "" && !slices.ContainsFunc(m.Domains, func(d queue.Domain) bool { return d.Name == mt.domain }) {
		return false
	}
	if !f.DueAfter.IsZero() || !f.DueBefore.IsZero() {
		due := m.Due()
		if due.IsZero() {
			return false
		}
		if !f.DueAfter.IsZero() && !(due.Unix() > afterSecond(f.DueAfter)) {
			return false
		}
		if !f.DueBefore.IsZero() && !(due.Unix() < beforeSecond(f.DueBefore)) {
			return false
		}
	}
	if !f.CreatedAfter.IsZero() && !(m.Created.Unix() > afterSecond(f.CreatedAfter)) {
		return false
	}
	if !f.CreatedBefore.IsZero() && !(m.Created.Unix() < beforeSecond(f.CreatedBefore)) {
		return false
	}
	if len(f.Status) > 0 {
		ok := false
		for _, d := range m.Domains {
			for _, r := range d.Recipients {
				if slices.Contains(f.Status, r.Status) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// queueDomain is a Domain filter's value as the engine compares it.
func queueDomain(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "@"))
}
