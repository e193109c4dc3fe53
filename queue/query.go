package queue

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// addrKind is how an address pattern (Filter.Sender, Filter.Recipient,
// CancelRequest.Recipient) matches.
type addrKind int

const (
	addrExact  addrKind = iota // a full address, compared in lower case
	addrDomain                 // "@example.org": the domain, exact
	addrGlob                   // * and ? globs: value is a GLOB pattern over the lower-case address
	addrBounce                 // the sender <>
	addrBare                   // a word without '@': a local part or a domain, exact
)

type addrPattern struct {
	kind  addrKind
	value string // lower case; for addrGlob the GLOB pattern of the whole address
	alt   string // for a glob without '@': the GLOB pattern tried on the domain as well
}

// parseAddrPattern reads a sender or recipient selector:
//   - a full address matches that address exactly, case-insensitively;
//   - "@example.org" matches that domain;
//   - a bare word without '@' matches a local part or a domain, either
//     ("jennifer.kowalski" finds jennifer.kowalski@ any domain,
//     "example.org" finds @example.org and also example.org@ any domain);
//   - '*' and '?' are globs; a glob without '@' is tried against the whole
//     address and against the domain ("bill*", "*.example.org");
//   - the sender "<>" matches bounces.
//
// Surrounding angle brackets are dropped: "<bill@example.net>" is bill@example.net.
func parseAddrPattern(s string, sender bool) (addrPattern, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if err := checkPrintable(v); err != nil {
		return addrPattern{}, fmt.Errorf("%q: %w", s, err)
	}
	if v == "<>" {
		if !sender {
			return addrPattern{}, errors.New(`the empty address <> is a sender (bounces), not a recipient`)
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
	case at == 0: // @domain
		dom := v[1:]
		if dom == "" {
			return addrPattern{}, fmt.Errorf("invalid address pattern %q: want a domain after @", s)
		}
		if glob {
			return addrPattern{kind: addrGlob, value: "*@" + globEscape(dom)}, nil
		}
		return addrPattern{kind: addrDomain, value: dom}, nil
	case at < 0: // a local part or a domain, or a glob on address or domain
		if glob {
			return addrPattern{kind: addrGlob, value: globEscape(v), alt: "*@" + globEscape(v)}, nil
		}
		return addrPattern{kind: addrBare, value: v}, nil
	default:
		if glob {
			return addrPattern{kind: addrGlob, value: globEscape(v)}, nil
		}
		return addrPattern{kind: addrExact, value: v}, nil
	}
}

// globEscape keeps * and ? as wildcards and makes '[' literal, the only other
// character GLOB treats specially.
func globEscape(s string) string { return strings.ReplaceAll(s, "[", "[[]") }

// localGlob is the GLOB pattern of the addresses whose local part is a
// bare word's.
func (p addrPattern) localGlob() string { return globEscape(p.value) + "@*" }

// addrSQL is the condition "the address in col matches p", for every kind
// but the bounce sender.
func (p addrPattern) addrSQL(col string) (string, []any) {
	switch p.kind {
	case addrExact:
		return col + " = ?", []any{p.value}
	case addrDomain:
		return col + " GLOB ?", []any{"*@" + globEscape(p.value)}
	case addrBare:
		return "(" + col + " GLOB ? OR " + col + " GLOB ?)", []any{p.localGlob(), "*@" + globEscape(p.value)}
	}
	return p.globSQL(col)
}

// globSQL is the condition "col matches p" for a glob pattern.
func (p addrPattern) globSQL(col string) (string, []any) {
	if p.alt != "" {
		return "(" + col + " GLOB ? OR " + col + " GLOB ?)", []any{p.value, p.alt}
	}
	return col + " GLOB ?", []any{p.value}
}

// domainOf returns the lower-case domain of an address ("" when none).
func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(addr[at+1:])
}

// cond is one SQL condition on the message row m.
type cond struct {
	sql  string
	args []any
}

