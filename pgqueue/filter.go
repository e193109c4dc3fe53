package pgqueue

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

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
	// ids is, for a filter that is a recipient, a domain or a due range
	// alone, the subquery that selects its message ids (each once):
	// counted without visiting the messages.
	ids string
	// bounded says conds hold the page's start (m.id > after), which ids
	// holds as well.
	bounded bool
}

// idsAlone says that ids selects the messages on its own: no condition
// but the page's start goes with it.
func (s *selection) idsAlone() bool {
	n := 1
	if s.bounded {
		n++
	}
	return s.ids != "" && len(s.conds) == n
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
func compileAt(f queue.Filter, a *args, after queue.ID, now int64) (*selection, error) {
	senders, rcpts, domains, err := f.Patterns()
	if err != nil {
		return nil, err
	}
	if err := checkKeys(f); err != nil {
		return nil, err
	}
	s := &selection{}
	add := func(c string) { s.conds = append(s.conds, c) }
	if err := textSQL(f, a, add); err != nil {
		return nil, err
	}
	from := func(alias string) string { return "" }
	if after > 0 {
		bound := a.add(int64(after))
		add("m.id > " + bound)
		s.bounded = true
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
	if !f.DueAfter.IsZero() || !f.DueBefore.IsZero() {
		// A message's due is its row of message_due (none when nothing
		// is pending); the range is read from message_due_due alone.
		var cs []string
		if !f.DueAfter.IsZero() {
			cs = append(cs, "md.due > "+a.add(queue.AfterSecond(f.DueAfter)))
		}
		if !f.DueBefore.IsZero() {
			cs = append(cs, "md.due < "+a.add(queue.BeforeSecond(f.DueBefore)))
		}
		due := "SELECT md.msg_id FROM message_due md WHERE " + strings.Join(cs, " AND ") + from("md")
		if s.ids == "" {
			s.ids = due
		}
		add("m.id IN (" + due + ")")
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

// checkKeys refuses a header filter that reached compileAt: Tx.compile
// turns it into ids first.
func checkKeys(f queue.Filter) error {
	if k := queue.KeyHeader; k.IsSet(&f) {
		return fmt.Errorf("the %s filter must be resolved before it is compiled", k.Flag)
	}
	return nil
}

// compile is compileAt at the queue's clock, after a header filter (which
// reads each candidate's text, as on a file) has been turned into the ids
// of the messages it selects.
func (tx *Tx) compile(f queue.Filter, a *args, after queue.ID) (*selection, error) {
	now := tx.q.clock().Unix()
	if len(f.Header) > 0 {
		var err error
		if f, err = tx.resolveHeaders(f, after, now, 0); err != nil {
			return nil, err
		}
	}
	return compileAt(f, a, after, now)
}

// noID is an id no message has: a filter of it alone selects nothing.
const noID = queue.ID(math.MaxUint64)

// resolveHeaders returns f with its header patterns replaced by the ids
// (above after) of the messages the rest of f selects whose text has a
// field that one of the patterns matches, the first stop of them (0: all):
// the texts are read in id order, a batch at a time, and matched with the
// SQLite engine's reading of a field. A message without a text matches
// none.
func (tx *Tx) resolveHeaders(f queue.Filter, after queue.ID, now int64, stop int) (queue.Filter, error) {
	p, err := f.TextPatterns()
	if err != nil {
		return f, err
	}
	rest := f
	rest.Header = nil
	out := rest
	out.IDs = []queue.ID{noID}
	var ids []queue.ID
	for {
		if err := tx.ctx.Err(); err != nil {
			return f, err
		}
		var a args
		s, err := compileAt(rest, &a, after, now)
		if err != nil {
			return f, err
		}
		if s.empty {
			break
		}
		rows, err := tx.tx.Query(tx.ctx, "SELECT m.id, b.raw FROM messages m JOIN bodies b ON b.msg_id = m.id"+s.where()+" ORDER BY m.id LIMIT "+strconv.Itoa(headerBatch), a...)
		if err != nil {
			return f, err
		}
		n := 0
		for rows.Next() {
			var id int64
			var raw []byte
			if err := rows.Scan(&id, &raw); err != nil {
				rows.Close()
				return f, err
			}
			n++
			after = queue.ID(id)
			for _, h := range p.Headers {
				if h.Match(raw) {
					ids = append(ids, queue.ID(id))
					break
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return f, err
		}
		if n < headerBatch || stop > 0 && len(ids) >= stop {
			break
		}
	}
	if stop > 0 && len(ids) > stop {
		ids = ids[:stop]
	}
	if len(ids) > 0 {
		out.IDs = ids
	}
	return out, nil
}

// headerBatch is how many texts a header filter reads at a time.
var headerBatch = 500

// textSQL adds the conditions of the keys that read the message's text
// (Subject, Message-ID) or its SMTP client (address, network, user), with
// the SQLite engine's semantics: each field's values either-or, the fields
// all required.
func textSQL(f queue.Filter, a *args, add func(string)) error {
	p, err := f.TextPatterns()
	if err != nil {
		return err
	}
	var cs []string
	for _, g := range p.Subjects {
		cs = append(cs, "m.subject_lc LIKE "+a.add(globToLike(g)))
	}
	if len(cs) > 0 {
		add(anyOf(cs))
	}
	if len(p.MessageIDs) > 0 {
		add("m.msgid = ANY(" + a.add(p.MessageIDs) + "::text[])")
	}
	cs = nil
	for _, u := range p.Users {
		cs = append(cs, "lower(m.client_user COLLATE \"C\") = lower("+a.add(u)+"::text COLLATE \"C\")")
	}
	if len(cs) > 0 {
		add(anyOf(cs))
	}
	cs = nil
	for _, ip := range p.IPs {
		if ip.Addr.IsValid() {
			cs = append(cs, "m.client_ip = "+a.add(ip.Addr.String()))
		} else {
			cs = append(cs, "m.client_inet <<= "+a.add(ip.Prefix)+"::inet")
		}
	}
	if len(cs) > 0 {
		add(anyOf(cs))
	}
	return nil
}

// clientInet is a recorded client address as an inet (IPv4-mapped
// addresses unmapped); NULL when it is none.
func clientInet(ip string) any {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	return a.Unmap()
}

// backfills are the program's part of a schema step, run after its SQL in
// the same transaction, by step number.
var backfills = map[int]func(ctx context.Context, tx pgx.Tx) error{2: backfillStep2}

// backfillStep2 fills the Subject, Message-ID and client address columns of
// the messages queued before schema step 2, a page at a time.
func backfillStep2(ctx context.Context, tx pgx.Tx) error {
	var after int64
	for {
		rows, err := tx.Query(ctx, "SELECT m.id, m.client_ip, b.raw FROM messages m LEFT JOIN bodies b ON b.msg_id = m.id WHERE m.id > $1 ORDER BY m.id LIMIT 2000", after)
		if err != nil {
			return err
		}
		var ids []int64
		var subjects, msgIDs []*string
		var inets []*netip.Addr
		for rows.Next() {
			var id int64
			var ip *string
			var raw []byte
			if err := rows.Scan(&id, &ip, &raw); err != nil {
				rows.Close()
				return err
			}
			subject, msgID := queue.MessageHeaders(raw)
			var in *netip.Addr
			if a, ok := clientInet(orString(ip, "")).(netip.Addr); ok {
				in = &a
			}
			ids, subjects, msgIDs, inets = append(ids, id), append(subjects, strPtr(subject)), append(msgIDs, strPtr(msgID)), append(inets, in)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE messages m SET subject_lc = x.s, msgid = x.i, client_inet = x.a
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::inet[]) AS x(id, s, i, a) WHERE m.id = x.id`, ids, subjects, msgIDs, inets); err != nil {
			return err
		}
		after = ids[len(ids)-1]
	}
}

// strPtr is nil for "", else a pointer to s.
func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
