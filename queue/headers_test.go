package queue

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fixture of the filters on the message itself: texts with plain,
// encoded and folded subjects, Message-IDs, an X-Mailer, sizes, and the
// SMTP client serve records; one JSON import without a text.
type hdrMsg struct {
	sender string
	client Client
	raw    string
}

var hdrMsgs = []hdrMsg{
	{"bill@example.net", Client{IP: "192.0.2.7", User: "Bill"},
		"Subject: Invoice 2024-0042\r\nMessage-ID: <A1.b2@mx.example.net>\r\nX-Mailer: BulkBlaster 3\r\n\r\nhi\r\n"},
	{"bill@example.net", Client{IP: "192.0.2.200", User: "bill"},
		"Subject: =?utf-8?q?INVOICE_f=C3=BCr_M=C3=A4rz?=\r\nMessage-ID: <c3@mx.example.net>\r\nX-Mailer: Thunderbird\r\n\r\n" + strings.Repeat("x", 3000) + "\r\n"},
	{"ann@example.org", Client{IP: "2001:db8::1", User: "ann"},
		"Subject: Re: your invoice\r\n\tof March\r\nMessage-Id: c4@mx.example.org\r\nx-mailer: bulkmail\r\n\r\n" + strings.Repeat("y", 20000) + "\r\n"},
	{"carol@example.com", Client{},
		"Subject: Weekly report\r\nMessage-ID: <c5[x]@mx.example.com>\r\n\r\nhello\r\n"},
	{"dave@example.com", Client{IP: "198.51.100.9"},
		"From: dave@example.com\r\n\r\nno subject\r\n"},
}

func hdrFixture(t testing.TB) (*Queue, []ID) {
	q, _ := openTest(t)
	var out []ID
	for _, h := range hdrMsgs {
		m, err := q.Enqueue(t.Context(), Envelope{Sender: h.sender, Recipients: []EnvelopeRecipient{{Address: "x@gmail.com"}}, Client: h.client}, []byte(h.raw))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.ID)
	}
	last := out[len(out)-1]
	j := msg(last+1000, "bill@example.net", testNow, "y@gmail.com")
	j.Size = 100000
	put(t, q, j) // a JSON import: no text, no client
	return q, append(out, j.ID)
}

