package queue

// The one table of filter keys: every way of naming a field of Filter (the
// command line's flags, Lua filter tables, the audit text, and the HTTP API's
// parameters) comes from the rows below, so that a filter field is bound
// once, by type, and adding one touches the Filter, its row and its tests.
// The HTTP API's server (httpapi) reads its extension parameters through
// ParseHTTP, and the remote client (remote) writes them with FormatHTTP.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Field points at one field of a Filter, of type T. A row's Field is one of
// Field[[]string] (addresses, domains or globs: any of them), Field[time.Time] (a bound),
// Field[int64] (a size in bytes), Field[[]Status], Field[[]ID],
// Field[*bool] (a condition that may be true, false or unset) and
// Field[bool] (a switch): callers that read values of
// their own kind (Lua numbers and tables) switch on it.
type Field[T any] func(*Filter) *T

// FilterKey binds one field of Filter to its names. The table is FilterKeys;
// its rows are also the Key variables, for callers that name one key.
type FilterKey struct {
	Name    string   // canonical name, and the Lua filter table's key: "created_before"
	Aliases []string // other Lua keys that mean it: "recipient"
	Audit   string   // its word in the audit text (Filter.String), with the operator: "created<"; "all" has none
	Flag    string   // the command line's long flag: "created-before"; "" = none (ids are arguments)
	Short   string   // its one-letter flag; "" = none
	Value   string   // the flag's metavariable in help: "TIME"; "" = a switch
	Help    string   // the flag's help where it filters (list, summary); retry and cancel word their own
	Values  []string // the words it accepts, for help and completion (status); nil = any
	Suggest string   // the Suggest kind that completes its values; "" = none
	// HTTP is its query parameter in mqsh's extension of Stalwart's
	// management API ("due-before"); "" = none (all: the API's bulk routes
	// select everything when given no parameter, as Stalwart's do).
	HTTP string
	// ChangeOnly: only the commands that change messages take it (all).
	ChangeOnly bool
	// Stored names what of the queue's own records the key reads that a
	// message in memory does not carry ("the message text"): the Matcher,
	// and so a remote client, cannot decide it. "" = it can.
	Stored string
	Field  any // a Field[T] of one of the types above
}

