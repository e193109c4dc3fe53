package queue

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Checks the engine applies to what any caller hands it (the command line,
// batch files, Lua scripts, imports, and later the HTTP API): each front end
// may check earlier for a friendlier message, but none can skip these.

// checkPrintable refuses a control character (C0, DEL or C1) in a pattern,
// address or domain name. SQLite ends a GLOB or LIKE pattern at a NUL, so
// "*\x00@nobody.invalid" would match every address; no address holds one.
func checkPrintable(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			continue
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U at byte %d: patterns and addresses must be printable text", r, i)
		}
	}
	return nil
}

// The range of times the queue stores: Unix seconds from 1970 (Stalwart keeps
// them unsigned) to the last second RFC 3339, and so the JSON export, can
// write.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// checkTime refuses a time outside minTime..maxTime, such as what a script's
// 0/0, math.huge or 1e300 becomes; the zero time (unset) passes.
func checkTime(what string, t time.Time) error {
	if t.IsZero() || (!t.Before(minTime) && !t.After(maxTime)) {
		return nil
	}
	return fmt.Errorf("%s: %s is out of range: want a time from 1970-01-01 to 9999-12-31 (UTC)", what, t.UTC().Format(time.RFC3339))
}

// checkTimes checks the time bounds of a filter.
func (f Filter) checkTimes() error {
	for _, b := range []struct {
		what string
		t    time.Time
	}{{"due before", f.DueBefore}, {"due after", f.DueAfter}, {"created before", f.CreatedBefore}, {"created after", f.CreatedAfter}} {
		if err := checkTime(b.what, b.t); err != nil {
			return fmt.Errorf("filter: %w", err)
		}
	}
	return nil
}

// checkMessageTimes checks the times of a message handed to the engine.
func checkMessageTimes(m *Message) error {
	if err := checkTime("created", m.Created); err != nil {
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	for _, d := range m.Domains {
		for _, b := range []struct {
			what string
			t    time.Time
		}{{"next_retry", d.Due}, {"next_notify", d.NotifyAt}, {"expires", d.Expires}} {
			if err := checkTime(b.what, b.t); err != nil {
				return fmt.Errorf("message %s: domain %s: %w", m.ID, d.Name, err)
			}
		}
	}
	return nil
}
