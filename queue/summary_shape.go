package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
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
// domain and by age. The whole queue is counted from the index
// domains_name or messages_sender_domain, one range per domain and age bucket
// (shapeByRanges), less the grid of the messages filed for removal
// (removals.go) when there are any; a filtered grid is one GROUP BY
// (shapeQuery).
func (tx *Tx) Shape(f Filter, by string) (*Shape, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if by != ShapeDomain && by != ShapeSenderDomain {
		return nil, fmt.Errorf("summary shape by %q: want %s or %s", by, ShapeDomain, ShapeSenderDomain)
	}
	now := tx.q.clock().Unix() // one clock for every part, so that they agree on each bucket
	if f.IsEmpty() {
		s, ok, err := tx.shapeByRanges(by, now)
		if err != nil {
			return nil, err
		}
		if ok {
			return tx.lessFiled(s, by, now)
		}
	}
	sel, err := tx.compile(f, false)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	var ids string
	var args []any
	if !f.IsEmpty() || sel.live {
		ids, args = sel.idsSQL()
	}
	return tx.shapeQuery(by, now, ids, args)
}

// lessFiled returns the grid of the whole queue s less the grid of the
// messages filed for removal, if any, counted at the same clock.
func (tx *Tx) lessFiled(s *Shape, by string, now int64) (*Shape, error) {
	filed, err := tx.hasRemovals()
	if err != nil || !filed {
		return s, err
	}
	gone, err := tx.shapeQuery(by, now, "SELECT id FROM removals", nil)
	if err != nil {
		return nil, err
	}
	return s.minus(gone), nil
}

// minus returns the grid s less the rows of gone (counted the same way, at
// the same clock): rows left with no message are dropped.
func (s *Shape) minus(gone *Shape) *Shape {
	sub := make(map[string]ShapeRow, len(gone.Rows))
	for _, r := range gone.Rows {
		sub[r.Key] = r
	}
	out := NewShape(s.By)
	for _, r := range s.Rows {
		if g, ok := sub[r.Key]; ok {
			r.Count -= g.Count
			r.Size -= g.Size
			r.Counts = slices.Clone(r.Counts)
			for i := range r.Counts {
				r.Counts[i] -= g.Counts[i]
			}
		}
		if r.Count > 0 {
			out.Add(r)
		}
	}
	out.Sort()
	return out
}

// shapeQuery draws the grid at now in one GROUP BY: each row's age buckets
// are summed conditionally, so the rows stream out of the index on the
// grouping key when nothing is selected (ids ""; by domain, out of the
// covering index domains_name, without reading the messages); else ids
// selects the messages counted.
func (tx *Tx) shapeQuery(by string, now int64, ids string, args []any) (*Shape, error) {
	key, from, created, size := "d.name", "domains d INDEXED BY domains_name", "d.msg_created", "d.msg_size"
	if by == ShapeSenderDomain {
		key, from, created, size = "m.rp_domain", "messages m", "m.created", "m.size"
	}
	pre := ""
	if ids != "" {
		pre = "WITH sel(id) AS MATERIALIZED (" + ids + ") "
		if by == ShapeDomain {
			from = "sel CROSS JOIN messages m ON m.id = sel.id CROSS JOIN domains d ON d.msg_id = m.id"
			created, size = "m.created", "m.size"
		} else {
			from = "sel CROSS JOIN messages m ON m.id = sel.id"
		}
	}
	// The age in seconds, then one conditional sum per bucket.
	age := fmt.Sprintf("(%d - %s)", now, created)
	var b strings.Builder
	b.WriteString(pre + "SELECT " + key + ", count(*), coalesce(sum(" + size + "), 0)")
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
	out := NewShape(by)
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
		out.Add(r)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.q.fileError("summary", err)
	}
	out.Sort()
	return out, nil
}

// NewShape returns an empty grid by by, with its column labels.
func NewShape(by string) *Shape {
	n := len(AgeBuckets) + 1
	s := &Shape{By: by, Buckets: make([]string, n), Total: ShapeRow{Key: "TOTAL", Counts: make([]int, n)}}
	for i := range s.Buckets {
		s.Buckets[i] = AgeLabel(i)
	}
	return s
}

