package enginetest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// The scope of a change (queue/scope.go): a recipient or domain in the
// filter of retry or cancel makes the verb act on those recipients (their
// domains, for retry) only, and leaves the messages' other recipients as
// they were. Both engines must agree: the command line, Lua and the HTTP
// API hand every engine the same Filter.

// scopeFixture: two messages of one campaign, each to a gmx.de, a
// gmail.com and an example.org recipient (two at gmail.com in the first).
func scopeFixture(t *testing.T, s *suite) queue.Backend {
	q, _ := s.queue(t)
	put(t, q,
		msg(0x10, "spam@bad.example", T0, "a@gmx.de", "one@gmail.com", "two@gmail.com", "c@example.org"),
		msg(0x20, "spam@bad.example", T0, "b@gmx.de", "three@gmail.com", "d@example.org"),
	)
	return q
}

func pendingAddrs(t *testing.T, q queue.Backend, id queue.ID) []string {
	t.Helper()
	var out []string
	for _, d := range mustGet(t, q, id).Domains {
		for _, r := range d.Recipients {
			if r.Status.Pending() {
				out = append(out, r.Address)
			}
		}
	}
	return out
}

// cancelScope: cancel -r @gmx.de cancels those recipients only; the others
// stay, and the message with them.
func (s *suite) cancelScope(t *testing.T) {
	ctx := context.Background()
	q := scopeFixture(t, s)
	dry, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"@gmx.de"}}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Count != 2 || dry.Parts != 2 || dry.Kept != 2 || dry.Scope != "at gmx.de" || !maps.Equal(dry.Domains, map[string]int{"gmx.de": 2}) {
		t.Errorf("dry run = %+v", dry)
	}
	res, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"@gmx.de"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2 || res.Parts != 2 || res.Kept != 2 {
		t.Errorf("result = %+v", res)
	}
	if got := pendingAddrs(t, q, 0x10); !slices.Equal(got, []string{"one@gmail.com", "two@gmail.com", "c@example.org"}) {
		t.Errorf("0x10 pending after cancel = %v", got)
	}
	if got := pendingAddrs(t, q, 0x20); !slices.Equal(got, []string{"three@gmail.com", "d@example.org"}) {
		t.Errorf("0x20 pending after cancel = %v", got)
	}
	// The domain filter means the same.
	res, err = q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Domain: []string{"example.org"}}})
	if err != nil || res.Count != 2 || res.Parts != 2 || res.Scope != "at example.org" {
		t.Fatalf("cancel -d example.org = %+v, %v", res, err)
	}
	if got := pendingAddrs(t, q, 0x20); !slices.Equal(got, []string{"three@gmail.com"}) {
		t.Errorf("0x20 pending after cancel -d = %v", got)
	}
	// Either of two patterns, within a domain.
	res, err = q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"one@gmail.com", "a@gmx.de"}, Domain: []string{"gmail.com"}}})
	if err != nil || res.Count != 1 || res.Parts != 1 {
		t.Fatalf("cancel of one of two patterns within gmail.com = %+v, %v", res, err)
	}
	if got := pendingAddrs(t, q, 0x10); !slices.Equal(got, []string{"two@gmail.com"}) {
		t.Errorf("0x10 pending after cancel -r one -r a -d gmail.com = %v", got)
	}
	// Cancelling the last pending recipients removes the message.
	res, _ = q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"three@gmail.com"}}})
	if res.Count != 1 || res.Kept != 0 || mustCount(t, q, queue.Filter{IDs: []queue.ID{0x20}}) != 0 {
		t.Errorf("cancel of the last recipient: %+v, message left: %d", res, mustCount(t, q, queue.Filter{IDs: []queue.ID{0x20}}))
	}
	checkDue(t, q)
	es := auditRows(t, q)
	if len(es) == 0 || es[0].Filter != "rcpt=three@gmail.com" { // newest first
		t.Errorf("audit = %+v", es)
	}
}

