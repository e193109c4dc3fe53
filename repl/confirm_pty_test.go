package repl

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"

	"mqsh/queue"
)

// TestConfirmOnTerminal: in the shell on a terminal, a cancel or bounce
// selecting more than --confirm-over messages, or --all, asks first: n
// changes nothing, y does it, --yes does not ask, a small change does not
// ask.
func TestConfirmOnTerminal(t *testing.T) {
	bin := buildMQSH(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	q, err := queue.Open(db, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.LoadDemo(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	q.Close()
	count := func() int {
		q, err := queue.Open(db, queue.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		n, err := q.Count(context.Background(), queue.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	cmd := exec.Command(bin, "-u", db, "--confirm-over", "3")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "MQSH_NOHISTORY=1", "TERM=xterm", "NO_COLOR=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Fatalf("start mqsh on a terminal: %v", err)
	}
	defer tty.Close()
	scr := &screen{}
	go func() { _, _ = io.Copy(scr, tty) }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	send := func(s string) {
		t.Helper()
		if _, err := tty.Write([]byte(s)); err != nil {
			t.Fatalf("type %q: %v", s, err)
		}
	}
	const prompt = `mqsh q\.db> `
	scr.waitFor(t, 0, prompt)

	// Five messages from bill1..bill5: over the threshold of 3.
	m := scr.mark()
	send("cancel -s 'bill?@example.net'\r")
	scr.waitFor(t, m, `Cancel 5 messages\? \[y/N\] $`)
	m = scr.mark()
	send("n")
	out := scr.waitFor(t, m, `(?s)Nothing was changed\..*`+prompt)
	if strings.Contains(out, "Cancelled") {
		t.Errorf("answer n, yet:\n%s", out)
	}
	if n := count(); n != 6 {
		t.Fatalf("answer n changed the queue: %d messages left", n)
	}

	m = scr.mark()
	send("cancel -s 'bill?@example.net'\r")
	scr.waitFor(t, m, `Cancel 5 messages\? \[y/N\] $`)
	m = scr.mark()
	send("y")
	scr.waitFor(t, m, `(?s)Cancelled delivery of 5 message\(s\)\..*`+prompt)
	if n := count(); n != 1 {
		t.Fatalf("answer y: %d messages left, want 1", n)
	}

	// At or under the threshold: no question.
	m = scr.mark()
	send("cancel 52B91F716\r")
	out = scr.waitFor(t, m, `(?s)Cancelled delivery of 1 message\(s\)\..*`+prompt)
	if strings.Contains(out, "[y/N]") {
		t.Errorf("a change of one message asked:\n%s", out)
	}

	// --all always asks; --yes never does.
	m = scr.mark()
	send("queue demo\r")
	scr.waitFor(t, m, `(?s)Loaded 6 demo message\(s\)\..*`+prompt)
	m = scr.mark()
	send("bounce --all --reason 'test run'\r")
	scr.waitFor(t, m, `Bounce 6 messages\? \[y/N\] $`)
	m = scr.mark()
	send("\r") // Enter is not yes
	scr.waitFor(t, m, `(?s)Nothing was changed\..*`+prompt)
	if n := count(); n != 6 {
		t.Fatalf("Enter changed the queue: %d messages left", n)
	}
	m = scr.mark()
	send("cancel --all --yes\r")
	out = scr.waitFor(t, m, `(?s)Cancelled delivery of 6 message\(s\)\..*`+prompt)
	if strings.Contains(out, "[y/N]") {
		t.Errorf("--yes asked:\n%s", out)
	}
	send("\x04")
}
