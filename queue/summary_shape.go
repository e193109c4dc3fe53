package queue

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// Shaper is implemented by a backend that can draw qshape's grid (the SQLite
// engine). A backend without it (a remote Stalwart server) cannot; callers
// say so.
type Shaper interface {
	Shape(ctx context.Context, f Filter, by string) (*Shape, error)
}

// TxShaper is Shaper inside a unit of work (Backend.Run), for Lua.
type TxShaper interface {
	Shape(f Filter, by string) (*Shape, error)
}

var (
	_ Shaper   = (*Queue)(nil)
	_ TxShaper = (*Tx)(nil)
)

// Shape groupings.
const (
	ShapeDomain       = "domain"        // recipient domain: a message counts once in each of its domains
	ShapeSenderDomain = "sender-domain" // the return path's domain ("<>" for bounces)
)

// Shape is qshape's grid: per group, how many messages there are in each
// age bucket (AgeBuckets, by creation time; the last column is older than
// the last bucket), their total and their bytes. Rows come most messages
// first, then by key.
type Shape struct {
	By      string     `json:"by"`      // ShapeDomain or ShapeSenderDomain
	Buckets []string   `json:"buckets"` // the column labels, AgeLabel of each bucket
	Rows    []ShapeRow `json:"rows"`
	// Total is the TOTAL row: each column added up over the rows (so a
	// message with recipients in two domains counts twice by domain).
	Total ShapeRow `json:"total"`
}

// ShapeRow is one row of a Shape.
type ShapeRow struct {
	Key    string `json:"key"`    // the domain, or "TOTAL"
	Count  int    `json:"count"`  // messages, all ages
	Size   int64  `json:"size"`   // their bytes
	Counts []int  `json:"counts"` // per age bucket, as Shape.Buckets
}

// Shape draws the grid of the messages matching f (see Tx.Shape).
func (q *Queue) Shape(ctx context.Context, f Filter, by string) (*Shape, error) {
	var s *Shape
	err := q.View(ctx, func(tx *Tx) (err error) { s, err = tx.Shape(f, by); return })
	return s, err
}

// Shape groups the messages matching f by recipient domain or by sender
// domain and by age, in one GROUP BY: each row's age buckets are summed
// conditionally, so the rows stream out of the index on the grouping key
// when nothing is filtered.
func (tx *Tx) Shape(f Filter, by string) (*Shape, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	var key, from string
	switch by {
	case ShapeDomain:
		key, from = "d.name", "domains d CROSS JOIN messages m ON m.id = d.msg_id"
	case ShapeSenderDomain:
		key, from = "m.rp_domain", "messages m"
	default:
		return nil, fmt.Errorf("summary shape by %q: want %s or %s", by, ShapeDomain, ShapeSenderDomain)
	}
	var args []any
	pre := ""
	if !f.IsEmpty() {
		s, err := tx.compile(f, false)
		if err != nil {
			return nil, fmt.Errorf("summary: %w", err)
		}
		var ids string
		ids, args = s.idsSQL()
		pre = "WITH sel(id) AS MATERIALIZED (" + ids + ") "
		if by == ShapeDomain {
			from = "sel CROSS JOIN messages m ON m.id = sel.id CROSS JOIN domains d ON d.msg_id = m.id"
		} else {
			from = "sel CROSS JOIN messages m ON m.id = sel.id"
		}
	}
	// The age in seconds, then one conditional sum per bucket.
	now := tx.q.clock().Unix()
	age := fmt.Sprintf("(%d - m.created)", now)
	var b strings.Builder
	b.WriteString(pre + "SELECT " + key + ", count(*), coalesce(sum(m.size), 0)")
	lo := int64(-1)
	for _, d := range AgeBuckets {
		hi := int64(d.Seconds())
		if lo < 0 {
			fmt.Fprintf(&b, ", sum(%s < %d)", age, hi)
		} else {
			fmt.Fprintf(&b, ", sum(%s >= %d AND %s < %d)", age, lo, age, hi)
		}
		lo = hi
	}
	fmt.Fprintf(&b, ", sum(%s >= %d)", age, lo)
	b.WriteString(" FROM " + from + " GROUP BY 1")

	rows, err := tx.tx.QueryContext(tx.ctx, b.String(), args...)
	if err != nil {
		return nil, tx.q.fileError("summary", err)
	}
	defer rows.Close()
	n := len(AgeBuckets) + 1
	out := &Shape{By: by, Buckets: make([]string, n), Total: ShapeRow{Key: "TOTAL", Counts: make([]int, n)}}
	for i := range out.Buckets {
		out.Buckets[i] = AgeLabel(i)
	}
	dest := make([]any, 3+n)
	var k sql.NullString
	for rows.Next() {
		r := ShapeRow{Counts: make([]int, n)}
		dest[0], dest[1], dest[2] = &k, &r.Count, &r.Size
		for i := range r.Counts {
			dest[3+i] = &r.Counts[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r.Key = k.String
		if by == ShapeSenderDomain && r.Key == "" {
			r.Key = "<>"
		}
		out.Rows = append(out.Rows, r)
		out.Total.Count += r.Count
		out.Total.Size += r.Size
		for i, c := range r.Counts {
			out.Total.Counts[i] += c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, tx.q.fileError("summary", err)
	}
	slices.SortStableFunc(out.Rows, func(a, b ShapeRow) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

// Fold keeps the first n rows (the largest) and adds the rest up into one
// row keyed "other", so that the TOTAL row still adds up; n <= 0 or a shape
// of at most n+1 rows is left as it is.
func (s *Shape) Fold(n int) {
	if n <= 0 || len(s.Rows) <= n+1 {
		return
	}
	other := ShapeRow{Key: "other", Counts: make([]int, len(s.Buckets))}
	for _, r := range s.Rows[n:] {
		other.Count += r.Count
		other.Size += r.Size
		for i, c := range r.Counts {
			other.Counts[i] += c
		}
	}
	s.Rows = append(s.Rows[:n:n], other)
}