// selection is a Filter compiled to SQL. Every verb selects through it. The
// driver is the table and index the query walks; the other conditions are
// checked on each candidate, so a selective driver keeps every page cheap.
type selection struct {
	from  string // FROM clause, always binding the message row as m
	light string // FROM clause without messages, when no condition needs m ("" if none)
	key   string // the column carrying the message id, ordered by the driver
	lkey  string // key within light
	drive []cond // the driver's own conditions (valid in both from and light)
	where []cond // the other conditions, on m
	empty bool   // the filter can match nothing (e.g. ids beyond the id range)
	live  bool   // where skips the messages filed for removal

	rangeIndex string // for an id walk driven by a large range: its index
	rangeConds []cond // and its conditions
}

// Validate reports a sender, recipient or domain in f that is not a valid
// selector (such as "@" alone), or another value no verb can select by
// (a header filter without its name, a client IP that is no address), as
// every verb would, without running one.
func (f Filter) Validate() error {
	_, err := f.read()
	return err
}

// patterns is a Filter's values read and checked, each field's values in
// their order (a message matches a field when it matches any of them).
type patterns struct {
	senders, rcpts []addrPattern
	domains        []string // lower case
	subjects       []string // globs over the lower-case Subject, '[' literal
	msgIDs         []string // without angle brackets
	headers        []headerPattern
	ips            []ipPattern
	users          []string
}

// read reads the values of f, and checks its times.
func (f Filter) read() (*patterns, error) {
	if err := f.checkTimes(); err != nil {
		return nil, err
	}
	p := &patterns{}
	for _, v := range f.Sender {
		a, err := parseAddrPattern(v, true)
		if err != nil {
			return nil, fmt.Errorf("sender filter: %w", err)
		}
		p.senders = append(p.senders, a)
	}
	for _, v := range f.Recipient {
		a, err := parseAddrPattern(v, false)
		if err != nil {
			return nil, fmt.Errorf("recipient filter: %w", err)
		}
		p.rcpts = append(p.rcpts, a)
	}
	for _, v := range f.Domain {
		d, err := normDomain("domain filter", v)
		if err != nil {
			return nil, err
		}
		p.domains = append(p.domains, d)
	}
	for _, v := range f.Subject {
		if err := checkPrintable(v); err != nil {
			return nil, fmt.Errorf("subject filter %q: %w", v, err)
		}
		g := strings.ToLower(strings.TrimSpace(v))
		if g == "" {
			return nil, fmt.Errorf("subject filter %q: give some text, or '*' for any subject", v)
		}
		p.subjects = append(p.subjects, g)
	}
	for _, v := range f.MessageID {
		if err := checkPrintable(v); err != nil {
			return nil, fmt.Errorf("message-id filter %q: %w", v, err)
		}
		id := normMessageID(v)
		if id == "" {
			return nil, fmt.Errorf("message-id filter %q: want a Message-ID such as <abc.123@mx.example.org>", v)
		}
		p.msgIDs = append(p.msgIDs, id)
	}
	for _, v := range f.Header {
		h, err := parseHeaderPattern(v)
		if err != nil {
			return nil, err
		}
		p.headers = append(p.headers, h)
	}
	if f.Larger < 0 || f.Smaller < 0 {
		return nil, fmt.Errorf("size filter: a size is above zero, not %d", min(f.Larger, f.Smaller))
	}
	for _, v := range f.ClientIP {
		ip, err := parseIPPattern(v)
		if err != nil {
			return nil, err
		}
		p.ips = append(p.ips, ip)
	}
	for _, v := range f.User {
		if err := checkPrintable(v); err != nil {
			return nil, fmt.Errorf("user filter %q: %w", v, err)
		}
		u := strings.TrimSpace(v)
		if u == "" {
			return nil, fmt.Errorf("user filter %q: want the name the client authenticated as", v)
		}
		p.users = append(p.users, u)
	}
	return p, nil
}

// globPrefix is the literal start of a glob (before its first wildcard).
func globPrefix(glob string) string {
	if i := strings.IndexAny(glob, "*?"); i >= 0 {
		return glob[:i]
	}
	return glob
}

