package repl

import (
	"strings"
	"testing"
	"time"
)

// Off a terminal, top prints one frame and ends: the queue's size, its
// domains by state, the last minute's rates and the largest domains.
func TestTopOneFrame(t *testing.T) {
	c := newCLIAs(t, "tester")
	explainQueue(t, c)
	c.mustRun(t, "queue top -n 3")
	out := strings.Replace(c.stdout.String(), c.env.Queue.Location(), "QUEUE", 1)
	golden(t, "top-frame.txt", out)

	for _, line := range []string{"top --interval 0s", "top --interval soon", "top -n 0"} {
		if err := c.run(t, line); ExitCode(err) != 2 {
			t.Errorf("%s: exit %d, %v", line, ExitCode(err), err)
		}
	}
}

// On a terminal, top redraws until q, ignoring other keys.
func TestTopRedrawsUntilQ(t *testing.T) {
	c := newCLI(t, 0)
	c.env.Terminal = true
	keys := make(chan rune, 2)
	c.env.ReadKey = func() (rune, error) { return <-keys, nil }
	done := make(chan error, 1)
	go func() { done <- c.run(t, "top --interval 100ms") }()
	keys <- 'x'
	time.Sleep(350 * time.Millisecond)
	keys <- 'q'
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("top did not end at q")
	}
	if n := strings.Count(c.stdout.String(), "\x1b[H\x1b[2J"); n < 3 {
		t.Errorf("%d frames drawn in 350 ms at 100 ms", n)
	}
	if !strings.Contains(c.stdout.String(), "Per minute (last 1m):") || !strings.Contains(c.stdout.String(), "q or Ctrl-C quits.\r\n") {
		t.Errorf("frame:\n%q", c.stdout.String())
	}
}
