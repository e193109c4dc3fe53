package remote

import (
	"testing"
	"time"

	"mqsh/queue"
)

// TestServerParamsDueRounding: due bounds go to the server in whole seconds
// rounded outwards, so that its answer holds every message the filter
// matches; past bounds are not sent (the server ignores them).
func TestServerParamsDueRounding(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		f             queue.Filter
		before, after string
	}{
		{queue.Filter{DueBefore: now.Add(90*time.Minute + 300*time.Millisecond)}, "2026-11-01T13:30:01Z", ""},
		{queue.Filter{DueBefore: now.Add(90 * time.Minute)}, "2026-11-01T13:30:00Z", ""},
		{queue.Filter{DueAfter: now.Add(time.Hour + 999*time.Millisecond)}, "", "2026-11-01T13:00:00Z"},
		{queue.Filter{DueAfter: now.Add(-time.Hour), DueBefore: now.Add(-time.Minute)}, "", ""},
		{queue.Filter{DueBefore: now.Add(200 * time.Millisecond)}, "2026-11-01T12:00:01Z", ""},
	} {
		q := serverParams(c.f, now)
		if q.Get("before") != c.before || q.Get("after") != c.after {
			t.Errorf("%v: before=%q after=%q, want %q and %q", c.f, q.Get("before"), q.Get("after"), c.before, c.after)
		}
	}
}
