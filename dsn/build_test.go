package dsn

import (
	"bytes"
	"flag"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// original is the message the golden notices report on: a non-ASCII
// subject line (SMTPUTF8), LF line ends as a file on disk has them.
const original = "Received: from client.example.net (client.example.net [192.0.2.7])\n" +
	"\tby mx.example.org with ESMTP id 52B91F716; Tue, 1 Dec 2026 09:00:00 +0000\n" +
	"From: Ann Sender <ann@example.net>\n" +
	"To: bob@example.com, carol@example.com, dave@example.com\n" +
	"Subject: Quarterly figures — café budget\n" +
	"Date: Tue, 1 Dec 2026 08:59:58 +0000\n" +
	"Message-ID: <q4-figures@example.net>\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=utf-8\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"\n" +
	"Hi all,\n" +
	"the figures are in. Crème brûlée for everyone.\n"

var (
	arrival  = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	noticeAt = time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	bob      = Recipient{Address: "bob@example.com", Action: Failed, Status: "5.1.1", RemoteMTA: "mx1.example.com",
		Diagnostic:  "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
		LastAttempt: time.Date(2026, 12, 1, 9, 0, 3, 0, time.UTC)}
	carol = Recipient{Address: "carol@example.com", ORCPT: "rfc822;Carol.Smith@example.com", Action: Delayed, Status: "4.4.1",
		RemoteMTA: "mx1.example.com", Reason: "connection to mx1.example.com[198.51.100.25]:25 timed out",
		LastAttempt: time.Date(2026, 12, 1, 12, 30, 0, 0, time.UTC), WillRetryUntil: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	dave = Recipient{Address: "dave@example.com", Action: Delivered, Status: "2.0.0", RemoteMTA: "mx2.example.com",
		Diagnostic: "250 2.0.0 Ok: queued as 4Xk9Qz1d", LastAttempt: time.Date(2026, 12, 1, 9, 0, 4, 0, time.UTC)}
)

func report(full bool, rs ...Recipient) Report {
	return Report{
		Hostname: "mx.example.org", To: "ann@example.net", EnvID: "q4-figures-1",
		Arrival: arrival, Date: noticeAt, Recipients: rs, Original: []byte(original),
		Full: full, MessageID: "dsn-52B91F716@mx.example.org",
	}
}

// TestBuildGolden keeps every kind of notice as a person reads it.
func TestBuildGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Report
	}{
		{"failure.eml", report(false, bob)},
		{"delay.eml", report(false, carol)},
		{"success.eml", report(false, dave)},
		{"mixed.eml", report(false, bob, carol, dave)},
		{"failure-full.eml", report(true, bob)},
		{"relayed-expanded.eml", report(false,
			Recipient{Address: "erin@example.com", Action: Relayed, RemoteMTA: "legacy.example.com"},
			Recipient{Address: "list@example.com", Action: Expanded})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Build(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, got)
			checkWellFormed(t, got)
		})
	}
}

// checkWellFormed checks what holds of every notice: CRLF line ends only,
// no line over 998 octets, the three parts in order.
func checkWellFormed(t testing.TB, b []byte) *notice {
	t.Helper()
	for i, line := range bytes.Split(b, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d octets long", i+1, len(line))
		}
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Fatalf("notice does not end in CRLF: %q", b[max(0, len(b)-20):])
	}
	n := parseNotice(t, b)
	if n.typ != "multipart/report" || n.params["report-type"] != "delivery-status" {
		t.Fatalf("notice is %s %v, want multipart/report; report-type=delivery-status", n.typ, n.params)
	}
	if len(n.parts) < 2 || len(n.parts) > 3 || n.parts[0].typ != "text/plain" || n.parts[1].typ != "message/delivery-status" {
		t.Fatalf("notice parts are %v, want text/plain, message/delivery-status[, original]", partTypes(n))
	}
	return n
}

