package queue

// What another queue engine (the PostgreSQL engine, package pgqueue) shares
// with this one, so that the two cannot drift: how filters, envelopes,
// imports, the demo and audit texts are read and written, and the sentences
// of the errors. Everything here is pure: no SQL.

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// AddressKind is how an AddressPattern matches.
type AddressKind int

// The kinds of address pattern.
const (
	AddressExact  AddressKind = iota // a full address, compared in lower case
	AddressDomain                    // the domain after '@', exact
	AddressGlob                      // '*' and '?' globs over the lower-case address
	AddressBounce                    // the sender <>
	AddressBare                      // a word without '@': a local part or a domain, exact
)

// Kind says how the pattern matches.
func (p *AddressPattern) Kind() AddressKind { return AddressKind(p.m.kind) }

// Value is the lower-case address (AddressExact), domain (AddressDomain) or
// word (AddressBare); "" otherwise.
func (p *AddressPattern) Value() string {
	if p.m.kind == addrExact || p.m.kind == addrDomain || p.m.kind == addrBare {
		return p.m.value
	}
	return ""
}

// Globs returns, for an AddressGlob, the glob over the whole lower-case
// address and, for a glob without '@', the second glob tried (on the
// domain: "*@" and the pattern), "" when none. In them '*' is any run of
// characters, '?' exactly one, and every other character itself (no
// classes: '[' is literal).
func (p *AddressPattern) Globs() (glob, alt string) {
	if p.m.kind != addrGlob {
		return "", ""
	}
	return string(p.m.glob), string(p.m.alt)
}

// Patterns reads the address fields of f as every verb does: its sender and
// recipient patterns and its domains (lower case), each field's values in
// order (a message matches a field when it matches any of them), with the
// errors of Validate, which also checks the filter's other values.
func (f Filter) Patterns() (senders, rcpts []*AddressPattern, domains []string, err error) {
	p, err := f.read()
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range p.senders {
		senders = append(senders, &AddressPattern{m: newAddrMatcher(&p.senders[i])})
	}
	for i := range p.rcpts {
		rcpts = append(rcpts, &AddressPattern{m: newAddrMatcher(&p.rcpts[i])})
	}
	return senders, rcpts, p.domains, nil
}

// ScopeText names for people the recipients a change made with f acts on
// (Result.Scope: "at gmx.de"); "" when f names none and the change acts on
// whole messages. The error is Validate's.
func (f Filter) ScopeText() (string, error) {
	p, err := f.read()
	if err != nil {
		return "", err
	}
	return scopeText(p.rcpts, p.domains), nil
}

// BuildMessage makes a new message of an envelope and its text, created at
// now (whole seconds) and scheduled by sched, as Enqueue and ImportEML do:
// Bcc fields are dropped from raw (the text returned), the envelope is
// checked, and the message is in the stored form. id is the new message's
// id. What the envelope carries besides (RET, client, NOTIFY, holds) is
// ApplyArrival's.
func BuildMessage(env Envelope, raw []byte, id ID, now time.Time, sched Schedule) (*Message, []byte, error) {
	sched = FillSchedule(sched)
	clock := func() time.Time { return now.UTC().Truncate(time.Second) }
	raw = stripBcc(raw)
	m, err := envelopeMessage(env, raw, clock(), sched)
	if err != nil {
		return nil, nil, err
	}
	m.ID = id
	if err := normalizeMessage(m, clock, sched.Expire, false); err != nil {
		return nil, nil, err
	}
	if raw == nil {
		raw = []byte{}
	}
	return m, raw, nil
}

// ApplyArrival checks what env carries besides the envelope and sets it in
// the new message m, as Enqueue does: RET, client, hold, the recipients'
// NOTIFY, and a FUTURERELEASE hold, which moves the domains' due, notice and
// expiry times by the time held. It reports whether env carried any.
func ApplyArrival(m *Message, env *Envelope) (bool, error) {
	if !env.hasArrival() {
		return false, nil
	}
	if err := applyArrival(m, env); err != nil {
		return false, err
	}
	return true, nil
}