// normDomain reads a domain as filters and verbs take it ("@Example.org " is
// example.org); what names the value in errors.
func normDomain(what, s string) (string, error) {
	if err := checkPrintable(strings.TrimSpace(s)); err != nil {
		return "", fmt.Errorf("%s %q: %w", what, s, err)
	}
	d := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "@"))
	if d == "" {
		return "", fmt.Errorf("%s %q: want a domain such as example.org", what, s)
	}
	return d, nil
}

// probeLimit is the size under which a due or created range small enough to be
// read and sorted whole drives a listing; above it the listing walks ids.
var probeLimit = 4000

// anyOf is the condition that one of conds holds.
func anyOf(conds []cond) cond {
	if len(conds) == 1 {
		return conds[0]
	}
	w := make([]string, len(conds))
	var args []any
	for i, c := range conds {
		w[i] = c.sql
		args = append(args, c.args...)
	}
	return cond{"(" + strings.Join(w, " OR ") + ")", args}
}

// each is the condition that a message matches one of n values, mk(i)
// being the condition of value i; none when n is 0.
func each(n int, mk func(i int) cond) []cond {
	if n == 0 {
		return nil
	}
	cs := make([]cond, n)
	for i := range cs {
		cs[i] = mk(i)
	}
	return []cond{anyOf(cs)}
}

// all reports whether every pattern is of one of the kinds.
func all(ps []addrPattern, kinds ...addrKind) bool {
	for _, p := range ps {
		if !slices.Contains(kinds, p.kind) {
			return false
		}
	}
	return len(ps) > 0
}

// senderCond is the condition that the message's sender matches p.
func senderCond(p addrPattern) cond {
	switch p.kind {
	case addrExact:
		return cond{"m.rp_lc = ?", []any{p.value}}
	case addrBounce:
		return cond{"m.rp_lc = ''", nil}
	case addrDomain:
		return cond{"m.rp_domain = ?", []any{p.value}}
	case addrBare:
		return cond{"(m.rp_domain = ? OR m.rp_lc GLOB ?)", []any{p.value, p.localGlob()}}
	}
	sq, a := p.globSQL("m.rp_lc")
	return cond{sq, a}
}

// rcptCond is the condition that a recipient of the message matches p.
func rcptCond(p addrPattern) cond {
	switch p.kind {
	case addrExact:
		return cond{"EXISTS (SELECT 1 FROM recipients rx WHERE rx.address_lc = ? AND rx.msg_id = m.id)", []any{p.value}}
	case addrDomain:
		return domainCond(p.value)
	case addrBare:
		d := domainCond(p.value)
		return cond{"(" + d.sql + " OR EXISTS (SELECT 1 FROM recipients rx WHERE rx.msg_id = m.id AND rx.address_lc GLOB ?))", append(d.args, p.localGlob())}
	}
	sq, a := p.globSQL("rx.address_lc")
	return cond{"EXISTS (SELECT 1 FROM recipients rx WHERE rx.msg_id = m.id AND " + sq + ")", a}
}

func domainCond(d string) cond {
	return cond{"EXISTS (SELECT 1 FROM domains dx WHERE dx.name = ? AND dx.msg_id = m.id)", []any{d}}
}

