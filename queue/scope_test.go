package queue

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// scopeFixture: two messages of one campaign, each to a gmx.de, a
// gmail.com and an example.org recipient (two at gmail.com in the first).
func scopeFixture(t *testing.T) *Queue {
	q, _ := openTest(t)
	put(t, q,
		msg(0x10, "spam@bad.example", t0, "a@gmx.de", "one@gmail.com", "two@gmail.com", "c@example.org"),
		msg(0x20, "spam@bad.example", t0, "b@gmx.de", "three@gmail.com", "d@example.org"),
	)
	return q
}

func pendingAddrs(t *testing.T, q *Queue, id ID) []string {
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

// A recipient filter given to cancel cancels those recipients only; the
// others stay, and the message with them.
func TestCancelScopeRecipientDomain(t *testing.T) {
	q := scopeFixture(t)
	dry, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"@gmx.de"}}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Count != 2 || dry.Parts != 2 || dry.Kept != 2 || dry.Scope != "at gmx.de" || !maps.Equal(dry.Domains, map[string]int{"gmx.de": 2}) {
		t.Errorf("dry run = %+v", dry)
	}
	res, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"@gmx.de"}}})
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
	res, err = q.Cancel(t.Context(), CancelRequest{Filter: Filter{Domain: []string{"example.org"}}})
	if err != nil || res.Count != 2 || res.Parts != 2 || res.Scope != "at example.org" {
		t.Fatalf("cancel -d example.org = %+v, %v", res, err)
	}
	if got := pendingAddrs(t, q, 0x20); !slices.Equal(got, []string{"three@gmail.com"}) {
		t.Errorf("0x20 pending after cancel -d = %v", got)
	}
	// Cancelling the last pending recipients removes the message.
	res, _ = q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"three@gmail.com"}}})
	if res.Count != 1 || res.Kept != 0 || mustCount(t, q, Filter{IDs: []ID{0x20}}) != 0 {
		t.Errorf("cancel of the last recipient: %+v, message left: %d", res, mustCount(t, q, Filter{IDs: []ID{0x20}}))
	}
	checkDue(t, q)
}

// A recipient filter given to retry moves the domains of the matching
// recipients only: the message's other domains keep their due.
func TestRetryScopeRecipient(t *testing.T) {
	q := scopeFixture(t)
	at := testNow.Add(3 * time.Hour)
	res, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{Recipient: []string{"one@gmail.com"}}, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || res.Parts != 1 || res.Kept != 1 || res.Scope != "one@gmail.com" || !maps.Equal(res.Domains, map[string]int{"gmail.com": 1}) {
		t.Errorf("result = %+v", res)
	}
	for _, d := range mustGet(t, q, 0x10).Domains {
		want := t0
		if d.Name == "gmail.com" {
			want = at
		}
		if !d.Due.Equal(want) {
			t.Errorf("domain %s due %v, want %v", d.Name, d.Due, want)
		}
	}
	// A domain filter: that domain in every message, nothing else.
	res, err = q.Retry(t.Context(), RetryRequest{Filter: Filter{Domain: []string{"gmx.de"}}, At: at})
	if err != nil || res.Count != 2 || res.Parts != 2 || res.Kept != 2 {
		t.Fatalf("retry -d gmx.de = %+v, %v", res, err)
	}
	for _, d := range mustGet(t, q, 0x20).Domains {
		if want := (d.Name == "gmx.de"); d.Due.Equal(at) != want {
			t.Errorf("0x20 domain %s due %v", d.Name, d.Due)
		}
	}
	// Without a recipient or domain: whole messages, no scope.
	res, _ = q.Retry(t.Context(), RetryRequest{Filter: Filter{Sender: []string{"spam@bad.example"}}, At: at})
	if res.Count != 2 || res.Scope != "" || res.Parts != 0 || res.Kept != 0 {
		t.Errorf("retry by sender = %+v", res)
	}
	checkDue(t, q)
}
