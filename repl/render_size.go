package repl

import (
	"strconv"
)

// HumanSize renders a byte count for people, in powers of 1024 as du -h and
// qshape's peers do: 512B, 1.1K, 53.6M, 120G (one decimal below 100).
func HumanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v := float64(n)
	unit := 0
	for v >= 1024 && unit < len(sizeUnits)-1 {
		v /= 1024
		unit++
	}
	if v >= 99.95 {
		return strconv.FormatFloat(v, 'f', 0, 64) + sizeUnits[unit]
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + sizeUnits[unit]
}

var sizeUnits = []string{"B", "K", "M", "G", "T", "P", "E"}