// compile turns f into SQL. ordered says the caller lists in id order with
// keyset pages (List, Each): then a range on due or created drives the query
// only when it is small, since its index does not give id order.
func (tx *Tx) compile(f Filter, ordered bool) (*selection, error) {
	s := &selection{}
	p, err := f.read()
	if err != nil {
		return nil, err
	}

	// Choose the driver: the most selective indexed equality first. A
	// driver on messages may take several values (one row per message);
	// one on recipients or domains takes one, or a message with two of
	// the values would come twice.
	driver := ""
	switch {
	case len(f.IDs) > 0:
		driver = "ids"
	case len(p.msgIDs) > 0:
		driver = "msgid"
	case len(p.rcpts) == 1 && p.rcpts[0].kind == addrExact:
		driver = "rcpt"
	case all(p.senders, addrExact, addrBounce):
		driver = "sender"
	case len(p.users) == 1:
		driver = "user"
	case len(p.ips) == 1 && p.ips[0].addr.IsValid():
		driver = "clientip"
	case len(p.domains) == 1:
		driver = "domain"
	case len(p.rcpts) == 1 && p.rcpts[0].kind == addrDomain:
		driver = "rcptdomain"
	case all(p.senders, addrDomain):
		driver = "senderdomain"
	}

	s.from, s.key = "messages m", "m.id"
	switch driver {
	case "ids":
		var ids []any
		for _, id := range f.IDs {
			if uint64(id) <= math.MaxInt64 {
				ids = append(ids, int64(id))
			}
		}
		if len(ids) == 0 {
			s.empty = true
			ids = append(ids, int64(-1))
		}
		if len(ids) <= 500 {
			s.drive = append(s.drive, cond{"m.id IN (" + placeholders(len(ids)) + ")", ids})
		} else {
			var b strings.Builder
			b.WriteByte('[')
			for i, id := range ids {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprint(&b, id)
			}
			b.WriteByte(']')
			s.drive = append(s.drive, cond{"m.id IN (SELECT value FROM json_each(?))", []any{b.String()}})
		}
	case "msgid":
		s.from = "messages m INDEXED BY messages_msgid"
		s.drive = append(s.drive, cond{"m.msgid IN (" + placeholders(len(p.msgIDs)) + ")", anys(p.msgIDs)})
		p.msgIDs = nil
	case "user":
		s.from = "messages m INDEXED BY messages_client_user"
		s.drive = append(s.drive, cond{"m.client_user = ? COLLATE NOCASE", []any{p.users[0]}})
		p.users = nil
	case "clientip":
		s.from = "messages m INDEXED BY messages_client_ip"
		s.drive = append(s.drive, cond{"m.client_ip = ?", []any{p.ips[0].String()}})
		p.ips = nil
	case "rcpt":
		s.from = "recipients r INDEXED BY recipients_address CROSS JOIN messages m ON m.id = r.msg_id"
		s.light, s.key, s.lkey = "recipients r INDEXED BY recipients_address", "r.msg_id", "r.msg_id"
		s.drive = append(s.drive, cond{"r.address_lc = ?", []any{p.rcpts[0].value}})
		p.rcpts = nil
	case "sender":
		s.from = "messages m INDEXED BY messages_sender"
		var vs []any
		for _, a := range p.senders {
			vs = append(vs, a.value) // "" for the bounce sender
		}
		s.drive = append(s.drive, cond{"m.rp_lc IN (" + placeholders(len(vs)) + ")", vs})
		p.senders = nil
	case "domain", "rcptdomain":
		var domain string
		if driver == "domain" {
			domain = p.domains[0]
			p.domains = nil
		}
		if len(p.rcpts) == 1 && p.rcpts[0].kind == addrDomain && (domain == "" || p.rcpts[0].value == domain) {
			domain = p.rcpts[0].value
			p.rcpts = nil
		}
		s.from = "domains d INDEXED BY domains_name CROSS JOIN messages m ON m.id = d.msg_id"
		s.light, s.key, s.lkey = "domains d INDEXED BY domains_name", "d.msg_id", "d.msg_id"
		s.drive = append(s.drive, cond{"d.name = ?", []any{domain}})
	case "senderdomain":
		s.from = "messages m INDEXED BY messages_sender_domain"
		var vs []any
		for _, a := range p.senders {
			vs = append(vs, a.value)
		}
		s.drive = append(s.drive, cond{"m.rp_domain IN (" + placeholders(len(vs)) + ")", vs})
		p.senders = nil
	}

	// A bare word (a local part or a domain) is two lookups of indexes:
	// their union drives the selection, unless, for an id-ordered listing,
	// it holds many messages (then a walk of the ids fills a page soon).
	if sub, args, sender := bareSubquery(p); driver == "" && sub != "" {
		use := true
		if ordered {
			var n int
			q := "SELECT count(*) FROM (" + sub + " LIMIT ?)"
			if err := tx.tx.QueryRowContext(tx.ctx, q, append(append([]any{}, args...), probeLimit)...).Scan(&n); err != nil {
				return nil, err
			}
			use = n < probeLimit
		}
		if use {
			driver = "bare"
			s.drive = append(s.drive, cond{"m.id IN (" + sub + ")", args})
			if sender { // the union is exactly the word's selection
				p.senders = nil
			} else {
				p.rcpts = nil
			}
		}
	}

	// The remaining conditions: each field's values OR-ed.
	s.where = append(s.where, each(len(p.senders), func(i int) cond { return senderCond(p.senders[i]) })...)
	s.where = append(s.where, each(len(p.rcpts), func(i int) cond { return rcptCond(p.rcpts[i]) })...)
	s.where = append(s.where, each(len(p.domains), func(i int) cond { return domainCond(p.domains[i]) })...)
	var dueConds, createdConds []cond
	if !f.DueAfter.IsZero() {
		dueConds = append(dueConds, cond{"m.due > ?", []any{AfterSecond(f.DueAfter)}})
	}
	if !f.DueBefore.IsZero() {
		dueConds = append(dueConds, cond{"m.due < ?", []any{BeforeSecond(f.DueBefore)}})
	}
	if !f.CreatedAfter.IsZero() {
		createdConds = append(createdConds, cond{"m.created > ?", []any{AfterSecond(f.CreatedAfter)}})
	}
	if !f.CreatedBefore.IsZero() {
		createdConds = append(createdConds, cond{"m.created < ?", []any{BeforeSecond(f.CreatedBefore)}})
	}
	if len(f.Status) > 0 {
		var a []any
		for _, st := range f.Status {
			a = append(a, int(st))
		}
		s.where = append(s.where, cond{"EXISTS (SELECT 1 FROM recipients rx WHERE rx.msg_id = m.id AND rx.status IN (" + placeholders(len(a)) + "))", a})
	}
	if f.Held != nil {
		c := "EXISTS (SELECT 1 FROM domains dx WHERE dx.msg_id = m.id AND dx.status IN " + pendingSQL + " AND dx.hold_since IS NOT NULL AND (dx.hold_until IS NULL OR dx.hold_until > ?))"
		if !*f.Held {
			c = "NOT " + c
		}
		s.where = append(s.where, cond{c, []any{tx.q.clock().Unix()}})
	}
	if len(p.msgIDs) > 0 {
		s.where = append(s.where, cond{"m.msgid IN (" + placeholders(len(p.msgIDs)) + ")", anys(p.msgIDs)})
	}
	s.where = append(s.where, each(len(p.users), func(i int) cond {
		return cond{"m.client_user = ? COLLATE NOCASE", []any{p.users[i]}}
	})...)
	s.where = append(s.where, each(len(p.ips), func(i int) cond {
		if p.ips[i].addr.IsValid() {
			return cond{"m.client_ip = ?", []any{p.ips[i].String()}}
		}
		return cond{"(m.client_ip IS NOT NULL AND mqsh_ip_in(m.client_ip, ?))", []any{p.ips[i].String()}}
	})...)
	if f.Larger > 0 {
		s.where = append(s.where, cond{"m.size > ?", []any{f.Larger}})
	}
	if f.Smaller > 0 {
		s.where = append(s.where, cond{"m.size < ?", []any{f.Smaller}})
	}
	// The subject: one glob with a literal start is also a range of the
	// index, which drives a listing when it holds few messages.
	var subjectConds []cond
	if len(p.subjects) == 1 {
		if pre := globPrefix(p.subjects[0]); pre != "" {
			subjectConds = append(subjectConds, cond{"m.subject_lc >= ? AND m.subject_lc < ?", []any{pre, pre + "\xff"}})
		}
	}
	subjectConds = append(subjectConds, each(len(p.subjects), func(i int) cond {
		return cond{"m.subject_lc GLOB ?", []any{globEscape(p.subjects[i])}}
	})...)

	if driver == "" && ordered {
		// A range on due, created or subject drives the listing when it
		// holds few messages (read and sorted whole); otherwise walk the ids.
		best, bestN := "", probeLimit
		for _, c := range []struct {
			index string
			conds []cond
		}{{"messages_due", dueConds}, {"messages_created", createdConds}, {"messages_subject", subjectConds}} {
			if len(c.conds) == 0 || c.index == "messages_subject" && len(c.conds) < 2 {
				continue // subject globs that are no one range
			}
			n, err := tx.probe(c.index, c.conds)
			if err != nil {
				return nil, err
			}
			if n < bestN {
				best, bestN = c.index, n
			}
		}
		if best != "" {
			s.from = "messages m INDEXED BY " + best
		} else {
			s.from = "messages m NOT INDEXED"
			// Remember a range, to find where its matches start when they
			// cluster far from the beginning (see Tx.walkStart).
			if len(dueConds) > 0 {
				s.rangeIndex, s.rangeConds = "messages_due", dueConds
			} else if len(createdConds) > 0 {
				s.rangeIndex, s.rangeConds = "messages_created", createdConds
			} else if len(subjectConds) > 1 {
				s.rangeIndex, s.rangeConds = "messages_subject", subjectConds
			}
		}
	}
	s.where = append(s.where, dueConds...)
	s.where = append(s.where, createdConds...)
	s.where = append(s.where, subjectConds...)
	// The header filter reads each candidate's text: last, after every
	// cheaper condition. A long scan ends when the context does (the
	// driver interrupts SQLite).
	s.where = append(s.where, each(len(p.headers), func(i int) cond {
		h := p.headers[i]
		return cond{"EXISTS (SELECT 1 FROM bodies b WHERE b.msg_id = m.id AND mqsh_header(b.raw, ?, ?))", []any{h.name, h.glob}}
	})...)
	if len(s.where) > 0 {
		s.light = ""
	}
	filed, err := tx.hasRemovals()
	if err != nil {
		return nil, err
	}
	if filed {
		s.skipRemovals()
	}
	return s, nil
}

