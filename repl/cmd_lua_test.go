package repl

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mqsh/queue"
)

// newLuaCLI is a command environment over the demo queue whose scripts folder
// holds one script of its own.
func newLuaCLI(t *testing.T) *cli {
	t.Helper()
	c := newCLI(t, 0)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.lua"), []byte("-- hello.lua: greets\nprint('hello ' .. (arg[1] or 'world'))\n"), 0o644)
	c.env.ScriptDirs = []string{dir}
	return c
}

func count(t *testing.T, c *cli, f queue.Filter) int {
	t.Helper()
	n, err := c.env.Queue.Count(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRunCommand(t *testing.T) {
	c := newLuaCLI(t)
	c.mustRun(t, "run hello mqsh")
	if c.stdout.String() != "hello mqsh\n" {
		t.Errorf("stdout %q", c.stdout.String())
	}
	if c.stderr.String() != "script hello.lua: retried 0, cancelled 0 message(s)\n" {
		t.Errorf("stderr %q", c.stderr.String())
	}

	// A dry run of a built-in script: the counts, and nothing changed.
	c.mustRun(t, "run --dry-run purge-sender bill5@example.net")
	if want := "bill5@example.net: would remove 1 message(s)\ndry run: script purge-sender.lua would retry 0 and cancel 1 message(s) (example.org 1); nothing changed\n"; c.stderr.String() != want {
		t.Errorf("stderr %q\nwant %q", c.stderr.String(), want)
	}
	if n := count(t, c, queue.Filter{Sender: []string{"bill5@example.net"}}); n != 1 {
		t.Fatalf("the dry run removed the message (%d left)", n)
	}

	// Flags after the script's arguments are still run's flags.
	c.mustRun(t, "run purge-sender bill5@example.net --timeout 10s")
	if want := "script purge-sender.lua: retried 0, cancelled 1 message(s) (example.org 1)\n"; !strings.HasSuffix(c.stderr.String(), want) {
		t.Errorf("stderr %q", c.stderr.String())
	}
	if n := count(t, c, queue.Filter{Sender: []string{"bill5@example.net"}}); n != 0 {
		t.Errorf("%d messages from bill5 left", n)
	}

	// The audit log names the script and its arguments.
	entries, err := c.env.Queue.Audit(context.Background(), queue.AuditQuery{Verb: "cancel", Limit: 1})
	if err != nil || len(entries) != 1 || entries[0].Source != "script purge-sender.lua bill5@example.net" {
		t.Errorf("audit %+v %v", entries, err)
	}

	// A script given by path.
	p := filepath.Join(t.TempDir(), "count.lua")
	os.WriteFile(p, []byte("print(queue.count())"), 0o644)
	c.mustRun(t, "run "+p)
	if c.stdout.String() != "5\n" {
		t.Errorf("stdout %q", c.stdout.String())
	}
}

func TestRunCommandErrors(t *testing.T) {
	c := newLuaCLI(t)
	before := count(t, c, queue.Filter{})
	tests := []struct {
		line string
		want string
		code int
	}{
		{"run", "missing argument", 2},
		{"run nosuch", `script not found: "nosuch" is not a file and not in`, 1},
		{"run --timeout soon hello", "invalid value 'soon' for '--timeout'", 2},
		{"run purge-sender", "purge-sender.lua:15: aborted: usage: run purge-sender ADDRESS|@DOMAIN...; nothing changed", 1},
		{"lua 'queue.cancel{all = true} error(\"stop\")'", "lua:1: stop; nothing changed", 1},
		{"lua --timeout 1s 'queue.cancel{all = true} while true do end'", "lua:1: stopped: time limit of 1s reached", 1},
		{"lua", "missing argument CODE: standard input held no Lua code (the Lua prompt opens only in the shell)", 2},
	}
	for _, tt := range tests {
		err := c.run(t, tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v\nwant it to contain %q", tt.line, err, tt.want)
			continue
		}
		if code := ExitCode(err); code != tt.code {
			t.Errorf("%s: exit code %d, want %d", tt.line, code, tt.code)
		}
	}
	if after := count(t, c, queue.Filter{}); after != before {
		t.Errorf("%d messages, want %d: a failed run changed the queue", after, before)
	}
}

func TestLuaOneLiner(t *testing.T) {
	c := newLuaCLI(t)
	c.mustRun(t, `lua 'print(queue.count{sender = "<>"})'`)
	// Every run ends with its summary line on stderr, changes or not.
	if c.stdout.String() != "1\n" || c.stderr.String() != "lua: retried 0, cancelled 0 message(s)\n" {
		t.Errorf("stdout %q stderr %q", c.stdout.String(), c.stderr.String())
	}
	c.mustRun(t, `lua --dry-run "queue.retry{domain='example.org'}"`)
	if want := "dry run: lua would retry 3 and cancel 0 message(s) (example.org 3); nothing changed\n"; c.stderr.String() != want {
		t.Errorf("stderr %q\nwant %q", c.stderr.String(), want)
	}
}

// lua CODE prints the values of an expression, or of the chunk's return, as
// the Lua prompt does.
func TestLuaOneLinerPrintsValues(t *testing.T) {
	c := newLuaCLI(t)
	for line, want := range map[string]string{
		`lua 'return queue.count{all = true}'`: "6\n",
		`lua 'queue.count{sender = "<>"}'`:     "1\n",
		`lua 'local n = 2 return n, n * 2'`:    "2\t4\n",
		`lua 'print("x")'`:                     "x\n",
		`lua 'for i = 1, 2 do print(i) end'`:   "1\n2\n",
	} {
		c.mustRun(t, line)
		if c.stdout.String() != want {
			t.Errorf("%s: stdout %q, want %q", line, c.stdout.String(), want)
		}
	}
}

// lua - reads the code from standard input, and so does plain lua when
// standard input is not a terminal.
func TestLuaCodeFromStdin(t *testing.T) {
	c := newLuaCLI(t)
	c.env.Stdin = strings.NewReader("print(1)\nreturn queue.count{sender = '<>'}\n")
	c.mustRun(t, "lua -")
	if want := "1\n1\n"; c.stdout.String() != want {
		t.Errorf("lua -: stdout %q, want %q", c.stdout.String(), want)
	}
	c.env.Stdin = strings.NewReader("print('piped')")
	c.mustRun(t, "lua")
	if want := "piped\n"; c.stdout.String() != want {
		t.Errorf("lua: stdout %q, want %q", c.stdout.String(), want)
	}
	c.env.Stdin = strings.NewReader("error('from stdin')")
	if err := c.run(t, "lua -"); err == nil || !strings.Contains(err.Error(), "lua:1: from stdin") {
		t.Errorf("error %v, want the script's error", err)
	}
}

// lines is a LineReader over fixed lines that records the prompts it shows.
type lines struct {
	lines   []string
	prompts []string
}

func (l *lines) ReadLine(prompt string) (string, error) {
	l.prompts = append(l.prompts, prompt)
	if len(l.lines) == 0 {
		return "", io.EOF
	}
	line := l.lines[0]
	l.lines = l.lines[1:]
	if line == "^C" {
		return "", ErrInterrupt
	}
	return line, nil
}

func (l *lines) Source() string { return "test" }

func TestLuaPrompt(t *testing.T) {
	c := newLuaCLI(t)
	in := &lines{lines: []string{
		"n = queue.count()",
		"for i = 1, 2 do",
		"  print(i)",
		"end",
		"n",
		"local x = {",
		"^C", // drops the unfinished chunk
		"error('oops')",
		"queue.cancel('32B91F716')",
		"",
		".exit",
		"print('not reached')",
	}}
	c.env.Interactive = true
	c.env.Input = in
	c.mustRun(t, "lua")
	if want := "1\n2\n6\n1\n"; c.stdout.String() != want {
		t.Errorf("stdout %q, want %q", c.stdout.String(), want)
	}
	errText := c.stderr.String()
	for _, want := range []string{"Type .exit or press Ctrl-D", "lua:1: oops; nothing changed", "lua: retried 0, cancelled 1 message(s) (example.org 1)"} {
		if !strings.Contains(errText, want) {
			t.Errorf("stderr %q lacks %q", errText, want)
		}
	}
	wantPrompts := []string{luaPrompt, luaPrompt, luaContPrompt, luaContPrompt, luaPrompt, luaPrompt, luaContPrompt, luaPrompt, luaPrompt, luaPrompt, luaPrompt}
	if strings.Join(in.prompts, "|") != strings.Join(wantPrompts, "|") {
		t.Errorf("prompts %q\nwant    %q", in.prompts, wantPrompts)
	}
	if count(t, c, queue.Filter{}) != 5 {
		t.Error("the committed chunk did not remove its message")
	}

	// Ctrl-D leaves the prompt too.
	c.env.Input = &lines{lines: []string{"print(1)"}}
	c.mustRun(t, "lua")
	if c.stdout.String() != "1\n" {
		t.Errorf("stdout %q", c.stdout.String())
	}
}

func TestScriptsCommand(t *testing.T) {
	c := newLuaCLI(t)
	c.mustRun(t, "scripts")
	out := c.stdout.String()
	for _, want := range []string{"hello ", "greets", "purge-sender ", "remove everything a compromised sender has queued", "(built in)", "reschedule-domain", "domain-report"} {
		if !strings.Contains(out, want) {
			t.Errorf("scripts output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains("\n"+out, "\nspread") {
		t.Errorf("helper modules are listed:\n%s", out)
	}
}

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]string{"30s": "30s", "5m": "5m0s", "1h": "1h0m0s", "0": "-1ns"} {
		d, err := parseTimeout(in)
		if err != nil || d.String() != want {
			t.Errorf("parseTimeout(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-5s", "0s"} {
		if _, err := parseTimeout(in); err == nil {
			t.Errorf("parseTimeout(%q): no error", in)
		}
	}
}
