package queue

import (
	"fmt"
	"strconv"
	"time"
)

// Message ids: their text form, and how ids for new messages are minted.

// ID identifies a queued message. IDs are unique and grow with time; they are
// shown as upper-case hex without padding (32B91F716) and carried as decimal
// integers in JSON.
type ID uint64

// String returns the id as upper-case hex, the form every table shows. It
// makes one allocation: a walk over a queue turns every id into text.
func (id ID) String() string {
	var buf [16]byte
	i := len(buf)
	for v := uint64(id); ; v >>= 4 {
		i--
		buf[i] = "0123456789ABCDEF"[v&15]
		if v < 16 {
			break
		}
	}
	return string(buf[i:])
}

// ParseID reads a hex id, in either case, as typed by a user.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || s == "" {
		return 0, fmt.Errorf("invalid id %q: want a hexadecimal message id such as 32B91F716", s)
	}
	return ID(v), nil
}

// Message ids for new messages have Stalwart's snowflake shape: milliseconds
// since snowflakeEpoch shifted left by 21 bits, a 12-bit sequence shifted by 9,
// and a 9-bit node number (0 here).
var snowflakeEpoch = time.Unix(snowflakeEpochUnix, 0)

// snowflakeEpochUnix is the snowflake epoch in unix seconds
// (2021-09-22T03:06:40Z), as schema step 7's partial indexes spell it.
const snowflakeEpochUnix = 1632280000

// snowflake returns the id Stalwart would give a message queued at t with
// sequence number seq (0-4095) on node 0.
func snowflake(t time.Time, seq int) ID {
	ms := t.Sub(snowflakeEpoch).Milliseconds()
	if ms < 0 {
		ms = 0
	}
	return ID(uint64(ms)<<21 | uint64(seq&0xFFF)<<9)
}

// NextSlot is the first id of the sequence slot after id's: the low 9 bits
// of an id are its node part, left zero here.
func NextSlot(id ID) ID { return id | 511 + 1 }

// newID gives out an id for a message created at t: the snowflake of t, or
// the next sequence slot after the highest id so far, whichever is larger, so
// ids grow strictly even within one millisecond and across processes (the
// write transaction serialises them).
func (ins *inserter) newID(t time.Time) ID {
	ins.last = NewID(t, ins.last)
	return ins.last
}
