package enginetest

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// ageOf is the bucket of a message created at created, at now, counted
// the slow way.
func ageOf(created, now time.Time) int {
	a := now.Sub(created)
	for i, d := range queue.AgeBuckets {
		if a < d {
			return i
		}
	}
	return len(queue.AgeBuckets)
}

// The shape grid (queue.Shaper) agrees with the messages counted one by
// one, by domain and by sender domain, with and without a filter; TOTAL adds
// the rows up; a bad grouping is refused.
func (s *suite) shape(t *testing.T) {
	q, _ := s.queue(t)
	sh, ok := q.(queue.Shaper)
	if !ok {
		t.Fatalf("%T is not a queue.Shaper", q)
	}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	domains := []string{"gmail.com", "yahoo.com", "example.org", "gmx.de"}
	senders := []string{"a@x.example", "b@y.example", ""}
	var msgs []queue.Message
	for i := range 300 {
		age := time.Duration(r.IntN(30*60)) * time.Minute
		if i%50 == 0 {
			age = -time.Minute // created in the future: the first bucket
		}
		rcpts := []string{"u@" + domains[r.IntN(len(domains))]}
		if i%3 == 0 {
			rcpts = append(rcpts, "v@"+domains[r.IntN(len(domains))])
		}
		msgs = append(msgs, msg(queue.ID(1000+i), senders[i%len(senders)], Now.Add(-age), rcpts...))
	}
	put(t, q, msgs...)
	for _, tc := range []struct {
		by string
		f  queue.Filter
	}{{queue.ShapeDomain, queue.Filter{}}, {queue.ShapeSenderDomain, queue.Filter{}},
		{queue.ShapeDomain, queue.Filter{Sender: []string{"a@x.example"}}}, {queue.ShapeSenderDomain, queue.Filter{Domain: []string{"gmail.com"}}}} {
		want := map[string][]int{}
		sizes := map[string]int64{}
		for _, m := range msgs {
			if len(tc.f.Sender) > 0 && !slices.Contains(tc.f.Sender, m.ReturnPath) {
				continue
			}
			if len(tc.f.Domain) > 0 && !slices.ContainsFunc(m.Domains, func(d queue.Domain) bool { return slices.Contains(tc.f.Domain, d.Name) }) {
				continue
			}
			var keys []string
			switch {
			case tc.by == queue.ShapeDomain:
				for _, d := range m.Domains {
					keys = append(keys, d.Name)
				}
			case m.ReturnPath == "":
				keys = []string{"<>"}
			default:
				keys = []string{m.ReturnPath[strings.IndexByte(m.ReturnPath, '@')+1:]}
			}
			for _, k := range keys {
				if want[k] == nil {
					want[k] = make([]int, len(queue.AgeBuckets)+1)
				}
				want[k][ageOf(m.Created, Now)]++
				sizes[k] += m.Size
			}
		}
		g, err := sh.Shape(ctx, tc.f, tc.by)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Rows) != len(want) || len(g.Buckets) != len(queue.AgeBuckets)+1 || g.Buckets[0] != "5m" {
			t.Fatalf("%s %v: %d rows, want %d; buckets %v", tc.by, tc.f, len(g.Rows), len(want), g.Buckets)
		}
		total := make([]int, len(queue.AgeBuckets)+1)
		for i, row := range g.Rows {
			if !slices.Equal(row.Counts, want[row.Key]) || row.Size != sizes[row.Key] {
				t.Errorf("%s %v: row %s = %v %d, want %v %d", tc.by, tc.f, row.Key, row.Counts, row.Size, want[row.Key], sizes[row.Key])
			}
			for j, c := range row.Counts {
				total[j] += c
			}
			if i > 0 && g.Rows[i-1].Count < row.Count {
				t.Errorf("%s: rows not by volume: %s before %s", tc.by, g.Rows[i-1].Key, row.Key)
			}
		}
		if !slices.Equal(g.Total.Counts, total) || g.Total.Key != "TOTAL" {
			t.Errorf("%s: TOTAL %v, want %v", tc.by, g.Total.Counts, total)
		}
	}
	if _, err := sh.Shape(ctx, queue.Filter{}, "colour"); err == nil {
		t.Error("shape by colour: no error")
	}
}
