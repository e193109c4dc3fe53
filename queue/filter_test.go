package queue

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

var t0 = testNow.Add(-10 * time.Hour)

// The filter fixture: five messages whose dues, states and addresses exercise
// every matching rule.
const (
	m1 ID = 0x1A1 // bill@Example.NET -> alice@gmail.com; due T0+1h
	m2 ID = 0x2B2 // <> -> bill@example.net (tempfail); due T0+5h
	m3 ID = 0x3C3 // Bob@Corp.example -> carol@GMAIL.com (delivered), dave@outlook.com; due T0+3h
	m4 ID = 0x4D4 // bill@example.net -> erin@sub.example.org (permfail); nothing pending
	m5 ID = 0x5E5 // billing@shop.test -> alice@gmail.com, frank@example.org (tempfail), zed[1]@x.test; due T0+2h
)

func filterFixture(t testing.TB) *Queue {
	q, _ := openTest(t)
	h := time.Hour
	a := msg(m1, "bill@Example.NET", t0, "alice@gmail.com")
	a.Domains[0].Due = t0.Add(h)

	b := msg(m2, "", t0.Add(h), "bill@example.net")
	b.Domains[0].Status, b.Domains[0].Details, b.Domains[0].Due, b.Domains[0].RetryNum = TempFail, "Unexpected response from 'mx.example.net'", t0.Add(5*h), 2
	b.Domains[0].Recipients[0] = Recipient{Address: "bill@example.net", Status: TempFail, Code: 451, Enhanced: "4.3.0", Message: "Temporary server error."}

	c := msg(m3, "Bob@Corp.example", t0.Add(2*h), "carol@GMAIL.com", "dave@outlook.com")
	c.Domains[0].Status, c.Domains[0].Due = Completed, t0.Add(2*h)
	c.Domains[0].Recipients[0].Status, c.Domains[0].Recipients[0].Code, c.Domains[0].Recipients[0].Enhanced, c.Domains[0].Recipients[0].Message = Completed, 250, "2.0.0", "OK"
	c.Domains[1].Due = t0.Add(3 * h)

	d := msg(m4, "bill@example.net", t0.Add(3*h), "erin@sub.example.org")
	d.Domains[0].Status, d.Domains[0].Details = PermFail, "Unexpected response from 'mx.sub.example.org'"
	d.Domains[0].Recipients[0] = Recipient{Address: "erin@sub.example.org", Status: PermFail, Code: 550, Enhanced: "5.1.1", Message: "User unknown"}

	e := msg(m5, "billing@shop.test", t0.Add(4*h), "alice@gmail.com", "frank@example.org", "zed[1]@x.test")
	e.Domains[0].Due = t0.Add(6 * h)
	e.Domains[1].Status, e.Domains[1].Due = TempFail, t0.Add(2*h)
	e.Domains[1].Recipients[0] = Recipient{Address: "frank@example.org", Status: TempFail, Code: 421, Enhanced: "4.7.0", Message: "Rate limited"}
	e.Domains[2].Due = t0.Add(8 * h)

	put(t, q, a, b, c, d, e)
	return q
}

type filterCase struct {
	name string
	f    Filter
	want []ID
}

