package repl

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// cliNow is the fixed clock of the command tests.
var cliNow = time.Date(2023, 3, 1, 12, 0, 0, 0, time.UTC)

// cli is a command environment over a real queue in a temporary folder, with
// its output in buffers.
type cli struct {
	env    *Env
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// newCLI opens a queue holding the documented demo messages plus n generated
// ones (an empty queue for n < 0), on the fixed clock.
func newCLI(t testing.TB, n int) *cli {
	t.Helper()
	now := func() time.Time { return cliNow }
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if n >= 0 {
		if _, err := q.LoadDemo(context.Background(), n, 1); err != nil {
			t.Fatal(err)
		}
	}
	c := &cli{}
	c.env = &Env{
		Streams: Streams{Stdin: strings.NewReader(""), Stdout: &c.stdout, Stderr: &c.stderr},
		Session: Session{Queue: q, Now: now},
	}
	return c
}

// run runs one command line with empty buffers and returns its error.
func (c *cli) run(t testing.TB, line string) error {
	t.Helper()
	c.stdout.Reset()
	c.stderr.Reset()
	words, err := SplitWords(line)
	if err != nil {
		t.Fatalf("split %q: %v", line, err)
	}
	return Run(context.Background(), c.env, words)
}

// mustRun runs a command line that must succeed.
func (c *cli) mustRun(t testing.TB, line string) {
	t.Helper()
	if err := c.run(t, line); err != nil {
		t.Fatalf("%s: %v\nstderr: %s", line, err, c.stderr.String())
	}
}

// get reads a message from the queue, nil when it is gone.
func (c *cli) get(t testing.TB, hex string) *queue.Message {
	t.Helper()
	id, err := queue.ParseID(hex)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.env.Queue.Get(context.Background(), id)
	if err != nil {
		return nil
	}
	return m
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
