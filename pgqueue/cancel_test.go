package pgqueue_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"mqsh/queue"
)

// A cancel's per-domain breakdown is counted from the domains it moves to
// the trash in the same statement: it must name every domain of the
// cancelled messages, as many times as they have it, in a dry run, a real
// cancel, and with the trash turned off (deleted for good).
func TestCancelBreakdown(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	for _, ret := range []time.Duration{-1, 0} {
		q := open(t, func() time.Time { return now })
		if ret >= 0 {
			if err := q.SetTrashRetention(ctx, ret); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := q.LoadDemo(ctx, 300, 7); err != nil {
			t.Fatal(err)
		}
		msgs, err := q.List(ctx, queue.Filter{All: true}, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		f := queue.Filter{IDs: []queue.ID{}}
		want := map[string]int{}
		for i, m := range msgs {
			if i%3 != 0 {
				continue
			}
			f.IDs = append(f.IDs, m.ID)
			for _, d := range m.Domains {
				want[d.Name]++
			}
		}
		if len(want) < 5 {
			t.Fatalf("the demo queue gives too few domains: %v", want)
		}
		for _, dry := range []bool{true, false} {
			res, err := q.Cancel(ctx, queue.CancelRequest{Filter: f, DryRun: dry})
			if err != nil {
				t.Fatal(err)
			}
			if res.Count != len(f.IDs) || !maps.Equal(res.Domains, want) {
				t.Errorf("retention %v, dry run %v: cancelled %d of %d, breakdown %v, want %v", ret, dry, res.Count, len(f.IDs), res.Domains, want)
			}
		}
		if n, err := q.Count(ctx, queue.Filter{IDs: f.IDs}); err != nil || n != 0 {
			t.Errorf("retention %v: %d cancelled messages still queued (%v)", ret, n, err)
		}
	}
}
