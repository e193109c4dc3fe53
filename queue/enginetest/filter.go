package enginetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// T0 is when the filter fixture's messages start.
var T0 = Now.Add(-10 * time.Hour)

// The filter fixture: five messages whose dues, states and addresses
// exercise every matching rule.
const (
	M1 queue.ID = 0x1A1 // bill@Example.NET -> alice@gmail.com; due T0+1h
	M2 queue.ID = 0x2B2 // <> -> bill@example.net (tempfail); due T0+5h
	M3 queue.ID = 0x3C3 // Bob@Corp.example -> carol@GMAIL.com (delivered), dave@outlook.com; due T0+3h
	M4 queue.ID = 0x4D4 // bill@example.net -> erin@sub.example.org (permfail); nothing pending
	M5 queue.ID = 0x5E5 // billing@shop.test -> alice@gmail.com, frank@example.org (tempfail), zed[1]@x.test; due T0+2h
)

// LoadFilterFixture imports the five messages of the filter fixture.
func LoadFilterFixture(t *testing.T, q queue.Backend) {
	t.Helper()
	h := time.Hour
	a := msg(M1, "bill@Example.NET", T0, "alice@gmail.com")
	a.Domains[0].Due = T0.Add(h)

	b := msg(M2, "", T0.Add(h), "bill@example.net")
	b.Domains[0].Status, b.Domains[0].Details, b.Domains[0].Due, b.Domains[0].RetryNum = queue.TempFail, "Unexpected response from 'mx.example.net'", T0.Add(5*h), 2
	b.Domains[0].Recipients[0] = queue.Recipient{Address: "bill@example.net", Status: queue.TempFail, Code: 451, Enhanced: "4.3.0", Message: "Temporary server error."}

	c := msg(M3, "Bob@Corp.example", T0.Add(2*h), "carol@GMAIL.com", "dave@outlook.com")
	c.Domains[0].Status, c.Domains[0].Due = queue.Completed, T0.Add(2*h)
	r := &c.Domains[0].Recipients[0]
	r.Status, r.Code, r.Enhanced, r.Message = queue.Completed, 250, "2.0.0", "OK"
	c.Domains[1].Due = T0.Add(3 * h)

	d := msg(M4, "bill@example.net", T0.Add(3*h), "erin@sub.example.org")
	d.Domains[0].Status, d.Domains[0].Details = queue.PermFail, "Unexpected response from 'mx.sub.example.org'"
	d.Domains[0].Recipients[0] = queue.Recipient{Address: "erin@sub.example.org", Status: queue.PermFail, Code: 550, Enhanced: "5.1.1", Message: "User unknown"}

	e := msg(M5, "billing@shop.test", T0.Add(4*h), "alice@gmail.com", "frank@example.org", "zed[1]@x.test")
	e.Domains[0].Due = T0.Add(6 * h)
	e.Domains[1].Status, e.Domains[1].Due = queue.TempFail, T0.Add(2*h)
	e.Domains[1].Recipients[0] = queue.Recipient{Address: "frank@example.org", Status: queue.TempFail, Code: 421, Enhanced: "4.7.0", Message: "Rate limited"}
	e.Domains[2].Due = T0.Add(8 * h)

	put(t, q, a, b, c, d, e)
}

// FilterCase is a filter and what it selects of the filter fixture.
type FilterCase struct {
	Name string
	F    queue.Filter
	Want []queue.ID
}

