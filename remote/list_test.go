package remote

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

var shapes = []shape{v012, v015}

func at(hms string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, "2023-03-01T"+hms+"Z")
	if err != nil {
		panic(err)
	}
	return t
}

// TestShapes: both message shapes map to the messages the local engine
// holds: v0.12 exactly, v0.15 with per-recipient schedules folded per domain.
func TestShapes(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.String(), func(t *testing.T) {
			p := newPair(t, sh, 20, Options{})
			want, got := listAll(t, p.local), listAll(t, p.client)
			if len(got) != len(want) {
				t.Fatalf("got %d messages, want %d", len(got), len(want))
			}
			for i := range want {
				w, g := want[i], got[i]
				if sh == v012 {
					if !reflect.DeepEqual(g, w) {
						t.Fatalf("message %s:\n got %+v\nwant %+v", w.ID, g, w)
					}
					continue
				}
				if g.ID != w.ID || g.ReturnPath != w.ReturnPath || !g.Created.Equal(w.Created) || g.Size != w.Size || g.EnvID != w.EnvID || g.Priority != w.Priority || len(g.Domains) != len(w.Domains) {
					t.Fatalf("message %s:\n got %+v\nwant %+v", w.ID, g, w)
				}
				for j := range w.Domains {
					wd, gd := w.Domains[j], g.Domains[j]
					if gd.Name != wd.Name || !gd.Due.Equal(wd.Due) || !gd.Expires.Equal(wd.Expires) || gd.RetryNum != wd.RetryNum || gd.Status.Pending() != wd.Status.Pending() || !reflect.DeepEqual(gd.Recipients, wd.Recipients) {
						t.Fatalf("message %s domain %s:\n got %+v\nwant %+v", w.ID, wd.Name, gd, wd)
					}
				}
			}
		})
	}
}

// filterCases are compared between the SQLite engine and the client.
var filterCases = []queue.Filter{
	{},
	{Sender: []string{"bill1@example.net"}},
	{Sender: []string{"BILL1@Example.NET"}},
	{Sender: []string{"<bill2@example.net>"}},
	{Sender: []string{"<>"}},
	{Sender: []string{"bill*"}},
	{Sender: []string{"example.net"}},
	{Sender: []string{"@example.net"}},
	{Sender: []string{"*@example.?et"}},
	{Recipient: []string{"delay@example.org"}},
	{Recipient: []string{"DELAY@EXAMPLE.ORG"}},
	{Recipient: []string{"example.org"}},
	{Recipient: []string{"@domain2.test"}},
	{Recipient: []string{"rcpt?@domain1.test"}},
	{Recipient: []string{"*.test"}},
	{Recipient: []string{"domain*"}},
	{Recipient: []string{"rcpt1@domain1"}},
	{Domain: []string{"domain1.test"}},
	{Domain: []string{"EXAMPLE.ORG"}},
	{Domain: []string{"@domain3.test"}},
	{DueBefore: at("11:49:21")},
	{DueAfter: at("11:49:21")},
	{DueBefore: at("11:49:21.5")},
	{DueAfter: at("11:49:20.5")},
	{DueAfter: at("11:00:00")},  // in the past: the server is not asked
	{DueBefore: at("11:30:00")}, // likewise
	{CreatedAfter: at("11:44:21")},
	{CreatedBefore: at("11:44:22")},
	{Status: []queue.Status{queue.TempFail}},
	{Status: []queue.Status{queue.Completed, queue.PermFail}},
	{Status: []queue.Status{queue.Scheduled}},
	{IDs: []queue.ID{0x22B91F716, 0x42B91F716}},
	{IDs: []queue.ID{0x52B91F716}, Recipient: []string{"example.org"}},
	{Sender: []string{"bill3@example.net"}, Recipient: []string{"rcpt5@domain1.test"}},
	{Domain: []string{"domain2.test"}, DueAfter: at("11:46:30")},
	{Recipient: []string{"example.org"}, DueBefore: at("12:00:00"), Status: []queue.Status{queue.Scheduled}},
}

