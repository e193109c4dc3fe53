package repl

import (
	"math/rand/v2"
	"strings"
	"testing"

	"mqsh/queue"
)

// renderGrid, the list's fast table, draws what renderTable (go-pretty) draws:
// random cells of several lines, wide runes, colour, cells wider than the
// padding at hand, empty and missing cells.
func TestRenderGridMatchesRenderTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "a", "bill@example.net", "日本語", "émile", "x y", "rcpt1@domain1.test (scheduled)", "1.1 KB", "Wed, 1 Mar 2023 11:46:01 +0000", strings.Repeat("long", 25)}
	p := painter{on: true}
	cell := func() string {
		n := 1 + rng.IntN(3)
		var ls []string
		for range n {
			w := words[rng.IntN(len(words))]
			if rng.IntN(3) == 0 {
				w = p.status(queue.Status(rng.IntN(4)), w)
			}
			ls = append(ls, w)
		}
		return strings.Join(ls, "\n")
	}
	for i := range 500 {
		ncol := 1 + rng.IntN(5)
		var header []string
		if rng.IntN(4) > 0 {
			for range ncol {
				header = append(header, p.bold(words[rng.IntN(len(words))]))
			}
		}
		var rows []tableRow
		for range rng.IntN(6) {
			var cells []string
			for range 1 + rng.IntN(ncol) {
				cells = append(cells, cell())
			}
			rows = append(rows, tableRow{cells: cells})
		}
		if got, want := renderGrid(rows, header), renderTable(rows, header); got != want {
			t.Fatalf("case %d: header %q rows %+v:\n got\n%s\nwant\n%s", i, header, rows, got, want)
		}
	}
	// And the list table of generated messages, with and without colour.
	q, err := queue.Open(t.TempDir()+"/q.db", queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.LoadDemo(t.Context(), 200, 3); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.List(t.Context(), queue.Filter{}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, color := range []bool{false, true} {
		got := ListTable(msgs, color)
		rows, header := listRows(msgs, color)
		if want := renderTable(rows, header); got != want {
			t.Errorf("list table (colour %v) differs from renderTable's", color)
		}
	}
}