// FillSchedule returns s with the defaults an engine applies (those Open
// gives): the whole DefaultSchedule for the zero Schedule, else its expiry
// when s has none.
func FillSchedule(s Schedule) Schedule {
	if len(s.Retry) == 0 && len(s.Notify) == 0 && s.Expire == 0 {
		s = DefaultSchedule
	}
	if s.Expire <= 0 {
		s.Expire = DefaultSchedule.Expire
	}
	return s
}

// NewID returns the id of a message created at t: Stalwart's snowflake of t,
// or the next sequence slot after last (the highest id given out so far),
// whichever is larger.
func NewID(t time.Time, last ID) ID {
	id := snowflake(t, 0)
	if next := NextSlot(last); next > id {
		id = next
	}
	return id
}

// EnvelopeFromEML is the envelope ImportEML uses: env when given, else the
// one read from the headers (EnvelopeFromHeaders), with import's errors.
func EnvelopeFromEML(raw []byte, env *Envelope) (Envelope, error) {
	if env != nil {
		return *env, nil
	}
	e, err := EnvelopeFromHeaders(raw)
	if err != nil {
		return Envelope{}, fmt.Errorf("import: %w", err)
	}
	return e, nil
}

// AddAuditText is the audit text of a verb that adds one message (enqueue,
// import): prefix (such as "format=eml "), then sender, recipients and size.
func AddAuditText(prefix string, m *Message) string {
	sender := m.ReturnPath
	if sender == "" {
		sender = "<>"
	}
	return fmt.Sprintf("%ssender=%s recipients=%d size=%d", prefix, quoteValue(sender), len(m.Recipients()), m.Size)
}

// RetryAuditText is the audit text of a retry to at: the filter, then the
// verb's own options ("domain=x; at=T spread=2h").
func RetryAuditText(r RetryRequest, at time.Time) string {
	text := r.Filter.String() + "; at=" + formatTime(at)
	if r.Spread > 0 {
		text += " spread=" + r.Spread.String()
	}
	if r.ExtendExpiry > 0 {
		text += " extend-expiry=" + r.ExtendExpiry.String()
	}
	return text
}

// ImportJSONAuditText and DemoAuditText are the audit texts of those verbs.
func ImportJSONAuditText(lines int) string { return fmt.Sprintf("format=json lines=%d", lines) }

// DemoAuditText: see ImportJSONAuditText.
func DemoAuditText(n int, seed int64) string { return fmt.Sprintf("n=%d seed=%d", n, seed) }

// CheckDemoCount refuses a negative number of generated demo messages.
func CheckDemoCount(n int) error {
	if n < 0 {
		return fmt.Errorf("demo: the number of generated messages must not be negative (got %d)", n)
	}
	return nil
}

// DocumentedDemo returns the six messages of the documented stalwart-cli
// session with their texts, in the stored form, as LoadDemo queues them.
func DocumentedDemo(sched Schedule) ([]Message, [][]byte, error) {
	sched = FillSchedule(sched)
	msgs, raws := documentedMessages()
	for i := range msgs {
		if err := normalizeMessage(&msgs[i], func() time.Time { return demoCreated }, sched.Expire, false); err != nil {
			return nil, nil, err
		}
	}
	return msgs, raws, nil
}

// GenerateDemo produces LoadDemo's n generated messages, deterministic for
// seed and now, scheduled by sched, and hands each to fn with its text; fn
// moves its id past one already taken (NextSlot) and normalizes it
// (NormalizeMessage), as LoadDemo does. i counts from 0.
func GenerateDemo(n int, seed int64, now time.Time, sched Schedule, fn func(i int, m *Message, raw []byte) error) error {
	sched = FillSchedule(sched)
	return generateDemo(n, seed, now, sched, fn)
}

// NormalizeMessage checks a message about to be stored and brings it to the
// stored form (see ImportJSON): missing creation time from clock, missing
// expiry after expire.
func NormalizeMessage(m *Message, clock func() time.Time, expire time.Duration) error {
	return normalizeMessage(m, clock, expire, false)
}

// ImportError words an error of ImportJSON: the line it names, and that
// nothing was imported.
func ImportError(err error) error {
	var le *lineError
	if errors.As(err, &le) {
		return fmt.Errorf("import: line %d: %w (nothing was imported)", le.line, le.err)
	}
	return fmt.Errorf("import: %w (nothing was imported)", err)
}

