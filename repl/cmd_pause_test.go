package repl

import (
	"context"
	"strings"
	"testing"
)

// TestPauseResume: queue pause and queue resume switch the queue's delivery
// and say whether anything changed.
func TestPauseResume(t *testing.T) {
	c := newCLI(t, 0)
	for _, step := range []struct {
		line, out string
		paused    bool
	}{
		{"queue pause", "Delivery paused for ", true},
		{"queue pause", "Delivery was already paused for ", true},
		{"queue resume", "Delivery resumed for ", false},
		{"resume", "Delivery was already resumed for ", false},
	} {
		if err := c.run(t, step.line); err != nil {
			t.Fatalf("%s: %v", step.line, err)
		}
		if !strings.HasPrefix(c.stdout.String(), step.out) {
			t.Errorf("%s: %q, want %q...", step.line, c.stdout.String(), step.out)
		}
		p, err := c.env.Queue.Paused(context.Background())
		if err != nil || p != step.paused {
			t.Errorf("%s: paused %v, %v", step.line, p, err)
		}
	}
}
