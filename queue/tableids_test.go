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

// BenchmarkSelectedIDs75k reads a selection of 75,000 ids (cancel --all of
// bench/bulk.sh's second step) a row at a time and as one text.
func BenchmarkSelectedIDs75k(b *testing.B) {
	q, _ := openTest(b)
	for _, way := range []struct {
		name string
		read func(tx *Tx) ([]ID, error)
	}{
		{"rows", func(tx *Tx) ([]ID, error) { return tx.queryIDs("SELECT id FROM " + selTable + " ORDER BY id") }},
		{"text", func(tx *Tx) ([]ID, error) { return tx.selected() }},
	} {
		b.Run(way.name, func(b *testing.B) {
			err := q.Preview(context.Background(), func(tx *Tx) error {
				if err := tx.selectInto(Filter{Sender: []string{"nobody@example.com"}}); err != nil {
					return err
				}
				if _, err := tx.tx.ExecContext(tx.ctx, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 75000) INSERT INTO "+selTable+"(id) SELECT i * 4099 + 17 FROM n"); err != nil {
					return err
				}
				b.ResetTimer()
				for range b.N {
					ids, err := way.read(tx)
					if err != nil || len(ids) != 75000 {
						b.Fatalf("%d ids, %v", len(ids), err)
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
