package repl

import (
	"encoding/json"
	"strings"
	"testing"

	"mqsh/queue"
)

// --shape's machine forms carry the whole grid; its flags are checked; a
// backend without the grid (a Stalwart server's client) says so, as does
// explain.
func TestShapeFormatsAndErrors(t *testing.T) {
	c := newCLI(t, 20)
	c.mustRun(t, "summary --shape -o json")
	var s queue.Shape
	if err := json.Unmarshal(c.stdout.Bytes(), &s); err != nil {
		t.Fatalf("json: %v\n%s", err, c.stdout.String())
	}
	if s.By != "domain" || len(s.Buckets) != len(queue.AgeBuckets)+1 || len(s.Rows) == 0 || s.Total.Count < 26 {
		t.Errorf("json grid: %+v", s)
	}
	c.mustRun(t, "summary --shape --top 2 -o csv")
	lines := strings.Split(strings.TrimSpace(c.stdout.String()), "\n")
	if len(lines) != 5 || lines[0] != "by,key,count,size,5m,10m,20m,40m,80m,160m,320m,640m,1280m,1280m+" ||
		!strings.HasPrefix(lines[1], "domain,TOTAL,") || !strings.HasPrefix(lines[4], "domain,other,") {
		t.Errorf("csv grid, top 2:\n%s", c.stdout.String())
	}
	for _, tc := range []struct{ line, want string }{
		{"summary --top 3", "'--top <N>' goes with '--shape'"},
		{"summary --by sender-domain", "'--by sender-domain' goes with '--shape'"},
		{"summary --shape --by status", "'--shape' groups by domain or sender-domain, not status"},
		{"summary --shape --top 0", "want a whole number of at least 1"},
	} {
		if err := c.run(t, tc.line); ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: exit %d, %v; want %q", tc.line, ExitCode(err), err, tc.want)
		}
	}

	c.env.Queue = newCountingBackend(c.env.Queue)
	for _, line := range []string{"summary --shape", "explain 52B91F716"} {
		if err := c.run(t, line); ExitCode(err) != 1 || !strings.Contains(err.Error(), "is not available on the queue at") {
			t.Errorf("%s on a backend without it: exit %d, %v", line, ExitCode(err), err)
		}
	}
}