// The keys, in the order of the audit text.
var (
	KeyIDs = &FilterKey{Name: "ids", Audit: "ids=", HTTP: "ids",
		Field: Field[[]ID](func(f *Filter) *[]ID { return &f.IDs })}
	KeySender = &FilterKey{Name: "sender", Audit: "sender=", HTTP: "sender", Flag: "sender", Short: "s", Value: "SENDER",
		Help: "Filter by sender address", Suggest: SuggestSender,
		Field: Field[[]string](func(f *Filter) *[]string { return &f.Sender })}
	KeyRcpt = &FilterKey{Name: "rcpt", Aliases: []string{"recipient"}, Audit: "rcpt=", HTTP: "rcpt", Flag: "rcpt", Short: "r", Value: "RCPT",
		Help: "Filter by recipient", Suggest: SuggestRecipient,
		Field: Field[[]string](func(f *Filter) *[]string { return &f.Recipient })}
	KeyDomain = &FilterKey{Name: "domain", Audit: "domain=", HTTP: "domain", Flag: "domain", Short: "d", Value: "DOMAIN",
		Help: "Filter by recipient domain", Suggest: SuggestDomain,
		Field: Field[[]string](func(f *Filter) *[]string { return &f.Domain })}
	KeyDueAfter = &FilterKey{Name: "after", Audit: "due>", HTTP: "due-after", Flag: "after", Short: "a", Value: "AFTER",
		Help:  "Filter messages due for delivery after a certain datetime",
		Field: Field[time.Time](func(f *Filter) *time.Time { return &f.DueAfter })}
	KeyDueBefore = &FilterKey{Name: "before", Audit: "due<", HTTP: "due-before", Flag: "before", Short: "b", Value: "BEFORE",
		Help:  "Filter messages due for delivery before a certain datetime",
		Field: Field[time.Time](func(f *Filter) *time.Time { return &f.DueBefore })}
	KeyCreatedAfter = &FilterKey{Name: "created_after", Audit: "created>", HTTP: "created-after", Flag: "created-after", Value: "TIME",
		Help:  "Filter messages created after a certain datetime",
		Field: Field[time.Time](func(f *Filter) *time.Time { return &f.CreatedAfter })}
	KeyCreatedBefore = &FilterKey{Name: "created_before", Audit: "created<", HTTP: "created-before", Flag: "created-before", Value: "TIME",
		Help:  "Filter messages created before a certain datetime",
		Field: Field[time.Time](func(f *Filter) *time.Time { return &f.CreatedBefore })}
	KeyStatus = &FilterKey{Name: "status", Audit: "status=", HTTP: "status", Flag: "status", Value: "STATUS",
		Help:   "Filter by recipient status: scheduled, delivered, tempfail, permfail (comma-separated)",
		Values: []string{Scheduled.Short(), Completed.Short(), TempFail.Short(), PermFail.Short()},
		Field:  Field[[]Status](func(f *Filter) *[]Status { return &f.Status })}
	KeyHeld = &FilterKey{Name: "held", Audit: "held=", HTTP: "held", Flag: "held", Value: "BOOL",
		Help: "Filter by hold: true for messages with a held domain, false for those without", Values: []string{"true", "false"},
		Field: Field[*bool](func(f *Filter) **bool { return &f.Held })}
	KeySubject = &FilterKey{Name: "subject", Audit: "subject=", HTTP: "subject", Flag: "subject", Value: "GLOB",
		Help:   "Filter by subject, a glob in any case: 'Invoice*' (indexed)",
		Stored: "the message text",
		Field:  Field[[]string](func(f *Filter) *[]string { return &f.Subject })}
	KeyMessageID = &FilterKey{Name: "message_id", Audit: "message-id=", HTTP: "message-id", Flag: "message-id", Value: "MSGID",
		Help:   "Filter by Message-ID, exact, with or without <> (indexed)",
		Stored: "the message text",
		Field:  Field[[]string](func(f *Filter) *[]string { return &f.MessageID })}
	KeyHeader = &FilterKey{Name: "header", Audit: "header=", HTTP: "header", Flag: "header", Value: "NAME:GLOB",
		Help:   "Filter by a header field: 'X-Mailer:*bulk*' (name in any case, value a glob; reads every candidate's text: slower)",
		Stored: "the message text",
		Field:  Field[[]string](func(f *Filter) *[]string { return &f.Header })}
	KeyLarger = &FilterKey{Name: "larger", Audit: "size>", HTTP: "larger", Flag: "larger", Value: "SIZE",
		Help:  "Filter messages larger than SIZE bytes (suffix k, M or G: 1024-based)",
		Field: Field[int64](func(f *Filter) *int64 { return &f.Larger })}
	KeySmaller = &FilterKey{Name: "smaller", Audit: "size<", HTTP: "smaller", Flag: "smaller", Value: "SIZE",
		Help:  "Filter messages smaller than SIZE bytes (suffix k, M or G: 1024-based)",
		Field: Field[int64](func(f *Filter) *int64 { return &f.Smaller })}
	KeyClientIP = &FilterKey{Name: "client_ip", Audit: "client-ip=", HTTP: "client-ip", Flag: "client-ip", Value: "IP",
		Help:   "Filter by the SMTP client's address or network (192.0.2.7, 192.0.2.0/24), for mail received by serve",
		Stored: "the SMTP client serve recorded",
		Field:  Field[[]string](func(f *Filter) *[]string { return &f.ClientIP })}
	KeyUser = &FilterKey{Name: "user", Audit: "user=", HTTP: "user", Flag: "user", Value: "USER",
		Help:   "Filter by the user the SMTP client authenticated as (any case), for mail received by serve",
		Stored: "the SMTP client serve recorded",
		Field:  Field[[]string](func(f *Filter) *[]string { return &f.User })}
	KeyAll = &FilterKey{Name: "all", Audit: "all", Flag: "all", ChangeOnly: true,
		Help:  "Apply to every message (required when neither ids nor filters are given)",
		Field: Field[bool](func(f *Filter) *bool { return &f.All })}
)

// FilterKeys is the table: every field of Filter but IDsFrom, once, in the
// order of the audit text. Callers must not change it.
var FilterKeys = []*FilterKey{
	KeyIDs, KeySender, KeyRcpt, KeyDomain, KeyDueAfter, KeyDueBefore,
	KeyCreatedAfter, KeyCreatedBefore, KeyStatus, KeyHeld,
	KeySubject, KeyMessageID, KeyHeader, KeyLarger, KeySmaller, KeyClientIP, KeyUser,
	KeyAll,
}