func filterCases() []filterCase {
	h := time.Hour
	return []filterCase{
		{"empty", Filter{}, []ID{m1, m2, m3, m4, m5}},
		{"sender exact, any case", Filter{Sender: []string{"BILL@example.net"}}, []ID{m1, m4}},
		{"sender in angle brackets", Filter{Sender: []string{"<bill@example.net>"}}, []ID{m1, m4}},
		{"sender @domain", Filter{Sender: []string{"@example.net"}}, []ID{m1, m4}},
		{"sender domain without @", Filter{Sender: []string{"EXAMPLE.NET"}}, []ID{m1, m4}},
		{"sender bounces", Filter{Sender: []string{"<>"}}, []ID{m2}},
		{"sender glob prefix", Filter{Sender: []string{"bill*"}}, []ID{m1, m4, m5}},
		{"sender glob address", Filter{Sender: []string{"*@corp.example"}}, []ID{m3}},
		{"sender glob ?", Filter{Sender: []string{"b?b@corp.example"}}, []ID{m3}},
		{"sender glob on domain", Filter{Sender: []string{"example.*"}}, []ID{m1, m4}},
		{"sender glob @domain", Filter{Sender: []string{"@*.test"}}, []ID{m5}},
		{"sender unknown", Filter{Sender: []string{"nobody@example.net"}}, []ID{}},
		{"recipient exact, any case", Filter{Recipient: []string{"ALICE@gmail.com"}}, []ID{m1, m5}},
		{"recipient stored in upper case", Filter{Recipient: []string{"carol@gmail.com"}}, []ID{m3}},
		{"recipient @domain", Filter{Recipient: []string{"@gmail.com"}}, []ID{m1, m3, m5}},
		{"recipient domain without @", Filter{Recipient: []string{"Gmail.Com"}}, []ID{m1, m3, m5}},
		{"recipient domain is exact", Filter{Recipient: []string{"example.org"}}, []ID{m5}},
		{"recipient glob domain", Filter{Recipient: []string{"*@*.example.org"}}, []ID{m4}},
		{"recipient glob prefix", Filter{Recipient: []string{"a*"}}, []ID{m1, m5}},
		{"recipient literal bracket", Filter{Recipient: []string{"zed[1]@x.test"}}, []ID{m5}},
		{"recipient glob with bracket", Filter{Recipient: []string{"zed[1]*"}}, []ID{m5}},
		{"domain exact, any case", Filter{Domain: []string{"GMAIL.com"}}, []ID{m1, m3, m5}},
		{"domain with @", Filter{Domain: []string{"@outlook.com"}}, []ID{m3}},
		{"domain is not a suffix", Filter{Domain: []string{"example.org"}}, []ID{m5}},
		{"domain and sender", Filter{Domain: []string{"gmail.com"}, Sender: []string{"bill@example.net"}}, []ID{m1}},
		{"domain and recipient domain", Filter{Domain: []string{"gmail.com"}, Recipient: []string{"@example.org"}}, []ID{m5}},
		{"recipient and sender", Filter{Recipient: []string{"alice@gmail.com"}, Sender: []string{"@shop.test"}}, []ID{m5}},
		{"due before (exclusive)", Filter{DueBefore: t0.Add(3 * h)}, []ID{m1, m5}},
		{"due after (exclusive)", Filter{DueAfter: t0.Add(3 * h)}, []ID{m2}},
		{"due between", Filter{DueAfter: t0.Add(90 * time.Minute), DueBefore: t0.Add(6 * h)}, []ID{m2, m3, m5}},
		{"due far past matches nothing pending-less", Filter{DueAfter: t0.Add(-100 * h)}, []ID{m1, m2, m3, m5}},
		{"due before with fraction", Filter{DueBefore: t0.Add(h + 500*time.Millisecond)}, []ID{m1}},
		{"created before", Filter{CreatedBefore: t0.Add(2 * h)}, []ID{m1, m2}},
		{"created after", Filter{CreatedAfter: t0.Add(2 * h)}, []ID{m4, m5}},
		{"created and due", Filter{CreatedAfter: t0.Add(30 * time.Minute), DueBefore: t0.Add(4 * h)}, []ID{m3, m5}},
		{"status tempfail", Filter{Status: []Status{TempFail}}, []ID{m2, m5}},
		{"status delivered", Filter{Status: []Status{Completed}}, []ID{m3}},
		{"status permfail", Filter{Status: []Status{PermFail}}, []ID{m4}},
		{"status scheduled", Filter{Status: []Status{Scheduled}}, []ID{m1, m3, m5}},
		{"status any of two", Filter{Status: []Status{Completed, PermFail}}, []ID{m3, m4}},
		{"ids", Filter{IDs: []ID{m3, m1, 0x999}}, []ID{m1, m3}},
		{"ids beyond range", Filter{IDs: []ID{1 << 63}}, []ID{}},
		{"ids and sender", Filter{IDs: []ID{m1, m2, m3}, Sender: []string{"bill@example.net"}}, []ID{m1}},
		{"sender bare word: a local part", Filter{Sender: []string{"BILL"}}, []ID{m1, m4}},
		{"recipient bare word: a local part", Filter{Recipient: []string{"alice"}}, []ID{m1, m5}},
		{"recipient bare word with a bracket", Filter{Recipient: []string{"zed[1]"}}, []ID{m5}},
		{"senders: either", Filter{Sender: []string{"bill@example.net", "<>"}}, []ID{m1, m2, m4}},
		{"senders: exact or glob", Filter{Sender: []string{"bob@corp.example", "billing*"}}, []ID{m3, m5}},
		{"senders: two domains", Filter{Sender: []string{"@corp.example", "shop.test"}}, []ID{m3, m5}},
		{"recipients: either", Filter{Recipient: []string{"dave@outlook.com", "erin@sub.example.org"}}, []ID{m3, m4}},
		{"recipients: domain or address", Filter{Recipient: []string{"@example.net", "frank@example.org"}}, []ID{m2, m5}},
		{"domains: either", Filter{Domain: []string{"outlook.com", "x.test"}}, []ID{m3, m5}},
		{"either sender, and a domain", Filter{Sender: []string{"bill@example.net", "<>"}, Domain: []string{"gmail.com"}}, []ID{m1}},
		{"everything at once", Filter{Sender: []string{"@shop.test"}, Recipient: []string{"alice@gmail.com"}, Domain: []string{"x.test"}, DueBefore: t0.Add(3 * h), CreatedAfter: t0, Status: []Status{TempFail}}, []ID{m5}},
	}
}

