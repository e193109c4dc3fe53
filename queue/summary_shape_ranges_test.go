package queue

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// shapeWant counts the grid of msgs by one message at a time, in the order
// Shape gives its rows.
func shapeWant(msgs []Message, now time.Time, by string) *Shape {
	rows := map[string]*ShapeRow{}
	var keys []string
	for _, m := range msgs {
		names := []string{"<>"}
		if by == ShapeDomain {
			names = nil
			for _, d := range m.Domains {
				names = append(names, d.Name)
			}
		} else if m.ReturnPath != "" {
			names = []string{domainOf(m.ReturnPath)}
		}
		for _, name := range names {
			r := rows[name]
			if r == nil {
				r = &ShapeRow{Key: name, Counts: make([]int, len(AgeBuckets)+1)}
				rows[name] = r
				keys = append(keys, name)
			}
			r.Counts[ageOf(m.Created, now)]++
			r.Count++
			r.Size += m.Size
		}
	}
	s := NewShape(by)
	for _, k := range keys {
		s.Add(*rows[k])
	}
	s.Sort()
	return s
}

// The grid of the whole queue, by recipient domain and by sender domain
// (bounces as "<>"), counted by index ranges, puts a message created
// exactly on a bucket's bound, a second either side of it, and in the future
// in the same bucket as counting one by one does; with many domains of one
// or two messages each it takes the one-pass path, with the same answer.
// The ranges are ranges of ids: with snowflake ids (as serve and queue add
// mint them) no row is in the odd indexes; with ids that tell nothing of
// the creation time (1, 2, ...: every row odd) or a mix of both, the odd
// rows are moved to their own buckets.
func TestShapeByRangesBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		domains int
		ranges  bool // shapeByRanges answers (rather than leaving it to shapeQuery)
		ids     string
	}{
		{"few domains", 7, true, "counter"},
		{"few domains, snowflake ids", 7, true, "snowflake"},
		{"few domains, mixed ids", 7, true, "mixed"},
		{"many small domains", shapeRangeMaxNames + 50, false, "counter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := openTest(t)
			var ages []time.Duration
			for _, d := range AgeBuckets {
				ages = append(ages, d-time.Second, d, d+time.Second)
			}
			ages = append(ages, 0, -time.Hour, 1000*time.Hour)
			var msgs []Message
			id := ID(1)
			for i := range max(tc.domains, 200) {
				age := ages[i%len(ages)]
				a := fmt.Sprintf("u@d%d.example", i%tc.domains)
				b := fmt.Sprintf("v@d%d.example", (i*7+3)%tc.domains)
				sender := fmt.Sprintf("s@s%d.example", (i*11+1)%tc.domains)
				if i%50 == 0 {
					sender = ""
				}
				created := testNow.Add(-age)
				switch {
				case tc.ids == "snowflake" || tc.ids == "mixed" && i%3 != 0:
					id = snowflake(created, i) // i < 4096: one slot each
				case tc.ids == "mixed":
					id = snowflake(created.Add(time.Duration(i)*time.Minute), i) // another second
				default:
					id = ID(i + 1)
				}
				m := msg(id, sender, created, a, b)
				m.Size = 1000 + int64(i) // not from a snowflake id: 200 of those overflow a sum
				msgs = append(msgs, m)
			}
			put(t, q, msgs...)
			var odd int
			if err := q.reader.QueryRow("SELECT (SELECT count(*) FROM domains INDEXED BY domains_shape_odd WHERE " + shapeOddWhere("msg_id", "msg_created") + ") + " +
				"(SELECT count(*) FROM messages INDEXED BY messages_shape_odd WHERE " + shapeOddWhere("id", "created") + ")").Scan(&odd); err != nil {
				t.Fatal(err)
			}
			if tc.ids == "snowflake" && odd != 0 || tc.ids != "snowflake" && odd == 0 {
				t.Errorf("%d rows in the odd indexes with %s ids", odd, tc.ids)
			}
			for _, by := range []string{ShapeDomain, ShapeSenderDomain} {
				want := shapeWant(msgs, testNow, by)

				err := q.View(t.Context(), func(tx *Tx) error {
					s, ok, err := tx.shapeByRanges(by, tx.q.clock().Unix())
					if err != nil {
						return err
					}
					if ok != tc.ranges {
						t.Errorf("%s: counted by ranges: %v, want %v", by, ok, tc.ranges)
					}
					if ok && !reflect.DeepEqual(s, want) {
						t.Errorf("%s by ranges:\n%+v\nwant\n%+v", by, s, want)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				s, err := q.Shape(t.Context(), Filter{}, by)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(s, want) {
					t.Errorf("Shape by %s:\n%+v\nwant\n%+v", by, s, want)
				}
			}
		})
	}
}

// A queue of schema step 5 gets each domain row's creation time and size
// from its message when it is opened; the inserter fills them for new
// messages; a row stored without them (as a restore of a row trashed before
// step 6 stores it) gets them from its message.
func TestMigrationShapeColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	oldQueue(t, path, 5,
		"INSERT INTO messages(id, rp_lc, rp_domain, created, size, due) VALUES (31, 'a@b.example', 'b.example', 1700000000, 19, 1700000000)",
		"INSERT INTO domains(msg_id, idx, name, status, due, expires) VALUES (31, 0, 'd.example', 0, 1700000000, 1800000000)",
		"INSERT INTO domains(msg_id, idx, name, status, due, expires) VALUES (31, 1, 'e.example', 0, 1700000000, 1800000000)",
	)
	q, err := Open(path, Options{Now: func() time.Time { return time.Unix(1700000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	put(t, q, msg(40, "x@y.example", time.Unix(1600000000, 0), "r@f.example"))
	if _, err := q.writer.Exec("INSERT INTO messages(id, rp_lc, rp_domain, created, size, due) VALUES (50, 'a@b.example', 'b.example', 1500000000, 77, 1700000000)"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.writer.Exec("INSERT INTO domains(msg_id, idx, name, status, due, expires) VALUES (50, 0, 'g.example', 0, 1700000000, 1800000000)"); err != nil {
		t.Fatal(err)
	}
	rows, err := q.writer.Query("SELECT d.msg_id, d.idx, d.msg_created IS m.created AND d.msg_size IS m.size, d.msg_created FROM domains d JOIN messages m ON m.id = d.msg_id ORDER BY 1, 2")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, idx int64
		var same bool
		var created *int64
		if err := rows.Scan(&id, &idx, &same, &created); err != nil {
			t.Fatal(err)
		}
		if !same || created == nil {
			t.Errorf("domain row %d/%d: creation time and size not its message's (msg_created %v)", id, idx, created)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d domain rows, want 4", n)
	}

	// The inserter writes them itself, without the trigger's second write.
	if _, err := q.writer.Exec("DROP TRIGGER domains_shape_fill"); err != nil {
		t.Fatal(err)
	}
	put(t, q, msg(60, "x@y.example", time.Unix(1650000000, 0), "r@h.example"))
	var created, size int64
	if err := q.writer.QueryRow("SELECT msg_created, msg_size FROM domains WHERE msg_id = 60").Scan(&created, &size); err != nil || created != 1650000000 || size != 1060 {
		t.Errorf("inserted domain row: msg_created %d, msg_size %d, %v; want 1650000000, 1060", created, size, err)
	}
	s, err := q.Shape(t.Context(), Filter{}, ShapeDomain)
	if err != nil {
		t.Fatal(err)
	}
	if s.Total.Count != 5 || s.Total.Size != 19+19+1040+77+1060 || s.Total.Counts[0] != 2 || s.Total.Counts[len(AgeBuckets)] != 3 {
		t.Errorf("grid after the upgrade: %+v", s.Total)
	}
}
