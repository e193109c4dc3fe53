package queue

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// A control character in a pattern or address is refused by every verb that
// builds a selection: SQLite cuts a GLOB or LIKE pattern at a NUL, so
// "*\x00@nobody.invalid" would otherwise select every message.
func TestControlCharactersRefused(t *testing.T) {
	q := filterFixture(t)
	before := snapshot(t, q)
	audits := auditCount(t, q)
	bad := []string{"*\x00@nobody.invalid", "bill\x00@example.net", "*@gmail.com\x00", "a\tb@example.net", "bill@exam\rple.net", "x\x7f@y.test", "x\u0085@y.test"}
	for _, v := range bad {
		for _, f := range []Filter{{Sender: []string{v}}, {Recipient: []string{v}}, {Domain: []string{strings.TrimPrefix(v, "*@")}}} {
			if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "control character") {
				t.Errorf("validate %+v: err = %v, want a control character error", f, err)
			}
			if _, err := q.List(t.Context(), f, Page{}); err == nil || !strings.Contains(err.Error(), "control character") {
				t.Errorf("list %+v: err = %v", f, err)
			}
			if _, err := q.Count(t.Context(), f); err == nil {
				t.Errorf("count %+v: no error", f)
			}
			if _, err := q.Cancel(t.Context(), CancelRequest{Filter: f}); err == nil || !strings.Contains(err.Error(), "control character") {
				t.Errorf("cancel %+v: err = %v", f, err)
			}
			if _, err := q.Retry(t.Context(), RetryRequest{Filter: f}); err == nil {
				t.Errorf("retry %+v: no error", f)
			}
			if _, err := q.Summary(t.Context(), f, "domain"); err == nil {
				t.Errorf("summary %+v: no error", f)
			}
		}
		if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{v}}}); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("cancel -r %q: err = %v", v, err)
		}
		if _, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{Domain: []string{strings.TrimPrefix(v, "*@")}}}); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("retry domain %q: err = %v", v, err)
		}
		env := Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: strings.TrimPrefix(v, "*")}}}
		if _, err := q.Enqueue(t.Context(), env, nil); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("enqueue to %q: err = %v", v, err)
		}
		env = Envelope{Sender: strings.TrimPrefix(v, "*"), Recipients: []EnvelopeRecipient{{Address: "a@b.example"}}}
		if _, err := q.Enqueue(t.Context(), env, nil); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("enqueue from %q: err = %v", v, err)
		}
	}
	// The JSON import refuses them in addresses and domain names too.
	for _, line := range []string{
		`{"id":77,"return_path":"a\u0000@b.example","domains":[{"name":"c.example","recipients":[{"address":"d@c.example"}]}]}`,
		`{"id":77,"return_path":"a@b.example","domains":[{"name":"c.example","recipients":[{"address":"d\u0000@c.example"}]}]}`,
		`{"id":77,"return_path":"a@b.example","domains":[{"name":"c.exa\u0001mple","recipients":[{"address":"d@c.example"}]}]}`,
	} {
		if _, err := q.ImportJSON(t.Context(), strings.NewReader(line+"\n")); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("import %s: err = %v", line, err)
		}
	}
	if after := snapshot(t, q); after != before || auditCount(t, q) != audits {
		t.Errorf("refused input changed the queue:\n%s\nwant\n%s", after, before)
	}
	// The message names the character and its place.
	_, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"*\x00@nobody.invalid"}}})
	if want := `cancel: sender filter: "*\x00@nobody.invalid": control character U+0000 at byte 1: patterns and addresses must be printable text`; err == nil || err.Error() != want {
		t.Errorf("cancel error:\n got %v\nwant %s", err, want)
	}
}

