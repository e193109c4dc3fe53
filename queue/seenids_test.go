package queue_test

import (
	"fmt"
	"strings"
	"testing"

	"mqsh/queue"
)

// TestSeenIDsInAndOutOfOrder: an id given twice is refused with the line
// where it was first seen, whether the ids before came in ascending order
// (kept in a list) or not (in a map), and at the switch between the two.
func TestSeenIDsInAndOutOfOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		ids  []queue.ID
		want string // the error of the last Add; "" = none
	}{
		{"ascending", []queue.ID{1, 2, 5, 9}, ""},
		{"the last again", []queue.ID{1, 2, 5, 5}, "message 5 appears twice (first on line 3)"},
		{"an earlier one again", []queue.ID{1, 2, 5, 2}, "message 2 appears twice (first on line 2)"},
		{"the first again", []queue.ID{7, 8, 9, 7}, "message 7 appears twice (first on line 1)"},
		{"out of order, new", []queue.ID{4, 6, 5}, ""},
		{"out of order, then one of the run again", []queue.ID{4, 6, 5, 8, 6}, "message 6 appears twice (first on line 2)"},
		{"out of order, then itself again", []queue.ID{4, 6, 5, 8, 5}, "message 5 appears twice (first on line 3)"},
	} {
		var s queue.SeenIDs
		var err error
		for i, id := range c.ids {
			if err = s.Add(id, i+1); err != nil && i < len(c.ids)-1 {
				t.Fatalf("%s: id %d on line %d refused: %v", c.name, id, i+1, err)
			}
		}
		if got := fmt.Sprint(err); (c.want == "" && err != nil) || (c.want != "" && !strings.Contains(got, c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}
