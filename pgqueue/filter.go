package pgqueue

import (
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
// of their index than the first.
func compile(f queue.Filter, a *args, after queue.ID) (*selection, error) {
	sender, rcpt, domain, err := f.Patterns()
	if err != nil {
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
	if sender != nil {
		s.keyed = s.keyed || sender.Kind() != queue.AddressGlob
		switch sender.Kind() {
		case queue.AddressExact:
			add("m.rp_lc = " + a.add(sender.Value()))
		case queue.AddressBounce:
			add("m.rp_lc = ''")
		case queue.AddressDomain:
			add("m.rp_domain = " + a.add(sender.Value()))
		case queue.AddressGlob:
			add(likeSQL("m.rp_lc", sender, a))
		}
	}
	if rcpt != nil {
		s.keyed = s.keyed || rcpt.Kind() != queue.AddressGlob
		switch rcpt.Kind() {
		case queue.AddressExact:
			s.ids = "SELECT r.msg_id FROM recipients r WHERE r.address_lc = " + a.add(rcpt.Value()) + from("r")
			add("m.id IN (" + s.ids + ")")
		case queue.AddressDomain:
			s.ids = "SELECT d.msg_id FROM domains d WHERE d.name = " + a.add(rcpt.Value()) + from("d")
			add("m.id IN (" + s.ids + ")")
		case queue.AddressGlob:
			add("EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND " + likeSQL("r.address_lc", rcpt, a) + ")")
		}
	}
	if domain != "" {
		s.keyed = true
		s.ids = "SELECT d.msg_id FROM domains d WHERE d.name = " + a.add(domain) + from("d")
		add("m.id IN (" + s.ids + ")")
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
	return s, nil
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