// TestMessageFilters: subject, message-id, header, size and client keys
// select through every verb's selection (list in pages, count, each, a
// bulk verb), whichever index drives.
func TestMessageFilters(t *testing.T) {
	q, id := hdrFixture(t)
	cases := []struct {
		name string
		f    Filter
		want []int // indexes into id
	}{
		{"subject glob, any case", Filter{Subject: []string{"invoice*"}}, []int{0, 1}},
		{"subject glob in upper case", Filter{Subject: []string{"INVOICE 2024*"}}, []int{0}},
		{"subject decoded from encoded words", Filter{Subject: []string{"*für*"}}, []int{1}},
		{"subject unfolded", Filter{Subject: []string{"re: your invoice of march"}}, []int{2}},
		{"subject glob anywhere", Filter{Subject: []string{"*invoice*"}}, []int{0, 1, 2}},
		{"subject ?", Filter{Subject: []string{"weekly repor?"}}, []int{3}},
		{"subject exact without glob", Filter{Subject: []string{"weekly"}}, []int{}},
		{"subject any matches messages with one", Filter{Subject: []string{"*"}}, []int{0, 1, 2, 3}},
		{"message-id with brackets", Filter{MessageID: []string{"<A1.b2@mx.example.net>"}}, []int{0}},
		{"message-id without brackets", Filter{MessageID: []string{"c4@mx.example.org"}}, []int{2}},
		{"message-id is exact", Filter{MessageID: []string{"a1.b2@mx.example.net"}}, []int{}},
		{"message-id with a bracket inside", Filter{MessageID: []string{"c5[x]@mx.example.com"}}, []int{3}},
		{"header, name in any case", Filter{Header: []string{"x-MAILER:*bulk*"}}, []int{0, 2}},
		{"header presence", Filter{Header: []string{"X-Mailer:*"}}, []int{0, 1, 2}},
		{"header exact value", Filter{Header: []string{"X-Mailer: thunderbird"}}, []int{1}},
		{"header decoded", Filter{Header: []string{"Subject:*fÜr*"}}, []int{1}},
		{"header absent", Filter{Header: []string{"List-Id:*"}}, []int{}},
		{"larger", Filter{Larger: 2 << 10}, []int{1, 2, 5}},
		{"smaller", Filter{Smaller: 100}, []int{0, 3, 4}},
		{"size range", Filter{Larger: 1 << 10, Smaller: 10 << 10}, []int{1}},
		{"client ip exact", Filter{ClientIP: []string{"192.0.2.7"}}, []int{0}},
		{"client ip CIDR", Filter{ClientIP: []string{"192.0.2.0/24"}}, []int{0, 1}},
		{"client ip v6 CIDR", Filter{ClientIP: []string{"2001:DB8::/32"}}, []int{2}},
		{"client ip v6 exact, other form", Filter{ClientIP: []string{"2001:0db8:0::1"}}, []int{2}},
		{"client ip v4-mapped", Filter{ClientIP: []string{"::ffff:198.51.100.9"}}, []int{4}},
		{"user, any case", Filter{User: []string{"BILL"}}, []int{0, 1}},
		{"user and subject", Filter{User: []string{"bill"}, Subject: []string{"invoice 2*"}}, []int{0}},
		{"subject and sender", Filter{Subject: []string{"*invoice*"}, Sender: []string{"@example.org"}}, []int{2}},
		{"header and size", Filter{Header: []string{"x-mailer:*bulk*"}, Larger: 1000}, []int{2}},
		{"message-id and user", Filter{MessageID: []string{"c3@mx.example.net"}, User: []string{"ann"}}, []int{}},
	}
	defer func() { probeLimit = 4000 }()
	for _, pl := range []int{4000, 0} {
		probeLimit = pl
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				want := []ID{}
				for _, i := range c.want {
					want = append(want, id[i])
				}
				for _, page := range []int{1, 2, 100} {
					if got := listAll(t, q, c.f, page); !slices.Equal(got, want) {
						t.Errorf("probe %d: list (pages of %d) = %v, want %v", pl, page, got, want)
					}
				}
				if n := mustCount(t, q, c.f); n != len(want) {
					t.Errorf("count = %d, want %d", n, len(want))
				}
				res, err := q.Cancel(t.Context(), CancelRequest{Filter: c.f, DryRun: true})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(append([]ID{}, res.IDs...), want) {
					t.Errorf("cancel dry run = %v, want %v", res.IDs, want)
				}
			})
		}
	}
}

// TestMessageFilterErrors: values no verb can select by are refused with a
// sentence naming the value and what to give.
func TestMessageFilterErrors(t *testing.T) {
	for _, c := range []struct {
		f    Filter
		want string
	}{
		{Filter{Header: []string{"X-Mailer"}}, `invalid header filter "X-Mailer": want NAME:GLOB, such as 'X-Mailer:*bulk*'`},
		{Filter{Header: []string{":bulk"}}, `invalid header filter ":bulk": want NAME:GLOB`},
		{Filter{Header: []string{"X Mailer:bulk"}}, `a field name is printable ASCII without blanks`},
		{Filter{ClientIP: []string{"192.0.2"}}, `invalid client IP "192.0.2": want an address or a CIDR prefix`},
		{Filter{ClientIP: []string{"192.0.2.0/33"}}, `invalid client IP range "192.0.2.0/33"`},
		{Filter{MessageID: []string{"<>"}}, `message-id filter "<>": want a Message-ID`},
		{Filter{Subject: []string{"  "}}, `subject filter "  ": give some text, or '*' for any subject`},
		{Filter{User: []string{"a\x00b"}}, `user filter "a\x00b"`},
		{Filter{Larger: -5}, `size filter: a size is above zero, not -5`},
	} {
		err := c.f.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.f, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"10x", `invalid size "10x": want bytes or a number with k, M or G`},
		{"-1k", `invalid size "-1k"`},
		{"0", `invalid size "0": want a size above zero`},
		{"", `invalid size ""`},
		{"1e3", `invalid size "1e3"`},
	} {
		if _, err := ParseSize(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSize(%q) = %v, want %q", c.in, err, c.want)
		}
	}
	for in, want := range map[string]int64{"500": 500, "10k": 10240, "1.5M": 1572864, "2GB": 2 << 30, " 3 K ": 0, "4kb": 4096} {
		n, err := ParseSize(in)
		if want == 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", in, n)
			}
			continue
		}
		if err != nil || n != want {
			t.Errorf("ParseSize(%q) = %d, %v, want %d", in, n, err, want)
		}
	}
}