// DuplicateIDError is what an import says of a message id already queued
// (line 0: not known).
func DuplicateIDError(id ID, line int) error {
	e := fmt.Errorf("message %s is already in the queue", id)
	if line > 0 {
		return &lineError{line, e}
	}
	return e
}

// SchemaTooNewError is the sentence refusing a queue whose schema is newer
// than this program's: where names the queue (a file, a URL).
func SchemaTooNewError(where string, version, known int) error {
	return fileStateErrorf("%s has queue schema version %d, newer than this mqsh understands (%d): upgrade mqsh to open it", where, version, known)
}

// ReadOnlyError is the sentence refusing verb on a queue opened read-only
// (where names it); it matches ErrReadOnly.
func ReadOnlyError(verb, where string) error {
	return &sentinelError{fmt.Sprintf("%s: %s was opened read-only: open it without the read-only option to change it", verb, where), ErrReadOnly}
}

// NotFoundError says no message has id; it matches ErrNotFound.
func NotFoundError(id ID) error { return fmt.Errorf("message %s: %w", id, ErrNotFound) }

// CheckSummaryBy refuses an unknown grouping of Summary.
func CheckSummaryBy(by string) error {
	switch by {
	case "domain", "sender", "status", "age":
		return nil
	}
	return fmt.Errorf("summary by %q: want domain, sender, status or age", by)
}

// CheckSuggestKind refuses an unknown kind of Suggest.
func CheckSuggestKind(kind string) error {
	switch kind {
	case SuggestID, SuggestSender, SuggestRecipient, SuggestDomain:
		return nil
	}
	return fmt.Errorf("suggest %q: want id, sender, recipient or domain", kind)
}

// AgeBucket is the index in AgeBuckets of a message created at created, as
// seen at now (the last index, len(AgeBuckets), for the open bucket).
func AgeBucket(created, now time.Time) int {
	age := now.Unix() - created.Unix()
	for i, d := range AgeBuckets {
		if age < int64(d.Seconds()) {
			return i
		}
	}
	return len(AgeBuckets)
}

// SeenIDs refuses an id given twice in one import, naming the line where
// it was first seen.
type SeenIDs struct {
	m map[ID]int
	// While the ids come in ascending order (as an export lists them), they
	// are kept in a list, and an id above the last is new without a look-up;
	// the first one out of order moves them into m.
	run []seenID
}

type seenID struct {
	id   ID
	line int
}

// Add records id, seen on line (0 = none), or says where it was seen first.
func (s *SeenIDs) Add(id ID, line int) error {
	if s.m == nil {
		if n := len(s.run); n == 0 || id > s.run[n-1].id {
			s.run = append(s.run, seenID{id, line})
			return nil
		}
		s.m = make(map[ID]int, 2*len(s.run))
		for _, x := range s.run {
			s.m[x.id] = x.line
		}
		s.run = nil
	}
	if prev, dup := s.m[id]; dup {
		if prev > 0 {
			return fmt.Errorf("message %s appears twice (first on line %d)", id, prev)
		}
		return fmt.Errorf("message %s appears twice", id)
	}
	s.m[id] = line
	return nil
}

// RedactURL returns a queue location fit to show: a URL without the
// password of its user part or of a password= parameter; anything else
// as it is.
func RedactURL(loc string) string {
	if !strings.Contains(loc, "://") {
		return loc
	}
	u, err := url.Parse(loc)
	if err != nil {
		if strings.Contains(loc, "@") {
			return "(a URL that cannot be read)"
		}
		return loc
	}
	changed := false
	if _, ok := u.User.Password(); ok {
		u.User = url.User(u.User.Username())
		changed = true
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
		changed = true
	}
	if !changed {
		return loc
	}
	return u.String()
}

// Rows is a result set as database/sql and pgx both hand it over.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanCounts reads rows of (name, count), such as a verb's per-domain
// breakdown, into a map.
func ScanCounts(rows Rows) (map[string]int, error) {
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, rows.Err()
}

// Text is the RFC 5322 text a JSON line of queue export carried with the
// message (nil when it carried none), for another engine's import to store.
func (m *Message) Text() []byte { return m.text }
