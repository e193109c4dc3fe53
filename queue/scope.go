package queue

import (
	"strings"
)

// The scope of a change: a recipient or domain filter given to a verb that
// changes messages (retry, cancel, bounce) selects the messages that have
// such recipients, and the verb then acts on those recipients only (retry:
// on their domains, which carry the schedule); the other recipients of the
// messages stay as they were. Without one the verb acts on whole messages.
// One meaning for the command line, Lua and the HTTP API, since all of them
// hand the engine the same Filter.

// scope is the part of a filter that names recipients, compiled to a
// condition on a recipients row r.
type scope struct {
	conds []cond // on r; none = whole messages
	text  string // for people: "recipients at gmx.de"; "" = whole messages
	// domain, when the scope is exactly the recipients of one domain: a
	// pending domain of that name is then in it without a look at its
	// recipients.
	domain string
}

// whole reports whether the change acts on whole messages.
func (s scope) whole() bool { return len(s.conds) == 0 }

// rcptSQL is the condition "r is a pending recipient in the scope".
func (s scope) rcptSQL() (string, []any) {
	where, args := joinConds(s.conds)
	return "r.status IN " + pendingSQL + " AND " + where, args
}

// changeScope reads the scope of a change from f (see the top of this file).
func (f Filter) changeScope() (scope, error) {
	_, rcpt, domain, err := f.patterns()
	if err != nil {
		return scope{}, err
	}
	var s scope
	onDomain := func(name string) cond {
		return cond{"EXISTS (SELECT 1 FROM domains dd WHERE dd.msg_id = r.msg_id AND dd.idx = r.domain_idx AND dd.name = ?)", []any{name}}
	}
	if rcpt != nil {
		switch rcpt.kind {
		case addrExact:
			s.conds = append(s.conds, cond{"r.address_lc = ?", []any{rcpt.value}})
		case addrDomain:
			s.conds = append(s.conds, onDomain(rcpt.value))
		case addrGlob:
			sq, a := rcpt.globSQL("r.address_lc")
			s.conds = append(s.conds, cond{sq, a})
		}
	}
	if domain != "" {
		s.conds = append(s.conds, onDomain(domain))
	}
	s.text = scopeText(rcpt, domain)
	switch {
	case rcpt == nil:
		s.domain = domain
	case rcpt.kind == addrDomain && (domain == "" || domain == rcpt.value):
		s.domain = rcpt.value
	}
	return s, nil
}

// scopeText names the recipients of a scope for people.
func scopeText(rcpt *addrPattern, domain string) string {
	var w []string
	if rcpt != nil {
		switch rcpt.kind {
		case addrExact:
			w = append(w, rcpt.value)
		case addrDomain:
			w = append(w, "at "+rcpt.value)
		default:
			w = append(w, "matching "+strings.ReplaceAll(rcpt.value, "[[]", "["))
		}
	}
	if domain != "" && (rcpt == nil || rcpt.kind != addrDomain || rcpt.value != domain) {
		w = append(w, "at "+domain)
	}
	return strings.Join(w, " ")
}

// ScopeOf is the scope of a change made with f, for backends that change
// messages they hold in memory (the remote client): in reports whether a
// recipient of a domain is one the change acts on (in any state: callers
// check that it is pending); whole is true when f names no recipients, and
// the change acts on whole messages; text names the recipients for people
// ("at gmx.de"). The error is Validate's.
func (f Filter) ScopeOf() (in func(domain string, r Recipient) bool, whole bool, text string, err error) {
	_, rcpt, domain, err := f.patterns()
	if err != nil {
		return nil, false, "", err
	}
	am := newAddrMatcher(rcpt)
	in = func(d string, r Recipient) bool {
		if domain != "" && strings.ToLower(d) != domain {
			return false
		}
		return am == nil || am.match(r.Address)
	}
	return in, rcpt == nil && domain == "", scopeText(rcpt, domain), nil
}
