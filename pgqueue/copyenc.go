package pgqueue

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The rows the imports write, encoded as they are built in PostgreSQL's
// binary COPY format (a header, then per row the number of fields and each
// field's length and bytes, -1 for NULL, then a trailer), so that a batch
// goes to the server as one stream without a Go value per field.

// copyCol is a column a COPY writes and the type its values are encoded as,
// in PostgreSQL's words (format_type): the column's type in the schema, as
// binary COPY takes no other.
type copyCol struct{ name, typ string }

// copyHeader opens a binary COPY stream: the signature, no flags, no
// header extension.
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// copyRows is the binary COPY stream of one table's rows.
type copyRows struct {
	buf []byte
	n   int // rows
}

func (c *copyRows) reset() { c.buf, c.n = c.buf[:0], 0 }

// row starts a row of fields values.
func (c *copyRows) row(fields int) {
	if len(c.buf) == 0 {
		c.buf = append(c.buf, copyHeader...)
	}
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(fields))
	c.n++
}

func (c *copyRows) null() { c.buf = binary.BigEndian.AppendUint32(c.buf, math.MaxUint32) }

func (c *copyRows) int8(v int64) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 8)
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(v))
}

func (c *copyRows) int4(v int32) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 4)
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(v))
}

func (c *copyRows) int2(v int16) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 2)
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(v))
}

// text writes s ("" is the empty string, not NULL).
func (c *copyRows) text(s string) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(s)))
	c.buf = append(c.buf, s...)
}

// optText writes "" as NULL.
func (c *copyRows) optText(s string) {
	if s == "" {
		c.null()
		return
	}
	c.text(s)
}

// bytea writes b as it is.
func (c *copyRows) bytea(b []byte) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(b)))
	c.buf = append(c.buf, b...)
}

// optInt8 writes 0 as NULL.
func (c *copyRows) optInt8(v int64) {
	if v == 0 {
		c.null()
		return
	}
	c.int8(v)
}

// inet writes a host address (PostgreSQL's inet: family, prefix bits, not
// a CIDR, address length, address), NULL when ip is not one.
func (c *copyRows) inet(ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		c.null()
		return
	}
	a = a.Unmap().WithZone("")
	b := a.AsSlice()
	family := byte(2) // PGSQL_AF_INET
	if a.Is6() {
		family = 3 // PGSQL_AF_INET6
	}
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(4+len(b)))
	c.buf = append(c.buf, family, byte(a.BitLen()), 0, byte(len(b)))
	c.buf = append(c.buf, b...)
}

// int4Of is v as an integer column's value, or an error naming what when
// it does not fit.
func int4Of(what string, v int) (int32, error) {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%s %d is out of range (%d to %d)", what, v, math.MinInt32, math.MaxInt32)
	}
	return int32(v), nil
}

// copyIn writes the rows of c into table with one COPY.
func copyIn(ctx context.Context, db pgx.Tx, table string, cols []copyCol, c *copyRows, freeze bool) error {
	var sql strings.Builder
	sql.WriteString("COPY ")
	sql.WriteString(pgx.Identifier{table}.Sanitize())
	sql.WriteString(" (")
	for i, col := range cols {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString(pgx.Identifier{col.name}.Sanitize())
	}
	sql.WriteString(") FROM STDIN (FORMAT binary")
	if freeze {
		sql.WriteString(", FREEZE")
	}
	sql.WriteString(")")
	c.buf = binary.BigEndian.AppendUint16(c.buf, math.MaxUint16) // the trailer: -1 fields
	_, err := db.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(c.buf), sql.String())
	return err
}
