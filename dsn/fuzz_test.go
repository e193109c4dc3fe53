package dsn

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzBuild feeds Build addresses, remote replies, envelope ids and
// originals with any bytes in them. Whatever comes in, a notice that Build
// accepts parses as the same structure: the same header fields, the same
// parts, one group of delivery-status fields for the one recipient, the
// remote reply inside Diagnostic-Code, and the original passed through.
func FuzzBuild(f *testing.F) {
	f.Add("bob@example.com", "rfc822;Bob@example.com", "mx.example.com", "550 5.1.1 No such user", "env-1", "ann@example.net", []byte(original), false, uint8(0))
	f.Add("x@y.example\r\nBcc: v@z.example", "rfc822;x\n@y", "mx\r\n\r\n--b", "550 a\r\nBcc: v@z.example\r\n\r\n--=_dsn_0\r\n", "e\rX: 1", "ann@example.net", []byte("Subject: x\r\n\r\n--=_dsn_\r\n"), true, uint8(1))
	f.Add("josé@exämple.com", "utf-8;josé@exämple.com", "mx.exämple.com", "550 inconnu \xff\xfe", "", "anné@exämple.net", []byte("Subject: caf\xc3\xa9\n\nbody\rline\n"), false, uint8(2))
	f.Add(strings.Repeat("a", 1200)+"@b.example", "", "", strings.Repeat("x", 2100), strings.Repeat("e ", 300), "\"odd, one\"@b.example", []byte(strings.Repeat("y", 3000)+"\n\n"+strings.Repeat("z", 2500)), true, uint8(3))
	f.Add("", "", "", "", "", "", []byte(nil), false, uint8(4))
	f.Fuzz(func(t *testing.T, addr, orcptIn, remote, diag, envid, to string, orig []byte, full bool, act uint8) {
		kinds := []Action{Failed, Delayed, Delivered, Relayed, Expanded}
		action := kinds[int(act)%len(kinds)]
		r := Report{
			Hostname: "mx.example.org", To: to, EnvID: envid, Arrival: arrival, Date: noticeAt,
			Recipients: []Recipient{{Address: addr, ORCPT: orcptIn, Action: action, RemoteMTA: remote,
				Diagnostic: diag, Reason: diag, LastAttempt: arrival, WillRetryUntil: noticeAt}},
			Original: orig, Full: full, MessageID: "fuzz@mx.example.org",
		}
		b, err := Build(r)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dsn: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		n := checkWellFormed(t, b)

		want := []string{"From", "To", "Subject", "Date", "Message-Id", "Auto-Submitted", "Mime-Version", "Content-Type"}
		if got := fieldNames(n.header.Header); !slices.Equal(got, want) {
			t.Fatalf("header fields %v, want %v\n%s", got, want, b)
		}
		wantParts := 3
		if len(orig) == 0 {
			wantParts = 2
		}
		if len(n.parts) != wantParts {
			t.Fatalf("%d parts, want %d\n%s", len(n.parts), wantParts, b)
		}
		if !utf8.Valid(n.parts[0].body) {
			t.Fatalf("human-readable part is not UTF-8: %q", n.parts[0].body)
		}

		if got := fieldNames(n.perMsg); len(got) < 2 || len(got) > 3 || !slices.Contains(got, "Reporting-Mta") {
			t.Fatalf("per-message fields %v\n%s", got, n.parts[1].body)
		}
		if len(n.perRcpts) != 1 {
			t.Fatalf("%d recipient groups, want 1\n%s", len(n.perRcpts), n.parts[1].body)
		}
		g := n.perRcpts[0]
		allowed := []string{"Original-Recipient", "Final-Recipient", "Action", "Status", "Remote-Mta", "Diagnostic-Code", "Last-Attempt-Date", "Will-Retry-Until"}
		for _, k := range fieldNames(g) {
			if !slices.Contains(allowed, k) {
				t.Fatalf("unexpected recipient field %q\n%s", k, n.parts[1].body)
			}
		}
		if g.Get("Action") != string(action) {
			t.Fatalf("Action %q, want %q", g.Get("Action"), action)
		}
		if d := ascii(clean(diag)); d != "" && squeeze(g.Get("Diagnostic-Code")) != squeeze("smtp; "+d) {
			t.Fatalf("Diagnostic-Code %q, want the reply %q", g.Get("Diagnostic-Code"), d)
		}

		if wantParts == 3 {
			o := crlf(orig)
			if !full {
				o = headerSection(o)
			}
			got := bytes.ReplaceAll(n.parts[2].body, []byte("\r\n"), nil)
			if !bytes.Equal(got, bytes.ReplaceAll(o, []byte("\r\n"), nil)) {
				t.Fatalf("original part changed:\n got %q\nwant %q", n.parts[2].body, o)
			}
		}
	})
}

// squeeze drops all white space, which folding may add or move.
func squeeze(s string) string {
	return strings.Join(strings.Fields(s), "")
}