// FilterCases are the rules of the filter, on the filter fixture.
func FilterCases() []FilterCase {
	h := time.Hour
	S := func(s ...queue.Status) []queue.Status { return s }
	I := func(ids ...queue.ID) []queue.ID { return append([]queue.ID{}, ids...) }
	return []FilterCase{
		{"empty", queue.Filter{}, I(M1, M2, M3, M4, M5)},
		{"all", queue.Filter{All: true}, I(M1, M2, M3, M4, M5)},
		{"sender exact, any case", queue.Filter{Sender: []string{"BILL@example.net"}}, I(M1, M4)},
		{"sender in angle brackets", queue.Filter{Sender: []string{"<bill@example.net>"}}, I(M1, M4)},
		{"sender @domain", queue.Filter{Sender: []string{"@example.net"}}, I(M1, M4)},
		{"sender domain without @", queue.Filter{Sender: []string{"EXAMPLE.NET"}}, I(M1, M4)},
		{"sender bounces", queue.Filter{Sender: []string{"<>"}}, I(M2)},
		{"sender glob prefix", queue.Filter{Sender: []string{"bill*"}}, I(M1, M4, M5)},
		{"sender glob address", queue.Filter{Sender: []string{"*@corp.example"}}, I(M3)},
		{"sender glob ?", queue.Filter{Sender: []string{"b?b@corp.example"}}, I(M3)},
		{"sender glob on domain", queue.Filter{Sender: []string{"example.*"}}, I(M1, M4)},
		{"sender glob @domain", queue.Filter{Sender: []string{"@*.test"}}, I(M5)},
		{"sender glob, % and _ are literal", queue.Filter{Sender: []string{"bill_*"}}, I()},
		{"sender glob, % is literal", queue.Filter{Sender: []string{"%@example.net"}}, I()},
		{"sender unknown", queue.Filter{Sender: []string{"nobody@example.net"}}, I()},
		{"recipient exact, any case", queue.Filter{Recipient: []string{"ALICE@gmail.com"}}, I(M1, M5)},
		{"recipient stored in upper case", queue.Filter{Recipient: []string{"carol@gmail.com"}}, I(M3)},
		{"recipient @domain", queue.Filter{Recipient: []string{"@gmail.com"}}, I(M1, M3, M5)},
		{"recipient domain without @", queue.Filter{Recipient: []string{"Gmail.Com"}}, I(M1, M3, M5)},
		{"recipient domain is exact", queue.Filter{Recipient: []string{"example.org"}}, I(M5)},
		{"recipient glob domain", queue.Filter{Recipient: []string{"*@*.example.org"}}, I(M4)},
		{"recipient glob prefix", queue.Filter{Recipient: []string{"a*"}}, I(M1, M5)},
		{"recipient literal bracket", queue.Filter{Recipient: []string{"zed[1]@x.test"}}, I(M5)},
		{"recipient glob with bracket", queue.Filter{Recipient: []string{"zed[1]*"}}, I(M5)},
		{"recipient glob, bracket is no class", queue.Filter{Recipient: []string{"zed[0-9]*"}}, I()},
		{"domain exact, any case", queue.Filter{Domain: []string{"GMAIL.com"}}, I(M1, M3, M5)},
		{"domain with @", queue.Filter{Domain: []string{"@outlook.com"}}, I(M3)},
		{"domain is not a suffix", queue.Filter{Domain: []string{"example.org"}}, I(M5)},
		{"domain and sender", queue.Filter{Domain: []string{"gmail.com"}, Sender: []string{"bill@example.net"}}, I(M1)},
		{"domain and recipient domain", queue.Filter{Domain: []string{"gmail.com"}, Recipient: []string{"@example.org"}}, I(M5)},
		{"recipient and sender", queue.Filter{Recipient: []string{"alice@gmail.com"}, Sender: []string{"@shop.test"}}, I(M5)},
		{"due before (exclusive)", queue.Filter{DueBefore: T0.Add(3 * h)}, I(M1, M5)},
		{"due after (exclusive)", queue.Filter{DueAfter: T0.Add(3 * h)}, I(M2)},
		{"due between", queue.Filter{DueAfter: T0.Add(90 * time.Minute), DueBefore: T0.Add(6 * h)}, I(M2, M3, M5)},
		{"due far past matches nothing pending-less", queue.Filter{DueAfter: T0.Add(-100 * h)}, I(M1, M2, M3, M5)},
		{"due before with fraction", queue.Filter{DueBefore: T0.Add(h + 500*time.Millisecond)}, I(M1)},
		{"created before", queue.Filter{CreatedBefore: T0.Add(2 * h)}, I(M1, M2)},
		{"created after", queue.Filter{CreatedAfter: T0.Add(2 * h)}, I(M4, M5)},
		{"created and due", queue.Filter{CreatedAfter: T0.Add(30 * time.Minute), DueBefore: T0.Add(4 * h)}, I(M3, M5)},
		{"status tempfail", queue.Filter{Status: S(queue.TempFail)}, I(M2, M5)},
		{"status delivered", queue.Filter{Status: S(queue.Completed)}, I(M3)},
		{"status permfail", queue.Filter{Status: S(queue.PermFail)}, I(M4)},
		{"status scheduled", queue.Filter{Status: S(queue.Scheduled)}, I(M1, M3, M5)},
		{"status any of two", queue.Filter{Status: S(queue.Completed, queue.PermFail)}, I(M3, M4)},
		{"ids", queue.Filter{IDs: []queue.ID{M3, M1, 0x999}}, I(M1, M3)},
		{"ids beyond range", queue.Filter{IDs: []queue.ID{1 << 63}}, I()},
		{"ids and sender", queue.Filter{IDs: []queue.ID{M1, M2, M3}, Sender: []string{"bill@example.net"}}, I(M1)},
		{"sender bare word: a local part", queue.Filter{Sender: []string{"BILL"}}, I(M1, M4)},
		{"recipient bare word: a local part", queue.Filter{Recipient: []string{"alice"}}, I(M1, M5)},
		{"recipient bare word with a bracket", queue.Filter{Recipient: []string{"zed[1]"}}, I(M5)},
		{"senders: either", queue.Filter{Sender: []string{"bill@example.net", "<>"}}, I(M1, M2, M4)},
		{"senders: exact or glob", queue.Filter{Sender: []string{"bob@corp.example", "billing*"}}, I(M3, M5)},
		{"senders: two domains", queue.Filter{Sender: []string{"@corp.example", "shop.test"}}, I(M3, M5)},
		{"recipients: either", queue.Filter{Recipient: []string{"dave@outlook.com", "erin@sub.example.org"}}, I(M3, M4)},
		{"recipients: domain or address", queue.Filter{Recipient: []string{"@example.net", "frank@example.org"}}, I(M2, M5)},
		{"domains: either", queue.Filter{Domain: []string{"outlook.com", "x.test"}}, I(M3, M5)},
		{"either sender, and a domain", queue.Filter{Sender: []string{"bill@example.net", "<>"}, Domain: []string{"gmail.com"}}, I(M1)},
		{"larger", queue.Filter{Larger: 1}, I(M1, M2, M3, M4, M5)},
		{"held false: none is held", queue.Filter{Held: new(false)}, I(M1, M2, M3, M4, M5)},
		{"held true: none is held", queue.Filter{Held: new(true)}, I()},
		{"everything at once", queue.Filter{Sender: []string{"@shop.test"}, Recipient: []string{"alice@gmail.com"}, Domain: []string{"x.test"}, DueBefore: T0.Add(3 * h), CreatedAfter: T0, Status: S(queue.TempFail)}, I(M5)},
	}
}

