package pgqueue

// qshape's grid (`queue summary --shape`) on PostgreSQL: the same grid as
// the SQLite engine's (queue/summary_shape.go), in one GROUP BY with one
// conditional count per age bucket. By recipient domain it reads the
// domain rows alone (each carries its message's age and size).

import (
	"context"
	"fmt"
	"strings"

	"mqsh/queue"
)

var (
	_ queue.Shaper   = (*Queue)(nil)
	_ queue.TxShaper = (*Tx)(nil)
)

// Shape draws the grid of the messages matching f (see Tx.Shape).
func (q *Queue) Shape(ctx context.Context, f queue.Filter, by string) (*queue.Shape, error) {
	return read(q, ctx, func(tx *Tx) (*queue.Shape, error) { return tx.Shape(f, by) })
}

// Shape groups the messages matching f by recipient domain or by sender
// domain and by age (see queue.Tx.Shape).
func (tx *Tx) Shape(f queue.Filter, by string) (*queue.Shape, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if by != queue.ShapeDomain && by != queue.ShapeSenderDomain {
		return nil, fmt.Errorf("summary shape by %q: want %s or %s", by, queue.ShapeDomain, queue.ShapeSenderDomain)
	}
	key, from, created, size := "d.name", "domains d", "d.msg_created", "d.msg_size"
	if by == queue.ShapeSenderDomain {
		key, from, created, size = "m.rp_domain", "messages m", "m.created", "m.size"
	}
	var a args
	where := ""
	if !f.IsEmpty() {
		s, err := tx.compile(f, &a, 0)
		if err != nil {
			return nil, fmt.Errorf("summary: %w", err)
		}
		if s.empty {
			return queue.NewShape(by), nil
		}
		if by == queue.ShapeDomain {
			where = " WHERE d.msg_id IN (SELECT m.id FROM messages m" + s.where() + ")"
		} else {
			where = s.where()
		}
	}
	// Per bucket, a count of the rows created in its time range: an age
	// below hi is a creation time after now - hi, so each row costs one or
	// two comparisons per bucket. (Grouping by domain and bucket instead,
	// with width_bucket, measured slower: the hash of both keys is sized
	// for many more groups than there are.)
	now := tx.q.clock().Unix()
	var b strings.Builder
	b.WriteString("SELECT " + key + ", count(*), coalesce(sum(" + size + "), 0)::bigint")
	lo := int64(-1)
	for _, d := range queue.AgeBuckets {
		hi := int64(d.Seconds())
		if lo < 0 {
			fmt.Fprintf(&b, ", count(*) FILTER (WHERE %s > %d)", created, now-hi)
		} else {
			fmt.Fprintf(&b, ", count(*) FILTER (WHERE %s <= %d AND %s > %d)", created, now-lo, created, now-hi)
		}
		lo = hi
	}
	fmt.Fprintf(&b, ", count(*) FILTER (WHERE %s <= %d)", created, now-lo)
	b.WriteString(" FROM " + from + where + " GROUP BY 1")
	rows, err := tx.tx.Query(tx.ctx, b.String(), a...)
	if err != nil {
		return nil, tx.q.dbError("summary", err)
	}
	defer rows.Close()
	n := len(queue.AgeBuckets) + 1
	out := queue.NewShape(by)
	dest := make([]any, 3+n)
	for rows.Next() {
		var k string
		r := queue.ShapeRow{Counts: make([]int, n)}
		dest[0], dest[1], dest[2] = &k, &r.Count, &r.Size
		for i := range r.Counts {
			dest[3+i] = &r.Counts[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, tx.q.dbError("summary", err)
		}
		r.Key = k
		if by == queue.ShapeSenderDomain && r.Key == "" {
			r.Key = "<>"
		}
		out.Add(r)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.q.dbError("summary", err)
	}
	out.Sort()
	return out, nil
}