// TestFilters: for every filter, the client lists, counts and summarises
// what the SQLite engine does on the same messages, in both shapes.
func TestFilters(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.String(), func(t *testing.T) {
			p := newPair(t, sh, 300, Options{PageSize: 64})
			for _, f := range filterCases {
				name := f.String()
				want, err := p.local.List(ctx, f, queue.Page{})
				if err != nil {
					t.Fatal(err)
				}
				got, err := p.client.List(ctx, f, queue.Page{})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !reflect.DeepEqual(idsOf(got), idsOf(want)) {
					t.Errorf("list %s:\n got %v\nwant %v", name, idsOf(got), idsOf(want))
				}
				n, err := p.client.Count(ctx, f)
				if err != nil || n != len(want) {
					t.Errorf("count %s = %d, %v; want %d", name, n, err, len(want))
				}
				for _, by := range []string{"domain", "sender", "status", "age"} {
					ws, err := p.local.Summary(ctx, f, by)
					if err != nil {
						t.Fatal(err)
					}
					gs, err := p.client.Summary(ctx, f, by)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(gs, ws) {
						t.Errorf("summary %s by %s:\n got %+v\nwant %+v", name, by, gs, ws)
					}
				}
			}
			if len(filterCases) < 30 {
				t.Fatal("the table shrank")
			}
		})
	}
}

// TestServerNarrows: what maps onto the server's parameters is sent, with
// '?' before the query, and a listing is pages of whole messages.
func TestServerNarrows(t *testing.T) {
	p := newPair(t, v015, 0, Options{})
	cases := []struct {
		f    queue.Filter
		want []string
		not  []string
	}{
		{queue.Filter{Domain: []string{"domain1.test"}}, []string{"to=%40domain1.test"}, nil},
		{queue.Filter{Recipient: []string{"Delay@Example.ORG"}}, []string{"to=%40example.org"}, []string{"from"}},
		{queue.Filter{Sender: []string{"bill1@example.net"}}, []string{"sender=bill1%40example.net"}, []string{"from", "to"}},
		{queue.Filter{Status: []queue.Status{queue.TempFail, queue.Completed}, CreatedAfter: at("11:00:00")}, []string{"status=tempfail%2Cdelivered", "created-after=2023-03-01T11%3A00%3A00Z"}, nil},
		{queue.Filter{DueBefore: at("11:49:21.5")}, []string{"before=2023-03-01T11%3A49%3A22Z"}, []string{"after"}},
		{queue.Filter{DueAfter: at("11:49:20.5")}, []string{"after=2023-03-01T11%3A49%3A20Z"}, nil},
		{queue.Filter{DueAfter: at("11:00:00")}, []string{"due-after=2023-03-01T11%3A00%3A00Z"}, []string{"after"}},
		{queue.Filter{IDs: []queue.ID{0x22B91F716, 0x42B91F716}}, []string{fmt.Sprintf("ids=%d%%2C%d", uint64(0x22B91F716), uint64(0x42B91F716)), fmt.Sprint("range-start=", uint64(0x22B91F716)), fmt.Sprint("range-end=", uint64(0x42B91F716+1))}, nil},
	}
	for _, c := range cases {
		before := len(p.fake.log())
		if _, err := p.client.List(ctx, c.f, queue.Page{}); err != nil {
			t.Fatal(err)
		}
		log := p.fake.log()[before:]
		if len(log) != 1 {
			t.Fatalf("%s: %d requests, want 1: %q", c.f, len(log), log)
		}
		req := log[0]
		if !strings.HasPrefix(req, "GET /api/queue/messages?") || !strings.Contains(req, "values=1") {
			t.Errorf("%s: request %q: want a list with ?…values=1", c.f, req)
		}
		for _, w := range c.want {
			if !strings.Contains(req, w) {
				t.Errorf("%s: request %q lacks %s", c.f, req, w)
			}
		}
		u, err := url.ParseRequestURI(strings.TrimPrefix(req, "GET "))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range c.not {
			if u.Query().Has(k) {
				t.Errorf("%s: request %q has %s=", c.f, req, k)
			}
		}
	}
}

