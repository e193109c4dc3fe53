package queue

import (
	"strconv"
	"strings"
	"testing"
)

// An id reads as upper-case hex without padding, and ParseID reads it back.
func TestIDString(t *testing.T) {
	for _, id := range []ID{0, 1, 0xF, 0x10, 0x32B91F716, 0x3056D4599D33FFC, 1<<63 - 1, 1<<64 - 1} {
		want := strings.ToUpper(strconv.FormatUint(uint64(id), 16))
		if got := id.String(); got != want {
			t.Errorf("ID(%d).String() = %s, want %s", uint64(id), got, want)
		}
		if back, err := ParseID(id.String()); err != nil || back != id {
			t.Errorf("ParseID(%s) = %v, %v", id, back, err)
		}
	}
}
