package repl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jsonFile writes n demo-shaped messages as JSON Lines to a file and
// returns its path.
func jsonFile(t *testing.T, n int) string {
	t.Helper()
	c := newCLI(t, n)
	c.mustRun(t, "list -o json")
	path := filepath.Join(t.TempDir(), "msgs.jsonl")
	if err := os.WriteFile(path, c.stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Progress bars never reach a pipe or a file: unless stdout and stderr are
// both terminals, an import, a bulk change and a script write exactly what
// they would without bars, even when the bars would show at once.
func TestNoProgressOffTerminal(t *testing.T) {
	defer func(d time.Duration) { progressDelay = d }(progressDelay)
	progressDelay = 0
	path := jsonFile(t, 10)
	for _, tc := range []struct {
		name           string
		stdout, stderr bool
	}{{"pipes", false, false}, {"stderr to a file", true, false}, {"stdout to a pipe", false, true}} {
		c := newCLI(t, -1)
		c.env.Terminal, c.env.StderrTerminal = tc.stdout, tc.stderr
		c.mustRun(t, "queue import "+path)
		got := c.stderr.String()
		c.mustRun(t, "retry --all -t +1h")
		got += c.stderr.String()
		c.mustRun(t, "cancel --all --dry-run -o json")
		got += c.stderr.String()
		c.mustRun(t, `lua local n = 0 for m in queue.each({}) do n = n + 1 end`)
		got += c.stderr.String()
		golden(t, "progress-off-terminal.txt", got)
	}
}

// On a terminal, work that outlasts the delay shows a go-pretty bar on
// stderr, complete at the end; work that ends first shows none.
func TestProgressOnTerminal(t *testing.T) {
	defer func(d time.Duration) { progressDelay = d }(progressDelay)
	path := jsonFile(t, 200)

	progressDelay = time.Hour
	c := newCLI(t, -1)
	c.env.Terminal, c.env.StderrTerminal = true, true
	c.mustRun(t, "queue import "+path)
	if got := c.stderr.String(); got != "Imported 206 message(s).\n" {
		t.Errorf("quick import on a terminal wrote %q", got)
	}

	progressDelay = 0
	c = newCLI(t, -1)
	c.env.Terminal, c.env.StderrTerminal = true, true
	c.mustRun(t, "queue import "+path)
	got := c.stderr.String()
	if !strings.Contains(got, "Importing msgs.jsonl") || !strings.Contains(got, "done!") || !strings.HasSuffix(got, "Imported 206 message(s).\n") {
		t.Errorf("import on a terminal, stderr:\n%q", got)
	}
	c.mustRun(t, "retry --all")
	if got := c.stderr.String(); !strings.Contains(got, "Rescheduling") {
		t.Errorf("retry on a terminal, stderr:\n%q", got)
	}
}
