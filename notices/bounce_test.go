package notices

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"mqsh/queue"
)

// reportParts takes a notice apart with go-message, as a mail client would:
// the top-level type and report-type, each part's type and decoded body.
func reportParts(t *testing.T, raw []byte) (typ, reportType string, parts map[string][]byte) {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse notice: %v\n%s", err, raw)
	}
	typ, params, err := e.Header.ContentType()
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatalf("notice is %s, not multipart", typ)
	}
	parts = map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := p.Header.ContentType()
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		parts[pt] = body
	}
	return typ, params["report-type"], parts
}

// statusGroups reads a message/delivery-status body: the per-message group,
// then one group per recipient.
func statusGroups(t *testing.T, b []byte) []textproto.Header {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	var out []textproto.Header
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out
		}
		h, err := textproto.ReadHeader(br)
		if err != nil {
			t.Fatalf("delivery-status: %v\n%s", err, b)
		}
		out = append(out, h)
	}
}

// TestBounceNotice: queue bounce fails the selected recipients and queues,
// in the same change, an RFC 3464 failure notice to the sender that gives
// the reason; a message from <> goes without one.
func TestBounceNotice(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	nf := &Notifier{Hostname: "mx.test", Now: func() time.Time { return now }}
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: func() time.Time { return now }, Notices: nf.Text})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	spam, err := q.Enqueue(ctx, queue.Envelope{Sender: "alice@example.org", EnvID: "env-9",
		Recipients: []queue.EnvelopeRecipient{{Address: "bob@gmx.de", ORCPT: "rfc822;bob@gmx.de"}, {Address: "carol@example.com"}}}, original)
	if err != nil {
		t.Fatal(err)
	}
	dsnIn, err := q.Enqueue(ctx, queue.Envelope{Recipients: []queue.EnvelopeRecipient{{Address: "x@gmx.de"}}}, original)
	if err != nil {
		t.Fatal(err)
	}
	reason := "Spam run from a compromised account; your message was not delivered."

	// A dry run says what would happen and changes nothing.
	dry, err := q.Bounce(ctx, queue.BounceRequest{Filter: queue.Filter{Recipient: []string{"@gmx.de"}}, Reason: reason, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.Count != 2 || len(dry.Notices) != 1 || dry.NoNotice != 1 || dry.Parts != 2 || dry.Kept != 1 {
		t.Errorf("dry run = %+v", dry)
	}
	if n, _ := q.Count(ctx, queue.Filter{All: true}); n != 2 {
		t.Fatalf("the dry run changed the queue: %d messages", n)
	}

	res, err := q.Bounce(ctx, queue.BounceRequest{Filter: queue.Filter{Recipient: []string{"@gmx.de"}}, Reason: reason})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2 || !slices.Equal(res.IDs, []queue.ID{spam.ID, dsnIn.ID}) || len(res.Notices) != 1 || res.NoNotice != 1 {
		t.Fatalf("bounce = %+v", res)
	}
	// The spam message stays for carol; bob failed with the reason.
	m, err := q.Get(ctx, spam.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Recipients() {
		switch r.Address {
		case "bob@gmx.de":
			if r.Status != queue.PermFail || r.Enhanced != "5.0.0" || r.Message != reason || r.Code != 0 {
				t.Errorf("bob = %+v", r)
			}
		case "carol@example.com":
			if r.Status != queue.Scheduled {
				t.Errorf("carol = %+v", r)
			}
		}
	}
	if _, err := q.Get(ctx, dsnIn.ID); err == nil {
		t.Error("the message from <> is still queued")
	}

	// The notice: from <> to alice, multipart/report with the reason.
	n, err := q.Get(ctx, res.Notices[0])
	if err != nil {
		t.Fatal(err)
	}
	if rs := n.Recipients(); n.ReturnPath != "" || len(rs) != 1 || rs[0].Address != "alice@example.org" {
		t.Errorf("notice from <%s> to %+v", n.ReturnPath, rs)
	}
	raw, err := q.Raw(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	typ, rt, parts := reportParts(t, raw)
	if typ != "multipart/report" || rt != "delivery-status" {
		t.Errorf("notice is %s; report-type=%s", typ, rt)
	}
	if human := string(parts["text/plain"]); !strings.Contains(strings.Join(strings.Fields(human), " "), reason) || !strings.Contains(human, "bob@gmx.de") || strings.Contains(human, "carol") {
		t.Errorf("human part:\n%s", human)
	}
	groups := statusGroups(t, parts["message/delivery-status"])
	if len(groups) != 2 {
		t.Fatalf("%d delivery-status groups, want the message's and bob's:\n%s", len(groups), parts["message/delivery-status"])
	}
	if g := groups[0]; g.Get("Reporting-MTA") != "dns; mx.test" || g.Get("Original-Envelope-Id") != "env-9" {
		t.Errorf("per-message fields: %v", g)
	}
	g := groups[1]
	for field, want := range map[string]string{"Final-Recipient": "rfc822; bob@gmx.de", "Original-Recipient": "rfc822; bob@gmx.de", "Action": "failed", "Status": "5.0.0", "Diagnostic-Code": "", "Remote-MTA": ""} {
		if got := g.Get(field); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	if hdrs := parts["text/rfc822-headers"]; !bytes.Contains(hdrs, []byte("Subject: hello")) || bytes.Contains(hdrs, []byte("Body text")) {
		t.Errorf("returned headers:\n%s", hdrs)
	}

	// One audit row for the bounce, with its reason.
	audit, err := q.Audit(ctx, queue.AuditQuery{Verb: "bounce"})
	if err != nil || len(audit) != 1 || !strings.Contains(audit[0].Filter, "rcpt=@gmx.de; reason=") || audit[0].Count != 2 {
		t.Errorf("audit: %v %+v", err, audit)
	}

	// Without a recipient: the whole message, carol included, and it goes.
	res, err = q.Bounce(ctx, queue.BounceRequest{Filter: queue.Filter{IDs: []queue.ID{spam.ID}}, Reason: reason})
	if err != nil || res.Count != 1 || len(res.Notices) != 1 {
		t.Fatalf("whole bounce = %+v, %v", res, err)
	}
	if _, err := q.Get(ctx, spam.ID); err == nil {
		t.Error("bounced message still queued")
	}
	raw, _ = q.Raw(ctx, res.Notices[0])
	_, _, parts = reportParts(t, raw)
	if groups := statusGroups(t, parts["message/delivery-status"]); len(groups) != 2 || groups[1].Get("Final-Recipient") != "rfc822; carol@example.com" {
		t.Errorf("second notice groups: %v", groups)
	}
}

// TestBounceRefusals: no reason, no notice writer, a reason with a control
// character: refused, nothing changed.
func TestBounceRefusals(t *testing.T) {
	q := openQueue(t) // opened without Options.Notices
	ctx := context.Background()
	m, err := q.Enqueue(ctx, queue.Envelope{Sender: "a@example.org", Recipients: []queue.EnvelopeRecipient{{Address: "b@example.com"}}}, original)
	if err != nil {
		t.Fatal(err)
	}
	f := queue.Filter{IDs: []queue.ID{m.ID}}
	for _, c := range []struct{ reason, want string }{
		{"", "give a reason"},
		{"  ", "give a reason"},
		{"bad\x00reason", "control character"},
		{strings.Repeat("x", 1001), "keep it to 1000"},
		{"a fine reason", "without a notice writer"},
	} {
		if _, err := q.Bounce(ctx, queue.BounceRequest{Filter: f, Reason: c.reason}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("reason %q: %v, want an error with %q", c.reason, err, c.want)
		}
	}
	if _, err := q.Bounce(ctx, queue.BounceRequest{Reason: "x"}); err == nil || !strings.Contains(err.Error(), "refusing to change every message") {
		t.Errorf("empty filter: %v", err)
	}
	if got, err := q.Get(ctx, m.ID); err != nil || got.Recipients()[0].Status != queue.Scheduled {
		t.Errorf("message changed: %+v, %v", got, err)
	}
}