func TestFilterRules(t *testing.T) {
	q := filterFixture(t)
	for _, pl := range []struct {
		name  string
		limit int
	}{{"index-driven ranges", 4000}, {"id walk", 0}} {
		probeLimit = pl.limit
		for _, c := range filterCases() {
			t.Run(pl.name+"/"+c.name, func(t *testing.T) {
				for _, page := range []int{1, 2, 100} {
					if got := listAll(t, q, c.f, page); !slices.Equal(got, c.want) {
						t.Errorf("list (pages of %d) = %v, want %v", page, got, c.want)
					}
				}
				if n := mustCount(t, q, c.f); n != len(c.want) {
					t.Errorf("count = %d, want %d", n, len(c.want))
				}
				var each []ID
				err := q.View(t.Context(), func(tx *Tx) error {
					return tx.Each(c.f, func(m *Message) error { each = append(each, m.ID); return nil })
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(append([]ID{}, each...), c.want) {
					t.Errorf("each = %v, want %v", each, c.want)
				}
				// The same selection drives the bulk verbs; a recipient or
				// domain in it scopes them to messages with such a
				// recipient still pending.
				if !c.f.IsEmpty() {
					res, err := q.Cancel(t.Context(), CancelRequest{Filter: c.f, DryRun: true})
					if err != nil {
						t.Fatal(err)
					}
					want := []ID{}
					in, whole, _, _ := c.f.ScopeOf()
					for _, id := range c.want {
						m := mustGet(t, q, id)
						if whole || slices.ContainsFunc(m.Domains, func(d Domain) bool {
							return slices.ContainsFunc(d.Recipients, func(r Recipient) bool { return r.Status.Pending() && in(d.Name, r) })
						}) {
							want = append(want, id)
						}
					}
					if !slices.Equal(append([]ID{}, res.IDs...), want) {
						t.Errorf("cancel dry run ids = %v, want %v", res.IDs, want)
					}
				}
			})
		}
	}
	probeLimit = 4000
}

func TestFilterErrors(t *testing.T) {
	q := filterFixture(t)
	for _, f := range []Filter{{Recipient: []string{"<>"}}, {Recipient: []string{"@"}}, {Domain: []string{"@"}}, {Sender: []string{"<  >"}}} {
		if _, err := q.List(t.Context(), f, Page{}); err == nil {
			t.Errorf("list %+v: no error", f)
		}
		if _, err := q.Count(t.Context(), f); err == nil {
			t.Errorf("count %+v: no error", f)
		}
	}
}

func TestFilterStringRoundTrip(t *testing.T) {
	ts := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		f    Filter
		text string
	}{
		{Filter{}, ""},
		{Filter{All: true}, "all"},
		{Filter{Sender: []string{"bill@example.net"}, Domain: []string{"example.org"}, DueBefore: ts}, "sender=bill@example.net domain=example.org due<2024-05-01T00:00:00Z"},
		{Filter{IDs: []ID{0x52B91F716, 0x2B91F716}, Sender: []string{"<>"}}, "ids=52B91F716,2B91F716 sender=<>"},
		{Filter{Recipient: []string{"a b@c"}, Status: []Status{TempFail, PermFail}}, `rcpt="a b@c" status=tempfail,permfail`},
		{Filter{DueAfter: ts, DueBefore: ts.Add(time.Hour), CreatedAfter: ts.Add(-time.Hour), CreatedBefore: ts.Add(1500 * time.Millisecond), All: true},
			"due>2024-05-01T00:00:00Z due<2024-05-01T01:00:00Z created>2024-04-30T23:00:00Z created<2024-05-01T00:00:01.5Z all"},
		{Filter{Sender: []string{`q"uote`}}, `sender="q\"uote"`},
		{Filter{Sender: []string{"a@x", "b@y"}, Recipient: []string{"@gmail.com", "*@gmx.de"}}, "sender=a@x sender=b@y rcpt=@gmail.com rcpt=*@gmx.de"},
	}
	for _, c := range cases {
		if got := c.f.String(); got != c.text {
			t.Errorf("String() = %q, want %q", got, c.text)
		}
		back, err := ParseFilter(c.text)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", c.text, err)
			continue
		}
		if back.String() != c.text || !filterEqual(back, c.f) {
			t.Errorf("ParseFilter(%q) = %+v, want %+v", c.text, back, c.f)
		}
	}
	for _, bad := range []string{"sender", "bogus=1", "due<yesterday", "ids=xyz", "status=lost", "status=tempfail status=permfail", `rcpt="open`, "all all", "ids=", `sender=""`} {
		if _, err := ParseFilter(bad); err == nil {
			t.Errorf("ParseFilter(%q): no error", bad)
		}
	}
}

