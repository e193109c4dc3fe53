package queue

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// ageOf is the bucket of a message created at created, at now, counted
// the slow way.
func ageOf(created, now time.Time) int {
	a := now.Sub(created)
	for i, d := range AgeBuckets {
		if a < d {
			return i
		}
	}
	return len(AgeBuckets)
}

// The grid agrees with the messages counted one by one, by domain and by
// sender domain, with and without a filter; TOTAL adds the rows up; Fold
// keeps the largest rows and sums the rest into "other".
func TestShape(t *testing.T) {
	q, _ := openTest(t)
	r := rand.New(rand.NewPCG(1, 2))
	domains := []string{"gmail.com", "yahoo.com", "example.org", "gmx.de"}
	senders := []string{"a@x.example", "b@y.example", ""}
	var msgs []Message
	for i := range 300 {
		age := time.Duration(r.IntN(30*60)) * time.Minute // up to 30 hours
		if i%50 == 0 {
			age = -time.Minute // created in the future: the first bucket
		}
		rcpts := []string{"u@" + domains[r.IntN(len(domains))]}
		if i%3 == 0 {
			rcpts = append(rcpts, "v@"+domains[r.IntN(len(domains))])
		}
		msgs = append(msgs, msg(ID(1000+i), senders[i%len(senders)], testNow.Add(-age), rcpts...))
	}
	put(t, q, msgs...)

	for _, tc := range []struct {
		by string
		f  Filter
	}{{ShapeDomain, Filter{}}, {ShapeSenderDomain, Filter{}}, {ShapeDomain, Filter{Sender: []string{"a@x.example"}}}, {ShapeSenderDomain, Filter{Domain: []string{"gmail.com"}}}} {
		want := map[string][]int{}
		sizes := map[string]int64{}
		for _, m := range msgs {
			if len(tc.f.Sender) > 0 && !slices.Contains(tc.f.Sender, m.ReturnPath) {
				continue
			}
			if len(tc.f.Domain) > 0 && !slices.ContainsFunc(m.Domains, func(d Domain) bool { return slices.Contains(tc.f.Domain, d.Name) }) {
				continue
			}
			var keys []string
			if tc.by == ShapeDomain {
				for _, d := range m.Domains {
					keys = append(keys, d.Name)
				}
			} else if m.ReturnPath == "" {
				keys = []string{"<>"}
			} else {
				keys = []string{domainOf(m.ReturnPath)}
			}
			for _, k := range keys {
				if want[k] == nil {
					want[k] = make([]int, len(AgeBuckets)+1)
				}
				want[k][ageOf(m.Created, testNow)]++
				sizes[k] += m.Size
			}
		}
		s, err := q.Shape(t.Context(), tc.f, tc.by)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Rows) != len(want) || len(s.Buckets) != len(AgeBuckets)+1 || s.Buckets[0] != "5m" || s.Buckets[len(AgeBuckets)] != "1280m+" {
			t.Fatalf("%s %v: %d rows, want %d; buckets %v", tc.by, tc.f, len(s.Rows), len(want), s.Buckets)
		}
		total := make([]int, len(AgeBuckets)+1)
		for i, row := range s.Rows {
			if !slices.Equal(row.Counts, want[row.Key]) || row.Size != sizes[row.Key] {
				t.Errorf("%s %v: row %s = %v %d, want %v %d", tc.by, tc.f, row.Key, row.Counts, row.Size, want[row.Key], sizes[row.Key])
			}
			n := 0
			for j, c := range row.Counts {
				n += c
				total[j] += c
			}
			if n != row.Count {
				t.Errorf("%s: row %s counts %d, buckets add up to %d", tc.by, row.Key, row.Count, n)
			}
			if i > 0 && s.Rows[i-1].Count < row.Count {
				t.Errorf("%s: rows not by volume: %s before %s", tc.by, s.Rows[i-1].Key, row.Key)
			}
		}
		if !slices.Equal(s.Total.Counts, total) || s.Total.Key != "TOTAL" {
			t.Errorf("%s: TOTAL %v, want %v", tc.by, s.Total.Counts, total)
		}
	}

	s, err := q.Shape(t.Context(), Filter{}, ShapeDomain)
	if err != nil {
		t.Fatal(err)
	}
	total := s.Total
	s.Fold(2)
	if len(s.Rows) != 3 || s.Rows[2].Key != "other" {
		t.Fatalf("fold 2: %+v", s.Rows)
	}
	sum := 0
	for _, r := range s.Rows {
		sum += r.Count
	}
	if sum != total.Count {
		t.Errorf("folded rows add up to %d, TOTAL is %d", sum, total.Count)
	}
	if _, err := q.Shape(t.Context(), Filter{}, "colour"); err == nil {
		t.Error("shape by colour: no error")
	}
}
