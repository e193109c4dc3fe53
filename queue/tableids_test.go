package queue

import (
	"context"
	"slices"
	"testing"
)

// tableIDs reads a table's ids as one text and gives them in the order
// ORDER BY id does, the largest ids too, and nothing for an empty table.
func TestTableIDsInIDOrder(t *testing.T) {
	q, _ := openTest(t)
	var msgs []Message
	for _, id := range []ID{5, 1<<62 + 7, 3, 1 << 61, 1000, 1 << 62} {
		msgs = append(msgs, msg(id, "s@example.com", testNow, "a@example.org"))
	}
	put(t, q, msgs...)
	err := q.Update(context.Background(), func(tx *Tx) error {
		if err := tx.selectInto(Filter{Sender: []string{"nobody@example.com"}}); err != nil {
			return err
		}
		if got, err := tx.selected(); err != nil || len(got) != 0 {
			t.Errorf("empty selection: %v, %v", got, err)
		}
		if err := tx.selectInto(Filter{All: true}); err != nil {
			return err
		}
		want, err := tx.queryIDs("SELECT id FROM " + selTable + " ORDER BY id")
		if err != nil {
			return err
		}
		for _, table := range []string{selTable, "messages"} {
			got, err := tx.tableIDs(table)
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", table, got, want)
			}
		}
		if len(want) != 6 || want[0] != 3 || want[5] != 1<<62+7 {
			t.Errorf("ORDER BY id gave %v", want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