// Times from any caller are checked in the engine: a Lua script's 0/0 or
// 1e300 once became a due date in the year 292277026304, which the queue's
// own export could not be read back from.
func TestTimesOutOfRangeRefused(t *testing.T) {
	q := filterFixture(t)
	before := snapshot(t, q)
	audits := auditCount(t, q)
	bad := []time.Time{
		time.Unix(math.MinInt64/2, 0), // what a NaN can become
		time.Unix(math.MaxInt64/2, 0), // +inf, 1e300
		time.Unix(-1, 0),              // before 1970
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(292277026304, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, bt := range bad {
		for _, f := range []Filter{{DueBefore: bt}, {DueAfter: bt}, {CreatedBefore: bt}, {CreatedAfter: bt, All: true}} {
			if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("validate %+v: err = %v, want out of range", f, err)
			}
			if _, err := q.List(t.Context(), f, Page{}); err == nil {
				t.Errorf("list %+v: no error", f)
			}
			if _, err := q.Cancel(t.Context(), CancelRequest{Filter: f}); err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("cancel %+v: err = %v", f, err)
			}
		}
		if _, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}, At: bt}); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("retry at %v: err = %v", bt, err)
		}
		if _, err := q.Audit(t.Context(), AuditQuery{Since: bt}); err == nil {
			t.Errorf("audit since %v: no error", bt)
		}
		// Messages handed to the engine (imports; the JSON importer reads
		// RFC 3339, so years before 1970 reach it).
		m := msg(0x777, "a@b.example", testNow, "c@d.example")
		m.Domains[0].Due = bt
		if err := q.Update(t.Context(), func(tx *Tx) error {
			ins, err := tx.newInserter()
			if err != nil {
				return err
			}
			if err := q.normalize(&m); err != nil {
				return err
			}
			return ins.add(&m, nil, 0)
		}); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("message due %v: err = %v", bt, err)
		}
	}
	for _, line := range []string{
		`{"id":77,"return_path":"","created":"1960-01-01T00:00:00Z","domains":[{"name":"c.example","recipients":[{"address":"d@c.example"}]}]}`,
		`{"id":77,"return_path":"","domains":[{"name":"c.example","next_retry":"0500-01-01T00:00:00Z","recipients":[{"address":"d@c.example"}]}]}`,
		`{"id":77,"return_path":"","recipients":[{"address":"d@c.example","expires":"1969-12-31T23:59:59Z"}]}`,
	} {
		if _, err := q.ImportJSON(t.Context(), strings.NewReader(line+"\n")); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("import %s: err = %v", line, err)
		}
	}
	if after := snapshot(t, q); after != before || auditCount(t, q) != audits {
		t.Errorf("refused times changed the queue:\n%s\nwant\n%s", after, before)
	}
	_, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}, At: time.Date(292277026304, 1, 1, 0, 0, 0, 0, time.UTC)})
	if want := "retry: at: 292277026304-01-01T00:00:00Z is out of range: want a time from 1970-01-01 to 9999-12-31 (UTC)"; err == nil || err.Error() != want {
		t.Errorf("retry error:\n got %v\nwant %s", err, want)
	}
	// The bounds themselves are fine.
	for _, ok := range []time.Time{time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)} {
		if _, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: []ID{m1}, DueBefore: ok.Add(time.Second * 0)}, At: ok, DryRun: true}); err != nil {
			t.Errorf("retry at %v: %v", ok, err)
		}
	}
}

