package notices

import (
	"bytes"
	"context"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqsh/delivery"
	"mqsh/queue"
)

func openQueue(t *testing.T) *queue.Queue {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

var original = []byte("From: <alice@example.org>\r\nTo: <bob@example.com>\r\nSubject: hello\r\n\r\nBody text.\r\n")

// TestNotifyQueuesNotice: a failure event becomes a message from <> to the
// sender, with the recipient's reply, ORCPT and the envelope id.
func TestNotifyQueuesNotice(t *testing.T) {
	q := openQueue(t)
	var log bytes.Buffer
	nf := &Notifier{Queue: q, Hostname: "mx.test", Log: &log}
	nf.Notify(context.Background(), delivery.Notice{Raw: original, Notice: queue.Notice{
		Kind: queue.NoticeFailure, Message: 0x1234, ReturnPath: "alice@example.org", EnvID: "env-7", Ret: "HDRS",
		Created: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Domain: "example.com", RemoteMTA: "mx.example.com[192.0.2.25]:25",
		Recipients: []queue.Recipient{{Address: "bob@example.com", Status: queue.PermFail, Code: 550, Enhanced: "5.1.1", Message: "No such user", ORCPT: "rfc822;bob@example.com"}},
	}})
	ms, err := q.List(context.Background(), queue.Filter{All: true}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("%d messages queued; log: %s", len(ms), log.String())
	}
	m := ms[0]
	if rs := m.Recipients(); m.ReturnPath != "" || len(rs) != 1 || rs[0].Address != "alice@example.org" {
		t.Errorf("notice from <%s> to %+v", m.ReturnPath, rs)
	}
	if !strings.Contains(log.String(), "sender non-delivery notification: "+m.ID.String()) {
		t.Errorf("log: %q", log.String())
	}
	raw, err := q.Raw(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pm.Header.Get("From"), "MAILER-DAEMON@mx.test") {
		t.Errorf("From %q", pm.Header.Get("From"))
	}
	for _, want := range []string{"Original-Envelope-Id: env-7", "Remote-MTA: dns; mx.example.com", "Diagnostic-Code: smtp; 550 5.1.1 No such user",
		"Status: 5.1.1", "Action: failed", "Original-Recipient: rfc822; bob@example.com", "text/rfc822-headers"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("notice lacks %q:\n%s", want, raw)
		}
	}
}

// TestReportNotOwed: no notice about a bounce, none for NOTIFY=NEVER, and
// only the recipients whose NOTIFY asks for the kind.
func TestReportNotOwed(t *testing.T) {
	nf := &Notifier{Hostname: "mx.test"}
	base := queue.Notice{Kind: queue.NoticeDelay, ReturnPath: "alice@example.org", Message: 1}
	n := base
	n.Recipients = []queue.Recipient{{Address: "a@x.test", Notify: queue.NotifyNever}, {Address: "b@x.test", Notify: queue.NotifyFailure}}
	if _, ok := nf.Report(delivery.Notice{Notice: n}); ok {
		t.Error("a notice for NOTIFY=NEVER and NOTIFY=FAILURE on a delay")
	}
	n.Recipients = append(n.Recipients, queue.Recipient{Address: "c@x.test", Code: 451, Enhanced: "4.5.3", Message: "later"})
	r, ok := nf.Report(delivery.Notice{Notice: n})
	if !ok || len(r.Recipients) != 1 || r.Recipients[0].Address != "c@x.test" || r.Recipients[0].Action != "delayed" || r.Recipients[0].Status != "4.5.3" {
		t.Errorf("delay report %v %+v", ok, r.Recipients)
	}
	n.ReturnPath = ""
	if _, ok := nf.Report(delivery.Notice{Notice: n}); ok {
		t.Error("a notice about a bounce")
	}
}
