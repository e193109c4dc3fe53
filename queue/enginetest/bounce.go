package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"mqsh/queue"
)

// Bounce, export and the demo's refusal of a queue with real mail.

// Notices is the notice writer the engines under test are opened with
// (Options.Notices): a short text naming the message and each recipient
// with its status, none when every recipient's NOTIFY excludes failures.
// Package notices writes the real ones; here the engines' part is tested:
// what they hand over, and that they queue what comes back.
func Notices(n queue.Notice, raw []byte) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: failure of %s to %s\r\n\r\n", n.Message, n.ReturnPath)
	wanted := false
	for _, r := range n.Recipients {
		if r.Notify == 0 || r.Notify&queue.NotifyFailure != 0 {
			wanted = true
			fmt.Fprintf(&b, "%s: %s %s\r\n", r.Address, r.Enhanced, r.Message)
		}
	}
	if !wanted {
		return nil, nil
	}
	fmt.Fprintf(&b, "original: %d bytes\r\n", len(raw))
	return []byte(b.String()), nil
}

func bouncer(t *testing.T, q queue.Backend) queue.Bouncer {
	t.Helper()
	b, ok := q.(queue.Bouncer)
	if !ok {
		t.Fatalf("%T is not a queue.Bouncer", q)
	}
	return b
}