func partTypes(n *notice) []string {
	var ts []string
	for _, p := range n.parts {
		ts = append(ts, p.typ)
	}
	return ts
}

// TestBuildOriginal: RET=HDRS attaches the header as text/rfc822-headers,
// RET=FULL the whole message as message/rfc822, both byte for byte apart
// from line ends made CRLF.
func TestBuildOriginal(t *testing.T) {
	crlfOrig := strings.ReplaceAll(original, "\n", "\r\n")
	head := crlfOrig[:strings.Index(crlfOrig, "\r\n\r\n")+4]
	for _, tc := range []struct {
		full     bool
		typ, cte string
		body     string
	}{
		{false, "text/rfc822-headers", "8bit", head},
		{true, "message/rfc822", "8bit", crlfOrig},
	} {
		b, err := Build(report(tc.full, bob))
		if err != nil {
			t.Fatal(err)
		}
		n := checkWellFormed(t, b)
		if len(n.parts) != 3 {
			t.Fatalf("full=%v: %d parts, want 3", tc.full, len(n.parts))
		}
		p := n.parts[2]
		if p.typ != tc.typ || p.cte != tc.cte || string(p.body) != tc.body {
			t.Errorf("full=%v: original part is %s %s %q, want %s %s %q", tc.full, p.typ, p.cte, p.body, tc.typ, tc.cte, tc.body)
		}
	}

	// plain ASCII goes as 7bit; no original, no third part
	r := report(false, bob)
	r.Original = []byte("Subject: hi\r\n\r\nbody\r\n")
	b, _ := Build(r)
	if n := checkWellFormed(t, b); n.parts[2].cte != "7bit" || string(n.parts[2].body) != "Subject: hi\r\n\r\n" {
		t.Errorf("ASCII header part: %s %q", n.parts[2].cte, n.parts[2].body)
	}
	r.Original = nil
	b, _ = Build(r)
	if n := checkWellFormed(t, b); len(n.parts) != 2 {
		t.Errorf("without an original: parts %v, want two", partTypes(n))
	}
}

