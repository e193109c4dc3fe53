package queue

import (
	"math"
	"testing"
)

// A selection that can match nothing (an id beyond SQLite's integers) sums
// to nothing, whatever the grouping: no groups, or for ages every bucket empty.
func TestSummaryOfNothing(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	f := Filter{IDs: []ID{math.MaxUint64}}
	for _, by := range []string{"domain", "sender", "status", "age"} {
		rows, err := q.Summary(t.Context(), f, by)
		if err != nil {
			t.Fatalf("by %s: %v", by, err)
		}
		if by != "age" {
			if len(rows) != 0 {
				t.Errorf("by %s: %d groups, want none", by, len(rows))
			}
			continue
		}
		if len(rows) != len(AgeBuckets)+1 {
			t.Errorf("by age: %d rows, want every bucket (%d)", len(rows), len(AgeBuckets)+1)
		}
		for _, r := range rows {
			if r.Count != 0 || r.Size != 0 {
				t.Errorf("by age: bucket %s holds %d messages", r.Key, r.Count)
			}
		}
	}
}