// Add appends a row and adds it to the TOTAL row.
func (s *Shape) Add(r ShapeRow) {
	s.Rows = append(s.Rows, r)
	s.Total.Count += r.Count
	s.Total.Size += r.Size
	for i, c := range r.Counts {
		s.Total.Counts[i] += c
	}
}

// Sort puts the rows most messages first, then by key.
func (s *Shape) Sort() {
	slices.SortStableFunc(s.Rows, func(a, b ShapeRow) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// Past this many domains, the grid by domain gives up counting by ranges
// when the domains seen so far average fewer than shapeRangeMinRows rows:
// two statements per domain then cost more than one pass over the index.
const (
	shapeRangeMaxNames = 1000
	shapeRangeMinRows  = 32
)

// shapeByRanges draws the unfiltered grid from a covering index alone (schema
// step 7): by recipient domain domains_name (name, msg_id, msg_created,
// msg_size), by sender domain messages_sender_domain (rp_domain, id, created,
// size). It steps from one domain to the next in the index, and counts each
// age bucket of a domain as one range of message ids: an id is a snowflake of
// its message's creation time, so "created after second T" is "id at or
// above the first id of second T+1" (bucketIDs). The rows whose id does not
// tell their creation second are in a partial index of their own (the
// *_shape_odd indexes); shapeOdd moves each of them from the bucket its id
// put it in to the one its creation time says. No table row is read and no
// expression is evaluated per row. ok is false when the queue has many
// domains with few rows each; the caller then takes the general path.
func (tx *Tx) shapeByRanges(by string, now int64) (s *Shape, ok bool, err error) {
	from, key, id, size := "domains INDEXED BY domains_name", "name", "msg_id", "msg_size"
	if by == ShapeSenderDomain {
		from, key, id, size = "messages INDEXED BY messages_sender_domain", "rp_domain", "id", "size"
	}
	// One statement per domain, one result row per age bucket: bucket i holds
	// the ids from bounds[i] (0 for the last) up to bounds[i-1] (none for
	// bucket 0).
	bounds := bucketIDs(now)
	nb := len(AgeBuckets)
	args := make([]any, 1, 1+nb)
	for _, b := range bounds {
		args = append(args, int64(b))
	}
	var q strings.Builder
	sel := "SELECT count(*), coalesce(sum(" + size + "), 0) FROM " + from + " WHERE " + key + " = ?1"
	for i := 0; i <= nb; i++ {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, "SELECT %d, * FROM (%s", i, sel)
		if i < nb {
			fmt.Fprintf(&q, " AND %s >= ?%d", id, i+2)
		}
		if i > 0 {
			fmt.Fprintf(&q, " AND %s < ?%d", id, i+1)
		}
		q.WriteString(")")
	}
	buckets, err := tx.tx.PrepareContext(tx.ctx, q.String())
	if err != nil {
		return nil, false, tx.q.fileError("summary", err)
	}
	defer buckets.Close()
	next, err := tx.tx.PrepareContext(tx.ctx, "SELECT "+key+" FROM "+from+" WHERE "+key+" > ? ORDER BY "+key+" LIMIT 1")
	if err != nil {
		return nil, false, tx.q.fileError("summary", err)
	}
	defer next.Close()

	s = NewShape(by)
	var name string
	err = tx.tx.QueryRowContext(tx.ctx, "SELECT "+key+" FROM "+from+" ORDER BY "+key+" LIMIT 1").Scan(&name)
	for err == nil {
		if len(s.Rows) >= shapeRangeMaxNames && s.Total.Count < shapeRangeMinRows*len(s.Rows) {
			return nil, false, nil
		}
		r := ShapeRow{Key: name, Counts: make([]int, nb+1)}
		args[0] = name
		if err := tx.shapeBuckets(buckets, args, &r); err != nil {
			return nil, false, err
		}
		s.Add(r)
		err = next.QueryRowContext(tx.ctx, name).Scan(&name)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, tx.q.fileError("summary", err)
	}
	if err := tx.shapeOdd(s, by, now, bounds); err != nil {
		return nil, false, err
	}
	for i := range s.Rows {
		if by == ShapeSenderDomain && s.Rows[i].Key == "" {
			s.Rows[i].Key = "<>"
		}
	}
	s.Sort()
	return s, true, nil
}

// bucketIDs gives, for each bound of AgeBuckets, the first message id of the
// second after it: a message whose id tells its creation second was created
// after now minus the bucket's length when its id is at or above the bound.
func bucketIDs(now int64) []ID {
	out := make([]ID, len(AgeBuckets))
	for i, d := range AgeBuckets {
		out[i] = secondID(now - int64(d.Seconds()) + 1)
	}
	return out
}

// secondID is the first snowflake id of unix second sec (0 before the epoch).
func secondID(sec int64) ID {
	if sec <= snowflakeEpochUnix {
		return 0
	}
	return ID(uint64(sec-snowflakeEpochUnix) * 1000 << 21)
}

// shapeOddWhere is the condition of schema step 7's *_shape_odd partial
// indexes on a table whose id and creation time columns are id and created:
// the id does not tell the creation second. A query must spell it as the
// index does for SQLite to use the index.
func shapeOddWhere(id, created string) string {
	return fmt.Sprintf("%s IS NOT (%s >> 21) / 1000 + %d", created, id, snowflakeEpochUnix)
}

// idBucket is the age bucket bounds puts id in.
func idBucket(id ID, bounds []ID) int {
	for i, b := range bounds {
		if id >= b {
			return i
		}
	}
	return len(bounds)
}

// shapeOdd moves the rows whose id does not tell their creation second
// (schema step 7's *_shape_odd partial indexes, usually empty) from the
// bucket shapeByRanges counted them in to their own. A row's size is in its
// domain's total either way.
func (tx *Tx) shapeOdd(s *Shape, by string, now int64, bounds []ID) error {
	q := "SELECT name, msg_id, msg_created FROM domains INDEXED BY domains_shape_odd WHERE " + shapeOddWhere("msg_id", "msg_created")
	if by == ShapeSenderDomain {
		q = "SELECT rp_domain, id, created FROM messages INDEXED BY messages_shape_odd WHERE " + shapeOddWhere("id", "created")
	}
	rows, err := tx.tx.QueryContext(tx.ctx, q)
	if err != nil {
		return tx.q.fileError("summary", err)
	}
	defer rows.Close()
	at := make(map[string]int, len(s.Rows))
	for i, r := range s.Rows {
		at[r.Key] = i
	}
	for rows.Next() {
		var name string
		var id int64
		var created sql.NullInt64
		if err := rows.Scan(&name, &id, &created); err != nil {
			return err
		}
		i, ok := at[name]
		if !created.Valid || !ok {
			continue // no creation time: it stays where its id put it
		}
		from, to := idBucket(ID(id), bounds), AgeBucket(time.Unix(created.Int64, 0), time.Unix(now, 0))
		s.Rows[i].Counts[from]--
		s.Rows[i].Counts[to]++
		s.Total.Counts[from]--
		s.Total.Counts[to]++
	}
	if err := rows.Err(); err != nil {
		return tx.q.fileError("summary", err)
	}
	return nil
}

// shapeBuckets fills r's counts and totals from the per-bucket statement of
// shapeByRanges.
func (tx *Tx) shapeBuckets(stmt *sql.Stmt, args []any, r *ShapeRow) error {
	rows, err := stmt.QueryContext(tx.ctx, args...)
	if err != nil {
		return tx.q.fileError("summary", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i, n int
		var size int64
		if err := rows.Scan(&i, &n, &size); err != nil {
			return err
		}
		if i < 0 || i >= len(r.Counts) {
			return fmt.Errorf("summary: age bucket %d out of range", i)
		}
		r.Counts[i] += n
		r.Count += n
		r.Size += size
	}
	if err := rows.Err(); err != nil {
		return tx.q.fileError("summary", err)
	}
	return nil
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