// TestBuildFields checks the header and delivery-status fields as parsed.
func TestBuildFields(t *testing.T) {
	b, err := Build(report(false, bob, carol, dave))
	if err != nil {
		t.Fatal(err)
	}
	n := checkWellFormed(t, b)
	h := n.header
	for k, want := range map[string]string{
		"From":           `"Mail Delivery Subsystem" <MAILER-DAEMON@mx.example.org>`,
		"To":             "<ann@example.net>",
		"Subject":        "Mail Delivery Status Report",
		"Date":           "Tue, 01 Dec 2026 13:00:00 +0000",
		"Message-Id":     "<dsn-52B91F716@mx.example.org>",
		"Auto-Submitted": "auto-replied",
		"Mime-Version":   "1.0",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := strings.Join(fieldNames(n.perMsg), ","); got != "Original-Envelope-Id,Reporting-Mta,Arrival-Date" {
		t.Errorf("per-message fields %s", got)
	}
	if len(n.perRcpts) != 3 {
		t.Fatalf("%d recipient groups, want 3", len(n.perRcpts))
	}
	c := n.perRcpts[1]
	for k, want := range map[string]string{
		"Original-Recipient": "rfc822; Carol.Smith@example.com",
		"Final-Recipient":    "rfc822; carol@example.com",
		"Action":             "delayed",
		"Status":             "4.4.1",
		"Remote-Mta":         "dns; mx1.example.com",
		"Last-Attempt-Date":  "Tue, 01 Dec 2026 12:30:00 +0000",
		"Will-Retry-Until":   "Sun, 06 Dec 2026 09:00:00 +0000",
	} {
		if got := c.Get(k); got != want {
			t.Errorf("carol %s: %q, want %q", k, got, want)
		}
	}
	if got := n.perRcpts[0].Get("Diagnostic-Code"); got != "smtp; "+bob.Diagnostic {
		t.Errorf("bob's folded Diagnostic-Code reads back as %q", got)
	}
	if n.perRcpts[2].Has("Will-Retry-Until") || n.perRcpts[0].Has("Original-Recipient") {
		t.Error("Will-Retry-Until outside a delay, or Original-Recipient without ORCPT")
	}
}

// TestBuildSubjects names each kind of notice.
func TestBuildSubjects(t *testing.T) {
	for _, tc := range []struct {
		rs   []Recipient
		want string
	}{
		{[]Recipient{bob}, "Undelivered Mail Returned to Sender"},
		{[]Recipient{carol}, "Delayed Mail (still being retried)"},
		{[]Recipient{dave, {Address: "x@y.example", Action: Relayed}}, "Successful Mail Delivery Report"},
		{[]Recipient{bob, dave}, "Mail Delivery Status Report"},
		{[]Recipient{bob, carol}, "Mail Delivery Status Report"},
	} {
		b, err := Build(report(false, tc.rs...))
		if err != nil {
			t.Fatal(err)
		}
		if got := parseNotice(t, b).header.Get("Subject"); got != tc.want {
			t.Errorf("subject %q, want %q", got, tc.want)
		}
	}
}

// TestBuildHostile: a remote reply or address with CR, LF and MIME
// lookalikes stays inside its field and its line.
func TestBuildHostile(t *testing.T) {
	r := report(false, Recipient{
		Address:    "x@y.example\r\nBcc: victim@z.example",
		ORCPT:      "rfc822;x@y.example\nX-Injected: 1",
		Action:     Failed,
		RemoteMTA:  "mx.y.example\r\n\r\n--fake",
		Diagnostic: "550-5.7.1 first line\r\n550 5.7.1 second\r\nBcc: victim@z.example\r\n\r\n--=_dsn_\r\nContent-Type: text/html\r\n\r\n<b>x</b>",
	})
	r.EnvID = "id\r\nX-Injected: 2"
	b, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	n := checkWellFormed(t, b)
	if n.header.Has("Bcc") || n.header.Has("X-Injected") || len(n.parts) != 3 {
		t.Fatalf("hostile input changed the structure:\n%s", b)
	}
	if len(n.perRcpts) != 1 || strings.Join(fieldNames(n.perRcpts[0]), ",") != "Original-Recipient,Final-Recipient,Action,Status,Remote-Mta,Diagnostic-Code" {
		t.Fatalf("recipient groups %d, fields %v", len(n.perRcpts), fieldNames(n.perRcpts[0]))
	}
	want := "smtp; 550-5.7.1 first line 550 5.7.1 second Bcc: victim@z.example --=_dsn_ Content-Type: text/html <b>x</b>"
	if got := n.perRcpts[0].Get("Diagnostic-Code"); got != want {
		t.Errorf("Diagnostic-Code %q, want %q", got, want)
	}
	if got := n.perMsg.Get("Original-Envelope-Id"); got != "id X-Injected: 2" {
		t.Errorf("Original-Envelope-Id %q", got)
	}
}

// TestBuildTo: the sender's address is written as it came when valid, a
// quoted local part included, and quoted when it needs it.
func TestBuildTo(t *testing.T) {
	for to, want := range map[string]string{
		"ann@example.net":        "<ann@example.net>",
		`"odd, one"@example.net`: `<"odd, one"@example.net>`,
		"odd, one@example.net":   `<"odd, one"@example.net>`,
		"anné@exämple.net":       "<anné@exämple.net>",
	} {
		r := report(false, bob)
		r.To = to
		b, err := Build(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := parseNotice(t, b).header.Get("To"); got != want {
			t.Errorf("To for %q: %q, want %q", to, got, want)
		}
	}
}

// TestBuildNonASCII: the human part is quoted-printable UTF-8 and keeps
// the text; the delivery-status part stays 7-bit with escapes.
func TestBuildNonASCII(t *testing.T) {
	r := report(false, Recipient{Address: "josé@exämple.com", Action: Failed, Status: "5.1.1", RemoteMTA: "mx.exämple.com",
		Diagnostic: "550 5.1.1 Destinataire inconnu: josé"})
	b, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	n := checkWellFormed(t, b)
	if n.parts[0].cte != "quoted-printable" || n.parts[0].params["charset"] != "utf-8" {
		t.Errorf("human part %s %v", n.parts[0].cte, n.parts[0].params)
	}
	if !bytes.Contains(n.parts[0].body, []byte("<josé@exämple.com>")) || !bytes.Contains(n.parts[0].body, []byte("inconnu: josé")) {
		t.Errorf("human part lost the non-ASCII text:\n%s", n.parts[0].body)
	}
	if !isASCII(string(n.parts[1].body)) {
		t.Errorf("delivery-status part is not 7-bit:\n%s", n.parts[1].body)
	}
	if got := n.perRcpts[0].Get("Final-Recipient"); got != `utf-8; jos\x{E9}@ex\x{E4}mple.com` {
		t.Errorf("Final-Recipient %q", got)
	}
}

// TestBuildErrors: a report that cannot be written is refused with a
// sentence saying what is wrong.
func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Report)
		want string
	}{
		{func(r *Report) { r.Hostname = "" }, `reporting host name "" is not a domain name`},
		{func(r *Report) { r.Hostname = "mx.example.org\r\nBcc: x" }, "is not a domain name"},
		{func(r *Report) { r.To = "" }, "null sender <> never gets a delivery notice"},
		{func(r *Report) { r.To = "a@b.example\r\nBcc: c@d.example" }, "holds control characters"},
		{func(r *Report) { r.Recipients = nil }, "names no recipients"},
		{func(r *Report) { r.MessageID = "<a@b.example>" }, "is not of the form left@right without <>"},
		{func(r *Report) { r.MessageID = "a b@c\r\nBcc: x" }, "is not of the form left@right"},
		{func(r *Report) { r.Recipients[0].Action = "bounced" }, `action "bounced" is not one of`},
		{func(r *Report) { r.Recipients[0].Status = "550" }, `status "550" is not an enhanced status code`},
		{func(r *Report) { r.Recipients[0].Address = " \r\n" }, "recipient 1 has no address"},
	} {
		r := report(false, bob)
		tc.mod(&r)
		_, err := Build(r)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "dsn: ") {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
}