// FilterKeyNamed returns the key with that name or alias (a Lua key), nil
// when there is none.
func FilterKeyNamed(name string) *FilterKey {
	for _, k := range FilterKeys {
		if k.Name == name || slices.Contains(k.Aliases, name) {
			return k
		}
	}
	return nil
}

// FilterKeyNames lists the keys' names, in table order: "ids, sender, ...".
func FilterKeyNames() string {
	names := make([]string, len(FilterKeys))
	for i, k := range FilterKeys {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}

// Parse sets the key's field of f from text as people type it (a flag's
// value, an HTTP parameter, a Lua string): an address, domain or glob as
// given, added to the values already there (a flag given twice means
// either; "" adds nothing); a time as ParseTime reads it, relative to now;
// a size as ParseSize reads it;
// statuses and ids separated by commas (a repeated status is kept once);
// true or false for all. The error says what was wrong with the value
// without naming the key, which the caller names in its own words.
func (k *FilterKey) Parse(f *Filter, text string, now time.Time) error {
	switch fl := k.Field.(type) {
	case Field[[]string]:
		if text != "" {
			*fl(f) = append(*fl(f), text)
		}
	case Field[time.Time]:
		t, err := ParseTime(text, now)
		if err != nil {
			return err
		}
		*fl(f) = t
	case Field[int64]:
		n, err := ParseSize(text)
		if err != nil {
			return err
		}
		*fl(f) = n
	case Field[[]Status]:
		for _, w := range strings.Split(text, ",") {
			st, err := ParseStatus(w)
			if err != nil {
				return err
			}
			if p := fl(f); !slices.Contains(*p, st) {
				*p = append(*p, st)
			}
		}
	case Field[[]ID]:
		for _, w := range strings.Split(text, ",") {
			id, err := ParseID(strings.TrimSpace(w))
			if err != nil {
				return err
			}
			*fl(f) = append(*fl(f), id)
		}
	case Field[bool]:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("invalid value %q: want true or false", text)
		}
		*fl(f) = b
	case Field[*bool]:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("invalid value %q: want true or false", text)
		}
		*fl(f) = &b
	default:
		panic(fmt.Sprintf("queue: filter key %s binds a %T", k.Name, k.Field))
	}
	return nil
}

// ParseHTTP sets the key's field of f from the value of its HTTP parameter:
// as Parse reads it, but ids in decimal, as Stalwart's API writes them, and
// a blank value refused. As Parse's, the error does not name the parameter.
func (k *FilterKey) ParseHTTP(f *Filter, text string, now time.Time) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("needs a value")
	}
	fl, ok := k.Field.(Field[[]ID])
	if !ok {
		return k.Parse(f, text, now)
	}
	for _, w := range strings.Split(text, ",") {
		w = strings.TrimSpace(w)
		v, err := strconv.ParseUint(w, 10, 64)
		if err != nil || v == 0 {
			return fmt.Errorf("invalid id %q: want a message id as a positive decimal integer such as 22205822742", w)
		}
		*fl(f) = append(*fl(f), ID(v))
	}
	return nil
}

// FormatHTTP writes the key's field of f as its HTTP parameter's values,
// the way ParseHTTP reads them (times in RFC 3339, UTC; ids in decimal),
// and reports whether the field is set. A field of several values
// (addresses, globs) is one parameter per value, as ParseHTTP takes them
// one by one; the others are one value.
func (k *FilterKey) FormatHTTP(f *Filter) ([]string, bool) {
	switch fl := k.Field.(type) {
	case Field[time.Time]:
		t := *fl(f)
		return []string{t.UTC().Format(time.RFC3339Nano)}, !t.IsZero()
	case Field[[]ID]:
		ids := *fl(f)
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = strconv.FormatUint(uint64(id), 10)
		}
		return []string{strings.Join(s, ",")}, len(ids) > 0
	case Field[[]string]:
		v := *fl(f)
		return slices.Clone(v), len(v) > 0
	}
	return k.format(f)
}

// IsSet reports whether the key's field of f is set.
func (k *FilterKey) IsSet(f *Filter) bool {
	switch fl := k.Field.(type) {
	case Field[[]string]:
		return len(*fl(f)) > 0
	case Field[time.Time]:
		return !fl(f).IsZero()
	case Field[int64]:
		return *fl(f) != 0
	case Field[[]Status]:
		return len(*fl(f)) > 0
	case Field[[]ID]:
		return len(*fl(f)) > 0
	case Field[bool]:
		return *fl(f)
	case Field[*bool]:
		return *fl(f) != nil
	}
	panic(fmt.Sprintf("queue: filter key %s binds a %T", k.Name, k.Field))
}