// Addresses are held to RFC 5321's lengths and a message to 1,000 recipients
// (Postfix's smtpd_recipient_limit), for every way a message enters: a 50 MB
// sender and 200,000 recipients were once queued.
func TestAddressAndRecipientLimits(t *testing.T) {
	q, _ := openTest(t)
	rcpts := func(n int) []EnvelopeRecipient {
		out := make([]EnvelopeRecipient, n)
		for i := range out {
			out[i].Address = fmt.Sprintf("r%d@example.org", i)
		}
		return out
	}
	one := []EnvelopeRecipient{{Address: "a@example.org"}}
	local64, dom := strings.Repeat("l", 64), strings.Repeat("d", 63)+"."+strings.Repeat("e", 63)+"."+strings.Repeat("f", 60)+".org"
	long := strings.Repeat("x", 50<<20) + "@example.net"
	bad := []struct {
		name string
		env  Envelope
		want string
	}{
		{"50 MB sender", Envelope{Sender: long, Recipients: one}, "is 52428812 bytes long: RFC 5321 allows at most 254"},
		{"long local part", Envelope{Sender: local64 + "l@example.net", Recipients: one}, "local part is 65 bytes long: RFC 5321 allows at most 64"},
		{"long recipient", Envelope{Recipients: []EnvelopeRecipient{{Address: local64 + "@" + dom + ".x"}}}, "RFC 5321 allows at most 254"},
		{"1,001 recipients", Envelope{Recipients: rcpts(1001)}, "1001 recipients: a message may have at most 1000"},
		{"200,000 recipients", Envelope{Recipients: rcpts(200000)}, "200000 recipients: a message may have at most 1000"},
	}
	for _, c := range bad {
		_, err := q.Enqueue(t.Context(), c.env, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(err.Error()) > 300 {
			t.Errorf("%s: err = %.400v, want %q in a short sentence", c.name, err, c.want)
		}
		var eml strings.Builder
		fmt.Fprintf(&eml, "From: %s\r\nTo: ", c.env.Sender)
		for i, r := range c.env.Recipients {
			if i > 0 {
				eml.WriteString(", ")
			}
			eml.WriteString(r.Address)
		}
		eml.WriteString("\r\n\r\nbody\r\n")
		if c.env.Sender == "" {
			continue
		}
		if _, err := q.ImportEML(t.Context(), []byte(eml.String()), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: eml import: err = %.400v, want %q", c.name, err, c.want)
		}
	}
	// The JSON import is held to the same limits.
	var many strings.Builder
	for i := 0; i < 1001; i++ {
		fmt.Fprintf(&many, `,{"address":"r%d@example.org"}`, i)
	}
	for _, c := range []struct{ line, want string }{
		{`{"id":7,"return_path":"` + local64 + `l@x.example","domains":[{"name":"example.org","recipients":[{"address":"a@example.org"}]}]}`, "local part is 65 bytes long"},
		{`{"id":7,"return_path":"","domains":[{"name":"example.org","recipients":[{"address":"` + local64 + "@" + dom + `.x"}]}]}`, "RFC 5321 allows at most 254"},
		{`{"id":7,"return_path":"","domains":[{"name":"` + strings.Repeat("d.", 128) + `org","recipients":[{"address":"a@b.example"}]}]}`, "is 259 bytes long: RFC 5321 allows at most 255"},
		{`{"id":7,"return_path":"","domains":[{"name":"example.org","recipients":[` + many.String()[1:] + `]}]}`, "1001 recipients: a message may have at most 1000"},
	} {
		if _, err := q.ImportJSON(t.Context(), strings.NewReader(c.line)); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("import: err = %.300v, want %q", err, c.want)
		}
	}
	if n := mustCount(t, q, Filter{}); n != 0 || auditCount(t, q) != 0 {
		t.Fatalf("refused messages left %d messages, %d audit rows", n, auditCount(t, q))
	}
	// At the limits, messages are queued.
	if _, err := q.Enqueue(t.Context(), Envelope{Sender: local64 + "@example.net", Recipients: rcpts(1000)}, nil); err != nil {
		t.Errorf("1,000 recipients and a 64-byte local part: %v", err)
	}
	at254 := strings.Repeat("l", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + "." + strings.Repeat("f", 57) + ".org"
	if len(at254) != 254 {
		t.Fatalf("test address is %d bytes", len(at254))
	}
	if _, err := q.Enqueue(t.Context(), Envelope{Sender: at254, Recipients: []EnvelopeRecipient{{Address: at254}}}, nil); err != nil {
		t.Errorf("a 254-byte address: %v", err)
	}
}

// A retry's domain that is only "@" or blanks names no domain: it is
// refused, not taken as "every domain".
func TestRetryDomainMustNameOne(t *testing.T) {
	q, _ := openTest(t)
	put(t, q, msg(1, "a@x.example", testNow, "r@one.example", "r@two.example"))
	for _, d := range []string{"@", " @ ", "@ "} {
		res, err := q.Retry(context.Background(), RetryRequest{Filter: Filter{Domain: []string{d}}})
		if err == nil || !strings.Contains(err.Error(), "want a domain such as example.org") {
			t.Errorf("retry --domain %q: %+v, %v; want it refused", d, res, err)
		}
	}
}
