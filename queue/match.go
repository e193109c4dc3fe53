package queue

import (
	"fmt"
	"slices"
	"strings"
)

// The Filter's semantics on a message in memory: the same selection the
// SQLite engine makes with SQL (query.go), for callers that hold messages
// rather than a database, such as the remote client finishing a listing its
// server could only narrow. TestMatchAgreesWithSQL holds the two together.

// Matcher is a Filter read once, to match many messages.
type Matcher struct {
	f       Filter
	ids     map[ID]bool // nil = any id
	senders []*addrMatcher
	rcpts   []*addrMatcher
	domains []string
}

// Matcher checks f as every verb does (Validate) and returns it ready to
// match messages. A filter with a key that reads the queue's own records
// (FilterKey.Stored: the message text, the SMTP client) cannot be matched
// on a message in memory: the error, an *InMemoryError, names the key.
func (f Filter) Matcher() (*Matcher, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	for _, k := range FilterKeys {
		if k.Stored != "" && k.IsSet(&f) {
			return nil, &InMemoryError{Key: k}
		}
	}
	p, err := f.read()
	if err != nil {
		return nil, err
	}
	mt := &Matcher{f: f, domains: p.domains}
	for i := range p.senders {
		mt.senders = append(mt.senders, newAddrMatcher(&p.senders[i]))
	}
	for i := range p.rcpts {
		mt.rcpts = append(mt.rcpts, newAddrMatcher(&p.rcpts[i]))
	}
	if len(f.IDs) > 0 {
		mt.ids = make(map[ID]bool, len(f.IDs))
		for _, id := range f.IDs {
			mt.ids[id] = true
		}
	}
	return mt, nil
}

// InMemoryError says that a filter key needs what only the queue itself
// keeps (its Stored), so a message in memory cannot be matched by it.
type InMemoryError struct {
	Key *FilterKey
}

func (e *InMemoryError) Error() string {
	return fmt.Sprintf("the %s filter reads %s, which only the queue itself keeps", e.Key.Name, e.Key.Stored)
}

// Match reports whether f selects m, as the engine's verbs would if m were in
// the queue. A filter that Validate refuses matches nothing.
func (f Filter) Match(m *Message) bool {
	mt, err := f.Matcher()
	return err == nil && mt.Match(m)
}

// Match reports whether the filter selects m.
func (mt *Matcher) Match(m *Message) bool {
	f := &mt.f
	if mt.ids != nil && !mt.ids[m.ID] {
		return false
	}
	if mt.senders != nil && !slices.ContainsFunc(mt.senders, func(p *addrMatcher) bool { return p.match(m.ReturnPath) }) {
		return false
	}
	if mt.rcpts != nil && !slices.ContainsFunc(mt.rcpts, func(p *addrMatcher) bool { return p.matchMessage(m) }) {
		return false
	}
	if mt.domains != nil && !slices.ContainsFunc(mt.domains, func(d string) bool { return hasDomain(m, d) }) {
		return false
	}
	if !f.DueAfter.IsZero() || !f.DueBefore.IsZero() {
		due := m.Due()
		if due.IsZero() {
			return false // nothing pending: no due
		}
		if !f.DueAfter.IsZero() && due.Unix() <= AfterSecond(f.DueAfter) {
			return false
		}
		if !f.DueBefore.IsZero() && due.Unix() >= BeforeSecond(f.DueBefore) {
			return false
		}
	}
	if f.Larger > 0 && m.Size <= f.Larger || f.Smaller > 0 && m.Size >= f.Smaller {
		return false
	}
	if !f.CreatedAfter.IsZero() && m.Created.Unix() <= AfterSecond(f.CreatedAfter) {
		return false
	}
	if !f.CreatedBefore.IsZero() && m.Created.Unix() >= BeforeSecond(f.CreatedBefore) {
		return false
	}
	if len(f.Status) > 0 {
		ok := slices.ContainsFunc(m.Domains, func(d Domain) bool {
			return slices.ContainsFunc(d.Recipients, func(r Recipient) bool { return slices.Contains(f.Status, r.Status) })
		})
		if !ok {
			return false
		}
	}
	if f.Held != nil {
		// A message as read holds only the holds in force when it was read.
		held := slices.ContainsFunc(m.Domains, func(d Domain) bool { return d.Hold != nil && d.Status.Pending() })
		if held != *f.Held {
			return false
		}
	}
	return true
}

