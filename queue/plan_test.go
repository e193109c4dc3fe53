package queue

import (
	"strings"
	"testing"
)

// The secondary indexes a bulk cancel has to maintain row by row are the
// cost of its deletes, so each domain key has one (schema step 7): a page of
// a sender, sender domain, recipient or recipient domain is a walk of one of
// them in id order, stopped after the page, and the shape columns ride along
// at the end of the domain indexes. This test holds the page plans to that
// walk, so an index reordered for the sake of another reader (creation time
// before the id would sort every match of the name first) shows up here.
func TestPagePlansWalkIDsInOrder(t *testing.T) {
	q, _, _ := trashQueue(t, 30)
	for _, c := range []struct {
		name   string
		f      Filter
		index  string
		driver string // the table the plan must search first
	}{
		{"sender", Filter{Sender: []string{"bulk@spam.example"}}, "messages_sender", "m"},
		{"sender domain", Filter{Sender: []string{"@spam.example"}}, "messages_sender_domain", "m"},
		{"recipient", Filter{Recipient: []string{"a1@gmail.com"}}, "recipients_address", "r"},
		{"recipient domain", Filter{Recipient: []string{"@gmail.com"}}, "domains_name", "d"},
		{"domain", Filter{Domain: []string{"gmail.com"}}, "domains_name", "d"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var plan []string
			err := q.View(t.Context(), func(tx *Tx) error {
				s, err := tx.compile(c.f, true)
				if err != nil {
					return err
				}
				qs, args := s.pageSQL(msgCols, 5, 50)
				rows, err := tx.tx.QueryContext(tx.ctx, "EXPLAIN QUERY PLAN "+qs, args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id, parent, unused int
					var detail string
					if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
						return err
					}
					plan = append(plan, detail)
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(plan, "\n")
			if len(plan) == 0 || !strings.HasPrefix(plan[0], "SEARCH "+c.driver+" USING ") || !strings.Contains(plan[0], "INDEX "+c.index+" ") {
				t.Errorf("the page does not start from %s in %s:\n%s", c.index, c.driver, all)
			}
			if strings.Contains(all, "TEMP B-TREE") {
				t.Errorf("the page sorts its matches instead of walking %s in id order:\n%s", c.index, all)
			}
		})
	}
}
