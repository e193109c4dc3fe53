package httpapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// The query parameters of the list, bulk retry and bulk cancel routes:
// Stalwart's (from, to, text, before, after, range-start, range-end, queue,
// page, limit, values, max-total) with its semantics, plus mqsh's filter keys
// as an extension: the HTTP column of the one table of filter keys,
// queue.FilterKeys, read by FilterKey.ParseHTTP. What the engine cannot express (substring
// matches) is narrowed by the closest engine filter and finished here.

// queueName is the one virtual queue mqsh has, as the JSON names it.
const queueName = "default"

// selection is what a request selects.
type selection struct {
	filter queue.Filter // the engine's part, Stalwart's narrowing included
	// Stalwart's substring matches, case-sensitive, finished in Go. text,
	// when given, replaces from and to.
	from, to, text string
	rangeStart     queue.ID // ids >= rangeStart (0 = from the first)
	rangeEnd       queue.ID // ids <= rangeEnd (0 = to the last)
	noQueue        bool     // queue= named a queue mqsh does not have: nothing matches
	maxTotal       int      // stop counting at this many (0 = count all)
}

// page is what a list request shows of its selection.
type page struct {
	offset, limit int // limit 0 = all
	values        bool
	// noHash: blob-hash=0, mqsh's extension for a client that does not
	// use blob_hash (mqsh's own): whole messages without it, so that their
	// text is not read.
	noHash bool
}

// parseDecimalID reads a message id as Stalwart writes it: a positive
// decimal integer.
func parseDecimalID(s string) (queue.ID, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("invalid id %q: want a message id as a positive decimal integer such as 22205822742", s)
	}
	return queue.ID(v), nil
}

// futureTime reads a Stalwart FutureTimestamp: an RFC 3339 time after now.
// Anything else (absent, malformed or past) is not a time, as in Stalwart,
// which then ignores the parameter.
func futureTime(s string, now time.Time) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || !t.After(now) {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// parseSelection reads the selection of a list or bulk request. Stalwart's
// own parameters never fail (bad values are ignored, as Stalwart does);
// the extension's do, naming the parameter.
func parseSelection(q url.Values, now time.Time) (selection, error) {
	var s selection
	for _, k := range queue.FilterKeys {
		vs, ok := q[k.HTTP]
		if !ok || k.HTTP == "" {
			continue
		}
		// Addresses, globs and the like may be given several times
		// (sender=a@x&sender=b@y: either); the others once.
		if _, several := k.Field.(queue.Field[[]string]); len(vs) > 1 && !several {
			return s, fmt.Errorf("%s: given %d times; give it once (lists are comma-separated)", k.HTTP, len(vs))
		}
		// Times as RFC 3339, a date, or relative to the server's clock
		// (+2h, -1d); ids in decimal, as Stalwart's.
		for _, v := range vs {
			if err := k.ParseHTTP(&s.filter, v, now); err != nil {
				return s, fmt.Errorf("%s: %w", k.HTTP, err)
			}
		}
	}
	if err := s.filter.Validate(); err != nil {
		return s, err
	}
	if s.text = q.Get("text"); s.text == "" {
		s.from, s.to = q.Get("from"), q.Get("to")
	}
	// Narrow the substring matches by engine globs (case-insensitive
	// supersets of them), where the extension has not set the field.
	if s.from != "" && len(s.filter.Sender) == 0 {
		s.filter.Sender = []string{narrowing(s.from)}
	}
	if s.to != "" && len(s.filter.Recipient) == 0 {
		s.filter.Recipient = []string{narrowing(s.to)}
	}
	if err := s.filter.Validate(); err != nil {
		// A substring the engine's patterns refuse (a control character):
		// leave the whole match to Go.
		if s.from != "" {
			s.filter.Sender = q["sender"]
		}
		if s.to != "" {
			s.filter.Recipient = q["rcpt"]
		}
	}
	if t, ok := futureTime(q.Get("before"), now); ok {
		s.filter.DueBefore = t
	}
	if t, ok := futureTime(q.Get("after"), now); ok {
		s.filter.DueAfter = t
	}
	if v, err := strconv.ParseUint(q.Get("range-start"), 10, 64); err == nil {
		s.rangeStart = queue.ID(v)
	}
	if v, err := strconv.ParseUint(q.Get("range-end"), 10, 64); err == nil {
		s.rangeEnd = queue.ID(v)
	}
	if v, err := strconv.Atoi(q.Get("max-total")); err == nil && v > 0 {
		s.maxTotal = v
	}
	if name, ok := q["queue"]; ok && name[0] != "" && name[0] != queueName {
		s.noQueue = true
	}
	return s, nil
}

// narrowing is the engine glob matching every address that contains sub,
// in any case.
func narrowing(sub string) string { return "*" + sub + "*" }

// parsePage reads page (1-based; 0 is 1), limit (0 = all) and values
// (present and non-empty).
func parsePage(q url.Values) page {
	var p page
	n, _ := strconv.Atoi(q.Get("page"))
	p.limit, _ = strconv.Atoi(q.Get("limit"))
	if p.limit < 0 {
		p.limit = 0
	}
	if n > 1 && p.limit > 0 {
		p.offset = (n - 1) * p.limit
	}
	p.values = q.Get("values") != ""
	p.noHash = q.Get("blob-hash") == "0"
	return p
}

// inGo reports whether some of the match is left to Go, so the engine's
// count is not the total.
func (s *selection) inGo() bool {
	return s.from != "" || s.to != "" || s.text != "" || s.rangeEnd != 0
}

// exact reports whether the engine alone selects (and counts) the messages:
// nothing to finish in Go, no range start, no other queue asked for.
func (s *selection) exact() bool {
	return !s.inGo() && s.rangeStart == 0 && !s.noQueue
}

// match finishes the match of a message the engine selected.
func (s *selection) match(m *queue.Message) bool {
	if s.rangeEnd != 0 && m.ID > s.rangeEnd {
		return false
	}
	if s.text != "" {
		return strings.Contains(m.ReturnPath, s.text) || anyRecipient(m, s.text)
	}
	if s.from != "" && !strings.Contains(m.ReturnPath, s.from) {
		return false
	}
	if s.to != "" && !anyRecipient(m, s.to) {
		return false
	}
	return true
}

func anyRecipient(m *queue.Message, sub string) bool {
	for _, d := range m.Domains {
		for _, r := range d.Recipients {
			if strings.Contains(r.Address, sub) {
				return true
			}
		}
	}
	return false
}