// TestMatcherRefusesStoredKeys: a message in memory carries no text and no
// client, so the Matcher refuses those keys, naming the key, and matches by
// size.
func TestMatcherRefusesStoredKeys(t *testing.T) {
	for _, k := range FilterKeys {
		var f Filter
		text, _ := keySample(t, k, testNow)
		switch k {
		case KeyHeader:
			text = "X-Mailer:*"
		case KeyClientIP:
			text = "192.0.2.1"
		}
		if err := k.Parse(&f, text, testNow); err != nil {
			t.Fatal(err)
		}
		_, err := f.Matcher()
		var ie *InMemoryError
		if got := errors.As(err, &ie); got != (k.Stored != "") {
			t.Errorf("%s: Matcher error %v", k.Name, err)
		} else if got && !strings.Contains(err.Error(), "the "+k.Name+" filter reads "+k.Stored) {
			t.Errorf("%s: %v", k.Name, err)
		}
	}
}

// TestHeaderFilterStopsWithContext: a header scan of a big queue ends as
// soon as its context does, with the context's error and nothing changed.
func TestHeaderFilterStopsWithContext(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 20000, 1); err != nil {
		t.Fatal(err)
	}
	total := mustCount(t, q, Filter{})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := q.Cancel(ctx, CancelRequest{Filter: Filter{Header: []string{"X-Nothing:*"}}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancel with an ended context: %v, want the deadline", err)
	}
	if n := mustCount(t, q, Filter{}); n != total {
		t.Errorf("%d messages after the interrupted cancel, want %d", n, total)
	}
	// The whole scan, for scale: the interrupted one ended well before.
	whole := time.Now()
	if n := mustCount(t, q, Filter{Header: []string{"X-Nothing:*"}}); n != 0 {
		t.Errorf("count = %d", n)
	}
	if took, full := whole.Sub(start), time.Since(whole); took > full {
		t.Logf("interrupted after %v; the whole scan took %v", took, full)
	}
}

// TestMigrationFillsHeaderColumns: a queue of the schema step before the
// header columns gets its
// messages' Subject and Message-ID from their stored texts when opened by
// this program, so the filters find them.
func TestMigrationFillsHeaderColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	oldQueue(t, path, slices.IndexFunc(migrations, func(s string) bool { return strings.Contains(s, "subject_lc") }),
		"INSERT INTO messages(id, rp_lc, rp_domain, created, size, due) VALUES (31, 'a@b.example', 'b.example', 1700000000, 19, 1700000000), (32, 'a@b.example', 'b.example', 1700000000, 19, 1700000000)",
		"INSERT INTO domains(msg_id, idx, name, status, due, expires) VALUES (31, 0, 'd.example', 0, 1700000000, 1800000000), (32, 0, 'd.example', 0, 1700000000, 1800000000)",
		"INSERT INTO recipients(msg_id, idx, domain_idx, address_lc, status) VALUES (31, 0, 0, 'c@d.example', 0), (32, 0, 0, 'c@d.example', 0)",
		"INSERT INTO bodies(msg_id, raw) VALUES (31, CAST('Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <old@b.example>\r\n\r\nhi\r\n' AS BLOB))",
	)
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, f := range []Filter{{Subject: []string{"GRÜẞE"}}, {Subject: []string{"grü*"}}, {MessageID: []string{"old@b.example"}}} {
		if got := listAll(t, q, f, 10); !slices.Equal(got, []ID{31}) {
			t.Errorf("%v after migration: %v, want [1f]", f, got)
		}
	}
	if n := mustCount(t, q, Filter{Subject: []string{"*"}}); n != 1 {
		t.Errorf("messages with a subject: %d, want 1 (32 has no text)", n)
	}
}

// TestHasField: the quick test before a header is parsed finds a field in
// any case, with blanks before its colon, and only in the header.
func TestHasField(t *testing.T) {
	raw := []byte("From: a@b\r\nx-mailer : bulk\r\nSubject: X-Other: y\r\n\r\nX-Body: no\r\n")
	for name, want := range map[string]bool{"X-Mailer": true, "From": true, "Subject": true, "X-Other": false, "X-Body": false, "X-Mail": false} {
		if got := hasField(raw, name); got != want {
			t.Errorf("hasField(%q) = %v, want %v", name, got, want)
		}
	}
}
