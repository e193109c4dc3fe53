package httpapi

import (
	"context"
	"strings"
	"testing"

	"mqsh/notices"
	"mqsh/queue"
)

// POST /api/queue/bounce: mqsh's extension, the engine's bounce over the
// HTTP API: scoped by rcpt=, a notice per message, admins only, a reason
// and a filter required.
func TestBounceRoute(t *testing.T) {
	nf := &notices.Notifier{Hostname: "mx.test"}
	e := startServerWith(t, queue.Options{Notices: nf.Text})
	e.load(stalwartSix()...)
	ctx := context.Background()

	for _, c := range []struct{ query, want string }{
		{"?rcpt=@example2.com", "give a reason (reason=TEXT)"},
		{"?rcpt=@example2.com&reason=%09", "give a reason"},
		{"?reason=spam", "give a filter"},
		{"?rcpt=@&reason=spam", "recipient filter"},
	} {
		code, _, body := e.do("POST", "/api/queue/bounce"+c.query, asAdmin)
		if code != 400 || !strings.Contains(string(body), c.want) {
			t.Errorf("POST %s: %d %s; want 400 with %q", c.query, code, body, c.want)
		}
	}
	if code, _, _ := e.do("POST", "/api/queue/bounce?rcpt=@example2.com&reason=spam", basic("viewer", viewerSecret)); code != 403 {
		t.Errorf("a viewer's bounce: %d, want 403", code)
	}
	if n, _ := e.q.Count(ctx, queue.Filter{Sender: []string{"<>"}}); n != 1 {
		t.Fatalf("refused requests changed the queue: %d messages from <>", n)
	}

	var ok bool
	e.data("POST", "/api/queue/bounce?rcpt=@example2.com&reason=spam+run", &ok)
	if !ok {
		t.Fatal("bounce of example2.com: false")
	}
	m, err := e.q.Get(ctx, idC)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Domains {
		for _, r := range d.Recipients {
			if bounced := d.Name == "example2.com"; bounced != (r.Status == queue.PermFail) || bounced && r.Message != "spam run" {
				t.Errorf("%s: %s %q", r.Address, r.Status.Short(), r.Message)
			}
		}
	}
	if n, _ := e.q.Count(ctx, queue.Filter{Sender: []string{"<>"}, Recipient: []string{"bill3@foobar.net"}}); n != 1 {
		t.Errorf("%d notices to bill3@foobar.net, want 1", n)
	}
}
