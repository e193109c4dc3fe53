package queue

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// String is the canonical text of the filter, as recorded in the audit log and
// read back by ParseFilter: space-separated words in the order of FilterKeys,
// each key's Audit word and its value (a word per value of a key of several:
// sender=a@x sender=b@y): ids=A,B sender=X rcpt=X domain=X due>T due<T created>T created<T status=S,S held=B all,
// e.g. `sender=bill@example.net domain=example.org due<2024-05-01T00:00:00Z`.
// Values with spaces, quotes or nothing in them are Go-quoted. Times are RFC 3339
// in UTC. The empty filter is "all" when All is set and "" otherwise. Ids
// that came from elsewhere (IDsFrom) are written as their number and origin,
// ids="5000 from stdin", which ParseFilter does not read back.
func (f Filter) String() string {
	var w []string
	for _, k := range FilterKeys {
		if vs, set := k.format(&f); set {
			for _, v := range vs {
				w = append(w, k.Audit+v)
			}
		}
	}
	return strings.Join(w, " ")
}

// formatTime writes a time for the canonical filter text: RFC 3339 in UTC, with
// fractions of a second only when there are some.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func quoteValue(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\r\"\\'`") || !isPrint(s) {
		return strconv.Quote(s)
	}
	return s
}

func isPrint(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ParseFilter reads the canonical text written by Filter.String (the words may
// come in any order; each at most once, but for the words of a key of
// several values).
func ParseFilter(s string) (Filter, error) {
	var f Filter
	seen := map[string]bool{}
	rest := strings.TrimSpace(s)
	for rest != "" {
		// key: up to '=', '<' or '>'
		i := strings.IndexAny(rest, "=<> \t")
		var key, op string
		if i < 0 || rest[i] == ' ' || rest[i] == '\t' {
			if i < 0 {
				key, rest = rest, ""
			} else {
				key, rest = rest[:i], rest[i:]
			}
			k := auditKey(key)
			all, bare := Field[bool](nil), false
			if k != nil {
				all, bare = k.Field.(Field[bool])
			}
			if !bare {
				return Filter{}, fmt.Errorf("invalid filter word %q: want %s", key, filterWords())
			}
			if seen[key] {
				return Filter{}, fmt.Errorf("invalid filter: %q given twice", key)
			}
			seen[key] = true
			*all(&f) = true
			rest = strings.TrimLeft(rest, " \t")
			continue
		}
		key, op, rest = rest[:i], rest[i:i+1], rest[i+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return Filter{}, fmt.Errorf("invalid filter: unterminated quoted value after %s%s", key, op)
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
			if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				return Filter{}, fmt.Errorf("invalid filter: want a space after the quoted value of %s", key)
			}
		} else {
			j := strings.IndexAny(rest, " \t")
			if j < 0 {
				j = len(rest)
			}
			val, rest = rest[:j], rest[j:]
		}
		rest = strings.TrimLeft(rest, " \t")
		word := key + op
		k := auditKey(word)
		if k == nil {
			return Filter{}, fmt.Errorf("invalid filter word %q: want %s", word+val, filterWords())
		}
		// A key of several values has a word for each.
		if _, several := k.Field.(Field[[]string]); seen[word] && !several {
			return Filter{}, fmt.Errorf("invalid filter: %q given twice", word)
		}
		seen[word] = true
		if err := k.parseAudit(&f, val); err != nil {
			return Filter{}, err
		}
	}
	return f, nil
}

// auditKey returns the key whose audit word (with its operator) is word.
func auditKey(word string) *FilterKey {
	for _, k := range FilterKeys {
		if k.Audit == word {
			return k
		}
	}
	return nil
}

// timeForms is named by every time parse error.
const timeForms = "want RFC 3339 (2024-05-01T10:00:00Z), a date (2024-05-01, midnight UTC), now, or a time relative to now such as +2h, -3d or 90m (units s, m, h, d, w)"

// ParseTime reads a time as users type it: RFC 3339, a date alone (midnight UTC),
// or relative to now: "now", "+2h", "-3d", "90m" (= now+90m). Units s, m, h, d, w;
// several may follow each other ("+1h30m"). RFC 3339 without a zone is UTC. The
// error names the accepted forms.
func ParseTime(s string, now time.Time) (time.Time, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return time.Time{}, fmt.Errorf("missing time: %s", timeForms)
	}
	if strings.EqualFold(in, "now") {
		return now, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, in); err == nil {
			if strings.HasPrefix(layout, "2006") {
				return t.UTC(), nil
			}
			return t, nil
		}
	}
	if d, err := ParseDuration(in); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: %s", s, timeForms)
}

// ParseDuration reads a signed duration as users type it: an optional sign and
// one or more integer-unit pairs with units s, m, h, d (24h) and w (7d):
// "90m", "+2h", "-3d", "1h30m".
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	bad := fmt.Errorf("invalid duration %q: want a number and a unit (s, m, h, d, w), such as 90m, +2h or -3d", s)
	neg := false
	if in != "" && (in[0] == '+' || in[0] == '-') {
		neg = in[0] == '-'
		in = in[1:]
	}
	if in == "" {
		return 0, bad
	}
	var total float64
	for in != "" {
		i := 0
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == 0 || i == len(in) || i > 12 {
			return 0, bad
		}
		n, _ := strconv.ParseInt(in[:i], 10, 64)
		var unit time.Duration
		switch in[i] {
		case 's', 'S':
			unit = time.Second
		case 'm', 'M':
			unit = time.Minute
		case 'h', 'H':
			unit = time.Hour
		case 'd', 'D':
			unit = 24 * time.Hour
		case 'w', 'W':
			unit = 7 * 24 * time.Hour
		default:
			return 0, bad
		}
		total += float64(n) * float64(unit)
		in = in[i+1:]
	}
	// Beyond about 290 years a time.Duration overflows; no queue needs that.
	if total > float64(100*365*24*time.Hour) {
		return 0, fmt.Errorf("invalid duration %q: longer than 100 years", s)
	}
	d := time.Duration(math.Round(total))
	if neg {
		d = -d
	}
	return d, nil
}
