package repl

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"mqsh/queue"
)

func batch(name, text string) LineReader { return NewBatchReader(strings.NewReader(text), name) }

func TestLoopBatch(t *testing.T) {
	c := newCLI(t, 0)
	script := "# comment\n\nlist -s bill1@example.net -o ids\nlist -o ids \\\n  -s 'bill2@example.net'   # trailing comment\r\nstatus zz\nlist -o ids\n"
	err := Loop(context.Background(), c.env, batch("cmds.txt", script), LoopOptions{})
	if c.stdout.String() != "2B91F716\n12B91F716\n" {
		t.Errorf("stdout %q: the lines before the failure ran, the line after did not", c.stdout.String())
	}
	if !strings.HasSuffix(c.stderr.String(), "mqsh: cmds.txt:6: Failed to parse id \"zz\".\n") {
		t.Errorf("stderr %q", c.stderr.String())
	}
	if ExitCode(err) != 1 {
		t.Errorf("exit %d", ExitCode(err))
	}
	// main must not print it again.
	var b strings.Builder
	ReportError(&b, "", err, false)
	if b.Len() != 0 {
		t.Errorf("a batch failure is reported twice: %q", b.String())
	}
}

func TestLoopKeepGoing(t *testing.T) {
	c := newCLI(t, 0)
	err := Loop(context.Background(), c.env, batch("cmds.txt", "lst\nretry -s nobody@example.com\nlist -o ids -s <>\n"), LoopOptions{KeepGoing: true})
	if c.stdout.String() != "52B91F716\n" {
		t.Errorf("stdout %q", c.stdout.String())
	}
	errs := c.stderr.String()
	if !strings.Contains(errs, "mqsh: cmds.txt:1: unknown command 'lst' (did you mean 'list'?)") ||
		!strings.Contains(errs, "mqsh: cmds.txt:2: No messages were found.\n") {
		t.Errorf("stderr %q", errs)
	}
	// The first failure decides the exit code: a usage error.
	if ExitCode(err) != 2 {
		t.Errorf("exit %d, want 2", ExitCode(err))
	}
}

func TestLoopReportedFailureNamesLine(t *testing.T) {
	c := newCLI(t, 0)
	err := Loop(context.Background(), c.env, ExprReader([]string{"list -o ids -s <>", "retry -s nobody@example.com FFFF"}), LoopOptions{})
	if ExitCode(err) != 1 || !strings.Contains(c.stderr.String(), "Unable to reschedule id(s): FFFF.\nmqsh: -e #2: nothing was rescheduled\n") {
		t.Errorf("exit %d, stderr %q", ExitCode(err), c.stderr.String())
	}
}

func TestLoopUnterminatedQuote(t *testing.T) {
	c := newCLI(t, 0)
	err := Loop(context.Background(), c.env, batch("stdin", "list -o ids\nlist -s 'bill1\n"), LoopOptions{})
	if ExitCode(err) != 2 || !strings.Contains(c.stderr.String(), "mqsh: stdin:2: unterminated quote") {
		t.Errorf("exit %d, stderr %q", ExitCode(err), c.stderr.String())
	}
}

func TestLoopExitAndSuccess(t *testing.T) {
	c := newCLI(t, 0)
	if err := Loop(context.Background(), c.env, batch("x", "list -o ids -s <>\nexit\nlist -o ids\n"), LoopOptions{}); err != nil {
		t.Fatal(err)
	}
	if c.stdout.String() != "52B91F716\n" {
		t.Errorf("exit did not end the loop: %q", c.stdout.String())
	}
}

func TestLoopInteractive(t *testing.T) {
	c := newCLI(t, 0)
	contexts := 0
	opts := LoopOptions{
		Interactive: true,
		Prompt:      func() string { return "mqsh> " },
		CommandContext: func(parent context.Context) (context.Context, context.CancelFunc) {
			contexts++
			return context.WithCancel(parent)
		},
	}
	err := Loop(context.Background(), c.env, batch("tty", "lst\nstatus zz\nlist -o ids -s <>\n"), opts)
	if err != nil {
		t.Fatalf("interactive loop: %v", err)
	}
	if c.stdout.String() != "52B91F716\n" {
		t.Errorf("the shell did not carry on: %q", c.stdout.String())
	}
	if !strings.HasPrefix(c.stderr.String(), "error: unknown command 'lst'") || !strings.Contains(c.stderr.String(), "\nFailed to parse id \"zz\".\n") {
		t.Errorf("stderr %q", c.stderr.String())
	}
	if contexts != 3 {
		t.Errorf("CommandContext called %d times, want once per command", contexts)
	}
}

