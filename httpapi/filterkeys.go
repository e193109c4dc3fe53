package httpapi

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"mqsh/queue"
)

// The filter keys: one table binding each key name to the field of
// queue.Filter it sets, by the type of that field. The HTTP API reads its
// extension parameters through it; it depends on nothing but queue, so the
// command line's flags and Lua's filter tables can be read through the same
// table once it moves next to queue.Filter. Adding a filter field means one
// row here.

// FilterKey is one filter key: its name, what it does, and how a value sets
// queue.Filter.
type FilterKey struct {
	Name string // as typed: sender, due-before ...
	Help string // one line
	// set parses v with p and sets the key's field of f.
	set func(f *queue.Filter, v string, p ValueParser) error
}

// ValueParser reads the values whose form depends on the caller: times (the
// command line takes +2h, the API RFC 3339) and ids (hex on the command
// line, decimal in Stalwart's API).
type ValueParser struct {
	Time func(s string) (time.Time, error)
	ID   func(s string) (queue.ID, error)
}

// Set parses v and sets the key's field of f.
func (k FilterKey) Set(f *queue.Filter, v string, p ValueParser) error {
	if err := k.set(f, v, p); err != nil {
		return fmt.Errorf("%s: %w", k.Name, err)
	}
	return nil
}

// textKey binds a key to a string field.
func textKey(name, help string, field func(*queue.Filter) *string) FilterKey {
	return FilterKey{Name: name, Help: help, set: func(f *queue.Filter, v string, _ ValueParser) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("needs a value")
		}
		*field(f) = v
		return nil
	}}
}

// timeKey binds a key to a time field.
func timeKey(name, help string, field func(*queue.Filter) *time.Time) FilterKey {
	return FilterKey{Name: name, Help: help, set: func(f *queue.Filter, v string, p ValueParser) error {
		t, err := p.Time(v)
		if err != nil {
			return err
		}
		*field(f) = t
		return nil
	}}
}

// statusKey binds a key to a list of statuses, comma-separated.
func statusKey(name, help string, field func(*queue.Filter) *[]queue.Status) FilterKey {
	return FilterKey{Name: name, Help: help, set: func(f *queue.Filter, v string, _ ValueParser) error {
		dst := field(f)
		for _, w := range strings.Split(v, ",") {
			s, err := queue.ParseStatus(w)
			if err != nil {
				return err
			}
			if !slices.Contains(*dst, s) {
				*dst = append(*dst, s)
			}
		}
		return nil
	}}
}

// idsKey binds a key to a list of ids, comma-separated.
func idsKey(name, help string, field func(*queue.Filter) *[]queue.ID) FilterKey {
	return FilterKey{Name: name, Help: help, set: func(f *queue.Filter, v string, p ValueParser) error {
		dst := field(f)
		for _, w := range strings.Split(v, ",") {
			id, err := p.ID(strings.TrimSpace(w))
			if err != nil {
				return err
			}
			*dst = append(*dst, id)
		}
		return nil
	}}
}

// FilterKeys is the table, in the order help lists it.
var FilterKeys = []FilterKey{
	textKey("sender", "Sender address: exact (case-insensitive), @domain or domain, * and ? globs, <> for bounces",
		func(f *queue.Filter) *string { return &f.Sender }),
	textKey("rcpt", "Recipient address: exact (case-insensitive), @domain or domain, * and ? globs",
		func(f *queue.Filter) *string { return &f.Recipient }),
	textKey("domain", "Recipient domain, exact (case-insensitive)",
		func(f *queue.Filter) *string { return &f.Domain }),
	statusKey("status", "Recipient status: scheduled, delivered, tempfail, permfail (comma-separated)",
		func(f *queue.Filter) *[]queue.Status { return &f.Status }),
	timeKey("due-before", "Delivery due before this time (past times too)",
		func(f *queue.Filter) *time.Time { return &f.DueBefore }),
	timeKey("due-after", "Delivery due after this time (past times too)",
		func(f *queue.Filter) *time.Time { return &f.DueAfter }),
	timeKey("created-before", "Created before this time",
		func(f *queue.Filter) *time.Time { return &f.CreatedBefore }),
	timeKey("created-after", "Created after this time",
		func(f *queue.Filter) *time.Time { return &f.CreatedAfter }),
	idsKey("ids", "Message ids (comma-separated)",
		func(f *queue.Filter) *[]queue.ID { return &f.IDs }),
}

// LookupFilterKey finds a key of the table by name.
func LookupFilterKey(name string) (FilterKey, bool) {
	for _, k := range FilterKeys {
		if k.Name == name {
			return k, true
		}
	}
	return FilterKey{}, false
}
