package repl

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/creack/pty"

	"mqsh/queue"
)

// startShell runs the mqsh shell on a pseudo-terminal over a queue of the
// documented messages; it returns the screen and a function that types.
func startShell(t *testing.T) (*screen, func(string)) {
	t.Helper()
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
	cmd := exec.Command(bin, "-u", db)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "MQSH_NOHISTORY=1", "TERM=xterm", "NO_COLOR=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatalf("start mqsh on a terminal: %v", err)
	}
	scr := &screen{}
	go func() { _, _ = io.Copy(scr, tty) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		tty.Close()
	})
	return scr, func(s string) {
		t.Helper()
		if _, err := tty.Write([]byte(s)); err != nil {
			t.Fatalf("type %q: %v", s, err)
		}
	}
}

// In the shell on a terminal, top starts, shows the queue, redraws, and
// gives the prompt back at q.
func TestTopOnTerminal(t *testing.T) {
	scr, send := startShell(t)
	const prompt = `mqsh q\.db> `
	scr.waitFor(t, 0, prompt)
	m := scr.mark()
	send("top --interval 200ms\r")
	scr.waitFor(t, m, `(?s)Queued: +6 messages, 0 held.*Per minute \(last 1m\).*domain1\.test +3.*q or Ctrl-C quits`)
	m = scr.mark()
	scr.waitFor(t, m, `Queued: +6 messages`) // drawn again
	m = scr.mark()
	send("q")
	scr.waitFor(t, m, prompt)
	m = scr.mark()
	send("list -o ids\r")
	scr.waitFor(t, m, `52B91F716`)
}

// On a terminal, a script that runs longer than a second shows a progress
// bar on the way, and the prompt comes back after its summary.
func TestProgressOnTerminalShell(t *testing.T) {
	script := filepath.Join(t.TempDir(), "busy.lua")
	// Busy for one to two seconds of the wall clock, printing nothing.
	if err := os.WriteFile(script, []byte("local s = time.now()\nwhile time.now() < s + 2 do end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	scr, send := startShell(t)
	const prompt = `mqsh q\.db> `
	scr.waitFor(t, 0, prompt)
	m := scr.mark()
	send("run " + script + "\r")
	scr.waitFor(t, m, `Running busy\.lua`)
	scr.waitFor(t, m, `(?s)Running busy\.lua.*busy\.lua: .*`+prompt)
}
