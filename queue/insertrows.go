package queue

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The rows of a batch as bound values: each table's rows are written by
// INSERT statements of many rows each (VALUES (?, ...), (?, ...), ...), run
// through the driver's query path, which binds every value and takes the
// statement's step in one call into SQLite. That costs the inserting
// goroutine less than SQLite reading the rows out of a JSON array, column by
// column (BENCHMARKS.md, "Import ... fourth session").

// insertChunk is the most rows one INSERT statement writes. A batch's rows
// go out in statements of insertChunk rows, and the rest in statements of
// powers of two (at most one of each size), so that a handful of
// statements, prepared once and kept by the connection, serve every batch.
const insertChunk = 64

// boundRows are the rows of one table, each value ready to bind.
type boundRows struct {
	vals []any // n rows of the table's columns, in insertCols' order
	row  int   // values in the open row
	n    int   // rows

	// The last value of each column, boxed: a value as its column's last
	// (a message's id in each of its rows, a domain's name or a reply
	// repeated from message to message) is not boxed again, which spares
	// the decoding goroutines most of the allocations of a batch.
	last [maxInsertCols]any
}

// maxInsertCols is the most columns of a table in insertCols.
const maxInsertCols = 16

func (r *boundRows) int(v int64) {
	if x, ok := r.last[r.row].(int64); !ok || x != v {
		r.last[r.row] = v
	}
	r.vals = append(r.vals, r.last[r.row])
	r.row++
}

func (r *boundRows) null() { r.vals = append(r.vals, nil); r.row++ }

func (r *boundRows) str(s string) {
	if x, ok := r.last[r.row].(string); !ok || x != s {
		r.last[r.row] = s
	}
	r.vals = append(r.vals, r.last[r.row])
	r.row++
}

// optStr stores "" as NULL.
func (r *boundRows) optStr(s string) {
	if s == "" {
		r.null()
		return
	}
	r.str(s)
}

// optTime stores a time as unix seconds, the zero time as NULL.
func (r *boundRows) optTime(t time.Time) {
	if t.IsZero() {
		r.null()
		return
	}
	r.int(t.Unix())
}

// orLower stores NULL when s equals its lower-case form lc, else s: the
// space-saving form of the address columns.
func (r *boundRows) orLower(s, lc string) {
	if s == lc {
		r.null()
		return
	}
	r.str(s)
}

// end finishes a row of ncol columns; the columns not given are NULL.
func (r *boundRows) end(ncol int) {
	for ; r.row < ncol; r.row++ {
		r.vals = append(r.vals, nil)
	}
	r.row = 0
	r.n++
}

// truncate keeps the first n rows, of ncol columns.
func (r *boundRows) truncate(n, ncol int) {
	clear(r.vals[n*ncol:])
	r.vals, r.row, r.n = r.vals[:n*ncol], 0, n
}

func (r *boundRows) reset() {
	clear(r.vals) // no strings kept alive by a reused batch
	r.vals, r.row, r.n = r.vals[:0], 0, 0
}

// insertTable is one table the inserter writes.
type insertTable struct {
	name string
	ncol int
	sql  sync.Map // rows (int) -> the INSERT of that many rows
}

var (
	msgTable  = newInsertTable("messages")
	domTable  = newInsertTable("domains")
	rcptTable = newInsertTable("recipients")
	bodyTable = newInsertTable("bodies")
)

func newInsertTable(name string) *insertTable {
	n := len(strings.Split(insertCols[name], ", "))
	if n > maxInsertCols {
		panic("queue: more columns in " + name + " than maxInsertCols")
	}
	return &insertTable{name: name, ncol: n}
}

// insertSQL returns the INSERT of n rows.
func (t *insertTable) insertSQL(n int) string {
	if q, ok := t.sql.Load(n); ok {
		return q.(string)
	}
	row := "(" + strings.Repeat("?, ", t.ncol-1) + "?)"
	q := "INSERT INTO " + t.name + "(" + insertCols[t.name] + ") VALUES " + strings.Repeat(row+", ", n-1) + row
	t.sql.Store(n, q)
	return q
}

// chunkRows is how many rows of the left the next statement writes.
func chunkRows(left int) int {
	if left >= insertChunk {
		return insertChunk
	}
	k := 1
	for 2*k <= left {
		k *= 2
	}
	return k
}

// insertRows writes the rows of t. On failure, done is how many rows were
// written (each statement writes all its rows or none).
func (ins *inserter) insertRows(t *insertTable, r *boundRows) (done int, err error) {
	if len(r.vals) != r.n*t.ncol {
		return 0, fmt.Errorf("internal error: %d values for %d rows of %s", len(r.vals), r.n, t.name)
	}
	for off := 0; off < r.n; {
		k := chunkRows(r.n - off)
		// Run as a query: the driver binds the values and steps in one
		// call into SQLite (its Exec binds them one call at a time).
		rows, err := ins.tx.tx.QueryContext(ins.tx.ctx, t.insertSQL(k), boundArgs(r.vals[off*t.ncol:(off+k)*t.ncol]))
		if err != nil {
			return off, err
		}
		if err := rows.Close(); err != nil {
			return off, err
		}
		off += k
	}
	return r.n, nil
}

// boundArgs are the values of one multi-row INSERT, handed to the write
// connection as a single argument: database/sql would otherwise check and
// convert each of its thousand values and allocate a slice for them at
// every statement (a tenth of the inserting goroutine's time in a big
// import). The values are the int64, string, []byte and nil a boundRows
// holds, which SQLite binds as they are; the connection spreads them into
// the statement's arguments (writeConn.QueryContext).
type boundArgs []any

// CheckNamedValue lets boundArgs through to QueryContext unconverted; any
// other value goes to database/sql's usual conversion
// (driver.NamedValueChecker).
func (c *writeConn) CheckNamedValue(nv *driver.NamedValue) error {
	if _, ok := nv.Value.(boundArgs); ok {
		return nil
	}
	return driver.ErrSkip
}

// QueryContext runs a query (driver.QueryerContext); a single boundArgs
// argument is spread into the statement's arguments, in a slice the
// connection keeps for the next statement (SQLite has bound or copied the
// values when the driver's query returns).
func (c *writeConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) != 1 {
		return c.SQLiteConn.QueryContext(ctx, query, args)
	}
	vals, ok := args[0].Value.(boundArgs)
	if !ok {
		return c.SQLiteConn.QueryContext(ctx, query, args)
	}
	nv := c.args[:0]
	for i, v := range vals {
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	c.args = nv
	defer clear(nv) // no values kept alive by the connection
	return c.SQLiteConn.QueryContext(ctx, query, nv)
}
