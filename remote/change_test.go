package remote

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// sameResult compares what a change did, locally and remotely.
func sameResult(t *testing.T, what string, got, want queue.Result) {
	t.Helper()
	if want.Domains == nil {
		want.Domains = map[string]int{}
	}
	if got.Count != want.Count || !reflect.DeepEqual(got.IDs, want.IDs) || !reflect.DeepEqual(got.Domains, want.Domains) || got.DryRun != want.DryRun ||
		got.Scope != want.Scope || got.Parts != want.Parts || got.Kept != want.Kept {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// dues returns each message's per-domain due and recipient states.
func state(t *testing.T, b queue.Backend) map[queue.ID]string {
	t.Helper()
	out := map[queue.ID]string{}
	for _, m := range listAll(t, b) {
		var s []string
		for _, d := range m.Domains {
			s = append(s, d.Name+"@"+d.Due.Format(time.TimeOnly))
			for _, r := range d.Recipients {
				s = append(s, r.Address+"="+r.Status.Short())
			}
		}
		out[m.ID] = strings.Join(s, " ")
	}
	return out
}

func TestRetry(t *testing.T) {
	later := time.Date(2023, 3, 1, 13, 0, 0, 0, time.UTC)
	cases := []queue.RetryRequest{
		{Filter: queue.Filter{Sender: []string{"bill3@example.net"}, Domain: []string{"domain2.test"}}, At: later},
		{Filter: queue.Filter{Recipient: []string{"example.org"}}, At: later},
		{Filter: queue.Filter{Domain: []string{"@DOMAIN1.test"}}, At: later},
		{Filter: queue.Filter{IDs: []queue.ID{0x2B91F716, 0x52B91F716}}, At: later},
		{Filter: queue.Filter{Sender: []string{"nobody@example.com"}}, At: later},
		{Filter: queue.Filter{Domain: []string{"domain4.test"}}, At: later, DryRun: true},
		{Filter: queue.Filter{Recipient: []string{"rcpt5@domain1.test"}}, At: later},
	}
	for _, sh := range shapes {
		t.Run(sh.String(), func(t *testing.T) {
			p := newPair(t, sh, 40, Options{})
			for _, r := range cases {
				want, err := p.local.Retry(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				before := len(p.fake.log())
				got, err := p.client.Retry(ctx, r)
				if err != nil {
					t.Fatalf("%+v: %v", r, err)
				}
				sameResult(t, "retry "+r.Filter.String(), got, want)
				if r.DryRun && changes(p.fake.log()[before:]) != 0 {
					t.Errorf("a dry run sent changes: %q", p.fake.log()[before:])
				}
				for _, req := range p.fake.log()[before:] {
					if strings.HasPrefix(req, "PATCH") && !strings.HasPrefix(req, "PATCH /api/queue/messages/") {
						t.Errorf("request %q: want one PATCH per message", req)
					}
					if strings.HasPrefix(req, "PATCH") && !strings.Contains(req, "at=2023-03-01T13%3A00%3A00Z") {
						t.Errorf("request %q lacks at=", req)
					}
				}
			}
			if l, r := state(t, p.local), state(t, p.client); !reflect.DeepEqual(r, l) {
				t.Errorf("after the retries the queues differ:\nremote %v\n local %v", r, l)
			}
		})
	}
}

func TestRetryRefusals(t *testing.T) {
	p := newPair(t, v015, 0, Options{})
	if _, err := p.client.Retry(ctx, queue.RetryRequest{}); !errors.Is(err, queue.ErrEmptyFilter) {
		t.Errorf("empty filter: %v", err)
	}
	if _, err := p.client.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Sender: []string{"@"}}}); err == nil || !strings.Contains(err.Error(), "sender") {
		t.Errorf("bad sender: %v", err)
	}
	for _, r := range []queue.RetryRequest{{Filter: queue.Filter{All: true}, Spread: time.Hour}, {Filter: queue.Filter{All: true}, ExtendExpiry: time.Hour}} {
		if _, err := p.client.Retry(ctx, r); err == nil || !strings.Contains(err.Error(), "--spread and --extend-expiry are not available on the Stalwart server at") {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if n := changes(p.fake.log()); n != 0 {
		t.Errorf("%d changes sent", n)
	}
}

// TestRetryAmbiguous: where the server's substring filter= cannot single out
// the domain asked for, each recipient is named (v0.15), or the retry is
// refused with nothing sent (v0.12, whose filter= matches domain names).
func TestRetryAmbiguous(t *testing.T) {
	created := demoNow.Add(-time.Minute)
	m := queue.Message{ID: 0x1000, ReturnPath: "a@example.net", Created: created, Size: 10}
	for _, d := range []struct{ name, a, b string }{{"example.org", "x", "y"}, {"example.org.uk", "z", "w"}} {
		m.Domains = append(m.Domains, queue.Domain{Name: d.name, Due: created, Expires: created.Add(time.Hour),
			Recipients: []queue.Recipient{{Address: d.a + "@" + d.name}, {Address: d.b + "@" + d.name}}})
	}
	later := demoNow.Add(time.Hour)
	r := queue.RetryRequest{Filter: queue.Filter{Domain: []string{"example.org"}}, At: later}

	f := newFake(v015, func() time.Time { return demoNow }, []queue.Message{m})
	c := openFake(t, f, Options{})
	res, err := c.Retry(ctx, r)
	if err != nil || res.Count != 1 {
		t.Fatalf("v0.15: %+v, %v", res, err)
	}
	got, _ := c.Get(ctx, 0x1000)
	if !got.Domains[0].Due.Equal(later) || got.Domains[1].Due.Equal(later) {
		t.Errorf("v0.15: dues %v, %v: want only example.org moved", got.Domains[0].Due, got.Domains[1].Due)
	}
	var patches []string
	for _, l := range f.log() {
		if strings.HasPrefix(l, "PATCH") {
			patches = append(patches, l)
		}
	}
	if len(patches) != 2 || !strings.HasSuffix(patches[0], "filter=x%40example.org") || !strings.HasSuffix(patches[1], "filter=y%40example.org") {
		t.Errorf("v0.15 requests %q: want each recipient of example.org named", patches)
	}

	f = newFake(v012, func() time.Time { return demoNow }, []queue.Message{m})
	c = openFake(t, f, Options{})
	_, err = c.Retry(ctx, r)
	if err == nil || !strings.Contains(err.Error(), "cannot retry only the domains of the recipients at example.org") {
		t.Errorf("v0.12: %v: want a refusal", err)
	}
	if n := changes(f.log()); n != 0 {
		t.Errorf("v0.12: %d changes sent", n)
	}
}

func TestCancel(t *testing.T) {
	cases := []queue.CancelRequest{
		{Filter: queue.Filter{IDs: []queue.ID{0x22B91F716}, Recipient: []string{"@domain2.test"}}},
		{Filter: queue.Filter{Sender: []string{"<>"}, Recipient: []string{"delay@example.org"}}},
		{Filter: queue.Filter{IDs: []queue.ID{0x12B91F716}, Recipient: []string{"rcpt?@domain1.test"}}},
		{Filter: queue.Filter{Recipient: []string{"john@example.org"}}},
		{Filter: queue.Filter{Domain: []string{"domain4.test"}}, DryRun: true},
		{Filter: queue.Filter{Recipient: []string{"*@domain3.test"}}, DryRun: true},
		{Filter: queue.Filter{Sender: []string{"bill3@example.net"}, Domain: []string{"domain2.test"}}},
		{Filter: queue.Filter{Sender: []string{"nobody@example.com"}}},
	}
	for _, sh := range shapes {
		t.Run(sh.String(), func(t *testing.T) {
			p := newPair(t, sh, 40, Options{})
			for _, r := range cases {
				want, err := p.local.Cancel(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				before := len(p.fake.log())
				got, err := p.client.Cancel(ctx, r)
				if err != nil {
					t.Fatalf("%+v: %v", r, err)
				}
				sameResult(t, "cancel "+r.Filter.String(), got, want)
				if r.DryRun && changes(p.fake.log()[before:]) != 0 {
					t.Errorf("a dry run sent changes: %q", p.fake.log()[before:])
				}
			}
			if l, r := state(t, p.local), state(t, p.client); !reflect.DeepEqual(r, l) {
				t.Errorf("after the cancels the queues differ:\nremote %v\n local %v", r, l)
			}
			// Whole messages are removed with a DELETE without filter.
			if !containsPrefix(p.fake.log(), "DELETE /api/queue/messages/"+decimal(0x42B91F716)) {
				t.Errorf("no DELETE of 42B91F716 in %q", p.fake.log())
			}
		})
	}
}

// TestChangeForbidden: a viewer may list but not change; the error is 403's
// sentence and nothing changed.
func TestChangeForbidden(t *testing.T) {
	p := newPair(t, v015, 0, Options{Credentials: "viewer:look"})
	if _, err := p.client.List(ctx, queue.Filter{}, queue.Page{}); err != nil {
		t.Fatal(err)
	}
	_, err := p.client.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{All: true}})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "message-queue-delete") || !strings.Contains(err.Error(), "viewer") {
		t.Errorf("cancel as viewer: %v", err)
	}
	if strings.Contains(err.Error(), "look") {
		t.Errorf("the secret is in the error: %v", err)
	}
	if got := len(listAll(t, p.client)); got != 6 {
		t.Errorf("%d messages left, want 6", got)
	}
	if _, err := p.client.SetPaused(ctx, true); !errors.Is(err, ErrForbidden) {
		t.Errorf("pause as viewer: %v", err)
	}
}

func TestPause(t *testing.T) {
	p := newPair(t, v012, 0, Options{})
	steps := []struct {
		set           bool
		changed, want bool
	}{{true, true, true}, {true, false, true}, {false, true, false}, {false, false, false}}
	if paused, err := p.client.Paused(ctx); err != nil || paused {
		t.Fatalf("paused = %v, %v", paused, err)
	}
	for _, s := range steps {
		changed, err := p.client.SetPaused(ctx, s.set)
		if err != nil || changed != s.changed {
			t.Fatalf("SetPaused(%v) = %v, %v; want changed %v", s.set, changed, err, s.changed)
		}
		if paused, err := p.client.Paused(ctx); err != nil || paused != s.want {
			t.Fatalf("after SetPaused(%v): paused = %v, %v", s.set, paused, err)
		}
	}
	if !containsPrefix(p.fake.log(), "PATCH /api/queue/status/stop") || !containsPrefix(p.fake.log(), "PATCH /api/queue/status/start") {
		t.Errorf("requests %q: want stop and start", p.fake.log())
	}
}
