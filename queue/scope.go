package queue

import (
	"slices"
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

// changeScope reads the scope of a change from f (see the top of this file):
// the recipients that match one of f's recipient patterns (when it has
// any) and are in one of its domains (when it has any).
func (f Filter) changeScope() (scope, error) {
	p, err := f.read()
	if err != nil {
		return scope{}, err
	}
	var s scope
	onDomain := func(name string) cond {
		return cond{"EXISTS (SELECT 1 FROM domains dd WHERE dd.msg_id = r.msg_id AND dd.idx = r.domain_idx AND dd.name = ?)", []any{name}}
	}
	var rc, dc []cond
	for _, a := range p.rcpts {
		if a.kind == addrDomain {
			rc = append(rc, onDomain(a.value))
			continue
		}
		sq, args := a.addrSQL("r.address_lc")
		rc = append(rc, cond{sq, args})
	}
	for _, d := range p.domains {
		dc = append(dc, onDomain(d))
	}
	for _, c := range [][]cond{rc, dc} {
		if len(c) > 0 {
			s.conds = append(s.conds, anyOf(c))
		}
	}
	s.text = scopeText(p.rcpts, p.domains)
	switch {
	case len(p.rcpts) == 0 && len(p.domains) == 1:
		s.domain = p.domains[0]
	case len(p.rcpts) == 1 && p.rcpts[0].kind == addrDomain && (len(p.domains) == 0 || len(p.domains) == 1 && p.domains[0] == p.rcpts[0].value):
		s.domain = p.rcpts[0].value
	}
	return s, nil
}

// scopeText names the recipients of a scope for people.
func scopeText(rcpts []addrPattern, domains []string) string {
	var w []string
	for _, a := range rcpts {
		switch a.kind {
		case addrExact:
			w = append(w, a.value)
		case addrDomain:
			w = append(w, "at "+a.value)
		case addrBare:
			w = append(w, "matching "+a.value)
		default:
			w = append(w, "matching "+strings.ReplaceAll(a.value, "[[]", "["))
		}
	}
	var ds []string
	for _, d := range domains {
		if len(rcpts) != 1 || rcpts[0].kind != addrDomain || rcpts[0].value != d {
			ds = append(ds, d)
		}
	}
	text := strings.Join(w, " or ")
	if len(ds) > 0 {
		if text != "" {
			text += " "
		}
		text += "at " + strings.Join(ds, " or ")
	}
	return text
}

// ScopeOf is the scope of a change made with f, for backends that change
// messages they hold in memory (the remote client): in reports whether a
// recipient of a domain is one the change acts on (in any state: callers
// check that it is pending); whole is true when f names no recipients, and
// the change acts on whole messages; text names the recipients for people
// ("at gmx.de"). The error is Validate's.
func (f Filter) ScopeOf() (in func(domain string, r Recipient) bool, whole bool, text string, err error) {
	p, err := f.read()
	if err != nil {
		return nil, false, "", err
	}
	ams := make([]*addrMatcher, len(p.rcpts))
	for i := range p.rcpts {
		ams[i] = newAddrMatcher(&p.rcpts[i])
	}
	in = func(d string, r Recipient) bool { return inScope(p.domains, ams, d, r.Address) }
	return in, len(p.rcpts) == 0 && len(p.domains) == 0, scopeText(p.rcpts, p.domains), nil
}

// inScope reports whether the recipient addr of domain d is in the scope of
// the domains and recipient patterns (none of either: any).
func inScope(domains []string, rcpts []*addrMatcher, d, addr string) bool {
	if len(domains) > 0 && !slices.Contains(domains, strings.ToLower(d)) {
		return false
	}
	if len(rcpts) == 0 {
		return true
	}
	return slices.ContainsFunc(rcpts, func(am *addrMatcher) bool { return am.match(addr) })
}