// CheckFilterCase checks one case on a queue holding the filter fixture:
// List in pages of 1, 2 and 100, Count, Each, and the selection of a
// cancel's dry run.
func CheckFilterCase(t *testing.T, q queue.Backend, c FilterCase) {
	t.Helper()
	ctx := context.Background()
	for _, page := range []int{1, 2, 100} {
		if got := listAll(t, q, c.F, page); !slices.Equal(got, c.Want) {
			t.Errorf("list (pages of %d) = %v, want %v", page, got, c.Want)
		}
	}
	if n := mustCount(t, q, c.F); n != len(c.Want) {
		t.Errorf("count = %d, want %d", n, len(c.Want))
	}
	each := []queue.ID{}
	err := q.Run(ctx, queue.RunRead, func(tx queue.Txn) error {
		return tx.Each(c.F, func(m *queue.Message) error { each = append(each, m.ID); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(each, c.Want) {
		t.Errorf("each = %v, want %v", each, c.Want)
	}
	if !c.F.IsEmpty() || c.F.All {
		res, err := q.Cancel(ctx, queue.CancelRequest{Filter: c.F, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		// A recipient or domain in the filter scopes the cancel to the
		// messages with such a recipient still pending.
		want := []queue.ID{}
		in, whole, _, err := c.F.ScopeOf()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range c.Want {
			m := mustGet(t, q, id)
			if whole || slices.ContainsFunc(m.Domains, func(d queue.Domain) bool {
				return slices.ContainsFunc(d.Recipients, func(r queue.Recipient) bool { return r.Status.Pending() && in(d.Name, r) })
			}) {
				want = append(want, id)
			}
		}
		if !slices.Equal(append([]queue.ID{}, res.IDs...), want) || !res.DryRun {
			t.Errorf("cancel dry run ids = %v (dry run %v), want %v", res.IDs, res.DryRun, want)
		}
	}
}

func (s *suite) filterCases(t *testing.T) {
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	for _, c := range FilterCases() {
		t.Run(c.Name, func(t *testing.T) { CheckFilterCase(t, q, c) })
	}
}

func (s *suite) filterErrors(t *testing.T) {
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	ctx := context.Background()
	for _, f := range []queue.Filter{{Recipient: []string{"<>"}}, {Recipient: []string{"@"}}, {Domain: []string{"@"}}, {Sender: []string{"<  >"}}, {Sender: []string{"a\x00b"}},
		{DueBefore: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		want := f.Validate()
		if want == nil {
			t.Fatalf("%+v: Validate accepts it", f)
		}
		if _, err := q.List(ctx, f, queue.Page{}); err == nil || !strings.Contains(err.Error(), want.Error()) {
			t.Errorf("list %+v: %v, want an error saying %q", f, err, want)
		}
		if _, err := q.Count(ctx, f); err == nil || !strings.Contains(err.Error(), want.Error()) {
			t.Errorf("count %+v: %v, want an error saying %q", f, err, want)
		}
		if _, err := q.Summary(ctx, f, "domain"); err == nil {
			t.Errorf("summary %+v: no error", f)
		}
		if _, err := q.Retry(ctx, queue.RetryRequest{Filter: f}); err == nil {
			t.Errorf("retry %+v: no error", f)
		}
		if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: f}); err == nil {
			t.Errorf("cancel %+v: no error", f)
		}
	}
	if n := mustCount(t, q, queue.Filter{}); n != 5 {
		t.Errorf("bad filters left %d messages, want 5", n)
	}
}

// filterAgreesWithMatch holds the engine to Filter.Match, the semantics
// on a message in memory, for every filter key, over the demo queue and a
// few messages with odd cases.
func (s *suite) filterAgreesWithMatch(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	if _, err := q.LoadDemo(ctx, 400, 7); err != nil {
		t.Fatal(err)
	}
	all := snapshot(t, q)
	next := all[len(all)-1].ID + 1
	odd := []queue.Message{
		msg(next, "Bill.Smith@Example.NET", Now.Add(-90*time.Minute), "Ann@Example.ORG", "bob@example.org"),
		msg(next+1, "odd[x]@brackets.example", Now.Add(-3*time.Hour), "x[1]@brackets.example"),
		msg(next+2, "", Now.Add(-30*time.Second), "JÖRG@Bücher.example"),
		msg(next+3, "bill@sub.example.net", Now.Add(-time.Hour), "carol@sub.example.net"),
		msg(next+4, "under_score%@pct.example", Now.Add(-2*time.Hour), "a_b@pct.example", "a%b@pct.example", "back\\slash@pct.example"),
		msg(next+5, "example.org@weird.example", Now.Add(-time.Hour), "gmail.com@weird.example"),
	}
	odd[3].Domains[0].Status, odd[3].Domains[0].Recipients[0].Status = queue.Completed, queue.Completed
	put(t, q, odd...)
	all = snapshot(t, q)

	// Values drawn from the queue itself, so that every filter selects some.
	var sender, rcpt, dom string
	status := map[queue.Status]int{}
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
		due = Now
	}
	half := 500 * time.Millisecond
	sizes := []int64{}
	for _, m := range all {
		sizes = append(sizes, m.Size)
	}
	slices.Sort(sizes)
	size := sizes[len(sizes)/2]
	S := func(s ...queue.Status) []queue.Status { return s }
	filters := []queue.Filter{
		{},
		{IDs: []queue.ID{all[0].ID, all[5].ID, mid.ID, next + 2, 1 << 62}},
		{IDs: []queue.ID{1<<63 + 5}},
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
		{Sender: []string{"under_score%@*"}},
		{Sender: []string{"under?score?@pct.example"}},
		{Sender: []string{"nobody@nowhere.example"}},
		{Recipient: []string{rcpt}},
		{Recipient: []string{strings.ToUpper(rcpt)}},
		{Recipient: []string{"@" + dom}},
		{Recipient: []string{dom}},
		{Recipient: []string{"*@" + dom}},
		{Recipient: []string{"ann@example.org"}},
		{Recipient: []string{"jörg@bücher.example"}},
		{Recipient: []string{"bücher.example"}},
		{Recipient: []string{"j?rg@*"}},
		{Recipient: []string{"x[1]*"}},
		{Recipient: []string{"*[*"}},
		{Recipient: []string{"?ob@*"}},
		{Recipient: []string{"*.example"}},
		{Recipient: []string{"a_b*"}},
		{Recipient: []string{"a%b@pct.example"}},
		{Recipient: []string{"back\\*"}},
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
		{DueAfter: Now.Add(-24 * time.Hour), DueBefore: Now.Add(24 * time.Hour)},
		{DueBefore: Now.Add(-100 * 24 * time.Hour)},
		{CreatedBefore: mid.Created},
		{CreatedBefore: mid.Created.Add(half)},
		{CreatedAfter: mid.Created},
		{CreatedAfter: mid.Created.Add(-half), CreatedBefore: mid.Created.Add(time.Hour)},
		{Status: S(queue.Scheduled)},
		{Status: S(queue.TempFail)},
		{Status: S(queue.PermFail, queue.Completed)},
		{Status: S(queue.Completed)},
		{Sender: []string{"<>"}, Status: S(queue.Scheduled, queue.TempFail)},
		{Domain: []string{dom}, Status: S(queue.TempFail, queue.Scheduled), DueBefore: Now.Add(30 * 24 * time.Hour)},
		{Recipient: []string{"@" + dom}, Sender: []string{"@" + sdom}},
		{Recipient: []string{"@" + dom}, Domain: []string{dom}},
		{Recipient: []string{rcpt}, Domain: []string{dom}},
		{Recipient: []string{"ann@example.org"}, Domain: []string{"example.org"}, Sender: []string{"bill*"}},
		{Sender: []string{sender, "<>"}, Recipient: []string{rcpt, "@" + dom, "ann"}},
		{Domain: []string{dom, "example.org"}},
		{Larger: 2000, Smaller: 100000},
		{Sender: []string{"*"}, CreatedAfter: Now.Add(-2 * time.Hour)},
		{IDs: []queue.ID{all[1].ID, all[2].ID, all[3].ID}, Status: S(queue.Scheduled), Recipient: []string{"*"}},
		{Sender: []string{local}},
		{Sender: []string{strings.ToUpper(local)}},
		{Sender: []string{"example.org"}}, // a local part and a domain
		{Recipient: []string{"gmail.com"}},
		{Recipient: []string{"bob"}},
		{Sender: []string{sender, "<>"}},
		{Sender: []string{"@" + sdom, "bill*"}, Recipient: []string{"@" + dom, "*.example"}},
		{Larger: size},
		{Smaller: size},
		{Larger: size - 200, Smaller: size + 200},
		{Larger: size - 1, Sender: []string{"@" + sdom}},
	}
	none := []string{`ids=4611686018427387904`, `ids=8000000000000005`, "sender=nobody@nowhere.example", "domain=no-such.example", "due<2024-01-22T12:00:00Z"}
	for _, f := range filters {
		want := []queue.ID{}
		mt, err := f.Matcher()
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		for i := range all {
			if mt.Match(&all[i]) {
				want = append(want, all[i].ID)
			}
			if f.Match(&all[i]) != mt.Match(&all[i]) {
				t.Fatalf("%v: Filter.Match and Matcher.Match disagree on %s", f, all[i].ID)
			}
		}
		got := listAll(t, q, f, 97)
		if len(got) == 0 && !slices.Contains(none, f.String()) {
			t.Errorf("filter %q selects nothing: the test does not test it", f.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("filter %q: Match selects %d messages, the engine %d:\nmatch  %v\nengine %v", f.String(), len(want), len(got), want, got)
		}
		if n := mustCount(t, q, f); n != len(want) {
			t.Errorf("filter %q: count %d, want %d", f.String(), n, len(want))
		}
	}
}

// paging: pages follow each other without gaps or repeats, whatever their
// size, and a page after the last id is empty.
func (s *suite) paging(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	if _, err := q.LoadDemo(ctx, 120, 3); err != nil {
		t.Fatal(err)
	}
	all := ids(snapshot(t, q))
	if len(all) != 126 || !slices.IsSorted(all) {
		t.Fatalf("demo holds %d messages (sorted %v), want 126", len(all), slices.IsSorted(all))
	}
	for _, page := range []int{1, 7, 50, 126, 1000} {
		if got := listAll(t, q, queue.Filter{}, page); !slices.Equal(got, all) {
			t.Errorf("pages of %d: %d ids, want %d", page, len(got), len(all))
		}
	}
	msgs, err := q.List(ctx, queue.Filter{}, queue.Page{After: all[len(all)-1]})
	if err != nil || len(msgs) != 0 {
		t.Errorf("page after the last: %d messages, %v", len(msgs), err)
	}
}