// format writes the key's field of f as the audit text's values (without
// the key): one per value of a field of several (each its own word), else
// one; and reports whether it is set.
func (k *FilterKey) format(f *Filter) ([]string, bool) {
	one := func(v string, set bool) ([]string, bool) { return []string{v}, set }
	switch fl := k.Field.(type) {
	case Field[[]string]:
		vs := *fl(f)
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = quoteValue(v)
		}
		return out, len(vs) > 0
	case Field[time.Time]:
		t := *fl(f)
		return one(formatTime(t), !t.IsZero())
	case Field[int64]:
		n := *fl(f)
		return one(strconv.FormatInt(n, 10), n != 0)
	case Field[[]Status]:
		sts := *fl(f)
		s := make([]string, len(sts))
		for i, st := range sts {
			s[i] = st.Short()
		}
		return one(strings.Join(s, ","), len(sts) > 0)
	case Field[[]ID]:
		ids := *fl(f)
		if f.IDsFrom != "" {
			return one(quoteValue(fmt.Sprintf("%d from %s", len(ids), f.IDsFrom)), len(ids) > 0)
		}
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = id.String()
		}
		return one(strings.Join(s, ","), len(ids) > 0)
	case Field[bool]:
		return one("", *fl(f))
	case Field[*bool]:
		b := *fl(f)
		return one(strconv.FormatBool(b != nil && *b), b != nil)
	}
	panic(fmt.Sprintf("queue: filter key %s binds a %T", k.Name, k.Field))
}

// parseAudit sets the key's field of f from its value in the audit text:
// what format writes, times in RFC 3339 only.
func (k *FilterKey) parseAudit(f *Filter, val string) error {
	if val == "" {
		return fmt.Errorf("invalid filter: %s needs a value", k.Audit)
	}
	switch k.Field.(type) {
	case Field[time.Time]:
		t, err := time.Parse(time.RFC3339Nano, val)
		if err != nil {
			return fmt.Errorf("invalid filter: %s%s: want an RFC 3339 time such as 2024-05-01T00:00:00Z", k.Audit, val)
		}
		if t.IsZero() {
			return fmt.Errorf("invalid filter: %s%s: the zero time is not a bound", k.Audit, val)
		}
		return k.Parse(f, val, time.Time{})
	case Field[bool]:
		return errors.New("invalid filter: " + k.Audit + " takes no value")
	}
	if err := k.Parse(f, val, time.Time{}); err != nil {
		return fmt.Errorf("invalid filter: %w", err)
	}
	return nil
}

// filterWords is what ParseFilter's error says the words are, from the table:
// "key=value (ids, sender, ...), due>T, ... or all".
func filterWords() string {
	var keys, bounds, bare []string
	for _, k := range FilterKeys {
		switch k.Field.(type) {
		case Field[time.Time]:
			bounds = append(bounds, k.Audit+"T")
		case Field[int64]:
			bounds = append(bounds, k.Audit+"N")
		case Field[bool]:
			bare = append(bare, k.Audit)
		default:
			keys = append(keys, strings.TrimSuffix(k.Audit, "="))
		}
	}
	return "key=value (" + strings.Join(keys, ", ") + "), " + strings.Join(bounds, ", ") + " or " + strings.Join(bare, ", ")
}

// ParseSize reads a size as people type it: bytes, or a number with the
// suffix k, M or G (1024-based, in any case, an optional B after it):
// "500", "10k", "1.5M", "2GB". It must be above zero.
func ParseSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	bad := fmt.Errorf("invalid size %q: want bytes or a number with k, M or G (1024-based) such as 500, 10k or 1.5M", s)
	num := strings.TrimSuffix(strings.TrimSuffix(in, "B"), "b")
	mult := 1.0
	if num != "" {
		switch num[len(num)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			num = num[:len(num)-1]
		}
	}
	if num == "" || strings.ContainsAny(num, "+-eEinIN_xXpP") {
		return 0, bad
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	v *= mult
	if v > 1<<50 {
		return 0, fmt.Errorf("invalid size %q: above a petabyte", s)
	}
	n := int64(math.Round(v))
	if n <= 0 {
		return 0, fmt.Errorf("invalid size %q: want a size above zero", s)
	}
	return n, nil
}
