package pgqueue

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"mqsh/queue"
)

// The Filter in SQL: one function turns it into conditions on the message
// row m, with the same semantics as the SQLite engine's (queue/query.go),
// which the shared engine suite (queue/enginetest) holds them to. The
// planner picks the index; every condition is one an index serves.

// args collects the parameters of a statement, numbered $1, $2, ...
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// selection is a Filter compiled to conditions on m.
type selection struct {
	conds []string
	empty bool // nothing can match (ids beyond the id range)
	// keyed says an index on a value (ids, an address, a domain) selects
	// the messages in id order; ranged that a due or created range may.
	keyed, ranged bool
	// ids is, for a filter that is a recipient or a domain alone, the
	// subquery that selects its message ids (each once): counted without
	// visiting the messages.
	ids string
}

// where returns " WHERE ..." for the conditions and extra ones ("" when none).
func (s *selection) where(extra ...string) string {
	all := append(append([]string{}, s.conds...), extra...)
	if len(all) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(all, " AND ")
}

// compile turns f into conditions, adding its parameters to a. after, when
// not zero, is the id a page starts after: the subqueries that select by
// recipient or domain start there too, so that a late page reads no more
// of their index than the first. now (unix seconds) is the queue's clock,
// at which a hold with an end has ended.
func compile(f queue.Filter, a *args, after queue.ID, now int64) (*selection, error) {
	senders, rcpts, domains, err := f.Patterns()
	if err != nil {
		return nil, err
	}
	if err := checkKeys(f); err != nil {
		return nil, err
	}
	s := &selection{}
	add := func(c string) { s.conds = append(s.conds, c) }
	from := func(alias string) string { return "" }
	if after > 0 {
		bound := a.add(int64(after))
		add("m.id > " + bound)
		from = func(alias string) string { return " AND " + alias + ".msg_id > " + bound }
	}
	if len(f.IDs) > 0 {
		ids := make([]int64, 0, len(f.IDs))
		for _, id := range f.IDs {
			if uint64(id) <= math.MaxInt64 {
				ids = append(ids, int64(id))
			}
		}
		if len(ids) == 0 {
			s.empty = true
		}
		s.keyed = true
		add("m.id = ANY(" + a.add(ids) + "::bigint[])")
	}
	// Each field's values are either-or; the fields are all required. A
	// field without globs is read through an index.
	noGlob := func(ps []*queue.AddressPattern) bool {
		for _, p := range ps {
			if p.Kind() == queue.AddressGlob {
				return false
			}
		}
		return len(ps) > 0
	}
	s.keyed = s.keyed || noGlob(senders) || noGlob(rcpts) || len(domains) > 0
	var cs []string
	for _, p := range senders {
		cs = append(cs, senderSQL(p, a))
	}
	if len(cs) > 0 {
		add(anyOf(cs))
	}
	switch {
	case len(rcpts) == 1 && (rcpts[0].Kind() == queue.AddressExact || rcpts[0].Kind() == queue.AddressDomain):
		// One address or domain: its index, from the page's start.
		if rcpts[0].Kind() == queue.AddressExact {
			s.ids = "SELECT r.msg_id FROM recipients r WHERE r.address_lc = " + a.add(rcpts[0].Value()) + from("r")
		} else {
			s.ids = "SELECT d.msg_id FROM domains d WHERE d.name = " + a.add(rcpts[0].Value()) + from("d")
		}
		add("m.id IN (" + s.ids + ")")
	case len(rcpts) > 0:
		cs = nil
		for _, p := range rcpts {
			cs = append(cs, rcptSQL(p, a))
		}
		add(anyOf(cs))
	}
	switch len(domains) {
	case 0:
	case 1:
		s.ids = "SELECT d.msg_id FROM domains d WHERE d.name = " + a.add(domains[0]) + from("d")
		add("m.id IN (" + s.ids + ")")
	default:
		add("m.id IN (SELECT d.msg_id FROM domains d WHERE d.name = ANY(" + a.add(domains) + "::text[])" + from("d") + ")")
	}
	s.ranged = !f.DueAfter.IsZero() || !f.DueBefore.IsZero() || !f.CreatedAfter.IsZero() || !f.CreatedBefore.IsZero()
	if !f.DueAfter.IsZero() {
		add("m.due > " + a.add(queue.AfterSecond(f.DueAfter)))
	}
	if !f.DueBefore.IsZero() {
		add("m.due < " + a.add(queue.BeforeSecond(f.DueBefore)))
	}
	if !f.CreatedAfter.IsZero() {
		add("m.created > " + a.add(queue.AfterSecond(f.CreatedAfter)))
	}
	if !f.CreatedBefore.IsZero() {
		add("m.created < " + a.add(queue.BeforeSecond(f.CreatedBefore)))
	}
	if len(f.Status) > 0 {
		st := make([]int16, len(f.Status))
		for i, x := range f.Status {
			st[i] = int16(x)
		}
		add("EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND r.status = ANY(" + a.add(st) + "::smallint[]))")
	}
	if f.Larger > 0 {
		add("m.size > " + a.add(f.Larger))
	}
	if f.Smaller > 0 {
		add("m.size < " + a.add(f.Smaller))
	}
	// Held: a pending domain of the message is held now.
	if f.Held != nil {
		c := "EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = m.id AND " + activeHold(a.add(now)) + ")"
		if !*f.Held {
			c = "NOT " + c
		}
		add(c)
	}
	return s, nil
}