// TestPages: a listing larger than a page takes one request per page, never
// one per message, and pages with Page.After and Page.Limit as locally.
func TestPages(t *testing.T) {
	for _, ignoreRange := range []bool{false, true} {
		t.Run(fmt.Sprint("ignoreRange=", ignoreRange), func(t *testing.T) {
			p := newPair(t, v015, 2494, Options{PageSize: 1000})
			p.fake.ignoreRange = ignoreRange
			got := listAll(t, p.client)
			if len(got) != 2500 {
				t.Fatalf("listed %d, want 2500", len(got))
			}
			if !reflect.DeepEqual(idsOf(got), idsOf(listAll(t, p.local))) {
				t.Fatal("ids differ from the local listing")
			}
			log := p.fake.log()
			wantReq := 3
			if ignoreRange {
				wantReq = 5 // the second page shows range-start ignored; then pages 1-3
			}
			if len(log) != wantReq {
				t.Fatalf("%d requests, want %d: %q", len(log), wantReq, log)
			}
			before := len(p.fake.log())
			if first, err := p.client.List(ctx, queue.Filter{}, queue.Page{Limit: 20}); err != nil || len(first) != 20 {
				t.Fatalf("first page: %d, %v", len(first), err)
			}
			if req := p.fake.log()[before]; !strings.Contains(req, "limit=20&") {
				t.Errorf("a first page of 20 asked %q", req)
			}
			all := idsOf(got)
			for _, pg := range []queue.Page{{Limit: 10}, {After: all[999], Limit: 5}, {After: all[2495]}, {After: all[2499]}} {
				want, _ := p.local.List(ctx, queue.Filter{}, pg)
				g, err := p.client.List(ctx, queue.Filter{}, pg)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(idsOf(g), idsOf(want)) {
					t.Errorf("page %+v: got %v, want %v", pg, idsOf(g), idsOf(want))
				}
			}
		})
	}
}

func TestGet(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.String(), func(t *testing.T) {
			p := newPair(t, sh, 0, Options{})
			m, err := p.client.Get(ctx, 0x52B91F716)
			if err != nil {
				t.Fatal(err)
			}
			w, _ := p.local.Get(ctx, 0x52B91F716)
			if m.ID != w.ID || !reflect.DeepEqual(m.Recipients(), w.Recipients()) {
				t.Errorf("got %+v, want %+v", m, w)
			}
			if log := p.fake.log(); log[len(log)-1] != "GET /api/queue/messages/22205822742" {
				t.Errorf("request %q: want the id in decimal", log[len(log)-1])
			}
			_, err = p.client.Get(ctx, 0xABC)
			if !errors.Is(err, queue.ErrNotFound) || errors.Is(err, ErrNoQueueAPI) {
				t.Errorf("missing id: %v, want queue.ErrNotFound", err)
			}
		})
	}
}

// TestSuggest: completion offers what was listed, as the local engine would.
func TestSuggest(t *testing.T) {
	p := newPair(t, v015, 50, Options{})
	// Nothing listed yet: Suggest lists a page itself.
	for _, c := range []struct{ kind, prefix string }{
		{queue.SuggestID, "2b"}, {queue.SuggestID, ""}, {queue.SuggestSender, "bill"}, {queue.SuggestSender, "<"},
		{queue.SuggestRecipient, "rcpt"}, {queue.SuggestRecipient, "@dom"}, {queue.SuggestDomain, "ex"}, {queue.SuggestDomain, "@domain"},
	} {
		want, err := p.local.Suggest(ctx, c.kind, c.prefix, 10)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.client.Suggest(ctx, c.kind, c.prefix, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("suggest %s %q:\n got %q\nwant %q", c.kind, c.prefix, got, want)
		}
	}
	if _, err := p.client.Suggest(ctx, "colour", "", 0); err == nil {
		t.Error("an unknown kind was accepted")
	}
}
