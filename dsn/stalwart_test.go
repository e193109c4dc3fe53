package dsn

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
)

// stalwartDir holds Stalwart's own DSN test files (v0.12.5,
// tests/resources/smtp/dsn/), kept beside the project as reference data and
// not copied into it. MQSH_STALWART_DSN points elsewhere.
func stalwartDir(t *testing.T) string {
	dir := os.Getenv("MQSH_STALWART_DSN")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "reference", "stalwart-dsn")
	}
	if _, err := os.Stat(filepath.Join(dir, "original.txt")); err != nil {
		t.Skipf("Stalwart's DSN files are not here (%v); set MQSH_STALWART_DSN to their folder", err)
	}
	return dir
}

// The recipients of Stalwart's test, as its README describes them.
var (
	stFoobar = Recipient{Address: "foobar@example.org", Action: Failed, Status: "5.1.2", RemoteMTA: "mx.example.org",
		Diagnostic: "550 5.1.2 User does not exist"}
	stJane = Recipient{Address: "jane@example.org", Action: Delivered, Status: "2.1.5", RemoteMTA: "mx2.example.org",
		Diagnostic: "250 2.1.5 Message accepted for delivery"}
	stJohn = Recipient{Address: "john.doe@example.org", ORCPT: "rfc822;jdoe@example.org", Action: Delayed,
		RemoteMTA: "mx.domain.org", Reason: "connection to mx.domain.org failed: Connection timeout",
		WillRetryUntil: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
)

// TestStalwartCompare builds the notices Stalwart's test makes, for the
// same message and recipients, and compares them with Stalwart's field by
// field, parsed by go-message the way a mail client reads them.
//
// The same in both: multipart/report with report-type=delivery-status; To;
// MIME-Version; three parts in the same order; a quoted-printable UTF-8
// text/plain part naming every recipient; a 7bit message/delivery-status
// part with the same per-message fields and, per recipient in the same
// order, the same fields with the same values; the original's header
// fields, byte for byte.
//
// Deliberate differences, each normalised below and nowhere else:
//  1. Typed values are written "dns; host", "rfc822; addr", "smtp; reply"
//     as in RFC 3464's examples; Stalwart writes no space after the
//     semicolon. Both are valid; the space is dropped before comparing.
//  2. Diagnostic-Code carries the remote reply as received, enhanced code
//     included ("smtp; 550 5.1.2 User does not exist"); Stalwart drops the
//     enhanced code, which is already in Status.
//  3. A delivered recipient's Diagnostic-Code carries the 250 reply, as
//     Postfix does; Stalwart writes none for deliveries.
//  4. The original's header goes as text/rfc822-headers (RFC 6522: a
//     header alone is not a message); Stalwart labels it message/rfc822.
//     Its charset parameter on message/* parts means nothing and is not
//     written.
//  5. Auto-Submitted is "auto-replied" (RFC 3834 section 5: a notice
//     answers a message); Stalwart says "auto-generated".
//  6. From names the reporting host (MAILER-DAEMON@mx.example.org), the
//     same host as Reporting-MTA; Stalwart uses its domain (example.org).
//     The display name is the same.
//  7. The Subject and the words of the human-readable part are mqsh's own.
//  8. Fields come in the order of RFC 3464's grammar (Remote-MTA before
//     Diagnostic-Code); Stalwart writes Diagnostic-Code first. The order
//     carries no meaning, so the names are compared as sets.
//  9. Dates: Stalwart's files have Date and Message-ID removed and
//     Arrival-Date and Will-Retry-Until replaced by a placeholder, so only
//     their presence is compared.
func TestStalwartCompare(t *testing.T) {
	dir := stalwartDir(t)
	orig, err := os.ReadFile(filepath.Join(dir, "original.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		rs   []Recipient
	}{
		{"failure.eml", []Recipient{stFoobar}},
		{"delay.eml", []Recipient{stJohn}},
		{"success.eml", []Recipient{stJane}},
		{"mixed.eml", []Recipient{stFoobar, stJane, stJohn}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			theirs, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			b, err := Build(Report{
				Hostname: "mx.example.org", To: "sender@foobar.org", Arrival: arrival, Date: noticeAt,
				Recipients: tc.rs, Original: orig, MessageID: "cmp@mx.example.org",
			})
			if err != nil {
				t.Fatal(err)
			}
			compareNotices(t, parseNotice(t, b), parseNotice(t, theirs), tc.rs)
		})
	}
}

func compareNotices(t *testing.T, ours, theirs *notice, rs []Recipient) {
	t.Helper()
	same := func(what, a, b string) {
		t.Helper()
		if a != b {
			t.Errorf("%s: ours %q, Stalwart's %q", what, a, b)
		}
	}
	same("content type", ours.typ, theirs.typ)
	same("report-type", ours.params["report-type"], theirs.params["report-type"])
	same("To", addrOnly(ours.header.Get("To")), addrOnly(theirs.header.Get("To")))
	same("MIME-Version", ours.header.Get("MIME-Version"), theirs.header.Get("MIME-Version"))
	same("From display name", displayName(ours.header.Get("From")), displayName(theirs.header.Get("From"))) // 6
	same("From mailbox", strings.SplitN(addrOnly(ours.header.Get("From")), "@", 2)[0], strings.SplitN(addrOnly(theirs.header.Get("From")), "@", 2)[0])
	same("Auto-Submitted", ours.header.Get("Auto-Submitted"), "auto-replied")                // 5
	same("Stalwart's Auto-Submitted", theirs.header.Get("Auto-Submitted"), "auto-generated") // 5

	if len(ours.parts) != 3 || len(theirs.parts) != 3 {
		t.Fatalf("parts: ours %v, Stalwart's %v", partTypes(ours), partTypes(theirs))
	}
	for i := range 2 {
		same("part type", ours.parts[i].typ, theirs.parts[i].typ)
		same("part encoding", ours.parts[i].cte, theirs.parts[i].cte)
	}
	same("text charset", ours.parts[0].params["charset"], theirs.parts[0].params["charset"])
	for _, rc := range rs { // 7: the words differ, the recipients named do not
		for _, p := range []*notice{ours, theirs} {
			if !bytes.Contains(p.parts[0].body, []byte("<"+rc.Address+">")) {
				t.Errorf("human-readable part does not name <%s>:\n%s", rc.Address, p.parts[0].body)
			}
		}
	}

	same("original part type", ours.parts[2].typ, "text/rfc822-headers")         // 4
	same("Stalwart's original part type", theirs.parts[2].typ, "message/rfc822") // 4
	same("original part encoding", ours.parts[2].cte, theirs.parts[2].cte)
	same("original header", withoutDate(ours.parts[2].body), withoutDate(theirs.parts[2].body)) // 9

	sameGroup(t, "per-message", ours.perMsg, theirs.perMsg, Recipient{})
	if len(ours.perRcpts) != len(theirs.perRcpts) {
		t.Fatalf("recipient groups: ours %d, Stalwart's %d", len(ours.perRcpts), len(theirs.perRcpts))
	}
	for i := range ours.perRcpts {
		sameGroup(t, rs[i].Address, ours.perRcpts[i], theirs.perRcpts[i], rs[i])
	}
}

// dateFields are compared by presence only (9).
var dateFields = []string{"Arrival-Date", "Will-Retry-Until", "Last-Attempt-Date"}

// enhancedAfterCode matches an enhanced status code right after a reply code (2).
var enhancedAfterCode = regexp.MustCompile(`^(smtp;[0-9]{3}) [245]\.[0-9]{1,3}\.[0-9]{1,3} `)

// sameGroup compares one group of delivery-status fields: the same names
// and the same values after the normalisations above.
func sameGroup(t *testing.T, who string, ours, theirs textproto.Header, rc Recipient) {
	t.Helper()
	norm := func(h textproto.Header, isOurs bool) ([]string, map[string]string) {
		names, vals := []string{}, map[string]string{}
		for f := h.Fields(); f.Next(); {
			k, v := f.Key(), f.Value()
			if k == "Diagnostic-Code" && rc.Action == Delivered && isOurs { // 3
				continue
			}
			v = strings.Replace(v, "; ", ";", 1) // 1
			if k == "Diagnostic-Code" {
				v = enhancedAfterCode.ReplaceAllString(v, "$1 ") // 2
			}
			if slices.Contains(dateFields, k) {
				v = "(a date)" // 9
			}
			names = append(names, k)
			vals[k] = v
		}
		return names, vals
	}
	on, ov := norm(ours, true)
	tn, tv := norm(theirs, false)
	slices.Sort(on) // 8
	slices.Sort(tn)
	if !slices.Equal(on, tn) {
		t.Errorf("%s fields: ours %v, Stalwart's %v", who, on, tn)
	}
	for k, v := range tv {
		if ov[k] != v {
			t.Errorf("%s %s: ours %q, Stalwart's %q", who, k, ov[k], v)
		}
	}
}

func addrOnly(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSuffix(strings.TrimSpace(s), ">")
}

func displayName(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		return strings.Trim(strings.TrimSpace(s[:i]), `"`)
	}
	return ""
}

// withoutDate drops Date fields (Stalwart's normaliser removed them) and
// the trailing empty lines.
func withoutDate(b []byte) string {
	var keep []string
	for _, l := range strings.Split(string(b), "\r\n") {
		if !strings.HasPrefix(strings.ToLower(l), "date:") {
			keep = append(keep, l)
		}
	}
	return strings.TrimRight(strings.Join(keep, "\r\n"), "\r\n")
}
