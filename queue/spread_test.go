package queue

import (
	"strings"
	"testing"
	"time"
)

// retry --spread: the N domains retried come due evenly over the
// duration, in id order; --extend-expiry moves expiry after the new due;
// a retry past expiry is counted.
func TestRetrySpreadAndExpiry(t *testing.T) {
	q, _ := openTest(t)
	var msgs []Message
	for i := 1; i <= 4; i++ {
		msgs = append(msgs, msg(ID(i), "s@bulk.example", t0, "a@gmail.com", "b@yahoo.com"))
	}
	put(t, q, msgs...)
	at := testNow.Add(time.Hour)

	// Four messages, gmail.com only: 4 domains over 2h, 30m apart.
	res, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{Domain: []string{"gmail.com"}}, At: at, Spread: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 4 || !res.First.Equal(at) || !res.Last.Equal(at.Add(90*time.Minute)) || res.PastExpiry != 0 {
		t.Errorf("result = %+v", res)
	}
	for i := 1; i <= 4; i++ {
		m := mustGet(t, q, ID(i))
		if want := at.Add(time.Duration(i-1) * 30 * time.Minute); !m.Domains[0].Due.Equal(want) {
			t.Errorf("message %d gmail.com due %v, want %v", i, m.Domains[0].Due, want)
		}
		if !m.Domains[1].Due.Equal(t0) {
			t.Errorf("message %d yahoo.com moved to %v", i, m.Domains[1].Due)
		}
	}
	checkDue(t, q)

	// Past expiry (t0+5d): counted, expiry left alone.
	late := t0.Add(6 * 24 * time.Hour)
	res, err = q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: []ID{1}}, At: late, DryRun: true})
	if err != nil || res.PastExpiry != 2 {
		t.Errorf("retry past expiry: %+v, %v; want 2 domains past expiry", res, err)
	}
	// --extend-expiry: expiry a day after the new due; none past it.
	res, err = q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: []ID{1}}, At: late, ExtendExpiry: 24 * time.Hour})
	if err != nil || res.PastExpiry != 0 {
		t.Fatalf("retry with extend: %+v, %v", res, err)
	}
	for _, d := range mustGet(t, q, 1).Domains {
		if !d.Expires.Equal(late.Add(24 * time.Hour)) {
			t.Errorf("%s expires %v, want %v", d.Name, d.Expires, late.Add(24*time.Hour))
		}
	}
	// Never earlier: a retry sooner with a short extension leaves it.
	q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: []ID{1}}, At: testNow, ExtendExpiry: time.Hour})
	if d := mustGet(t, q, 1).Domains[0]; !d.Expires.Equal(late.Add(24 * time.Hour)) {
		t.Errorf("expiry shortened to %v", d.Expires)
	}
	audit, _ := q.Audit(t.Context(), AuditQuery{Verb: "retry", Limit: 2})
	if len(audit) != 2 || !strings.HasSuffix(audit[1].Filter, " extend-expiry=24h0m0s") {
		t.Errorf("audit %+v", audit)
	}

	for _, bad := range []RetryRequest{
		{Filter: Filter{All: true}, Spread: -time.Hour},
		{Filter: Filter{All: true}, ExtendExpiry: time.Millisecond},
		{Filter: Filter{All: true}, Spread: 11 * 365 * 24 * time.Hour},
	} {
		if _, err := q.Retry(t.Context(), bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