// checkKeys refuses the filter keys that read what this engine does not
// keep yet: the message's own headers and the SMTP client serve recorded.
func checkKeys(f queue.Filter) error {
	for _, k := range queue.FilterKeys {
		if k.Stored != "" && k.IsSet(&f) {
			return fmt.Errorf("the %s filter is not available on PostgreSQL yet (it reads %s, which the PostgreSQL queue does not index): use it on a queue file, or narrow by sender, recipient, domain, times, status or size", k.Flag, k.Stored)
		}
	}
	return nil
}

// anyOf is the condition that one of cs holds.
func anyOf(cs []string) string {
	if len(cs) == 1 {
		return cs[0]
	}
	return "(" + strings.Join(cs, " OR ") + ")"
}

// senderSQL is the condition that the message's sender matches p.
func senderSQL(p *queue.AddressPattern, a *args) string {
	switch p.Kind() {
	case queue.AddressExact:
		return "m.rp_lc = " + a.add(p.Value())
	case queue.AddressBounce:
		return "m.rp_lc = ''"
	case queue.AddressDomain:
		return "m.rp_domain = " + a.add(p.Value())
	case queue.AddressBare:
		return "(m.rp_domain = " + a.add(p.Value()) + " OR m.rp_lc LIKE " + a.add(likeEscape(p.Value())+"@%") + ")"
	}
	return likeSQL("m.rp_lc", p, a)
}

// rcptSQL is the condition that a recipient of the message matches p.
func rcptSQL(p *queue.AddressPattern, a *args) string {
	switch p.Kind() {
	case queue.AddressExact:
		return "m.id IN (SELECT r.msg_id FROM recipients r WHERE r.address_lc = " + a.add(p.Value()) + ")"
	case queue.AddressDomain:
		return "m.id IN (SELECT d.msg_id FROM domains d WHERE d.name = " + a.add(p.Value()) + ")"
	case queue.AddressBare:
		return "(m.id IN (SELECT d.msg_id FROM domains d WHERE d.name = " + a.add(p.Value()) + ") OR EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND r.address_lc LIKE " + a.add(likeEscape(p.Value())+"@%") + "))"
	}
	return "EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND " + likeSQL("r.address_lc", p, a) + ")"
}

// addrMatch is the condition that the address in col (lower case) matches
// p, for every kind but the bounce sender.
func addrMatch(col string, p *queue.AddressPattern, a *args) string {
	switch p.Kind() {
	case queue.AddressExact:
		return col + " = " + a.add(p.Value())
	case queue.AddressDomain:
		return col + " LIKE " + a.add(likeSuffix(p.Value()))
	case queue.AddressBare:
		return "(" + col + " LIKE " + a.add(likeEscape(p.Value())+"@%") + " OR " + col + " LIKE " + a.add(likeSuffix(p.Value())) + ")"
	}
	return likeSQL(col, p, a)
}

// likeSQL is the condition "col matches the glob pattern p".
func likeSQL(col string, p *queue.AddressPattern, a *args) string {
	glob, alt := p.Globs()
	c := col + " LIKE " + a.add(globToLike(glob))
	if alt != "" {
		c = "(" + c + " OR " + col + " LIKE " + a.add(globToLike(alt)) + ")"
	}
	return c
}

// globToLike turns a glob ('*' any run, '?' one character, all else
// literal) into a LIKE pattern with backslash escapes.
func globToLike(g string) string {
	var b strings.Builder
	for _, r := range g {
		switch r {
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		default:
			b.WriteString(likeEscape(string(r)))
		}
	}
	return b.String()
}

// likeEscape makes every character of s literal in a LIKE pattern.
var likeEscape = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace

// likeSuffix is the LIKE pattern of every address in a domain.
func likeSuffix(domain string) string { return "%@" + likeEscape(domain) }
