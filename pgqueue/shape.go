package pgqueue

// qshape's grid (`queue summary --shape`) on PostgreSQL: the same grid as
// the SQLite engine's (queue/summary_shape.go), in one GROUP BY with one
// conditional count per age bucket. By recipient domain it reads the
// domain rows alone (each carries its message's age and size).

import (
	"context"
	"fmt"

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
		s, err := compile(f, &a, 0, tx.q.clock().Unix())
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
	// One row per group and age bucket: width_bucket counts the bucket
	// bounds an age has reached, which is the bucket's index (a message
	// from the future is in the first).
	bounds := make([]int64, len(queue.AgeBuckets))
	for i, d := range queue.AgeBuckets {
		bounds[i] = int64(d.Seconds())
	}
	q := "SELECT " + key + ", width_bucket(" + a.add(tx.q.clock().Unix()) + "::bigint - " + created + ", " + a.add(bounds) + "::bigint[]), count(*), coalesce(sum(" + size + "), 0)::bigint" +
		" FROM " + from + where + " GROUP BY 1, 2 ORDER BY 1"
	rows, err := tx.tx.Query(tx.ctx, q, a...)
	if err != nil {
		return nil, tx.q.dbError("summary", err)
	}
	defer rows.Close()
	out := queue.NewShape(by)
	var r *queue.ShapeRow
	flush := func() {
		if r != nil {
			queue.AddShapeRow(out, *r)
		}
	}
	for rows.Next() {
		var k string
		var bucket, count int
		var sz int64
		if err := rows.Scan(&k, &bucket, &count, &sz); err != nil {
			return nil, tx.q.dbError("summary", err)
		}
		if by == queue.ShapeSenderDomain && k == "" {
			k = "<>"
		}
		if r == nil || r.Key != k {
			flush()
			r = &queue.ShapeRow{Key: k, Counts: make([]int, len(queue.AgeBuckets)+1)}
		}
		r.Count += count
		r.Size += sz
		r.Counts[bucket] += count
	}
	if err := rows.Err(); err != nil {
		return nil, tx.q.dbError("summary", err)
	}
	flush()
	queue.SortShape(out)
	return out, nil
}
