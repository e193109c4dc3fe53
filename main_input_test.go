package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input reaches the engine's checks from every front end: these run mqsh
// as a whole (batch files and Lua), on a real queue file.

// runMqsh runs mqsh with args on the queue in dir, standard input empty.
func runMqsh(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	in, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	env := map[string]string{
		"HOME":           filepath.Join(dir, "home"),
		"MQSH_NOW":       "2023-03-01T12:00:00Z",
		"MQSH_URL":       filepath.Join(dir, "queue.db"),
		"MQSH_NOHISTORY": "1",
	}
	var out, errOut bytes.Buffer
	code = run(args, in, &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// demoQueue makes a demo queue in a new folder and returns the folder and
// the list of its ids.
func demoQueue(t *testing.T) (dir, ids string) {
	dir = t.TempDir()
	if code, _, errOut := runMqsh(t, dir, "queue", "demo"); code != 0 {
		t.Fatalf("queue demo: exit %d: %s", code, errOut)
	}
	_, ids, _ = runMqsh(t, dir, "queue", "list", "-o", "ids")
	if strings.Count(ids, "\n") < 5 {
		t.Fatalf("demo queue holds too few messages:\n%s", ids)
	}
	return dir, ids
}

// A NUL in a pattern once selected every message (SQLite ends a GLOB pattern
// at a NUL): from a batch file and from Lua it is refused, nothing changes.
func TestNULInPatternRefused(t *testing.T) {
	dir, ids := demoQueue(t)
	batch := filepath.Join(dir, "cmds.txt")
	for _, line := range []string{
		"queue cancel -s '*\x00@nobody.invalid'",
		"queue cancel -r '*\x00@nobody.invalid' --all",
		"queue retry --domain 'x\x00'",
		"queue list -s '*\x00@nobody.invalid'",
	} {
		if err := os.WriteFile(batch, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runMqsh(t, dir, "-f", batch)
		if code == 0 || !strings.Contains(errOut, "control character U+0000") {
			t.Errorf("batch %q: exit %d, stderr %q; want a failure naming the control character", line, code, errOut)
		}
	}
	for _, code := range []string{
		`return queue.cancel{sender = "*\0@nobody.invalid"}`,
		`return queue.cancel({all = true}, {rcpt = "*\0@nobody.invalid"})`,
		`return queue.retry{rcpt = "*\0@nobody.invalid"}`,
		`return queue.count{domain = "x\0"}`,
	} {
		exit, _, errOut := runMqsh(t, dir, "lua", code)
		if exit == 0 || !strings.Contains(errOut, "control character U+0000") {
			t.Errorf("lua %s: exit %d, stderr %q; want a failure naming the control character", code, exit, errOut)
		}
	}
	if _, after, _ := runMqsh(t, dir, "queue", "list", "-o", "ids"); after != ids {
		t.Errorf("refused commands changed the queue:\n%s\nwant\n%s", after, ids)
	}
}

// Nonsense times from Lua (0/0, ±inf, 1e300) once set a due in the year
// 292277026304; the engine refuses them, whoever calls it.
func TestNonsenseTimesFromLuaRefused(t *testing.T) {
	dir, _ := demoQueue(t)
	_, before, _ := runMqsh(t, dir, "queue", "list", "-o", "json")
	for _, code := range []string{
		`return queue.retry({all = true}, {at = 0/0})`,
		`return queue.retry({all = true}, {at = math.huge})`,
		`return queue.retry({all = true}, {at = -math.huge})`,
		`return queue.retry({all = true}, {at = 1e300})`,
		`return queue.retry({all = true}, {at = 9223372036854})`,
		`return queue.cancel{before = 0/0}`,
		`return queue.count{created_after = 1e300}`,
	} {
		exit, _, errOut := runMqsh(t, dir, "lua", code)
		if exit == 0 || !strings.Contains(errOut, "out of range") {
			t.Errorf("lua %s: exit %d, stderr %q; want a failure saying the time is out of range", code, exit, errOut)
		}
	}
	if _, after, _ := runMqsh(t, dir, "queue", "list", "-o", "json"); after != before {
		t.Errorf("refused times changed the queue")
	}
}