// TestBuildDefaults: generic status codes and a generated Message-ID.
func TestBuildDefaults(t *testing.T) {
	r := report(false, Recipient{Address: "a@b.example", Action: Failed}, Recipient{Address: "c@b.example", Action: Delayed}, Recipient{Address: "d@b.example", Action: Delivered})
	r.MessageID, r.Date = "", time.Time{}
	b1, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := Build(r)
	n1, n2 := parseNotice(t, b1), parseNotice(t, b2)
	id1, id2 := n1.header.Get("Message-Id"), n2.header.Get("Message-Id")
	if id1 == id2 || !strings.HasSuffix(id1, "@mx.example.org>") {
		t.Errorf("generated Message-IDs %q and %q", id1, id2)
	}
	if d, err := mail.ParseDate(n1.header.Get("Date")); err != nil || time.Since(d) > time.Minute {
		t.Errorf("a report without a date is dated %v (%v), want now", d, err)
	}
	for i, want := range []string{"5.0.0", "4.0.0", "2.0.0"} {
		if got := n1.perRcpts[i].Get("Status"); got != want {
			t.Errorf("recipient %d status %q, want %q", i+1, got, want)
		}
	}
}

// BenchmarkBuild: one mixed notice of three recipients with the header of
// a 1 KiB message, as the delivery engine makes them.
func BenchmarkBuild(b *testing.B) {
	r := report(false, bob, carol, dave)
	r.Original = append([]byte(original), bytes.Repeat([]byte("0123456789abcdef\n"), 56)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(r); err != nil {
			b.Fatal(err)
		}
	}
}
