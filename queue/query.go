package queue

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// addrKind is how an address pattern (Filter.Sender, Filter.Recipient,
// CancelRequest.Recipient) matches.
type addrKind int

const (
	addrExact  addrKind = iota // a full address, compared in lower case
	addrDomain                 // "@example.org" or "example.org": the domain, exact
	addrGlob                   // * and ? globs: value is a GLOB pattern over the lower-case address
	addrBounce                 // the sender <>
)

type addrPattern struct {
	kind  addrKind
	value string // lower case; for addrGlob the GLOB pattern of the whole address
	alt   string // for a glob without '@': the GLOB pattern tried on the domain as well
}

// parseAddrPattern reads a sender or recipient selector:
//   - a full address matches that address exactly, case-insensitively;
//   - "@example.org" or "example.org" (no '@' at all) matches that domain;
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
	case at < 0: // a domain, or a glob on address or domain
		if glob {
			return addrPattern{kind: addrGlob, value: globEscape(v), alt: "*@" + globEscape(v)}, nil
		}
		return addrPattern{kind: addrDomain, value: v}, nil
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

	rangeIndex string // for an id walk driven by a large range: its index
	rangeConds []cond // and its conditions
}

// Validate reports a sender, recipient or domain in f that is not a valid
// selector (such as "@" alone), or another value no verb can select by
// (a header filter without its name, a client IP that is no address), as
// every verb would, without running one.
func (f Filter) Validate() error {
	if _, _, _, err := f.patterns(); err != nil {
		return err
	}
	_, err := f.msgPatterns()
	return err
}

// msgPatterns are the filter's keys on the message itself, read.
type msgPatterns struct {
	subject string // a glob over the lower-case Subject, '[' literal; "" = unset
	msgID   string // without angle brackets; "" = unset
	header  *headerPattern
	ip      *ipPattern
	user    string // "" = unset
}

