package queue

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMatchAgreesWithSQL holds Filter.Match (the semantics on a message in
// memory) and the SQLite engine's compiled SQL to the same selection, for
// every filter key, over the demo queue and a few messages with odd cases.
func TestMatchAgreesWithSQL(t *testing.T) {
	ctx := context.Background()
	q, _ := openTest(t)
	if _, err := q.LoadDemo(ctx, 400, 7); err != nil {
		t.Fatal(err)
	}
	all, err := q.List(ctx, Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	next := all[len(all)-1].ID + 1
	odd := []Message{
		msg(next, "Bill.Smith@Example.NET", testNow.Add(-90*time.Minute), "Ann@Example.ORG", "bob@example.org"),
		msg(next+1, "odd[x]@brackets.example", testNow.Add(-3*time.Hour), "x[1]@brackets.example"),
		msg(next+2, "", testNow.Add(-30*time.Second), "JÖRG@Bücher.example"),
		msg(next+3, "bill@sub.example.net", testNow.Add(-time.Hour), "carol@sub.example.net"),
		msg(next+4, "example.org@weird.example", testNow.Add(-time.Hour), "gmail.com@weird.example"),
	}
	odd[3].Domains[0].Status, odd[3].Domains[0].Recipients[0].Status = Completed, Completed
	put(t, q, odd...)
	if all, err = q.List(ctx, Filter{}, Page{}); err != nil {
		t.Fatal(err)
	}

	// Values drawn from the queue itself, so that every filter selects some.
	var sender, rcpt, dom string
	var status = map[Status]int{}
	for _, m := range all {
		if sender == "" && m.ReturnPath != "" && m.ID%7 == 3 {
			sender = m.ReturnPath
		}
		for _, d := range m.Domains {
			if rcpt == "" && len(d.Recipients) > 1 {
				rcpt, dom = d.Recipients[1].Address, d.Name
			}
			for _, r := range d.Recipients {
				status[r.Status]++
			}
		}
	}
	if sender == "" || rcpt == "" || len(status) < 3 {
		t.Fatalf("the demo queue lacks variety: sender %q, rcpt %q, statuses %v", sender, rcpt, status)
	}
	local, sdom, _ := strings.Cut(sender, "@")
	mid := all[len(all)/2]
	due := mid.Due()
	if due.IsZero() {
		due = testNow
	}
	half := 500 * time.Millisecond
	sizes := []int64{}
	for _, m := range all {
		sizes = append(sizes, m.Size)
	}
	slices.Sort(sizes)
	size := sizes[len(sizes)/2]

	filters := []Filter{
		{},
		{IDs: []ID{all[0].ID, all[5].ID, mid.ID, next + 2, 1 << 62}},
		{IDs: []ID{1<<63 + 5}},
		{Sender: []string{sender}},
		{Sender: []string{strings.ToUpper(sender)}},
		{Sender: []string{"<" + sender + ">"}},
		{Sender: []string{"@" + sdom}},
		{Sender: []string{sdom}},
		{Sender: []string{strings.ToUpper(sdom)}},
		{Sender: []string{local[:2] + "*"}},
		{Sender: []string{"*@" + sdom[:3] + "*"}},
		{Sender: []string{"*." + sdom[strings.LastIndexByte(sdom, '.')+1:]}},
		{Sender: []string{"?" + sender[1:]}},
		{Sender: []string{"<>"}},
		{Sender: []string{"bill*"}},
		{Sender: []string{"*example.net"}},
		{Sender: []string{"odd[x]@brackets.example"}},
		{Sender: []string{"odd[*"}},
		{Sender: []string{"@*.example.net"}},
		{Sender: []string{"nobody@nowhere.example"}},
		{Recipient: []string{rcpt}},
		{Recipient: []string{strings.ToUpper(rcpt)}},
		{Recipient: []string{"@" + dom}},
		{Recipient: []string{dom}},
		{Recipient: []string{"*@" + dom}},
		{Recipient: []string{"ann@example.org"}},
		{Recipient: []string{"jörg@bücher.example"}},
		{Recipient: []string{"bücher.example"}},
		{Recipient: []string{"x[1]*"}},
		{Recipient: []string{"*[*"}},
		{Recipient: []string{"?ob@*"}},
		{Recipient: []string{"*.example"}},
		{Domain: []string{dom}},
		{Domain: []string{strings.ToUpper(dom)}},
		{Domain: []string{"@" + dom}},
		{Domain: []string{"example.org"}},
		{Domain: []string{"Bücher.Example"}},
		{Domain: []string{"no-such.example"}},
		{DueBefore: due},
		{DueBefore: due.Add(half)},
		{DueAfter: due},
		{DueAfter: due.Add(-half)},
		{DueAfter: testNow.Add(-24 * time.Hour), DueBefore: testNow.Add(24 * time.Hour)},
		{DueBefore: testNow.Add(-100 * 24 * time.Hour)},
		{CreatedBefore: mid.Created},
		{CreatedBefore: mid.Created.Add(half)},
		{CreatedAfter: mid.Created},
		{CreatedAfter: mid.Created.Add(-half), CreatedBefore: mid.Created.Add(time.Hour)},
		{Status: []Status{Scheduled}},
		{Status: []Status{TempFail}},
		{Status: []Status{PermFail, Completed}},
		{Status: []Status{Completed}},
		{Sender: []string{"<>"}, Status: []Status{Scheduled, TempFail}},
		{Domain: []string{dom}, Status: []Status{TempFail, Scheduled}, DueBefore: testNow.Add(30 * 24 * time.Hour)},
		{Recipient: []string{"@" + dom}, Sender: []string{"@" + sdom}},
		{Recipient: []string{"@" + dom}, Domain: []string{dom}},
		{Recipient: []string{rcpt}, Domain: []string{dom}},
		{Recipient: []string{"ann@example.org"}, Domain: []string{"example.org"}, Sender: []string{"bill*"}},
		{Sender: []string{"*"}, CreatedAfter: testNow.Add(-2 * time.Hour)},
		{IDs: []ID{all[1].ID, all[2].ID, all[3].ID}, Status: []Status{Scheduled}, Recipient: []string{"*"}},
		{Sender: []string{local}},
		{Sender: []string{strings.ToUpper(local)}},
		{Sender: []string{"example.org"}}, // a local part and a domain
		{Recipient: []string{"gmail.com"}},
		{Recipient: []string{"bob"}},
		{Sender: []string{sender, "<>"}},
		{Sender: []string{"@" + sdom, "bill*"}, Recipient: []string{"@" + dom, "*.example"}},
		{Domain: []string{dom, "example.org"}},
		{Larger: size},
		{Smaller: size},
		{Larger: size - 200, Smaller: size + 200},
		{Larger: size - 1, Sender: []string{"@" + sdom}},
	}
	none := []string{`ids=4611686018427387904`, `ids=8000000000000005`, "sender=nobody@nowhere.example", "domain=no-such.example", "due<2024-01-22T12:00:00Z"}
	for _, f := range filters {
		want := listAll(t, q, f, 97)
		got := []ID{}
		mt, err := f.Matcher()
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		for i := range all {
			if mt.Match(&all[i]) {
				got = append(got, all[i].ID)
			}
			if f.Match(&all[i]) != mt.Match(&all[i]) {
				t.Fatalf("%v: Filter.Match and Matcher.Match disagree on %s", f, all[i].ID)
			}
		}
		if len(want) == 0 && !slices.Contains(none, f.String()) {
			t.Errorf("filter %q selects nothing: the test does not test it", f.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("filter %q: Match selects %d messages, the SQL engine %d:\nmatch %v\nsql   %v", f.String(), len(got), len(want), got, want)
		}
	}
}

// TestMatchInvalidFilter: a filter every verb refuses matches nothing.
func TestMatchInvalidFilter(t *testing.T) {
	m := msg(1, "", testNow, "a@example.org")
	for _, f := range []Filter{{Sender: []string{"@"}}, {Recipient: []string{"<>"}}, {Domain: []string{"@"}}} {
		if _, err := f.Matcher(); err == nil {
			t.Errorf("%v: Matcher accepted an invalid filter", f)
		}
		if f.Match(&m) {
			t.Errorf("%v: an invalid filter matched", f)
		}
	}
}

func TestAddressPattern(t *testing.T) {
	for _, c := range []struct {
		pat, literal string
		match, miss  []string
	}{
		{"<Bill@Example.NET>", "bill@example.net", []string{"bill@example.net", "BILL@example.NET"}, []string{"bill@example.org", "xbill@example.net"}},
		{"Example.ORG", "", []string{"ann@example.org", "Example.Org@elsewhere.example"}, []string{"ann@sub.example.org", "example.org", "example.orgx@b.example"}},
		{"jennifer.kowalski", "", []string{"Jennifer.Kowalski@example.com", "jennifer.kowalski@x"}, []string{"jennifer@kowalski", "jennifer.kowalski2@x", "x@jennifer.kowalski.example"}},
		{"@example.org", "@example.org", []string{"ANN@EXAMPLE.ORG"}, []string{"ann@example.net"}},
		{"a[1]*", "", []string{"a[1]@x.example", "A[1]b@x"}, []string{"a1@x.example", "b[1]@x"}},
		{"*.example", "", []string{"a@b.example"}, []string{"a@b.example.org"}},
		{"?ob@*", "", []string{"bob@x", "rob@y"}, []string{"ob@x", "boob@x"}},
	} {
		p, err := ParseAddressPattern(c.pat, false)
		if err != nil {
			t.Fatalf("%q: %v", c.pat, err)
		}
		if p.Literal() != c.literal {
			t.Errorf("%q: literal %q, want %q", c.pat, p.Literal(), c.literal)
		}
		for _, a := range c.match {
			if !p.Match(a) {
				t.Errorf("%q does not match %q", c.pat, a)
			}
		}
		for _, a := range c.miss {
			if p.Match(a) {
				t.Errorf("%q matches %q", c.pat, a)
			}
		}
	}
	if _, err := ParseAddressPattern("<>", false); err == nil {
		t.Error("<> accepted as a recipient")
	}
	if p, err := ParseAddressPattern("<>", true); err != nil || !p.Match("") || p.Match("a@b") || p.Literal() != "" {
		t.Errorf("<> as a sender: %v", err)
	}
}