func filterEqual(a, b Filter) bool {
	eqT := func(x, y time.Time) bool { return x.Equal(y) }
	return reflect.DeepEqual(a.IDs, b.IDs) && slices.Equal(a.Sender, b.Sender) && slices.Equal(a.Recipient, b.Recipient) && slices.Equal(a.Domain, b.Domain) &&
		eqT(a.DueBefore, b.DueBefore) && eqT(a.DueAfter, b.DueAfter) && eqT(a.CreatedBefore, b.CreatedBefore) &&
		eqT(a.CreatedAfter, b.CreatedAfter) && slices.Equal(a.Status, b.Status) && a.All == b.All
}

func TestParseTime(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
	}{
		{"2024-05-01T10:00:00Z", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2024-05-01T12:00:00+02:00", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
		{"2024-05-01T08:15:00", time.Date(2024, 5, 1, 8, 15, 0, 0, time.UTC)},
		{"now", now},
		{"NOW", now},
		{"+2h", now.Add(2 * time.Hour)},
		{"-3d", now.Add(-72 * time.Hour)},
		{"90m", now.Add(90 * time.Minute)},
		{"30s", now.Add(30 * time.Second)},
		{"1w", now.Add(7 * 24 * time.Hour)},
		{"+1h30m", now.Add(90 * time.Minute)},
		{" -1d ", now.Add(-24 * time.Hour)},
		{"2020-01-01", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, // the past is a time like any other
	}
	for _, c := range cases {
		got, err := ParseTime(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "2h3", "+", "h", "5y", "2024-13-01", "12:00", "99999999999999h", "1.5h"} {
		_, err := ParseTime(bad, now)
		if err == nil {
			t.Errorf("ParseTime(%q): no error", bad)
			continue
		}
		if !strings.Contains(err.Error(), "RFC 3339") || !strings.Contains(err.Error(), "+2h") {
			t.Errorf("ParseTime(%q) error does not name the forms: %v", bad, err)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "+2h", "-3d", "90m", "1w", "2024-05-01", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.5+02:00", "+1h30m", "", "x", "-", "9999999999w",
		"NaN", "+Inf", "-inf", "1e300", "292277026304-01-01", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "+999999999999h", "now\x00"} {
		f.Add(s)
	}
	now := time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now)
		if err != nil {
			if !strings.Contains(err.Error(), "RFC 3339") {
				t.Fatalf("error does not name the accepted forms: %v", err)
			}
			return
		}
		// Whatever parses can be written canonically and read back.
		again, err := ParseTime(got.Format(time.RFC3339Nano), now)
		if err != nil || !again.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v, which does not read back: %v, %v", s, got, again, err)
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "all", "sender=bill@example.net domain=example.org due<2024-05-01T00:00:00Z",
		"ids=52B91F716,2B91F716 sender=<>", `rcpt="a b@c" status=tempfail,permfail`, "created>2024-04-30T23:00:00Z created<2024-05-01T00:00:01.5Z all",
		`sender="q\"uote"`, "due>x", "status=", "==", `rcpt="\x00"`,
		// From the fault campaign: a NUL that widened a selection, times
		// out of range.
		`sender="*\x00@nobody.invalid"`, `domain="gmail.com\x00"`, `rcpt="a\tb@c.d"`, "due<0001-01-01T00:00:01Z", "created>1969-12-31T23:59:59Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		// What the engine accepts holds no control character and no time
		// outside 1970..9999.
		if flt.Validate() == nil {
			for _, v := range slices.Concat(flt.Sender, flt.Recipient, flt.Domain, flt.Subject, flt.MessageID, flt.Header, flt.ClientIP, flt.User) {
				if strings.IndexFunc(strings.TrimSpace(v), unicode.IsControl) >= 0 {
					t.Fatalf("ParseFilter(%q): %q passes Validate", s, v)
				}
			}
			for _, b := range []time.Time{flt.DueBefore, flt.DueAfter, flt.CreatedBefore, flt.CreatedAfter} {
				if !b.IsZero() && (b.Year() < 1970 || b.Year() > 9999) {
					t.Fatalf("ParseFilter(%q): time %v passes Validate", s, b)
				}
			}
		}
		text := flt.String()
		back, err := ParseFilter(text)
		if err != nil {
			t.Fatalf("ParseFilter(%q) = %+v, whose text %q does not parse: %v", s, flt, text, err)
		}
		if !filterEqual(back, flt) || back.String() != text {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v", s, flt, text, back)
		}
	})
}

