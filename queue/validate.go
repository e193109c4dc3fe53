package queue

import (
	"fmt"
	"strconv"
	"strings"
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
	if r, i, bad := firstControl(s); bad {
		return fmt.Errorf("control character %U at byte %d: patterns and addresses must be printable text", r, i)
	}
	return nil
}

// firstControl finds the first control character in s.
func firstControl(s string) (r rune, at int, found bool) {
	for i, r := range s {
		if r != utf8.RuneError && unicode.IsControl(r) {
			return r, i, true
		}
	}
	return 0, 0, false
}

// shortQuote quotes s for an error message, cut to its first 60 bytes: an
// input may be megabytes long.
func shortQuote(s string) string {
	const n = 60
	if len(s) <= n {
		return strconv.Quote(s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// The range of times the queue stores: Unix seconds from 1970 (Stalwart keeps
// them unsigned) to the last second RFC 3339, and so the JSON export, can
// write.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// CheckTime refuses a time outside minTime..maxTime, such as what a script's
// 0/0, math.huge or 1e300 becomes; the zero time (unset) passes.
func CheckTime(what string, t time.Time) error {
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
		if err := CheckTime(b.what, b.t); err != nil {
			return fmt.Errorf("filter: %w", err)
		}
	}
	return nil
}

// checkMessageTimes checks the times of a message handed to the engine.
func checkMessageTimes(m *Message) error {
	if err := CheckTime("created", m.Created); err != nil {
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	for _, d := range m.Domains {
		for _, b := range []struct {
			what string
			t    time.Time
		}{{"next_retry", d.Due}, {"next_notify", d.NotifyAt}, {"expires", d.Expires}} {
			if err := CheckTime(b.what, b.t); err != nil {
				return fmt.Errorf("message %s: domain %s: %w", m.ID, d.Name, err)
			}
		}
	}
	return nil
}

// Limits on what a message may carry, as an MTA sets them: RFC 5321's path
// lengths (a path is 256 octets with its angle brackets, a local part 64, a
// domain 255) and Postfix's default smtpd_recipient_limit.
const (
	maxAddressBytes = 254
	maxLocalBytes   = 64
	maxDomainBytes  = 255
	maxRecipients   = 1000
)

// checkAddressLength refuses an address longer than RFC 5321 allows.
func checkAddressLength(a string) error {
	if len(a) > maxAddressBytes {
		return fmt.Errorf("address %s is %d bytes long: RFC 5321 allows at most %d", shortQuote(a), len(a), maxAddressBytes)
	}
	if at := strings.LastIndexByte(a, '@'); at > maxLocalBytes {
		return fmt.Errorf("address %s: its local part is %d bytes long: RFC 5321 allows at most %d", shortQuote(a), at, maxLocalBytes)
	}
	return nil
}

// checkDomainLength refuses a domain name longer than RFC 5321 allows.
func checkDomainLength(d string) error {
	if len(d) > maxDomainBytes {
		return fmt.Errorf("domain name %s is %d bytes long: RFC 5321 allows at most %d", shortQuote(d), len(d), maxDomainBytes)
	}
	return nil
}

// checkRecipientCount refuses a message with more than maxRecipients.
func checkRecipientCount(n int) error {
	if n > maxRecipients {
		return fmt.Errorf("%d recipients: a message may have at most %d (split it into several)", n, maxRecipients)
	}
	return nil
}