// hasDomain reports whether m has a recipient domain of that (lower-case)
// name; names are compared in lower case, as the engine stores them.
func hasDomain(m *Message, name string) bool {
	return slices.ContainsFunc(m.Domains, func(d Domain) bool { return strings.ToLower(d.Name) == name })
}

// addrMatcher is an address pattern ready for Go: its globs as runes, with
// globEscape undone ('*' and '?' are always wildcards, '[' always literal).
type addrMatcher struct {
	addrPattern
	glob, alt []rune
}

func newAddrMatcher(p *addrPattern) *addrMatcher {
	if p == nil {
		return nil
	}
	am := &addrMatcher{addrPattern: *p}
	if p.kind == addrGlob {
		am.glob = []rune(strings.ReplaceAll(p.value, "[[]", "["))
		if p.alt != "" {
			am.alt = []rune(strings.ReplaceAll(p.alt, "[[]", "["))
		}
	}
	return am
}

// matchMessage reports whether a recipient of m matches the pattern.
func (p *addrMatcher) matchMessage(m *Message) bool {
	if (p.kind == addrDomain || p.kind == addrBare) && hasDomain(m, p.value) {
		return true
	}
	if p.kind == addrDomain {
		return false
	}
	return slices.ContainsFunc(m.Domains, func(d Domain) bool {
		return slices.ContainsFunc(d.Recipients, func(r Recipient) bool { return p.match(r.Address) })
	})
}

// match reports whether an address (any case) matches the pattern, as the
// SQL conditions of compile do.
func (p *addrMatcher) match(addr string) bool {
	a := strings.ToLower(addr)
	switch p.kind {
	case addrExact:
		return a == p.value
	case addrDomain:
		return domainOf(a) == p.value
	case addrBounce:
		return a == ""
	case addrBare:
		return domainOf(a) == p.value || strings.HasPrefix(a, p.value+"@")
	}
	t := []rune(a)
	return globMatch(p.glob, t) || p.alt != nil && globMatch(p.alt, t)
}

// globMatch is SQLite's GLOB with '*' (any run of characters) and '?'
// (exactly one) the only special characters.
func globMatch(p, t []rune) bool {
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] != '*' && (p[pi] == '?' || p[pi] == t[ti]):
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

// AddressPattern is a sender or recipient selector read as Filter reads
// Sender and Recipient, for callers that match single addresses (the
// recipients a cancel takes) or narrow a search by what it names.
type AddressPattern struct {
	m *addrMatcher
}

// ParseAddressPattern reads a selector as Filter.Sender (sender true) or
// Filter.Recipient does, with the same errors.
func ParseAddressPattern(s string, sender bool) (*AddressPattern, error) {
	p, err := parseAddrPattern(s, sender)
	if err != nil {
		return nil, err
	}
	return &AddressPattern{m: newAddrMatcher(&p)}, nil
}

// Match reports whether an address (any case) matches the pattern.
func (p *AddressPattern) Match(addr string) bool { return p.m.match(addr) }

// Literal is what the pattern names without wildcards, in lower case: the
// address itself ("bill@example.net") or its domain after '@'
// ("@example.org"); "" for a glob, a bare word (a local part or a domain)
// or the bounce sender <>.
func (p *AddressPattern) Literal() string {
	switch p.m.kind {
	case addrExact:
		return p.m.value
	case addrDomain:
		return "@" + p.m.value
	}
	return ""
}