// interruptReader returns ErrInterrupt once, then its lines.
type interruptReader struct {
	LineReader
	done bool
}

func (r *interruptReader) ReadLine(p string) (string, error) {
	if !r.done {
		r.done = true
		return "", ErrInterrupt
	}
	return r.LineReader.ReadLine(p)
}

func TestLoopInterruptAndCancel(t *testing.T) {
	c := newCLI(t, 0)
	in := &interruptReader{LineReader: batch("tty", "cancel --all --yes\nlist -o ids -s <>\n")}
	opts := LoopOptions{Interactive: true, CommandContext: func(parent context.Context) (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(parent)
		cancel() // as if Ctrl-C came at once
		return ctx, cancel
	}}
	if err := Loop(context.Background(), c.env, in, opts); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.env.Queue.Count(context.Background(), queueAll); n != 6 {
		t.Errorf("a cancelled command changed the queue: %d messages left", n)
	}
	if !strings.Contains(c.stderr.String(), "error: interrupted\n") {
		t.Errorf("stderr %q", c.stderr.String())
	}
}

func TestLoopAuditSource(t *testing.T) {
	c := newCLI(t, 0)
	if err := Loop(context.Background(), c.env, batch("fix.txt", "\nretry 52B91F716\n"), LoopOptions{}); err != nil {
		t.Fatal(err)
	}
	c.mustRun(t, "audit -o csv -n 1")
	if !strings.Contains(c.stdout.String(), ",batch fix.txt:2,retry,") {
		t.Errorf("audit source: %s", c.stdout.String())
	}
}

func TestBatchReader(t *testing.T) {
	r := NewBatchReader(strings.NewReader("a\r\nb\nc"), "f")
	for i, want := range []string{"a", "b", "c"} {
		got, err := r.ReadLine("")
		if err != nil || got != want {
			t.Fatalf("line %d: %q %v", i+1, got, err)
		}
		if src := r.Source(); src != "f:"+string(rune('1'+i)) {
			t.Errorf("Source = %q", src)
		}
	}
	if _, err := r.ReadLine(""); err != io.EOF {
		t.Errorf("end: %v", err)
	}

	m := ExprReader([]string{"one", "two\nthree"})
	var srcs []string
	for {
		if _, err := m.ReadLine(""); err != nil {
			break
		}
		srcs = append(srcs, m.Source())
	}
	if strings.Join(srcs, ",") != "-e #1,-e #2:1,-e #2:2" {
		t.Errorf("sources %q", srcs)
	}
}

func TestReportError(t *testing.T) {
	tests := []struct {
		source      string
		err         error
		interactive bool
		want        string
	}{
		{"", errors.New("boom"), false, "mqsh: boom\n"},
		{"", errors.New("boom"), true, "error: boom\n"},
		{"f:3", errors.New("boom"), false, "mqsh: f:3: boom\n"},
		{"", errNoMessages, false, "No messages were found.\n"},
		{"f:3", errNoMessages, false, "mqsh: f:3: No messages were found.\n"},
		{"", &reportedError{err: errors.New("x")}, false, ""},
		{"f:1", &reportedError{err: errors.New("x")}, false, "mqsh: f:1: x\n"},
		{"", context.Canceled, true, "error: interrupted\n"},
		{"", nil, false, ""},
	}
	_, unknown := Parse([]string{"lst"})
	_, badFlag := Parse([]string{"list", "--sendr", "x"})
	tests = append(tests, []struct {
		source      string
		err         error
		interactive bool
		want        string
	}{
		// The shell points at its own help, not at the command line's usage.
		{"", unknown, true, "error: unknown command 'lst' (did you mean 'list'?)\nType 'help' for details.\n"},
		{"", badFlag, true, "error: unknown flag '--sendr' (did you mean '--sender'?)\nType 'help queue list' for details.\n"},
		{"", badFlag, false, "mqsh: unknown flag '--sendr' (did you mean '--sender'?)\n\nUsage: mqsh queue list [OPTIONS] [IDS]...\n\nFor more information, try 'mqsh queue list --help'.\n"},
	}...)
	for _, tt := range tests {
		var b strings.Builder
		ReportError(&b, tt.source, tt.err, tt.interactive)
		if b.String() != tt.want {
			t.Errorf("ReportError(%q, %v) = %q, want %q", tt.source, tt.err, b.String(), tt.want)
		}
	}
}

// queueAll is the filter of every message.
var queueAll = queue.Filter{}
