package enginetest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"mqsh/queue"
)

// The filters that read a message's text (subject, Message-ID, any header
// field) and the SMTP
// client serve recorded (address, network, user), through list in pages,
// count and a bulk verb's selection.

// textMsgs are texts with plain, encoded and folded subjects, Message-IDs,
// and the clients they came from.
var textMsgs = []struct {
	sender string
	client queue.Client
	raw    string
}{
	{"bill@example.net", queue.Client{IP: "192.0.2.7", User: "Bill"},
		"Subject: Invoice 2024-0042\r\nMessage-ID: <A1.b2@mx.example.net>\r\nX-Mailer: BulkBlaster 3\r\n\r\nhi\r\n"},
	{"bill@example.net", queue.Client{IP: "192.0.2.200", User: "bill"},
		"Subject: =?utf-8?q?INVOICE_f=C3=BCr_M=C3=A4rz?=\r\nMessage-ID: <c3@mx.example.net>\r\nX-Mailer: Thunderbird\r\n\r\n" + strings.Repeat("x", 3000) + "\r\n"},
	{"ann@example.org", queue.Client{IP: "2001:db8::1", User: "ann"},
		"Subject: Re: your invoice\r\n\tof March\r\nMessage-Id: c4@mx.example.org\r\nx-mailer: bulkmail\r\n\r\n" + strings.Repeat("y", 20000) + "\r\n"},
	{"carol@example.com", queue.Client{},
		"Subject: Weekly report_100%\r\nMessage-ID: <c5[x]@mx.example.com>\r\n\r\nhello\r\n"},
	{"dave@example.com", queue.Client{IP: "198.51.100.9"},
		"From: dave@example.com\r\n\r\nno subject\r\n"},
}

func (s *suite) textFilters(t *testing.T) {
	q, _ := s.queue(t)
	ctx := context.Background()
	var id []queue.ID
	for _, h := range textMsgs {
		m, err := q.Enqueue(ctx, queue.Envelope{Sender: h.sender, Recipients: []queue.EnvelopeRecipient{{Address: "x@gmail.com"}}, Client: h.client}, []byte(h.raw))
		if err != nil {
			t.Fatal(err)
		}
		id = append(id, m.ID)
	}
	j := msg(id[len(id)-1]+1000, "bill@example.net", Now, "y@gmail.com")
	put(t, q, j) // a JSON import without a text or a client
	id = append(id, j.ID)
	for _, c := range []struct {
		name string
		f    queue.Filter
		want []int // indexes into id
	}{
		{"subject glob, any case", queue.Filter{Subject: []string{"invoice*"}}, []int{0, 1}},
		{"subject glob in upper case", queue.Filter{Subject: []string{"INVOICE 2024*"}}, []int{0}},
		{"subject decoded from encoded words", queue.Filter{Subject: []string{"*für*"}}, []int{1}},
		{"subject unfolded", queue.Filter{Subject: []string{"re: your invoice of march"}}, []int{2}},
		{"subject glob anywhere", queue.Filter{Subject: []string{"*invoice*"}}, []int{0, 1, 2}},
		{"subject ?", queue.Filter{Subject: []string{"weekly report?100%"}}, []int{3}},
		{"subject _ and % are literal", queue.Filter{Subject: []string{"weekly%"}}, []int{}},
		{"subject exact without glob", queue.Filter{Subject: []string{"weekly"}}, []int{}},
		{"subject any matches messages with one", queue.Filter{Subject: []string{"*"}}, []int{0, 1, 2, 3}},
		{"two subjects, either", queue.Filter{Subject: []string{"weekly*", "re:*"}}, []int{2, 3}},
		{"message-id with brackets", queue.Filter{MessageID: []string{"<A1.b2@mx.example.net>"}}, []int{0}},
		{"message-id without brackets", queue.Filter{MessageID: []string{"c4@mx.example.org"}}, []int{2}},
		{"message-id is exact", queue.Filter{MessageID: []string{"a1.b2@mx.example.net"}}, []int{}},
		{"message-id with a bracket inside", queue.Filter{MessageID: []string{"c5[x]@mx.example.com"}}, []int{3}},
		{"header, name in any case", queue.Filter{Header: []string{"x-MAILER:*bulk*"}}, []int{0, 2}},
		{"header presence", queue.Filter{Header: []string{"X-Mailer:*"}}, []int{0, 1, 2}},
		{"header exact value", queue.Filter{Header: []string{"X-Mailer: thunderbird"}}, []int{1}},
		{"header decoded", queue.Filter{Header: []string{"Subject:*fÜr*"}}, []int{1}},
		{"header absent", queue.Filter{Header: []string{"List-Id:*"}}, []int{}},
		{"two headers, either", queue.Filter{Header: []string{"List-Id:*", "X-Mailer: thunderbird"}}, []int{1}},
		{"header and size", queue.Filter{Header: []string{"x-mailer:*bulk*"}, Larger: 1000}, []int{2}},
		{"header and sender", queue.Filter{Header: []string{"x-mailer:*"}, Sender: []string{"bill@example.net"}}, []int{0, 1}},
		{"client ip exact", queue.Filter{ClientIP: []string{"192.0.2.7"}}, []int{0}},
		{"client ip CIDR", queue.Filter{ClientIP: []string{"192.0.2.0/24"}}, []int{0, 1}},
		{"client ip v6 CIDR", queue.Filter{ClientIP: []string{"2001:DB8::/32"}}, []int{2}},
		{"client ip v6 exact, other form", queue.Filter{ClientIP: []string{"2001:0db8:0::1"}}, []int{2}},
		{"client ip v4-mapped", queue.Filter{ClientIP: []string{"::ffff:198.51.100.9"}}, []int{4}},
		{"client ip v4 network holds no v6", queue.Filter{ClientIP: []string{"0.0.0.0/0"}}, []int{0, 1, 4}},
		{"user, any case", queue.Filter{User: []string{"BILL"}}, []int{0, 1}},
		{"user and subject", queue.Filter{User: []string{"bill"}, Subject: []string{"invoice 2*"}}, []int{0}},
		{"subject and sender", queue.Filter{Subject: []string{"*invoice*"}, Sender: []string{"@example.org"}}, []int{2}},
		{"message-id and user", queue.Filter{MessageID: []string{"c3@mx.example.net"}, User: []string{"ann"}}, []int{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := []queue.ID{}
			for _, i := range c.want {
				want = append(want, id[i])
			}
			for _, page := range []int{1, 2, 100} {
				if got := listAll(t, q, c.f, page); !slices.Equal(got, want) {
					t.Errorf("list (pages of %d) = %v, want %v", page, got, want)
				}
			}
			if n := mustCount(t, q, c.f); n != len(want) {
				t.Errorf("count = %d, want %d", n, len(want))
			}
			res, err := q.Cancel(ctx, queue.CancelRequest{Filter: c.f, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(append([]queue.ID{}, res.IDs...), want) {
				t.Errorf("cancel dry run = %v, want %v", res.IDs, want)
			}
		})
	}
}