// msgPatterns reads and checks the filter's keys on the message itself.
func (f Filter) msgPatterns() (p msgPatterns, err error) {
	if f.Subject != "" {
		if err := checkPrintable(f.Subject); err != nil {
			return p, fmt.Errorf("subject filter %q: %w", f.Subject, err)
		}
		if p.subject = strings.ToLower(strings.TrimSpace(f.Subject)); p.subject == "" {
			return p, fmt.Errorf("subject filter %q: give some text, or '*' for any subject", f.Subject)
		}
	}
	if f.MessageID != "" {
		if err := checkPrintable(f.MessageID); err != nil {
			return p, fmt.Errorf("message-id filter %q: %w", f.MessageID, err)
		}
		if p.msgID = normMessageID(f.MessageID); p.msgID == "" {
			return p, fmt.Errorf("message-id filter %q: want a Message-ID such as <abc.123@mx.example.org>", f.MessageID)
		}
	}
	if f.Header != "" {
		h, err := parseHeaderPattern(f.Header)
		if err != nil {
			return p, err
		}
		p.header = &h
	}
	if f.Larger < 0 || f.Smaller < 0 {
		return p, fmt.Errorf("size filter: a size is above zero, not %d", min(f.Larger, f.Smaller))
	}
	if f.ClientIP != "" {
		ip, err := parseIPPattern(f.ClientIP)
		if err != nil {
			return p, err
		}
		p.ip = &ip
	}
	if f.User != "" {
		if err := checkPrintable(f.User); err != nil {
			return p, fmt.Errorf("user filter %q: %w", f.User, err)
		}
		if p.user = strings.TrimSpace(f.User); p.user == "" {
			return p, fmt.Errorf("user filter %q: want the name the client authenticated as", f.User)
		}
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

// patterns reads the address fields of f, and checks its times.
func (f Filter) patterns() (sender, rcpt *addrPattern, domain string, err error) {
	if err := f.checkTimes(); err != nil {
		return nil, nil, "", err
	}
	if f.Sender != "" {
		p, err := parseAddrPattern(f.Sender, true)
		if err != nil {
			return nil, nil, "", fmt.Errorf("sender filter: %w", err)
		}
		sender = &p
	}
	if f.Recipient != "" {
		p, err := parseAddrPattern(f.Recipient, false)
		if err != nil {
			return nil, nil, "", fmt.Errorf("recipient filter: %w", err)
		}
		rcpt = &p
	}
	if f.Domain != "" {
		if domain, err = normDomain("domain filter", f.Domain); err != nil {
			return nil, nil, "", err
		}
	}
	return sender, rcpt, domain, nil
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

// compile turns f into SQL. ordered says the caller lists in id order with
// keyset pages (List, Each): then a range on due or created drives the query
// only when it is small, since its index does not give id order.
func (tx *Tx) compile(f Filter, ordered bool) (*selection, error) {
	s := &selection{}
	sender, rcpt, domain, err := f.patterns()
	if err != nil {
		return nil, err
	}
	mp, err := f.msgPatterns()
	if err != nil {
		return nil, err
	}

	// Choose the driver: the most selective indexed equality first.
	driver := ""
	switch {
	case len(f.IDs) > 0:
		driver = "ids"
	case mp.msgID != "":
		driver = "msgid"
	case rcpt != nil && rcpt.kind == addrExact:
		driver = "rcpt"
	case sender != nil && (sender.kind == addrExact || sender.kind == addrBounce):
		driver = "sender"
	case mp.user != "":
		driver = "user"
	case mp.ip != nil && mp.ip.addr.IsValid():
		driver = "clientip"
	case domain != "":
		driver = "domain"
	case rcpt != nil && rcpt.kind == addrDomain:
		driver = "rcptdomain"
	case sender != nil && sender.kind == addrDomain:
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
		s.drive = append(s.drive, cond{"m.msgid = ?", []any{mp.msgID}})
		mp.msgID = ""
	case "user":
		s.from = "messages m INDEXED BY messages_client_user"
		s.drive = append(s.drive, cond{"m.client_user = ? COLLATE NOCASE", []any{mp.user}})
		mp.user = ""
	case "clientip":
		s.from = "messages m INDEXED BY messages_client_ip"
		s.drive = append(s.drive, cond{"m.client_ip = ?", []any{mp.ip.String()}})
		mp.ip = nil
	case "rcpt":
		s.from = "recipients r INDEXED BY recipients_address CROSS JOIN messages m ON m.id = r.msg_id"
		s.light, s.key, s.lkey = "recipients r INDEXED BY recipients_address", "r.msg_id", "r.msg_id"
		s.drive = append(s.drive, cond{"r.address_lc = ?", []any{rcpt.value}})
		rcpt = nil
	case "sender":
		s.from = "messages m INDEXED BY messages_sender"
		v := sender.value
		if sender.kind == addrBounce {
			v = ""
		}
		s.drive = append(s.drive, cond{"m.rp_lc = ?", []any{v}})
		sender = nil
	case "domain", "rcptdomain":
		if domain == "" {
			domain = rcpt.value
		}
		if rcpt != nil && rcpt.kind == addrDomain && rcpt.value == domain {
			rcpt = nil
		}
		s.from = "domains d INDEXED BY domains_name CROSS JOIN messages m ON m.id = d.msg_id"
		s.light, s.key, s.lkey = "domains d INDEXED BY domains_name", "d.msg_id", "d.msg_id"
		s.drive = append(s.drive, cond{"d.name = ?", []any{domain}})
		domain = ""
	case "senderdomain":
		s.from = "messages m INDEXED BY messages_sender_domain"
		s.drive = append(s.drive, cond{"m.rp_domain = ?", []any{sender.value}})
		sender = nil
	}

	// The remaining conditions.
	if sender != nil {
		switch sender.kind {
		case addrExact:
			s.where = append(s.where, cond{"m.rp_lc = ?", []any{sender.value}})
		case addrBounce:
			s.where = append(s.where, cond{"m.rp_lc = ''", nil})
		case addrDomain:
			s.where = append(s.where, cond{"m.rp_domain = ?", []any{sender.value}})
		case addrGlob:
			sq, a := sender.globSQL("m.rp_lc")
			s.where = append(s.where, cond{sq, a})
		}
	}
	if rcpt != nil {
		switch rcpt.kind {
		case addrExact:
			s.where = append(s.where, cond{"EXISTS (SELECT 1 FROM recipients rx WHERE rx.address_lc = ? AND rx.msg_id = m.id)", []any{rcpt.value}})
		case addrDomain:
			s.where = append(s.where, cond{"EXISTS (SELECT 1 FROM domains dx WHERE dx.name = ? AND dx.msg_id = m.id)", []any{rcpt.value}})
		case addrGlob:
			sq, a := rcpt.globSQL("rx.address_lc")
			s.where = append(s.where, cond{"EXISTS (SELECT 1 FROM recipients rx WHERE rx.msg_id = m.id AND " + sq + ")", a})
		}
	}
	if domain != "" {
		s.where = append(s.where, cond{"EXISTS (SELECT 1 FROM domains dx WHERE dx.name = ? AND dx.msg_id = m.id)", []any{domain}})
	}
	if mp.msgID != "" {
		s.where = append(s.where, cond{"m.msgid = ?", []any{mp.msgID}})
	}
	if mp.user != "" {
		s.where = append(s.where, cond{"m.client_user = ? COLLATE NOCASE", []any{mp.user}})
	}
	if mp.ip != nil {
		if mp.ip.addr.IsValid() {
			s.where = append(s.where, cond{"m.client_ip = ?", []any{mp.ip.String()}})
		} else {
			s.where = append(s.where, cond{"m.client_ip IS NOT NULL AND mqsh_ip_in(m.client_ip, ?)", []any{mp.ip.String()}})
		}
	}
	if f.Larger > 0 {
		s.where = append(s.where, cond{"m.size > ?", []any{f.Larger}})
	}
	if f.Smaller > 0 {
		s.where = append(s.where, cond{"m.size < ?", []any{f.Smaller}})
	}
	// The subject: a glob with a literal start is also a range of the
	// index, which drives a listing when it holds few messages.
	var subjectConds []cond
	if mp.subject != "" {
		if pre := globPrefix(mp.subject); pre != "" {
			subjectConds = append(subjectConds, cond{"m.subject_lc >= ? AND m.subject_lc < ?", []any{pre, pre + "\xff"}})
		}
		subjectConds = append(subjectConds, cond{"m.subject_lc GLOB ?", []any{globEscape(mp.subject)}})
	}
	var dueConds, createdConds []cond
	if !f.DueAfter.IsZero() {
		dueConds = append(dueConds, cond{"m.due > ?", []any{afterSecond(f.DueAfter)}})
	}
	if !f.DueBefore.IsZero() {
		dueConds = append(dueConds, cond{"m.due < ?", []any{beforeSecond(f.DueBefore)}})
	}
	if !f.CreatedAfter.IsZero() {
		createdConds = append(createdConds, cond{"m.created > ?", []any{afterSecond(f.CreatedAfter)}})
	}
	if !f.CreatedBefore.IsZero() {
		createdConds = append(createdConds, cond{"m.created < ?", []any{beforeSecond(f.CreatedBefore)}})
	}
	if len(f.Status) > 0 {
		var a []any
		for _, st := range f.Status {
			a = append(a, int(st))
		}
		s.where = append(s.where, cond{"EXISTS (SELECT 1 FROM recipients rx WHERE rx.msg_id = m.id AND rx.status IN (" + placeholders(len(a)) + "))", a})
	}

	if driver == "" && ordered {
		// A range on due or created drives the listing when it holds few
		// messages (read and sorted whole); otherwise walk the ids.
		best, bestN := "", probeLimit
		for _, c := range []struct {
			index string
			conds []cond
		}{{"messages_due", dueConds}, {"messages_created", createdConds}, {"messages_subject", subjectConds}} {
			if len(c.conds) == 0 || c.index == "messages_subject" && len(c.conds) < 2 {
				continue // a subject glob that starts with a wildcard is no range
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
	if h := mp.header; h != nil {
		s.where = append(s.where, cond{"EXISTS (SELECT 1 FROM bodies b WHERE b.msg_id = m.id AND mqsh_header(b.raw, ?, ?))", []any{h.name, h.glob}})
	}
	if len(s.where) > 0 {
		s.light = ""
	}
	return s, nil
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

// afterSecond and beforeSecond turn an exclusive bound into whole seconds: the
// stored times are whole seconds.
func afterSecond(t time.Time) int64 { return t.Unix() }

func beforeSecond(t time.Time) int64 {
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
