package queue

import (
	"slices"
	"testing"
)

func mustUndo(t *testing.T, q *Queue, r UndoRequest) UndoResult {
	t.Helper()
	res, err := q.Undo(t.Context(), r)
	if err != nil {
		t.Fatalf("undo %+v: %v", r, err)
	}
	return res
}

// What every engine's undo does the shared suite checks (TestEngine/Undo*).

// A unit (a script run) with a cancel and a hold is undone as one: the
// cancelled message is back and the held one released.
func TestUndoUnitWithHold(t *testing.T) {
	q, _, all := trashQueue(t, 2)
	no := false
	before := fullState(t, q)
	err := q.Update(t.Context(), func(tx *Tx) error {
		if _, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: all[:1]}}); err != nil {
			return err
		}
		_, err := tx.Hold(HoldRequest{Filter: Filter{IDs: all[1:2]}, Reason: "script"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if mustCount(t, q, Filter{}) != 1 || mustCount(t, q, Filter{Held: &no}) != 0 {
		t.Fatal("the unit did not cancel one message and hold the other")
	}
	res, err := q.Undo(t.Context(), UndoRequest{})
	if err != nil || res.Count != 2 || !slices.Equal(res.Verbs, []string{"cancel", "hold"}) {
		t.Fatalf("undo of the unit: %+v %v", res, err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}