func (s *suite) bounce(t *testing.T) {
	ctx := context.Background()
	q, c := s.queue(t)
	tr := q.(queue.Trasher)
	text := []byte("Subject: hi\r\n\r\nhello\r\n")
	add := func(env queue.Envelope) queue.ID {
		m, err := q.Enqueue(ctx, env, text)
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	m1 := add(queue.Envelope{Sender: "A@x.example", Recipients: []queue.EnvelopeRecipient{{Address: "r1@gmail.com"}, {Address: "r2@example.org"}}})
	m2 := add(queue.Envelope{Sender: "", Recipients: []queue.EnvelopeRecipient{{Address: "r3@gmail.com"}}})
	m3 := add(queue.Envelope{Sender: "b@x.example", Recipients: []queue.EnvelopeRecipient{{Address: "r4@gmail.com", Notify: queue.NotifyNever}}})
	c.Set(Now.Add(1e9))
	before := snapshot(t, q)
	f := queue.Filter{Domain: []string{"gmail.com"}}

	if _, err := bouncer(t, q).Bounce(ctx, queue.BounceRequest{Filter: f}); err == nil || !strings.Contains(err.Error(), "give a reason") {
		t.Errorf("bounce without a reason: %v", err)
	}
	if _, err := bouncer(t, q).Bounce(ctx, queue.BounceRequest{Reason: "x"}); err == nil {
		t.Error("bounce without a filter was taken")
	}
	dry, err := bouncer(t, q).Bounce(ctx, queue.BounceRequest{Filter: f, Reason: "spam run", DryRun: true})
	if err != nil || !dry.DryRun || dry.Count != 3 || len(dry.Notices) != 1 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if !slices.EqualFunc(snapshot(t, q), before, func(a, b queue.Message) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatal("a dry run bounce changed the queue")
	}

	res, err := bouncer(t, q).Bounce(ctx, queue.BounceRequest{Filter: f, Reason: "  spam run "})
	if err != nil || res.Count != 3 || res.Domains["gmail.com"] != 3 || len(res.Notices) != 1 || res.NoNotice != 1 || res.NotWanted != 1 || res.Scope == "" {
		t.Fatalf("bounce: %+v %v", res, err)
	}
	// m1 keeps its other domain; its gmail.com recipient failed with the reason.
	got := mustGet(t, q, m1)
	if d := got.Domains[0]; d.Status != queue.PermFail || d.Details != "spam run" || d.Recipients[0].Enhanced != "5.0.0" || d.Recipients[0].Message != "spam run" {
		t.Errorf("bounced domain %+v", d)
	}
	if got.Domains[1].Status != queue.Scheduled {
		t.Errorf("the other domain %+v", got.Domains[1])
	}
	// m2 and m3 went to the trash under "bounce".
	tm, err := tr.TrashList(ctx, queue.Filter{}, queue.Page{})
	if err != nil || len(tm) != 2 || tm[0].ID != m2 || tm[1].ID != m3 || tm[0].Verb != "bounce" {
		t.Fatalf("trash after bounce: %+v %v", tm, err)
	}
	// The notice: from <> to the sender as given, with the recipient and reason.
	n := mustGet(t, q, res.Notices[0])
	raw, _ := q.Raw(ctx, n.ID)
	if n.ReturnPath != "" || len(n.Recipients()) != 1 || n.Recipients()[0].Address != "A@x.example" ||
		!bytes.Contains(raw, []byte("r1@gmail.com: 5.0.0 spam run")) || !bytes.Contains(raw, []byte(fmt.Sprintf("original: %d bytes", len(text)))) {
		t.Errorf("notice %+v %q", n, raw)
	}
	a := auditRows(t, q)
	if a[1].Verb != "bounce" || a[1].Filter != queue.BounceAuditText(f, "spam run") || !slices.Equal(a[1].IDs, []queue.ID{m1, m2, m3}) ||
		a[0].Verb != "notice" || !slices.Equal(a[0].IDs, res.Notices) {
		t.Errorf("audit: %+v %+v", a[0], a[1])
	}
	// A bounce is not undone: its notice has gone.
	if _, err := undoer(t, q).Undo(ctx, queue.UndoRequest{Seq: a[1].Seq}); err == nil || !strings.Contains(err.Error(), "(bounce) cannot be undone") {
		t.Errorf("undo of a bounce: %v", err)
	}
	// Bouncing everything leaves the new notices alone.
	res, err = bouncer(t, q).Bounce(ctx, queue.BounceRequest{Filter: queue.Filter{All: true}, Reason: "closing"})
	if err != nil || res.Count != 2 || len(res.Notices) != 1 {
		t.Fatalf("bounce --all: %+v %v", res, err)
	}
	left := ids(snapshot(t, q))
	if !slices.Equal(left, res.Notices) {
		t.Errorf("after bounce --all the queue holds %v, want the new notice %v", left, res.Notices)
	}
	if got := trashIDs(t, tr, queue.Filter{}); !slices.Equal(got, []queue.ID{m1, m2, m3, n.ID}) {
		t.Errorf("after bounce --all the trash holds %v, want the bounced and the first notice", got)
	}
}

func (s *suite) exportImport(t *testing.T) {
	ctx := context.Background()
	q, _, _, _ := s.trashQueue(t, 7)
	ex, ok := q.(queue.Exporter)
	if !ok {
		t.Fatalf("%T is not a queue.Exporter", q)
	}
	put(t, q, msg(0x99, "no-text@x.example", Now, "a@b.example")) // a message without text
	q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Domain: []string{"gmail.com"}}, At: Now.Add(3e12)})
	q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Sender: []string{"user1@ok.example"}, Recipient: []string{"b@example.org"}}})
	var out bytes.Buffer
	n, err := ex.Export(ctx, queue.Filter{}, &out)
	if err != nil || n != 8 || bytes.Count(out.Bytes(), []byte("\n")) != 8 {
		t.Fatalf("export: %d %v", n, err)
	}
	q2, _ := s.queue(t)
	if _, err := q2.ImportJSON(ctx, bytes.NewReader(out.Bytes())); err != nil {
		t.Fatal(err)
	}
	if a, b := fullState(t, q2), fullState(t, q); a != b {
		t.Errorf("imported export differs:\nexported\n%s\nimported\n%s", b, a)
	}
	var again bytes.Buffer
	if _, err := q2.(queue.Exporter).Export(ctx, queue.Filter{}, &again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), out.Bytes()) {
		t.Errorf("export of the import differs:\n%s\n%s", out.Bytes(), again.Bytes())
	}
	// A filter selects as list does.
	var some bytes.Buffer
	if n, err := ex.Export(ctx, queue.Filter{Sender: []string{"bulk@spam.example"}}, &some); err != nil || n != 3 {
		t.Errorf("export of a sender: %d %v", n, err)
	}
}

func (s *suite) realMail(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	rc, ok := q.(queue.RealMailChecker)
	if !ok {
		t.Fatalf("%T is not a queue.RealMailChecker", q)
	}
	check := func(when string, want bool) {
		t.Helper()
		if got, err := rc.HoldsRealMail(ctx); err != nil || got != want {
			t.Errorf("%s: holds real mail %v %v, want %v", when, got, err, want)
		}
	}
	check("empty", false)
	if _, err := q.LoadDemo(ctx, 5, 1); err != nil {
		t.Fatal(err)
	}
	check("demo only", false)
	enqueue(t, q, envTo("a@b.example", "c@d.example"))
	check("after an enqueue", true)
	q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{All: true}})
	check("emptied", false)
}
