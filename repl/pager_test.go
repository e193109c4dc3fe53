package repl

import (
	"strings"
	"testing"
)

// pageTables splits what the pager wrote to stdout into its tables.
func pageTables(out string) []string {
	// Each table starts with its header row, after its top rule.
	var tables []string
	parts := strings.Split(out, "| ID ")
	for _, p := range parts[1:] {
		tables = append(tables, "| ID "+p)
	}
	return tables
}

// On a terminal the list pages fit the screen: each page, with the lines
// around it, takes at most the terminal's height, and holds as many
// messages as fit rather than a fixed count; -p still fixes the count.
func TestPagerFitsScreen(t *testing.T) {
	for _, format := range []string{"table", "wide"} {
		c := newCLI(t, 40)
		c.env.Terminal = true
		keys := 0
		c.env.ReadKey = func() (rune, error) { keys++; return ' ', nil }
		const height = 30
		c.env.Height = func() int { return height }
		c.mustRun(t, "list -o "+format)
		tables := pageTables(c.stdout.String())
		if len(tables) < 3 || keys != len(tables)-1 {
			t.Fatalf("%s: %d pages, %d key presses", format, len(tables), keys)
		}
		for i, tb := range tables {
			// From its header row: the lines up to the next table's top
			// rule, which stands for its own; the blank lines around it,
			// the prompt's two lines and the cursor's line.
			lines := strings.Count(tb, "\n") + 2 + 2 + 1
			if i == len(tables)-1 {
				lines++
			}
			if lines > height {
				t.Errorf("%s: page %d takes %d lines of a %d-line screen:\n%s", format, i+1, lines, height, tb)
			}
			if i < len(tables)-1 && lines < height-8 {
				t.Errorf("%s: page %d takes %d lines of %d: the screen is not filled", format, i+1, lines, height)
			}
		}
		if !strings.HasSuffix(c.stderr.String(), "\n46 queued message(s) found.\n") {
			t.Errorf("%s: stderr ends %q", format, c.stderr.String()[max(0, c.stderr.Len()-60):])
		}
	}

	c := newCLI(t, 40)
	c.env.Terminal = true
	c.env.ReadKey = func() (rune, error) { return ' ', nil }
	c.env.Height = func() int { return 30 }
	c.mustRun(t, "list -p 3")
	if n := len(pageTables(c.stdout.String())); n != 16 {
		t.Errorf("list -p 3 of 46 messages: %d pages, want 16", n)
	}
}
