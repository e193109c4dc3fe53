package repl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"mqsh/queue"
)

// buildMQSH builds the mqsh binary into a temporary folder, or skips the test
// when it cannot be built here (no go command).
func buildMQSH(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping the terminal test: no go command to build mqsh with (%v)", err)
	}
	bin := filepath.Join(t.TempDir(), "mqsh")
	cmd := exec.Command(gobin, "build", "-o", bin, "mqsh")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build mqsh: %v\n%s", err, out)
	}
	return bin
}

// screen collects what the shell writes to its terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// mark is where the next wait starts looking.
func (s *screen) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

func (s *screen) since(m int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()[m:]
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// waitFor waits until the text written since m, without terminal control
// sequences, matches re, and returns it.
func (s *screen) waitFor(t *testing.T, m int, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		text := ansiRE.ReplaceAllString(s.since(m), "")
		if rx.MatchString(text) {
			return text
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the shell did not show %q; it showed:\n%s", re, ansiRE.ReplaceAllString(s.since(m), ""))
	return ""
}

// TestShellOnTerminal drives the shell on a pseudo-terminal as a person would:
// the banner and prompt, Tab completion of a command and of a sender, a command
// and its output, Ctrl-C on a half-typed line, Ctrl-C during a long command
// (its change is rolled back and the shell carries on), history, and Ctrl-D.
func TestShellOnTerminal(t *testing.T) {
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

	// A history file from earlier sessions, longer than the shell keeps.
	hist := filepath.Join(dir, "state", "history")
	if err := os.MkdirAll(filepath.Dir(hist), 0o700); err != nil {
		t.Fatal(err)
	}
	var old strings.Builder
	for i := 0; i < HistoryLimit+5; i++ {
		fmt.Fprintf(&old, "list -p %d\n", i)
	}
	if err := os.WriteFile(hist, []byte(old.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-u", db)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "MQSH_HISTFILE="+hist, "TERM=xterm", "NO_COLOR=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Fatalf("start mqsh on a terminal: %v", err)
	}
	defer tty.Close()
	scr := &screen{}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(scr, tty)
		close(copied)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
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

	// The banner names the queue and its count; the prompt names the file.
	text := scr.waitFor(t, 0, prompt)
	for _, want := range []string{"Queue: " + db, "(6 messages)", `"help"`} {
		if !strings.Contains(text, want) {
			t.Errorf("banner %q does not say %q", text, want)
		}
	}

	// Tab completes a subcommand, then a sender from the queue.
	m := scr.mark()
	send("queue li\t")
	scr.waitFor(t, m, `queue list $`)
	m = scr.mark()
	send("-s bill4\t")
	scr.waitFor(t, m, `bill4@example\.net $`)
	m = scr.mark()
	send("\r")
	out := scr.waitFor(t, m, `(?s)32B91F716.*1 queued message\(s\) found\..*`+prompt)
	if strings.Contains(out, "42B91F716") {
		t.Errorf("list -s bill4@example.net shows another sender's message:\n%s", out)
	}

	// Ctrl-C clears a half-typed line: the next Enter runs nothing.
	m = scr.mark()
	send("cancel 32B91F716")
	scr.waitFor(t, m, `cancel 32B91F716`)
	m = scr.mark()
	send("\x03")
	scr.waitFor(t, m, `\^C\s*`+prompt)
	m = scr.mark()
	send("\r")
	scr.waitFor(t, m, prompt)

	// Ctrl-C during a long command cancels it, rolls back its change and
	// returns to the prompt.
	m = scr.mark()
	send(`lua 'queue.cancel("52B91F716") print("started") while true do end'` + "\r")
	scr.waitFor(t, m, `started`)
	time.Sleep(200 * time.Millisecond)
	m = scr.mark()
	send("\x03")
	out = scr.waitFor(t, m, prompt)
	if !regexp.MustCompile(`(?i)interrupt|cancel`).MatchString(out) {
		t.Errorf("after Ctrl-C the shell says %q, which does not mention the interruption", out)
	}

	// So does Ctrl-C while the engine loads a million messages in one
	// transaction: none of them is left behind.
	m = scr.mark()
	send("queue demo 1000000\r")
	scr.waitFor(t, m, `queue demo 1000000\s*\n`)
	time.Sleep(time.Second)
	m = scr.mark()
	send("\x03")
	scr.waitFor(t, m, prompt)
	m = scr.mark()
	send("list -o ids\r")
	out = scr.waitFor(t, m, `(?s)queued message\(s\) found\..*`+prompt)
	if !strings.Contains(out, "\n6 queued message(s) found.") {
		t.Errorf("after an interrupted demo load, list says:\n%s", out)
	}

	// The shell carries on: the message the command cancelled is still there.
	m = scr.mark()
	send("status 52B91F716\r")
	out = scr.waitFor(t, m, `(?s)Temporary Failure.*`+prompt)
	if strings.Contains(out, "Not found") {
		t.Errorf("52B91F716 is gone after its cancel was interrupted:\n%s", out)
	}

	// Up recalls the line before; running it again, or an empty line, adds
	// nothing to the history. Ctrl-R finds an older line.
	m = scr.mark()
	send("\x1b[A")
	scr.waitFor(t, m, `status 52B91F716$`)
	m = scr.mark()
	send("\r")
	scr.waitFor(t, m, `(?s)Temporary Failure.*`+prompt)
	m = scr.mark()
	send("\r")
	scr.waitFor(t, m, prompt)
	m = scr.mark()
	send("\x12bill4")
	scr.waitFor(t, m, `queue list -s bill4@example\.net`)
	m = scr.mark()
	send("\r")
	scr.waitFor(t, m, `(?s)1 queued message\(s\) found\..*`+prompt)

	// At the Lua prompt, Ctrl-C stops the running chunk and rolls it back,
	// but the prompt stays; a chunk that ends early continues on "...>".
	m = scr.mark()
	send("lua\r")
	scr.waitFor(t, m, `lua> `)
	m = scr.mark()
	send(`queue.cancel("52B91F716") print("looping") while true do end` + "\r")
	scr.waitFor(t, m, `looping`)
	time.Sleep(200 * time.Millisecond)
	m = scr.mark()
	send("\x03")
	out = scr.waitFor(t, m, `lua> `)
	if !regexp.MustCompile(`(?i)interrupt`).MatchString(out) {
		t.Errorf("after Ctrl-C at the Lua prompt: %q", out)
	}
	m = scr.mark()
	send("for i = 1, 2 do\r")
	scr.waitFor(t, m, `\.\.\.> `)
	m = scr.mark()
	send("end print(queue.get('52B91F716').id)\r")
	scr.waitFor(t, m, `52B91F716\s+.*lua> `)

	// The Lua prompt has a history of its own: Up recalls chunks as Lua
	// (a multi-line one on one line), a chunk with -- in a string is kept,
	// and a repeat is kept once.
	for i := 0; i < 2; i++ {
		m = scr.mark()
		send(`print("a -- b")` + "\r")
		scr.waitFor(t, m, `a -- b\s+lua> `)
	}
	m = scr.mark()
	send("\x1b[A")
	scr.waitFor(t, m, `print\("a -- b"\)$`)
	m = scr.mark()
	send("\r")
	scr.waitFor(t, m, `a -- b\s+lua> `)
	m = scr.mark()
	send("\x1b[A\x1b[A")
	scr.waitFor(t, m, `for i = 1, 2 do end print\(queue\.get\('52B91F716'\)\.id\)$`)
	m = scr.mark()
	send("\r")
	scr.waitFor(t, m, `52B91F716\s+.*lua> `)
	m = scr.mark()
	send(".exit\r")
	scr.waitFor(t, m, prompt)
	// Back at the shell's prompt, Up recalls the shell's own lines.
	m = scr.mark()
	send("\x1b[A")
	scr.waitFor(t, m, prompt+`lua$`)
	m = scr.mark()
	send("\x03")
	scr.waitFor(t, m, prompt)

	// Ctrl-D on an empty line leaves with status 0.
	send("\x04")
	select {
	case err := <-exited:
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Errorf("mqsh exited with %d after Ctrl-D, want 0", ee.ExitCode())
			} else {
				t.Errorf("mqsh: %v", err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("mqsh did not exit after Ctrl-D; the screen shows:\n%s", scr.since(0))
	}
	<-copied

	// Nothing was changed behind the user's back.
	q, err = queue.Open(db, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n, err := q.Count(context.Background(), queue.Filter{}); err != nil || n != 6 {
		t.Errorf("the queue holds %d messages (%v) after the session, want 6", n, err)
	}

	// History keeps the commands run, not the line cleared with Ctrl-C.
	b, err := os.ReadFile(hist)
	if err != nil {
		t.Fatalf("read the history file: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// The file is cut to the newest HistoryLimit lines when the shell starts.
	if len(lines) > HistoryLimit+11 || lines[0] == "list -p 0" {
		t.Errorf("history file holds %d lines from %q: the old ones were not cut to %d", len(lines), lines[0], HistoryLimit)
	}
	if fi, err := os.Stat(hist); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	want := []string{
		"queue list -s bill4@example.net",
		`lua 'queue.cancel("52B91F716") print("started") while true do end'`,
		"queue demo 1000000",
		"list -o ids",
		"status 52B91F716",
		"queue list -s bill4@example.net",
		"lua",
	}
	if len(lines) < len(want) {
		t.Fatalf("history file holds\n%s", strings.Join(lines, "\n"))
	}
	lines = lines[len(lines)-len(want):]
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("history file holds\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The Lua prompt's chunks are kept whole in a file of their own, private
	// to the user; .exit is not kept.
	luaHist := filepath.Join(dir, "state", "lua_history")
	b, err = os.ReadFile(luaHist)
	if err != nil {
		t.Fatalf("read the Lua history file: %v", err)
	}
	wantLua := `queue.cancel("52B91F716") print("looping") while true do end
for i = 1, 2 do end print(queue.get('52B91F716').id)
print("a -- b")
for i = 1, 2 do end print(queue.get('52B91F716').id)
`
	if string(b) != wantLua {
		t.Errorf("Lua history file holds\n%s\nwant\n%s", b, wantLua)
	}
	if fi, err := os.Stat(luaHist); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("Lua history file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}
