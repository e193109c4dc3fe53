package repl

import (
	"strconv"
	"strings"

	"github.com/jedib0t/go-pretty/v6/text"

	"mqsh/queue"
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

// ShapeGrid renders qshape's grid as qshape lays it out: right-aligned
// columns without borders, the key, T (the total), one column per age bucket
// (its upper bound in minutes, the last one "1280+"), and the bytes; the
// TOTAL row first.
func ShapeGrid(s *queue.Shape, color bool) string {
	p := painter{on: color}
	header := []string{"", "T"}
	for _, b := range s.Buckets {
		header = append(header, strings.TrimSuffix(strings.Replace(b, "m+", "+", 1), "m"))
	}
	header = append(header, "Size")
	rows := [][]string{header}
	for _, r := range append([]queue.ShapeRow{s.Total}, s.Rows...) {
		row := []string{clean(r.Key), strconv.Itoa(r.Count)}
		for _, c := range r.Counts {
			row = append(row, strconv.Itoa(c))
		}
		rows = append(rows, append(row, HumanSize(r.Size)))
	}
	widths := make([]int, len(header))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], text.StringWidthWithoutEscSequences(c))
		}
	}
	var b strings.Builder
	for n, r := range rows {
		for i, c := range r {
			if i > 0 {
				b.WriteByte(' ')
			}
			cell := strings.Repeat(" ", widths[i]-text.StringWidthWithoutEscSequences(c)) + c
			if n == 0 || i == 0 && n == 1 {
				cell = p.bold(cell)
			}
			b.WriteString(cell)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
