package repl

import (
	"strings"
	"testing"
)

// At a terminal, a trim of more rows than --confirm-over is asked about
// first; n changes nothing, y or --yes trims; batch mode does not ask.
func TestAuditTrimAsksAtATerminal(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "queue trash retention 0") // nothing kept for undo
	for range 3 {
		c.mustRun(t, "queue retry --all")
	}
	c.env.ConfirmOver = 2
	var answer rune
	asked := 0
	c.env.ReadKey = func() (rune, error) { asked++; return answer, nil }
	trim := "queue audit trim --before 2100-01-01"

	answer = 'n'
	err := c.run(t, trim)
	if err == nil || err.Error() != "Nothing was changed." || asked != 1 || !strings.Contains(c.stderr.String(), "Trim 5 audit rows, up to #5 (") {
		t.Fatalf("answered n: %v, asked %d, stderr %q", err, asked, c.stderr.String())
	}
	c.mustRun(t, "queue audit trim --before 2100-01-01 --dry-run")
	if asked != 1 || !strings.Contains(c.stderr.String(), "would trim 5 audit row(s)") {
		t.Fatalf("a dry run asked (%d) or changed: %q", asked, c.stderr.String())
	}

	answer = 'y'
	c.mustRun(t, trim)
	if asked != 2 || !strings.Contains(c.stderr.String(), "Trimmed 5 audit row(s)") {
		t.Fatalf("answered y: asked %d, stderr %q", asked, c.stderr.String())
	}

	// Few rows, --yes, or batch mode: no question.
	for range 3 {
		c.mustRun(t, "queue retry --all")
	}
	c.mustRun(t, trim+" --yes")
	c.env.ConfirmOver = 1000
	c.mustRun(t, "queue retry --all")
	c.mustRun(t, trim)
	c.env.ConfirmOver = 0
	c.env.Batch = true
	c.mustRun(t, "queue retry --all")
	c.mustRun(t, trim)
	if asked != 2 {
		t.Errorf("asked %d times, want 2", asked)
	}
}