func TestAddrPattern(t *testing.T) {
	cases := []struct {
		in     string
		sender bool
		want   addrPattern
	}{
		{"Bill@Example.NET", true, addrPattern{kind: addrExact, value: "bill@example.net"}},
		{"<>", true, addrPattern{kind: addrBounce}},
		{"@example.org", false, addrPattern{kind: addrDomain, value: "example.org"}},
		{"example.org", false, addrPattern{kind: addrBare, value: "example.org"}},
		{"Jennifer.Kowalski", true, addrPattern{kind: addrBare, value: "jennifer.kowalski"}},
		{"*@x.org", false, addrPattern{kind: addrGlob, value: "*@x.org"}},
		{"b*", false, addrPattern{kind: addrGlob, value: "b*", alt: "*@b*"}},
		{"@[x]*", false, addrPattern{kind: addrGlob, value: "*@[[]x]*"}},
	}
	for _, c := range cases {
		got, err := parseAddrPattern(c.in, c.sender)
		if err != nil || got != c.want {
			t.Errorf("parseAddrPattern(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if _, err := parseAddrPattern("<>", false); err == nil {
		t.Error("recipient <> accepted")
	}
	if _, err := parseAddrPattern("", true); err == nil || errors.Is(err, ErrNotFound) {
		t.Error("empty pattern accepted")
	}
}

// TestBareWord: a sender or recipient without '@' is a local part or a
// domain; a word that could be both (it has a dot) finds both.
func TestBareWord(t *testing.T) {
	q, _ := openTest(t)
	a := msg(0x10, "Jennifer.Kowalski@corp.example", testNow, "ann@example.org")
	b := msg(0x20, "example.org@weird.example", testNow, "example.org@list.example")
	c := msg(0x30, "ann@example.org", testNow, "jennifer.kowalski@gmail.com")
	d := msg(0x40, "jennifer.kowalski2@corp.example", testNow, "x@jennifer.kowalski.example")
	put(t, q, a, b, c, d)
	for _, tc := range []struct {
		f    Filter
		want []ID
	}{
		{Filter{Sender: []string{"jennifer.kowalski"}}, []ID{0x10}},
		{Filter{Recipient: []string{"Jennifer.Kowalski"}}, []ID{0x30}},
		{Filter{Sender: []string{"example.org"}}, []ID{0x20, 0x30}},
		{Filter{Recipient: []string{"example.org"}}, []ID{0x10, 0x20}},
		{Filter{Domain: []string{"example.org"}}, []ID{0x10}}, // a domain filter stays a domain
	} {
		if got := listAll(t, q, tc.f, 1); !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.f, got, tc.want)
		}
	}
	// cancel -r WORD takes the recipients the word names, and only them.
	res, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{0x10, 0x20}, Recipient: []string{"example.org"}}})
	if err != nil || res.Count != 2 {
		t.Fatalf("cancel -r example.org: %+v, %v", res, err)
	}
}