// skipRemovals adds the condition that the message is not filed for removal
// (removals.go), once.
func (s *selection) skipRemovals() {
	if !s.live {
		s.where, s.live = append(s.where, cond{liveCond("m.id"), nil}), true
	}
	s.light = ""
}

// bareSubquery selects the ids of the messages a single bare word of the
// recipient (else the sender) filter matches, through the indexes of
// domains and addresses, exactly the word's selection; "" when there is
// none. sender says the word is the sender's.
func bareSubquery(p *patterns) (sub string, args []any, sender bool) {
	if len(p.rcpts) == 1 && p.rcpts[0].kind == addrBare {
		v := p.rcpts[0].value
		return "SELECT msg_id FROM domains WHERE name = ? UNION SELECT msg_id FROM recipients WHERE address_lc >= ? AND address_lc < ?", []any{v, v + "@", v + "@\xff"}, false
	}
	if len(p.senders) == 1 && p.senders[0].kind == addrBare {
		v := p.senders[0].value
		return "SELECT id FROM messages WHERE rp_domain = ? UNION SELECT id FROM messages WHERE rp_lc >= ? AND rp_lc < ?", []any{v, v + "@", v + "@\xff"}, true
	}
	return "", nil, false
}

// anys is vs as SQL arguments.
func anys(vs []string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// dense reports whether the selection holds every message of an id range
// (the empty filter), so that a page's parts can be read by range.
func (s *selection) dense() bool {
	return len(s.drive) == 0 && len(s.where) == 0 && !s.empty
}

// joinConds joins conditions with AND, with their arguments in order.
func joinConds(conds []cond) (string, []any) {
	w := make([]string, 0, len(conds))
	var args []any
	for _, c := range conds {
		w = append(w, c.sql)
		args = append(args, c.args...)
	}
	return strings.Join(w, " AND "), args
}

// probe counts, up to probeLimit, the messages an index range holds.
func (tx *Tx) probe(index string, conds []cond) (int, error) {
	where, args := joinConds(conds)
	args = append(args, probeLimit)
	var n int
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM (SELECT 1 FROM messages m INDEXED BY "+index+" WHERE "+where+" LIMIT ?)", args...).Scan(&n)
	return n, err
}

// AfterSecond and BeforeSecond turn an exclusive bound into whole seconds: the
// stored times are whole seconds.
func AfterSecond(t time.Time) int64 { return t.Unix() }

func BeforeSecond(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// walkWindow is how many rows an id walk reads before it asks the range's
// index where the matches start. A range with fewer than probeLimit matches is
// read through its index instead, so a walk that finds fewer than a page in
// walkWindow rows is looking at a cluster of matches further on.
const walkWindow = 5000

// walkStart returns where an id walk for a page after `after` should start:
// after itself when matches are near, else just before the first match (one
// scan of the range in its index, no more than a count costs).
func (tx *Tx) walkStart(s *selection, after ID, limit int) (ID, error) {
	if s.rangeIndex == "" || limit <= 0 {
		return after, nil
	}
	where, args := joinConds(append(append([]cond{}, s.drive...), s.where...))
	var n int
	q := "SELECT count(*) FROM (SELECT 1 FROM (SELECT * FROM messages WHERE id > ? ORDER BY id LIMIT ?) m WHERE " + where + " LIMIT ?)"
	if err := tx.tx.QueryRowContext(tx.ctx, q, append(append([]any{int64(after), walkWindow}, args...), limit)...).Scan(&n); err != nil {
		return 0, err
	}
	if n >= limit {
		return after, nil
	}
	var first sql.NullInt64
	where, args = joinConds(append([]cond{{"m.id > ?", []any{int64(after)}}}, s.rangeConds...))
	q = "SELECT min(m.id) FROM messages m INDEXED BY " + s.rangeIndex + " WHERE " + where
	if err := tx.tx.QueryRowContext(tx.ctx, q, args...).Scan(&first); err != nil {
		return 0, err
	}
	if !first.Valid || first.Int64 <= int64(after)+1 {
		return after, nil
	}
	return ID(first.Int64 - 1), nil
}

// whereSQL joins the driver's and the other conditions, plus extra ones.
func (s *selection) whereSQL(light bool, extra ...cond) (string, []any) {
	all := append(append([]cond{}, s.drive...), extra...)
	if !light {
		all = append(all, s.where...)
	}
	if len(all) == 0 {
		return "", nil
	}
	where, args := joinConds(all)
	return " WHERE " + where, args
}

// pageSQL selects columns of the matching messages with id > after, in id order,
// at most limit (0 = all).
func (s *selection) pageSQL(cols string, after ID, limit int) (string, []any) {
	var extra []cond
	if after > 0 {
		extra = append(extra, cond{s.key + " > ?", []any{int64(after)}})
	}
	where, args := s.whereSQL(false, extra...)
	q := "SELECT " + cols + " FROM " + s.from + where + " ORDER BY " + s.key
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	return q, args
}

// idsSQL selects the ids of every matching message, in no particular order.
func (s *selection) idsSQL() (string, []any) {
	if s.light != "" {
		where, args := s.whereSQL(true)
		return "SELECT " + s.lkey + " FROM " + s.light + where, args
	}
	where, args := s.whereSQL(false)
	return "SELECT " + s.key + " FROM " + s.from + where, args
}

// countSQL counts the matching messages.
func (s *selection) countSQL() (string, []any) {
	if s.light != "" {
		where, args := s.whereSQL(true)
		return "SELECT count(*) FROM " + s.light + where, args
	}
	where, args := s.whereSQL(false)
	return "SELECT count(*) FROM " + s.from + where, args
}
