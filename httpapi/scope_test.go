package httpapi

import (
	"context"
	"testing"
	"time"

	"mqsh/queue"
)

// mqsh's rcpt= and domain= given to the bulk routes scope the change to
// those recipients, as on the command line and in Lua; Stalwart's to= and
// text= keep Stalwart's meaning: whole messages.
func TestBulkScope(t *testing.T) {
	e := startServer(t)
	e.load(stalwartSix()...)
	ctx := context.Background()
	var ok bool

	// a: example1.org and example2.org. Retry domain=example1.org moves
	// that domain only.
	at := "2100-01-01T00:00:00Z"
	want, _ := time.Parse(time.RFC3339, at)
	e.data("PATCH", "/api/queue/messages?domain=example1.org&at="+at, &ok)
	m, _ := e.q.Get(ctx, idA)
	if !ok || !m.Domains[0].Due.Equal(want) || m.Domains[1].Due.Equal(want) {
		t.Errorf("PATCH domain=example1.org: %v, dues %v and %v; want only example1.org moved", ok, m.Domains[0].Due, m.Domains[1].Due)
	}

	// c: five domains. DELETE rcpt=@example2.com cancels its two
	// recipients there; c stays for the others.
	e.data("DELETE", "/api/queue/messages?rcpt=@example2.com", &ok)
	m, err := e.q.Get(ctx, idC)
	if !ok || err != nil {
		t.Fatalf("DELETE rcpt=@example2.com: %v, c: %v", ok, err)
	}
	for _, d := range m.Domains {
		for _, r := range d.Recipients {
			if (d.Name == "example2.com") != (r.Status == queue.PermFail) {
				t.Errorf("after DELETE rcpt=@example2.com: %s is %s", r.Address, r.Status.Short())
			}
		}
	}

	// Stalwart's to= removes whole messages.
	e.data("DELETE", "/api/queue/messages?to=example1.com", &ok)
	if _, err := e.q.Get(ctx, idC); !ok || err == nil {
		t.Errorf("DELETE to=example1.com: %v, c still queued (%v)", ok, err)
	}
}