// retryScope: retry -r moves the domains of the matching recipients only,
// retry -d that domain in every message; the others keep their due.
func (s *suite) retryScope(t *testing.T) {
	ctx := context.Background()
	q := scopeFixture(t, s)
	at := Now.Add(3 * time.Hour)
	res, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Recipient: []string{"one@gmail.com"}}, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || res.Parts != 1 || res.Kept != 1 || res.Scope != "one@gmail.com" || !maps.Equal(res.Domains, map[string]int{"gmail.com": 1}) {
		t.Errorf("result = %+v", res)
	}
	for _, d := range mustGet(t, q, 0x10).Domains {
		want := T0
		if d.Name == "gmail.com" {
			want = at
		}
		if !d.Due.Equal(want) {
			t.Errorf("domain %s due %v, want %v", d.Name, d.Due, want)
		}
	}
	res, err = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Domain: []string{"gmx.de"}}, At: at})
	if err != nil || res.Count != 2 || res.Parts != 2 || res.Kept != 2 || res.Scope != "at gmx.de" {
		t.Fatalf("retry -d gmx.de = %+v, %v", res, err)
	}
	for _, d := range mustGet(t, q, 0x20).Domains {
		if want := (d.Name == "gmx.de"); d.Due.Equal(at) != want {
			t.Errorf("0x20 domain %s due %v", d.Name, d.Due)
		}
	}
	// Without a recipient or domain: whole messages, no scope.
	res, _ = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Sender: []string{"spam@bad.example"}}, At: at})
	if res.Count != 2 || res.Scope != "" || res.Parts != 0 || res.Kept != 0 {
		t.Errorf("retry by sender = %+v", res)
	}
	checkDue(t, q)
}

// retrySpread: retry's Spread gives the N domains retried dues evenly over
// it, in id order; ExtendExpiry moves expiry after the new due, never
// earlier; a retry past expiry is counted.
func (s *suite) retrySpread(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	var msgs []queue.Message
	for i := 1; i <= 4; i++ {
		msgs = append(msgs, msg(queue.ID(i), "s@bulk.example", T0, "a@gmail.com", "b@yahoo.com"))
	}
	put(t, q, msgs...)
	at := Now.Add(time.Hour)
	res, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Domain: []string{"gmail.com"}}, At: at, Spread: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 4 || !res.First.Equal(at) || !res.Last.Equal(at.Add(90*time.Minute)) || res.PastExpiry != 0 {
		t.Errorf("result = %+v", res)
	}
	for i := 1; i <= 4; i++ {
		m := mustGet(t, q, queue.ID(i))
		if want := at.Add(time.Duration(i-1) * 30 * time.Minute); !m.Domains[0].Due.Equal(want) {
			t.Errorf("message %d gmail.com due %v, want %v", i, m.Domains[0].Due, want)
		}
		if !m.Domains[1].Due.Equal(T0) {
			t.Errorf("message %d yahoo.com moved to %v", i, m.Domains[1].Due)
		}
	}
	checkDue(t, q)
	exp := mustGet(t, q, 1).Domains[0].Expires
	late := exp.Add(24 * time.Hour)
	res, err = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{1}}, At: late, DryRun: true})
	if err != nil || res.PastExpiry != 2 {
		t.Errorf("retry past expiry: %+v, %v; want 2 domains past expiry", res, err)
	}
	res, err = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{1}}, At: late, ExtendExpiry: 24 * time.Hour})
	if err != nil || res.PastExpiry != 0 {
		t.Fatalf("retry with extend: %+v, %v", res, err)
	}
	for _, d := range mustGet(t, q, 1).Domains {
		if !d.Expires.Equal(late.Add(24 * time.Hour)) {
			t.Errorf("%s expires %v, want %v", d.Name, d.Expires, late.Add(24*time.Hour))
		}
	}
	q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{1}}, At: Now, ExtendExpiry: time.Hour})
	if d := mustGet(t, q, 1).Domains[0]; !d.Expires.Equal(late.Add(24 * time.Hour)) {
		t.Errorf("expiry shortened to %v", d.Expires)
	}
	es := auditRows(t, q)
	if len(es) < 3 || !strings.HasSuffix(es[1].Filter, " extend-expiry=24h0m0s") || !strings.HasSuffix(es[2].Filter, " spread=2h0m0s") { // newest first
		t.Errorf("audit %+v", es)
	}
	for _, bad := range []queue.RetryRequest{
		{Filter: queue.Filter{All: true}, Spread: -time.Hour},
		{Filter: queue.Filter{All: true}, ExtendExpiry: time.Millisecond},
		{Filter: queue.Filter{All: true}, Spread: 11 * 365 * 24 * time.Hour},
	} {
		if _, err := q.Retry(ctx, bad); err == nil || !strings.HasPrefix(err.Error(), "retry: ") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
